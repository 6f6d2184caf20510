/** Per-operation token buckets that model AWS request-rate quotas. @module */

/** Default requests per second per operation; burst equals one second's worth. Unlisted operations are not throttled. */
export const DEFAULT_RATES: Readonly<Record<string, number>> = {
  "acm-pca:IssueCertificate": 25,
  "acm-pca:GetCertificate": 75,
  "acm-pca:DescribeCertificateAuthority": 20,
  "acm-pca:GetCertificateAuthorityCertificate": 20,
  "kms:CreateKey": 5,
  "kms:CreateAlias": 5,
  "kms:UpdateAlias": 5,
  "kms:DeleteAlias": 15,
  "kms:ScheduleKeyDeletion": 15,
  "kms:CancelKeyDeletion": 15,
  "kms:TagResource": 10,
  "kms:DescribeKey": 2000,
  "kms:GetPublicKey": 2000,
  "kms:ListAliases": 500,
  "kms:ListKeys": 500,
};

/** KMS meters Sign and Verify on ECC keys against one shared quota. */
const SHARED_BUCKET: Readonly<Record<string, string>> = {
  "kms:Sign": "kms:ecc-cryptographic-operations",
  "kms:Verify": "kms:ecc-cryptographic-operations",
};
const SHARED_RATES: Readonly<Record<string, number>> = { "kms:ecc-cryptographic-operations": 300 };

interface Bucket {
  rate: number;
  tokens: number;
  updatedAt: number;
}

/** Token buckets keyed by "service:Operation"; `take` answers whether a request may proceed now. */
export class Throttler {
  #rates: Record<string, number> = { ...DEFAULT_RATES, ...SHARED_RATES };
  #buckets = new Map<string, Bucket>();

  /** Overrides rates (requests per second; 0 or less disables throttling for that operation). */
  setRates(rates: Record<string, number>): void {
    for (const [op, rate] of Object.entries(rates)) {
      const key = SHARED_BUCKET[op] ?? op;
      this.#rates[key] = rate;
      this.#buckets.delete(key);
    }
  }

  /** Consumes one token for `operation`; false means the caller must answer ThrottlingException. */
  take(operation: string, nowMs: number): boolean {
    const key = SHARED_BUCKET[operation] ?? operation;
    const rate = this.#rates[key];
    if (rate === undefined || rate <= 0) return true;
    let b = this.#buckets.get(key);
    if (!b || b.rate !== rate) {
      b = { rate, tokens: rate, updatedAt: nowMs };
      this.#buckets.set(key, b);
    }
    b.tokens = Math.min(rate, b.tokens + ((nowMs - b.updatedAt) / 1000) * rate);
    b.updatedAt = nowMs;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
