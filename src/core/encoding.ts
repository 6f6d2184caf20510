/** Byte encodings used across wisp (base64, base64url, hex), on Web APIs only. @module */

export function toBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

export function toBase64URL(b: Uint8Array): string {
  return toBase64(b).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** SHA-1 of the subject public key bits of a P-256 SPKI: RFC 5280's key identifier, method 1. */
export async function keyIdentifier(spki: Uint8Array): Promise<Uint8Array> {
  // A P-256 SPKI ends with the 65-byte uncompressed point; that is the BIT STRING's content.
  const point = spki.subarray(spki.length - 65);
  return new Uint8Array(await crypto.subtle.digest("SHA-1", point as BufferSource));
}

/** Random alphanumeric string, as SPIRE's JWT key ids (32 characters). */
export function randomAlnum(n: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(n * 2));
  let out = "";
  for (const b of bytes) {
    if (b < 248) out += alphabet[b % 62];
    if (out.length === n) break;
  }
  return out.length === n ? out : out + randomAlnum(n - out.length);
}
