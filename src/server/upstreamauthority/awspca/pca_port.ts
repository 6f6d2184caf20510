/**
 * The narrow ACM PCA client port the aws_pca upstream authority needs (SPIRE's PCAClient). Portable: no SDK types;
 * `pca_client.ts` implements it with @aws-sdk/client-acm-pca and only src/bin imports that file.
 * @module
 */

/** What DescribeCertificateAuthority tells the plugin. */
export interface PCACertificateAuthority {
  /** ACTIVE, DISABLED, PENDING_CERTIFICATE, … */
  status: string;
  /** CertificateAuthorityConfiguration.SigningAlgorithm, e.g. "SHA256WITHECDSA". */
  signingAlgorithm?: string;
  /** The PCA CA certificate's NotAfter; issued certificates cannot outlive it. */
  notAfter?: Date;
}

export interface PCAIssueInput {
  certificateAuthorityArn: string;
  /** The CSR as PEM text (every known client sends PEM). */
  csrPEM: string;
  signingAlgorithm: string;
  templateArn: string;
  /** Validity {Type: ABSOLUTE}: NotAfter in Unix seconds. */
  notAfterSeconds: number;
  /** 1–36 characters; the same token within PCA's window returns the same certificate. */
  idempotencyToken: string;
}

/**
 * ACM PCA calls used by aws_pca. Failures reject with the SDK's error: `name` is the AWS error code
 * ("RequestInProgressException", "AccessDeniedException", …) and `$fault` is "client" or "server"; a network failure
 * has no `$fault`.
 */
export interface PCAClient {
  /** The endpoint calls go to, for error messages. */
  readonly endpoint: string;
  describeCertificateAuthority(arn: string, signal?: AbortSignal): Promise<PCACertificateAuthority>;
  /** Returns the new certificate's ARN. */
  issueCertificate(input: PCAIssueInput, signal?: AbortSignal): Promise<string>;
  getCertificate(
    input: { certificateAuthorityArn: string; certificateArn: string },
    signal?: AbortSignal,
  ): Promise<{ certificate: string; certificateChain: string }>;
  /** Releases sockets. */
  destroy(): void;
}

/** The AWS error code of an SDK error, or undefined for a failure that never got an AWS answer. */
export function awsErrorCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null || !("$fault" in err)) return undefined;
  return (err as { name?: string }).name;
}

const TRANSIENT = new Set([
  "ThrottlingException",
  "Throttling",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "LimitExceededException",
  "RequestFailedException",
  "ServiceUnavailable",
  "InternalFailure",
  "RequestTimeout",
]);

/** True when retrying later may succeed: no AWS answer at all (network), a 5xx, or throttling. */
export function isTransientAWSError(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const code = awsErrorCode(err);
  if (code === undefined) return !["AbortError", "CredentialsProviderError"].includes((err as { name?: string }).name ?? "");
  return (err as { $fault?: string }).$fault === "server" || TRANSIENT.has(code);
}
