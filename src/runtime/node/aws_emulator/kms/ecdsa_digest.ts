/**
 * ECDSA P-256 over a caller-supplied digest, which KMS MessageType=DIGEST needs. node:crypto and WebCrypto always
 * hash their input, so the scalar multiplications go through native ECDH and only the mod-n arithmetic is BigInt.
 * @module
 */
import { createECDH, randomBytes } from "node:crypto";

/** Order of the P-256 base point. */
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function toBig(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt("0x" + Buffer.from(b).toString("hex"));
}

function to32(x: bigint): Buffer {
  return Buffer.from(x.toString(16).padStart(64, "0"), "hex");
}

function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let r = 1n;
  let b = base % m;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
  }
  return r;
}

/** x coordinate of k·G, computed natively (an ECDH public key is exactly k·G). */
function baseMulX(k: bigint): bigint {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(to32(k));
  return toBig(ecdh.getPublicKey().subarray(1, 33));
}

function derInt(x: bigint): Buffer {
  let b = to32(x);
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  b = b.subarray(i);
  return b[0]! & 0x80 ? Buffer.concat([Buffer.from([0x02, b.length + 1, 0]), b]) : Buffer.concat([Buffer.from([0x02, b.length]), b]);
}

function parseDer(sig: Uint8Array): [bigint, bigint] | undefined {
  const b = Buffer.from(sig);
  if (b.length < 8 || b[0] !== 0x30 || b[1] !== b.length - 2) return undefined;
  const out: bigint[] = [];
  let p = 2;
  for (let i = 0; i < 2; i++) {
    if (b[p] !== 0x02) return undefined;
    const len = b[p + 1]!;
    if (len < 1 || len > 33 || p + 2 + len > b.length) return undefined;
    out.push(toBig(b.subarray(p + 2, p + 2 + len)));
    p += 2 + len;
  }
  return p === b.length ? [out[0]!, out[1]!] : undefined;
}

/** Signs a 32-byte digest with private scalar `d`; returns a DER ECDSA-Sig-Value, as KMS does. */
export function signDigest(d: Uint8Array, digest: Uint8Array): Uint8Array {
  if (digest.length !== 32) throw new RangeError("digest must be 32 bytes");
  const priv = toBig(d);
  const z = toBig(digest);
  for (;;) {
    const k = toBig(randomBytes(32));
    if (k === 0n || k >= N) continue;
    const r = baseMulX(k) % N;
    if (r === 0n) continue;
    const s = (modPow(k, N - 2n, N) * ((z + r * priv) % N)) % N;
    if (s === 0n) continue;
    const body = Buffer.concat([derInt(r), derInt(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
  }
}

/**
 * Verifies a DER signature over a 32-byte digest. The emulator holds the private scalar `d`, so
 * u1·G + u2·Q collapses to (u1 + u2·d)·G and needs no point addition.
 */
export function verifyDigest(d: Uint8Array, digest: Uint8Array, signature: Uint8Array): boolean {
  const rs = parseDer(signature);
  if (!rs || digest.length !== 32) return false;
  const [r, s] = rs;
  if (r <= 0n || r >= N || s <= 0n || s >= N) return false;
  const w = modPow(s, N - 2n, N);
  const u = ((toBig(digest) * w) % N + (((r * w) % N) * toBig(d)) % N) % N;
  if (u === 0n) return false;
  return baseMulX(u) % N === r;
}
