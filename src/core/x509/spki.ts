/** P-256 SubjectPublicKeyInfo checks and the RFC 5280 subject key identifier. @module */
import { InvalidArgumentError } from "../errors.ts";

/**
 * The fixed 26-byte header of an uncompressed P-256 SPKI: SEQUENCE(89) { SEQUENCE { id-ecPublicKey,
 * prime256v1 }, BIT STRING(66) 0x00 0x04 }. Comparing bytes is both the strictest and the cheapest check.
 */
const P256_SPKI_PREFIX = Uint8Array.of(
  0x30,
  0x59,
  0x30,
  0x13,
  0x06,
  0x07,
  0x2a,
  0x86,
  0x48,
  0xce,
  0x3d,
  0x02,
  0x01,
  0x06,
  0x08,
  0x2a,
  0x86,
  0x48,
  0xce,
  0x3d,
  0x03,
  0x01,
  0x07,
  0x03,
  0x42,
  0x00,
  0x04,
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

function coord(b: Uint8Array, off: number): bigint {
  const dv = new DataView(b.buffer, b.byteOffset + off, 32);
  return (dv.getBigUint64(0) << 192n) | (dv.getBigUint64(8) << 128n) | (dv.getBigUint64(16) << 64n) |
    dv.getBigUint64(24);
}

/** True when `spki` is an uncompressed P-256 key whose point lies on the curve (y² = x³ − 3x + b). */
export function isP256SPKI(spki: Uint8Array): boolean {
  if (spki.length !== P256_SPKI_LENGTH) return false;
  for (let i = 0; i < P256_SPKI_PREFIX.length; i++) if (spki[i] !== P256_SPKI_PREFIX[i]) return false;
  const x = coord(spki, 27);
  const y = coord(spki, 59);
  if (x >= P || y >= P) return false;
  return mod(y * y) === mod(mod(x * x % P * x) - 3n * x + B);
}

/** @throws {InvalidArgumentError} ERR_CSR_INVALID when `spki` is not a valid P-256 public key */
export function requireP256SPKI(spki: Uint8Array): void {
  if (!isP256SPKI(spki)) {
    throw new InvalidArgumentError("public key must be an ECDSA P-256 key", { code: "ERR_CSR_INVALID" });
  }
}

/**
 * SHA-1 (FIPS 180-4) for key identifiers only, never for signatures. In JS because a WebCrypto digest is a
 * thread-pool job in Node: ~22 µs of latency and ~10% of the event loop at 64 mints in flight, for 65 bytes
 * (measured with scripts/bench/mint.ts); this loop takes ~2 µs and is checked against crypto.subtle in tests.
 */
export function sha1(data: Uint8Array): Uint8Array {
  const blocks = ((data.length + 8) >>> 6) + 1;
  const w = new Uint32Array(80);
  const msg = new Uint8Array(blocks * 64);
  msg.set(data);
  msg[data.length] = 0x80;
  const bits = data.length * 8;
  const dv = new DataView(msg.buffer);
  dv.setUint32(msg.length - 8, Math.floor(bits / 0x100000000));
  dv.setUint32(msg.length - 4, bits >>> 0);
  let h0 = 0x67452301, h1 = 0xefcdab89, h2 = 0x98badcfe, h3 = 0x10325476, h4 = 0xc3d2e1f0;
  for (let off = 0; off < msg.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = dv.getUint32(off + i * 4);
    for (let i = 16; i < 80; i++) {
      const x = w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!;
      w[i] = (x << 1) | (x >>> 31);
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4;
    for (let i = 0; i < 80; i++) {
      const f = i < 20
        ? ((b & c) | (~b & d)) + 0x5a827999
        : i < 40
        ? (b ^ c ^ d) + 0x6ed9eba1
        : i < 60
        ? ((b & c) | (b & d) | (c & d)) + 0x8f1bbcdc
        : (b ^ c ^ d) + 0xca62c1d6;
      const t = (((a << 5) | (a >>> 27)) + f + e + w[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  const out = new Uint8Array(20);
  const ov = new DataView(out.buffer);
  [h0, h1, h2, h3, h4].forEach((h, i) => ov.setUint32(i * 4, h >>> 0));
  return out;
}

/** SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2 method 1), as SPIRE and Go compute it. */
export function subjectKeyId(spki: Uint8Array, bitStringOffset = P256_POINT_OFFSET): Uint8Array {
  return sha1(spki.subarray(bitStringOffset));
}
