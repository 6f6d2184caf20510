/**
 * The PCAClient port over @aws-sdk/client-acm-pca (and @aws-sdk/client-sts for assume_role_arn). Only src/bin and
 * tests import this file, so the portable type-check never sees SDK types.
 * @module
 */
import { ACMPCAClient, DescribeCertificateAuthorityCommand, GetCertificateCommand, IssueCertificateCommand } from "@aws-sdk/client-acm-pca";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import type { PCAClient } from "./pca_port.ts";

/** Long-term credentials; absent means the SDK default chain (env, shared files, instance role). */
export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

interface TemporaryCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export interface PCAClientOptions {
  region: string;
  /** ACM PCA endpoint override (config `endpoint` or AWS_ENDPOINT_URL_ACM_PCA). */
  endpoint?: string | undefined;
  credentials?: StaticCredentials | undefined;
  /** Role to assume before calling PCA (cross-account). */
  assumeRoleArn?: string | undefined;
  /** STS endpoint override for AssumeRole (AWS_ENDPOINT_URL_STS). */
  stsEndpoint?: string | undefined;
  /** SDK attempts per call, retries included. Default 3 (the SDK's standard mode). */
  maxAttempts?: number;
}

/** Assumed-role credentials are refreshed this long before they expire. */
const REFRESH_BEFORE_MS = 5 * 60_000;

/**
 * STS AssumeRole credentials, cached until shortly before they expire; concurrent callers share one STS call.
 * Exported for tests.
 */
export function assumeRoleProvider(o: {
  roleArn: string;
  region: string;
  stsEndpoint?: string | undefined;
  credentials?: StaticCredentials | undefined;
  now?: () => number;
}): () => Promise<TemporaryCredentials> {
  const sts = new STSClient({
    region: o.region,
    ...(o.stsEndpoint ? { endpoint: o.stsEndpoint } : {}),
    ...(o.credentials ? { credentials: o.credentials } : {}),
  });
  const now = o.now ?? Date.now;
  let cached: TemporaryCredentials | undefined;
  let inflight: Promise<TemporaryCredentials> | undefined;
  return async () => {
    if (cached && (!cached.expiration || cached.expiration.getTime() - REFRESH_BEFORE_MS > now())) return cached;
    inflight ??= (async () => {
      try {
        const out = await sts.send(new AssumeRoleCommand({ RoleArn: o.roleArn, RoleSessionName: `wisp-server-${now()}` }));
        const c = out.Credentials;
        if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error(`AssumeRole for "${o.roleArn}" returned no credentials`);
        cached = {
          accessKeyId: c.AccessKeyId,
          secretAccessKey: c.SecretAccessKey,
          ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
          ...(c.Expiration ? { expiration: c.Expiration } : {}),
        };
        return cached;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
}

/** Builds a PCAClient for `o.region` with the SDK's standard retries. */
export function newPCAClient(o: PCAClientOptions): PCAClient {
  const credentials = o.assumeRoleArn
    ? assumeRoleProvider({ roleArn: o.assumeRoleArn, region: o.region, stsEndpoint: o.stsEndpoint, credentials: o.credentials })
    : o.credentials;
  const sdk = new ACMPCAClient({
    region: o.region,
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    ...(o.maxAttempts ? { maxAttempts: o.maxAttempts } : {}),
  });
  const opts = (signal?: AbortSignal) => (signal ? { abortSignal: signal } : {});
  return {
    endpoint: o.endpoint ?? `https://acm-pca.${o.region}.amazonaws.com`,
    async describeCertificateAuthority(arn, signal) {
      const out = await sdk.send(new DescribeCertificateAuthorityCommand({ CertificateAuthorityArn: arn }), opts(signal));
      const ca = out.CertificateAuthority;
      const alg = ca?.CertificateAuthorityConfiguration?.SigningAlgorithm;
      return {
        status: ca?.Status ?? "UNKNOWN",
        ...(alg ? { signingAlgorithm: alg } : {}),
        ...(ca?.NotAfter ? { notAfter: ca.NotAfter } : {}),
      };
    },
    async issueCertificate(i, signal) {
      const out = await sdk.send(
        new IssueCertificateCommand({
          CertificateAuthorityArn: i.certificateAuthorityArn,
          Csr: new TextEncoder().encode(i.csrPEM),
          SigningAlgorithm: i.signingAlgorithm as "SHA256WITHECDSA",
          TemplateArn: i.templateArn,
          Validity: { Type: "ABSOLUTE", Value: i.notAfterSeconds },
          IdempotencyToken: i.idempotencyToken,
        }),
        opts(signal),
      );
      if (!out.CertificateArn) throw new Error("IssueCertificate returned no CertificateArn");
      return out.CertificateArn;
    },
    async getCertificate(i, signal) {
      const out = await sdk.send(
        new GetCertificateCommand({
          CertificateAuthorityArn: i.certificateAuthorityArn,
          CertificateArn: i.certificateArn,
        }),
        opts(signal),
      );
      return { certificate: out.Certificate ?? "", certificateChain: out.CertificateChain ?? "" };
    },
    destroy: () => sdk.destroy(),
  };
}
