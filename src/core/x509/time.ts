/** Certificate times: UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). @module */
import { DERError, type Node, readString, stringTLV, TAG_GENERALIZED_TIME, TAG_UTC_TIME } from "./der.ts";

function pad2(n: number): string {
  return n < 10 ? "0" + n : String(n);
}

/**
 * Encodes a certificate time: UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5).
 * Sub-second precision is dropped because DER certificate times carry whole seconds.
 */
export function timeTLV(d: Date): Uint8Array {
  const ms = d.getTime();
  if (!Number.isFinite(ms)) throw new RangeError("invalid date");
  const y = d.getUTCFullYear();
  if (y < 0 || y > 9999) throw new RangeError(`year "${y}" cannot be encoded in a certificate`);
  const rest = pad2(d.getUTCMonth() + 1) + pad2(d.getUTCDate()) + pad2(d.getUTCHours()) +
    pad2(d.getUTCMinutes()) + pad2(d.getUTCSeconds()) + "Z";
  if (y >= 1950 && y < 2050) return stringTLV(TAG_UTC_TIME, pad2(y % 100) + rest);
  return stringTLV(TAG_GENERALIZED_TIME, String(y).padStart(4, "0") + rest);
}

function digits(s: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) throw new DERError("asn1: invalid time");
    v = v * 10 + c;
  }
  return v;
}

/** Decodes a UTCTime or GeneralizedTime node in the RFC 5280 profile (seconds, "Z"). @throws {DERError} */
export function readTime(buf: Uint8Array, n: Node): Date {
  const s = readString(buf, n);
  let y: number;
  let o: number;
  if (n.tag === TAG_UTC_TIME && s.length === 13) {
    y = digits(s, 0, 2);
    y += y < 50 ? 2000 : 1900;
    o = 2;
  } else if (n.tag === TAG_GENERALIZED_TIME && s.length === 15) {
    y = digits(s, 0, 4);
    o = 4;
  } else throw new DERError("asn1: invalid time");
  if (s[s.length - 1] !== "Z") throw new DERError("asn1: invalid time");
  const mo = digits(s, o, o + 2);
  const d = digits(s, o + 2, o + 4);
  const h = digits(s, o + 4, o + 6);
  const mi = digits(s, o + 6, o + 8);
  const sec = digits(s, o + 8, o + 10);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) throw new DERError("asn1: invalid time");
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, sec, 0);
  return t;
}
