/**
 * UpstreamAuthority "aws_pca": the server's intermediate CA is issued by AWS Private CA (SPIRE awspca/pca.go), with
 * an idempotency token per CSR, a bounded poll that fails fast on real errors, and no PCA call until one is needed.
 * @module
 */
import { formatDuration } from "../../../core/config/duration.ts";
import { toHex } from "../../../core/encoding.ts";
import { InternalError, InvalidArgumentError, ServiceError, UnauthenticatedError, UnavailableError } from "../../../core/errors.ts";
import * as F from "../../../core/log/fields.ts";
import type { Logger } from "../../../core/log/logger.ts";
import type { Clock } from "../../../core/ports/clock.ts";
import type { FS } from "../../../core/ports/fs.ts";
import { fromPEM, toPEM, verifyCAChain } from "../../../core/x509/mod.ts";
import type { MintedX509CA, UpstreamAuthority } from "../upstream_authority.ts";
import { awsErrorCode, isTransientAWSError, type PCACertificateAuthority, type PCAClient } from "./pca_port.ts";

/** SPIRE's defaultCASigningTemplateArn: pathLen 0, so the wisp intermediate can sign leaves only. */
export const DEFAULT_CA_SIGNING_TEMPLATE_ARN = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1";

export interface AWSPCAConfig {
  client: PCAClient;
  certificateAuthorityArn: string;
  /** Default: the CA's own signing algorithm from DescribeCertificateAuthority. */
  signingAlgorithm?: string | undefined;
  /** Default DEFAULT_CA_SIGNING_TEMPLATE_ARN; always sent, so IAM TemplateArn conditions match. */
  caSigningTemplateArn?: string | undefined;
  /** PEM file of extra roots for the trust bundle. */
  supplementalBundlePath?: string | undefined;
  fs: FS;
  clock: Clock;
  logger: Logger;
  /** First wait between GetCertificate polls, ms. Default 1 s (SPIRE's waiter MinDelay). */
  pollInitialMs?: number;
  /** Longest wait between polls, ms. Default 60 s (MaxDelay). */
  pollMaxMs?: number;
  /** How long to wait for issuance, ms. Default 3 min (SPIRE maxCertIssuanceWaitDur). */
  issuanceTimeoutMs?: number;
}

/** Remembered per CSR so a repeated mint of the same CSR sends an identical request (PCA dedupes on it). */
interface Pending {
  notAfterSeconds: number;
  until: number;
}
const PENDING_KEEP_MS = 10 * 60_000;

/** SHA-256 of the CSR DER as 36 hex characters: IdempotencyToken allows 1–36 characters. */
export async function idempotencyToken(csrDER: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", csrDER as Uint8Array<ArrayBuffer>));
  return toHex(digest).slice(0, 36);
}

export class AWSPCAUpstreamAuthority implements UpstreamAuthority {
  readonly name = "aws_pca";
  #cfg: AWSPCAConfig;
  #log: Logger;
  #supplemental: Uint8Array[];
  #ca: PCACertificateAuthority | undefined;
  #pending = new Map<string, Pending>();

  private constructor(cfg: AWSPCAConfig, supplemental: Uint8Array[]) {
    this.#cfg = cfg;
    this.#log = cfg.logger.with({ subsystem_name: "upstream_authority", upstream_authority: "aws_pca" });
    this.#supplemental = supplemental;
  }

  /**
   * Builds the plugin and loads the supplemental bundle. It makes no PCA call: a restart that reuses a persisted CA
   * must not depend on PCA, so DescribeCertificateAuthority runs before the first issuance instead.
   * @throws {InvalidArgumentError} "failed to load supplemental bundle: ..."
   */
  static async create(cfg: AWSPCAConfig): Promise<AWSPCAUpstreamAuthority> {
    let supplemental: Uint8Array[] = [];
    if (cfg.supplementalBundlePath) {
      try {
        supplemental = fromPEM(new TextDecoder().decode(await cfg.fs.readFile(cfg.supplementalBundlePath)), "CERTIFICATE");
      } catch (cause) {
        throw new InvalidArgumentError(`failed to load supplemental bundle: ${errorText(cause)}`, { cause });
      }
    }
    return new AWSPCAUpstreamAuthority(cfg, supplemental);
  }

  /** The CA description, fetched once (SPIRE's Configure step). */
  async describe(signal?: AbortSignal): Promise<PCACertificateAuthority> {
    if (this.#ca) return this.#ca;
    const { client, certificateAuthorityArn: arn } = this.#cfg;
    let ca: PCACertificateAuthority;
    try {
      ca = await client.describeCertificateAuthority(arn, signal);
    } catch (cause) {
      throw wrap("failed to describe CertificateAuthority", cause, client.endpoint);
    }
    if (ca.status !== "ACTIVE") {
      this.#log.warn("Certificate is in an invalid state for issuance", { certificate_authority_arn: arn, status: ca.status });
    }
    this.#ca = ca;
    return ca;
  }

  async mintX509CA(csrDER: Uint8Array, ttlSeconds: number, signal?: AbortSignal): Promise<MintedX509CA> {
    const { client, certificateAuthorityArn: arn } = this.#cfg;
    const ca = await this.describe(signal);
    const signingAlgorithm = this.#cfg.signingAlgorithm || ca.signingAlgorithm;
    if (!signingAlgorithm) throw new InternalError(`certificate authority "${arn}" reports no signing algorithm; set signing_algorithm`);
    const token = await idempotencyToken(csrDER);
    const notAfterSeconds = this.#notAfter(token, ttlSeconds, ca);

    let certificateArn: string;
    try {
      certificateArn = await client.issueCertificate({
        certificateAuthorityArn: arn,
        csrPEM: toPEM(csrDER, "CERTIFICATE REQUEST"),
        signingAlgorithm,
        templateArn: this.#cfg.caSigningTemplateArn || DEFAULT_CA_SIGNING_TEMPLATE_ARN,
        notAfterSeconds,
        idempotencyToken: token,
      }, signal);
    } catch (cause) {
      throw wrap("failed submitting CSR", cause, client.endpoint);
    }
    this.#log.info("Certificate issuance requested", { certificate_arn: certificateArn, idempotency_id: token });
    const out = await this.#waitForIssuance(certificateArn, signal);

    let cert: Uint8Array[], chain: Uint8Array[];
    try {
      cert = fromPEM(out.certificate, "CERTIFICATE");
    } catch (cause) {
      throw new InternalError("failed to parse certificate from response", { cause });
    }
    try {
      chain = fromPEM(out.certificateChain, "CERTIFICATE");
    } catch (cause) {
      throw new InternalError("failed to parse certificate chain from response", { cause });
    }
    // The request stays remembered after success too (until PENDING_KEEP_MS): a mint of the same CSR within PCA's
    // idempotency window must send the same Validity, or PCA issues (and bills) a second certificate. Deleting it here
    // made the repeat compute a new NotAfter whenever it crossed a second boundary (seen as a CI flake).
    // ACM orders the chain issuer first, root last: the root goes to the bundle, the rest into every SVID chain.
    const root = chain[chain.length - 1]!;
    const x509CAChain = [cert[0]!, ...chain.slice(0, -1)];
    try {
      await verifyCAChain(x509CAChain, [root], this.#cfg.clock.now());
    } catch (cause) {
      throw new InternalError(`failed to verify the certificate chain of "${certificateArn}"`, { cause });
    }
    return { x509CAChain, upstreamX509Roots: dedupe([root, ...this.#supplemental]) };
  }

  #notAfter(token: string, ttlSeconds: number, ca: PCACertificateAuthority): number {
    const now = this.#cfg.clock.now().getTime();
    for (const [k, p] of this.#pending) if (p.until <= now) this.#pending.delete(k);
    const known = this.#pending.get(token);
    if (known) return known.notAfterSeconds;
    let notAfterSeconds = Math.floor(now / 1000) + ttlSeconds;
    const caNotAfter = ca.notAfter ? Math.floor(ca.notAfter.getTime() / 1000) : undefined;
    if (caNotAfter !== undefined && notAfterSeconds > caNotAfter) {
      this.#log.warn("Requested CA lifetime exceeds the upstream CA lifetime; capping it", {
        requested_not_after: new Date(notAfterSeconds * 1000).toISOString(),
        [F.EXPIRATION]: new Date(caNotAfter * 1000).toISOString(),
      });
      notAfterSeconds = caNotAfter;
    }
    this.#pending.set(token, { notAfterSeconds, until: now + PENDING_KEEP_MS });
    return notAfterSeconds;
  }

  /** Polls GetCertificate with exponential backoff; only RequestInProgressException means "keep waiting". */
  async #waitForIssuance(certificateArn: string, signal?: AbortSignal): Promise<{ certificate: string; certificateChain: string }> {
    const { client, clock, certificateAuthorityArn: arn } = this.#cfg;
    const timeout = this.#cfg.issuanceTimeoutMs ?? 180_000;
    const deadline = clock.now().getTime() + timeout;
    let delay = this.#cfg.pollInitialMs ?? 1000;
    for (;;) {
      let out: { certificate: string; certificateChain: string } | undefined;
      try {
        out = await client.getCertificate({ certificateAuthorityArn: arn, certificateArn }, signal);
      } catch (cause) {
        // Aborting cancels the SDK call too; that is the caller giving up, not the PCA failing.
        if (signal?.aborted) throw new UnavailableError("failed waiting for issuance: aborted", { cause });
        if (awsErrorCode(cause) !== "RequestInProgressException") {
          throw wrap("failed waiting for issuance", cause, client.endpoint);
        }
      }
      if (out) {
        if (!out.certificate || !out.certificateChain) {
          throw new InternalError(`failed to get certificates: the response for "${certificateArn}" lacks a certificate or its chain`);
        }
        return out;
      }
      const left = deadline - clock.now().getTime();
      if (left <= 0) {
        throw new UnavailableError(`failed waiting for issuance: certificate "${certificateArn}" was not issued within ${formatDuration(timeout)}`);
      }
      this.#log.debug("Certificate issuance in progress", { certificate_arn: certificateArn, retry_in_ms: Math.min(delay, left) });
      try {
        await clock.sleep(Math.min(delay, left), signal);
      } catch (cause) {
        throw new UnavailableError("failed waiting for issuance: aborted", { cause });
      }
      delay = Math.min(delay * 2, this.#cfg.pollMaxMs ?? 60_000);
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * SPIRE's texts plus the endpoint, so an operator sees where it went wrong; the AWS error stays the cause, which
 * formatError appends. Transient failures (network, 5xx, throttling) are Unavailable; anything AWS refused is
 * Internal, as SPIRE reports it.
 */
function wrap(what: string, cause: unknown, endpoint: string): ServiceError {
  if (cause instanceof ServiceError) return cause;
  const code = awsErrorCode(cause);
  if (!code && cause instanceof Error && cause.name === "CredentialsProviderError") {
    return new UnauthenticatedError(`${what}: no usable AWS credentials for ACM PCA at "${endpoint}"`, { cause });
  }
  const msg = code ? `${what}: ACM PCA at "${endpoint}" answered ${code}` : `${what}: ACM PCA at "${endpoint}" is unreachable`;
  return isTransientAWSError(cause) ? new UnavailableError(msg, { cause }) : new InternalError(msg, { cause });
}

function dedupe(certs: Uint8Array[]): Uint8Array[] {
  const seen = new Set<string>();
  return certs.filter((c) => {
    const k = toHex(c);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
