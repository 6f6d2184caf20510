/** ECDSA P-256 keys and signatures through WebCrypto only. @module */

const ALG = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;

/** Generates an extractable P-256 key pair (extractable so it can be handed to a workload as PKCS#8). */
export function generateKeyPair(extractable = true): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALG, extractable, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

export async function exportSPKI(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey("spki", key));
}

export async function exportPKCS8(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
}

export function importPKCS8(der: Uint8Array, extractable = true): Promise<CryptoKey> {
  return crypto.subtle.importKey("pkcs8", der as BufferSource, ALG, extractable, ["sign"]);
}

export function importSPKI(der: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("spki", der as BufferSource, ALG, true, ["verify"]);
}

/** Signs with SHA-256; returns the raw IEEE P1363 form r||s (64 bytes) that WebCrypto produces. */
export async function signRaw(key: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign(SIGN, key, data as BufferSource));
}

export async function verifyRaw(key: CryptoKey, sig: Uint8Array, data: Uint8Array): Promise<boolean> {
  return crypto.subtle.verify(SIGN, key, sig as BufferSource, data as BufferSource);
}

function derInt(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  const pad = v[0]! & 0x80 ? 1 : 0;
  const out = new Uint8Array(2 + pad + v.length);
  out[0] = 0x02;
  out[1] = pad + v.length;
  out.set(v, 2 + pad);
  return out;
}

/**
 * Converts r||s to the DER ECDSA-Sig-Value that X.509 and CSRs carry. Written by hand because it is
 * 20 lines and runs once per certificate on the hot path, where an ASN.1 library costs more than the signature.
 */
export function rawToDER(raw: Uint8Array): Uint8Array {
  if (raw.length !== 64) throw new RangeError("P-256 raw signature must be 64 bytes");
  const r = derInt(raw.subarray(0, 32));
  const s = derInt(raw.subarray(32));
  const out = new Uint8Array(2 + r.length + s.length);
  out[0] = 0x30;
  out[1] = r.length + s.length;
  out.set(r, 2);
  out.set(s, 2 + r.length);
  return out;
}

/** Converts a DER ECDSA-Sig-Value back to r||s for WebCrypto verify; undefined when malformed. */
export function derToRaw(der: Uint8Array): Uint8Array | undefined {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) return undefined;
  const out = new Uint8Array(64);
  let p = 2;
  for (let k = 0; k < 2; k++) {
    if (der[p] !== 0x02) return undefined;
    const len = der[p + 1]!;
    if (len < 1 || len > 33 || p + 2 + len > der.length) return undefined;
    let v = der.subarray(p + 2, p + 2 + len);
    if (v.length === 33) {
      if (v[0] !== 0) return undefined;
      v = v.subarray(1);
    }
    out.set(v, k * 32 + (32 - v.length));
    p += 2 + len;
  }
  return p === der.length ? out : undefined;
}
