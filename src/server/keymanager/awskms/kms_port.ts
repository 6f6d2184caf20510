/**
 * The narrow AWS KMS client port of the aws_kms KeyManager (SPIRE awskms/client.go). Portable: no SDK types;
 * `kms_client.ts` implements it with @aws-sdk/client-kms and only src/bin imports that file.
 * @module
 */

export interface KMSKeyDescription {
  arn: string;
  /** Enabled, Disabled, PendingDeletion, … */
  keyState: string;
  /** ECC_NIST_P256, RSA_2048, … */
  keySpec: string;
}

export interface KMSAlias {
  aliasName: string;
  targetKeyId?: string;
}

/**
 * KMS calls used by aws_kms. Failures reject with the SDK's error: `name` is the AWS error code
 * ("NotFoundException", "KMSInvalidStateException", …); a network failure carries no `$fault`.
 */
export interface KMSClient {
  /** The endpoint calls go to, for error messages. */
  readonly endpoint: string;
  /** CreateKey ECC_NIST_P256 / SIGN_VERIFY; returns the key ARN. */
  createKey(input: { description: string; policy?: string | undefined }): Promise<string>;
  /** DER SubjectPublicKeyInfo. */
  getPublicKey(keyId: string): Promise<Uint8Array>;
  describeKey(keyId: string): Promise<KMSKeyDescription>;
  createAlias(aliasName: string, targetKeyId: string): Promise<void>;
  updateAlias(aliasName: string, targetKeyId: string): Promise<void>;
  /** One page of ListAliases (Limit 100). */
  listAliases(marker?: string): Promise<{ aliases: KMSAlias[]; nextMarker?: string | undefined }>;
  scheduleKeyDeletion(keyId: string, pendingWindowInDays: number): Promise<void>;
  /** Sign with MessageType DIGEST and ECDSA_SHA_256; returns the DER ECDSA-Sig-Value KMS answers with. */
  signDigest(keyId: string, digest: Uint8Array): Promise<Uint8Array>;
  /** STS GetCallerIdentity, for the default key policy. */
  getCallerIdentity(): Promise<{ account: string; arn: string }>;
}

/** The AWS error code of an SDK error, or undefined for a failure that never got an AWS answer. */
export function kmsErrorCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null || !("$fault" in err)) return undefined;
  return (err as { name?: string }).name;
}
