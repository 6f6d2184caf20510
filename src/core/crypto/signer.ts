/** The signer port: anything that can produce an ECDSA P-256/SHA-256 signature (WebCrypto key, KMS key). @module */
import { exportSPKI, rawToDER, signRaw } from "./ec_p256.ts";

/** A P-256 signing key whose private part may live elsewhere (memory, disk, AWS KMS). */
export interface Signer {
  /** DER SubjectPublicKeyInfo of the public key. */
  readonly publicKeySPKI: Uint8Array;
  /** Signs `data` with ECDSA P-256 SHA-256 and returns the DER ECDSA-Sig-Value used in X.509. */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /** The WebCrypto private key when there is one (memory/disk), for libraries that need a CryptoKey. */
  readonly privateKey?: CryptoKey;
  /** Where the private key lives when a service holds it (aws_kms: the key ARN and its alias), for display. */
  readonly location?: { kind: string; keyID: string; alias?: string } | undefined;
}

/** Wraps a WebCrypto key pair as a Signer. */
export async function webCryptoSigner(pair: CryptoKeyPair): Promise<Signer> {
  const spki = await exportSPKI(pair.publicKey);
  return {
    publicKeySPKI: spki,
    privateKey: pair.privateKey,
    sign: async (data) => rawToDER(await signRaw(pair.privateKey, data)),
  };
}
