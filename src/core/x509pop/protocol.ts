/**
 * SPIRE's x509pop wire protocol (`pkg/common/plugin/x509pop`): attestation data, the server's nonce challenge and the
 * agent's signed response, as Go's encoding/json writes them (byte slices in std base64, absent structs as null).
 * Both sides hash `SHA-256(challenge nonce ‖ response nonce)`; WebCrypto hashes the concatenation itself, which
 * gives Go's signatures over that digest. RSA is PSS with the largest salt when signing (Go's nil options) and any
 * salt length when verifying.
 * @module
 */
import { fromBase64, toBase64 } from "../encoding.ts";
import { InternalError, InvalidArgumentError, PermissionDeniedError } from "../errors.ts";
import type { CertificateInfo } from "../x509/certificate_info.ts";
import { KU_DIGITAL_SIGNATURE, OID_EC_PUBLIC_KEY, OID_P256, OID_P384, OID_P521, OID_RSA } from "../x509/names.ts";
import { sha1 } from "../x509/spki.ts";

/** Nonce length on both sides, bytes. */
export const NONCE_LEN = 32;

export interface Challenge {
  rsa_signature: { nonce: Uint8Array } | null;
  ecdsa_signature: { nonce: Uint8Array } | null;
}

export interface Response {
  rsa_signature: { nonce: Uint8Array; signature: Uint8Array } | null;
  ecdsa_signature: { nonce: Uint8Array; r: Uint8Array; s: Uint8Array } | null;
}

const CURVES: Record<string, { name: string; size: number }> = {
  [OID_P256]: { name: "P-256", size: 32 },
  [OID_P384]: { name: "P-384", size: 48 },
  [OID_P521]: { name: "P-521", size: 66 },
};

const utf8 = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

/** Lowercase hex SHA-1 of a certificate's DER (SPIRE's `x509pop.Fingerprint`). */
export function fingerprint(der: Uint8Array): string {
  return [...sha1(der)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `{"certificates":["<b64 DER>",…]}`, leaf first. */
export function encodeAttestationData(certificates: readonly Uint8Array[]): Uint8Array {
  return utf8({ certificates: certificates.map(toBase64) });
}

function parseJSON(bytes: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new InvalidArgumentError(`${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new InvalidArgumentError(`${what}: expected a JSON object`);
  return v as Record<string, unknown>;
}

function bytesField(o: Record<string, unknown>, key: string, what: string): Uint8Array {
  const v = o[key];
  if (v === undefined || v === null) return new Uint8Array(0);
  if (typeof v !== "string") throw new InvalidArgumentError(`${what}: "${key}" must be a base64 string`);
  try {
    return fromBase64(v);
  } catch (cause) {
    throw new InvalidArgumentError(`${what}: "${key}" is not valid base64`, { cause });
  }
}

function structField(o: Record<string, unknown>, key: string, what: string): Record<string, unknown> | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) throw new InvalidArgumentError(`${what}: "${key}" must be an object`);
  return v as Record<string, unknown>;
}

/** @throws {InvalidArgumentError} "failed to unmarshal data: …" */
export function decodeAttestationData(bytes: Uint8Array): Uint8Array[] {
  const what = "failed to unmarshal data";
  const o = parseJSON(bytes, what);
  const list = o["certificates"] ?? [];
  if (!Array.isArray(list)) throw new InvalidArgumentError(`${what}: "certificates" must be a list`);
  return list.map((c, i) => bytesField({ c }, "c", `${what}: certificate ${i}`));
}

export function encodeChallenge(c: Challenge): Uint8Array {
  return utf8({
    rsa_signature: c.rsa_signature ? { nonce: toBase64(c.rsa_signature.nonce) } : null,
    ecdsa_signature: c.ecdsa_signature ? { nonce: toBase64(c.ecdsa_signature.nonce) } : null,
  });
}

/** @throws {InvalidArgumentError} "unable to unmarshal challenge: …" */
export function decodeChallenge(bytes: Uint8Array): Challenge {
  const what = "unable to unmarshal challenge";
  const o = parseJSON(bytes, what);
  const rsa = structField(o, "rsa_signature", what);
  const ec = structField(o, "ecdsa_signature", what);
  return {
    rsa_signature: rsa ? { nonce: bytesField(rsa, "nonce", what) } : null,
    ecdsa_signature: ec ? { nonce: bytesField(ec, "nonce", what) } : null,
  };
}

export function encodeResponse(r: Response): Uint8Array {
  return utf8({
    rsa_signature: r.rsa_signature ? { nonce: toBase64(r.rsa_signature.nonce), signature: toBase64(r.rsa_signature.signature) } : null,
    ecdsa_signature: r.ecdsa_signature
      ? { nonce: toBase64(r.ecdsa_signature.nonce), r: toBase64(r.ecdsa_signature.r), s: toBase64(r.ecdsa_signature.s) }
      : null,
  });
}

/** @throws {InvalidArgumentError} "unable to unmarshal challenge response: …" */
export function decodeResponse(bytes: Uint8Array): Response {
  const what = "unable to unmarshal challenge response";
  const o = parseJSON(bytes, what);
  const rsa = structField(o, "rsa_signature", what);
  const ec = structField(o, "ecdsa_signature", what);
  return {
    rsa_signature: rsa ? { nonce: bytesField(rsa, "nonce", what), signature: bytesField(rsa, "signature", what) } : null,
    ecdsa_signature: ec ? { nonce: bytesField(ec, "nonce", what), r: bytesField(ec, "r", what), s: bytesField(ec, "s", what) } : null,
  };
}

/**
 * A fresh challenge for the leaf's key type.
 * @throws {InternalError} "unable to generate challenge: …" for a leaf not meant for signatures or an unknown key type
 */
export function generateChallenge(leaf: CertificateInfo): Challenge {
  // Go reads KeyUsage as 0 when the extension is absent, so such a leaf is refused too.
  if (((leaf.keyUsage ?? 0) & KU_DIGITAL_SIGNATURE) === 0) {
    throw new InternalError("unable to generate challenge: certificate not intended for digital signature use");
  }
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_LEN));
  if (leaf.publicKeyAlgorithm === OID_RSA) return { rsa_signature: { nonce }, ecdsa_signature: null };
  if (leaf.publicKeyAlgorithm === OID_EC_PUBLIC_KEY && CURVES[leaf.namedCurve ?? ""]) return { rsa_signature: null, ecdsa_signature: { nonce } };
  throw new InternalError("unable to generate challenge: unsupported public key type");
}

function combined(challenge: Uint8Array, response: Uint8Array): Uint8Array {
  if (challenge.length !== NONCE_LEN) throw new Error("invalid challenge nonce");
  if (response.length !== NONCE_LEN) throw new Error("invalid response nonce");
  const out = new Uint8Array(NONCE_LEN * 2);
  out.set(challenge);
  out.set(response, NONCE_LEN);
  return out;
}

/** An agent's x509pop key: WebCrypto key plus what signing needs to know about it. */
export type PoPKey =
  | { kind: "rsa"; privateKey: CryptoKey; modulusBits: number }
  | { kind: "ecdsa"; privateKey: CryptoKey; curveSize: number };

/** Go's `big.Int.Bytes()`: big-endian without leading zero bytes. */
function minimal(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.slice(i);
}

/** Largest PSS salt for a key (Go's PSSSaltLengthAuto when signing): emLen − hLen − 2. */
export function maxPSSSaltLength(modulusBits: number): number {
  return Math.ceil((modulusBits - 1) / 8) - 32 - 2;
}

/**
 * Signs the server's challenge (SPIRE's `CalculateResponse`).
 * @throws {InvalidArgumentError} "expecting RSA challenge" / "expecting ECDSA challenge" / "invalid challenge nonce"
 */
export async function calculateResponse(key: PoPKey, challenge: Challenge): Promise<Response> {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_LEN));
  if (key.kind === "rsa") {
    if (!challenge.rsa_signature) throw new InvalidArgumentError("expecting RSA challenge");
    const data = wrap(() => combined(challenge.rsa_signature!.nonce, nonce));
    const sig = new Uint8Array(
      await crypto.subtle.sign({ name: "RSA-PSS", saltLength: maxPSSSaltLength(key.modulusBits) }, key.privateKey, data as BufferSource),
    );
    return { rsa_signature: { nonce, signature: sig }, ecdsa_signature: null };
  }
  if (!challenge.ecdsa_signature) throw new InvalidArgumentError("expecting ECDSA challenge");
  const data = wrap(() => combined(challenge.ecdsa_signature!.nonce, nonce));
  const raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, data as BufferSource));
  return {
    rsa_signature: null,
    ecdsa_signature: { nonce, r: minimal(raw.subarray(0, key.curveSize)), s: minimal(raw.subarray(key.curveSize)) },
  };
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

const b64url = (s: string) => fromBase64(s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "="));
const toBig = (b: Uint8Array) => b.length === 0 ? 0n : BigInt(`0x${[...b].map((x) => x.toString(16).padStart(2, "0")).join("")}`);

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n;
  base %= mod;
  while (exp > 0n) {
    if (exp & 1n) r = (r * base) % mod;
    base = (base * base) % mod;
    exp >>= 1n;
  }
  return r;
}

async function mgf1(seed: Uint8Array, len: number): Promise<Uint8Array> {
  const out = new Uint8Array(len);
  for (let counter = 0, off = 0; off < len; counter++, off += 32) {
    const input = new Uint8Array(seed.length + 4);
    input.set(seed);
    new DataView(input.buffer).setUint32(seed.length, counter);
    const h = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
    out.set(h.subarray(0, Math.min(32, len - off)), off);
  }
  return out;
}

/**
 * The salt length a PSS signature was made with, read from its encoded message (RFC 8017 §9.1.2 steps 1–10), so
 * WebCrypto, which needs a fixed salt length, can verify signatures of any salt length as Go's VerifyPSS(nil) does.
 * Undefined when the signature cannot be a valid PSS encoding for this key.
 */
async function pssSaltLength(jwk: JsonWebKey, sig: Uint8Array): Promise<number | undefined> {
  const nBytes = b64url(jwk.n!);
  const n = toBig(nBytes);
  const modBits = n.toString(2).length;
  if (sig.length !== Math.ceil(modBits / 8)) return undefined;
  const s = toBig(sig);
  if (s >= n) return undefined;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  let m = modPow(s, toBig(b64url(jwk.e!)), n);
  const em = new Uint8Array(emLen);
  for (let i = emLen - 1; i >= 0; i--, m >>= 8n) em[i] = Number(m & 0xffn);
  if (m !== 0n || em[emLen - 1] !== 0xbc || emLen < 32 + 2) return undefined;
  const dbLen = emLen - 32 - 1;
  const mask = await mgf1(em.subarray(dbLen, dbLen + 32), dbLen);
  const db = em.subarray(0, dbLen).map((b, i) => b ^ mask[i]!);
  db[0] = db[0]! & (0xff >> (8 * emLen - emBits));
  let i = 0;
  while (i < dbLen && db[i] === 0) i++;
  if (i === dbLen || db[i] !== 0x01) return undefined;
  return dbLen - i - 1;
}

/**
 * Checks the agent's response against the challenge and the leaf's public key (SPIRE's `VerifyChallengeResponse`).
 * @throws {PermissionDeniedError} "challenge response verification failed: …"
 */
export async function verifyChallengeResponse(leaf: CertificateInfo, challenge: Challenge, response: Response): Promise<void> {
  const failed = (why: string) => new PermissionDeniedError(`challenge response verification failed: ${why}`);
  const run = (fn: () => Uint8Array) => {
    try {
      return fn();
    } catch (err) {
      throw failed(err instanceof Error ? err.message : String(err));
    }
  };
  if (leaf.publicKeyAlgorithm === OID_RSA) {
    if (!challenge.rsa_signature) throw failed("expecting RSA challenge");
    const r = response.rsa_signature;
    if (!r) throw failed("expecting RSA response");
    const data = run(() => combined(challenge.rsa_signature!.nonce, r.nonce));
    const key = await crypto.subtle.importKey("spki", leaf.spki as BufferSource, { name: "RSA-PSS", hash: "SHA-256" }, true, ["verify"]);
    const salt = await pssSaltLength(await crypto.subtle.exportKey("jwk", key), r.signature);
    const ok = salt !== undefined &&
      await crypto.subtle.verify({ name: "RSA-PSS", saltLength: salt }, key, r.signature as BufferSource, data as BufferSource);
    if (!ok) throw failed("RSA signature verify failed");
    return;
  }
  const curve = CURVES[leaf.namedCurve ?? ""];
  if (leaf.publicKeyAlgorithm !== OID_EC_PUBLIC_KEY || !curve) throw failed("unsupported public key type");
  if (!challenge.ecdsa_signature) throw failed("expecting ECDSA challenge");
  const r = response.ecdsa_signature;
  if (!r) throw failed("expecting ECDSA response");
  const data = run(() => combined(challenge.ecdsa_signature!.nonce, r.nonce));
  const rr = minimal(r.r), ss = minimal(r.s);
  let ok = rr.length <= curve.size && ss.length <= curve.size;
  if (ok) {
    const raw = new Uint8Array(curve.size * 2);
    raw.set(rr, curve.size - rr.length);
    raw.set(ss, curve.size * 2 - ss.length);
    const key = await crypto.subtle.importKey("spki", leaf.spki as BufferSource, { name: "ECDSA", namedCurve: curve.name }, false, ["verify"]);
    ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw as BufferSource, data as BufferSource);
  }
  if (!ok) throw failed("ECDSA signature verify failed");
}
