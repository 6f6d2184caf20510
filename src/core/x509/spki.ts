/** P-256 SubjectPublicKeyInfo checks and the RFC 5280 subject key identifier. @module */
import { InvalidArgumentError } from "../errors.ts";
import { toHex } from "./der.ts";

/**
 * The fixed 26-byte header of an uncompressed P-256 SPKI: SEQUENCE(89) { SEQUENCE { id-ecPublicKey,
 * prime256v1 }, BIT STRING(66) 0x00 0x04 }. Comparing bytes is both the strictest and the cheapest check.
 */
const P256_SPKI_PREFIX = Uint8Array.of(
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
  0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
);
export const P256_SPKI_LENGTH = 91;
/** Where the uncompressed point (0x04 || X || Y) starts inside a P-256 SPKI. */
export const P256_POINT_OFFSET = 26;

const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

function mod(a: bigint): bigint {
  const r = a % P;
  return r < 0n ? r + P : r;
}

/** True when `spki` is an uncompressed P-256 key whose point lies on the curve (y² = x³ − 3x + b). */
export function isP256SPKI(spki: Uint8Array): boolean {
  if (spki.length !== P256_SPKI_LENGTH) return false;
  for (let i = 0; i < P256_SPKI_PREFIX.length; i++) if (spki[i] !== P256_SPKI_PREFIX[i]) return false;
  const x = BigInt("0x" + toHex(spki.subarray(27, 59)));
  const y = BigInt("0x" + toHex(spki.subarray(59, 91)));
  if (x >= P || y >= P) return false;
  return mod(y * y) === mod(mod(x * x % P * x) - 3n * x + B);
}

/** @throws {InvalidArgumentError} ERR_CSR_INVALID when `spki` is not a valid P-256 public key */
export function requireP256SPKI(spki: Uint8Array): void {
  if (!isP256SPKI(spki)) {
    throw new InvalidArgumentError("public key must be an ECDSA P-256 key", { code: "ERR_CSR_INVALID" });
  }
}

/** SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2 method 1), as SPIRE and Go compute it. */
export async function subjectKeyId(spki: Uint8Array, bitStringOffset = P256_POINT_OFFSET): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-1", spki.subarray(bitStringOffset) as BufferSource));
}
