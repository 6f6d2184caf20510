/**
 * Minimal DER writer and strict DER reader for the certificate and CSR hot paths.
 *
 * Hand-written rather than @peculiar/asn1-schema because schema-driven (de)serialisation through asn1js
 * costs ~2–15 ms per certificate (measured in node-deno-facts.md: 68 leaves/s, 536 parses/s), which is
 * 10–100× the price of the ECDSA signature it wraps. X.509 and PKCS#10 need only a handful of universal
 * types; every encoder here emits the one DER form, and the reader rejects anything that is not DER
 * (indefinite or non-minimal lengths, multi-byte tags, overruns) instead of guessing.
 * @module
 */

export const TAG_BOOLEAN = 0x01;
export const TAG_INTEGER = 0x02;
export const TAG_BIT_STRING = 0x03;
export const TAG_OCTET_STRING = 0x04;
export const TAG_OID = 0x06;
export const TAG_UTF8 = 0x0c;
export const TAG_PRINTABLE = 0x13;
export const TAG_IA5 = 0x16;
export const TAG_UTC_TIME = 0x17;
export const TAG_GENERALIZED_TIME = 0x18;
export const TAG_SEQUENCE = 0x30;
export const TAG_SET = 0x31;

/** Thrown by the reader; callers wrap it in their own domain error as the cause. */
export class DERError extends Error {
  override name = "DERError";
}

// ---------------------------------------------------------------- writing

function lengthBytes(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1000000 ? 4 : 5;
}

function writeHeader(out: Uint8Array, tag: number, n: number): number {
  out[0] = tag;
  if (n < 0x80) {
    out[1] = n;
    return 2;
  }
  const k = lengthBytes(n) - 1;
  out[1] = 0x80 | k;
  for (let i = 0; i < k; i++) out[2 + i] = (n >>> (8 * (k - 1 - i))) & 0xff;
  return 2 + k;
}

/** Encodes one TLV whose value is the concatenation of `parts`. */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(1 + lengthBytes(n) + n);
  let off = writeHeader(out, tag, n);
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function seq(...parts: Uint8Array[]): Uint8Array {
  return tlv(TAG_SEQUENCE, ...parts);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Encodes a dotted OID as a full TLV. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const body: number[] = [];
  const push = (v: number) => {
    const tmp = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) tmp.unshift((v & 0x7f) | 0x80);
    body.push(...tmp);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(TAG_OID, Uint8Array.from(body));
}

/** DER INTEGER from an unsigned big-endian magnitude (strips leading zeros, pads when the high bit is set). */
export function uintTLV(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const v = magnitude.subarray(i);
  if (v.length === 0) return Uint8Array.of(TAG_INTEGER, 1, 0);
  return v[0]! & 0x80 ? tlv(TAG_INTEGER, Uint8Array.of(0), v) : tlv(TAG_INTEGER, v);
}

export function smallIntTLV(n: number): Uint8Array {
  if (n < 0 || n > 0x7fffffff) throw new RangeError("integer out of range");
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return uintTLV(Uint8Array.from(bytes));
}

export function bitStringTLV(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  return tlv(TAG_BIT_STRING, Uint8Array.of(unusedBits), bytes);
}

export function octetTLV(bytes: Uint8Array): Uint8Array {
  return tlv(TAG_OCTET_STRING, bytes);
}

const encoder = new TextEncoder();

export function stringTLV(tag: number, s: string): Uint8Array {
  return tlv(tag, encoder.encode(s));
}

/** One Extension: SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }. */
export function extensionTLV(oidTLV: Uint8Array, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? seq(oidTLV, Uint8Array.of(TAG_BOOLEAN, 1, 0xff), octetTLV(value)) : seq(oidTLV, octetTLV(value));
}

// ---------------------------------------------------------------- reading

/** One decoded TLV: `vs`..`end` is the value, `start`..`end` the whole encoding. */
export interface Node {
  tag: number;
  start: number;
  vs: number;
  end: number;
}

/** Reads the TLV at `pos`, which must end at or before `limit`. @throws {DERError} */
export function readNode(buf: Uint8Array, pos: number, limit: number): Node {
  if (pos + 2 > limit) throw new DERError("asn1: truncated element");
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new DERError("asn1: multi-byte tags are not supported");
  let len = buf[pos + 1]!;
  let vs = pos + 2;
  if (len & 0x80) {
    const k = len & 0x7f;
    if (k === 0) throw new DERError("asn1: indefinite length is not DER");
    if (k > 4) throw new DERError("asn1: length too large");
    if (vs + k > limit) throw new DERError("asn1: truncated length");
    len = 0;
    for (let i = 0; i < k; i++) len = len * 256 + buf[vs + i]!;
    if (buf[vs] === 0 || len < 0x80) throw new DERError("asn1: non-minimal length encoding");
    vs += k;
  }
  const end = vs + len;
  if (end > limit) throw new DERError("asn1: element overruns its container");
  return { tag, start: pos, vs, end };
}

/** Reads a TLV and checks its tag. @throws {DERError} */
export function expectNode(buf: Uint8Array, pos: number, limit: number, tag: number, what: string): Node {
  const n = readNode(buf, pos, limit);
  if (n.tag !== tag) throw new DERError(`asn1: expected ${what}`);
  return n;
}

/** All direct children of a constructed node. @throws {DERError} */
export function children(buf: Uint8Array, parent: Node): Node[] {
  const out: Node[] = [];
  for (let p = parent.vs; p < parent.end;) {
    const n = readNode(buf, p, parent.end);
    out.push(n);
    p = n.end;
  }
  return out;
}

export function value(buf: Uint8Array, n: Node): Uint8Array {
  return buf.subarray(n.vs, n.end);
}

export function whole(buf: Uint8Array, n: Node): Uint8Array {
  return buf.subarray(n.start, n.end);
}

/** Decodes an OID node to dotted form. @throws {DERError} */
export function readOID(buf: Uint8Array, n: Node): string {
  if (n.tag !== TAG_OID || n.end === n.vs) throw new DERError("asn1: expected object identifier");
  const arcs: number[] = [];
  let v = 0;
  for (let i = n.vs; i < n.end; i++) {
    const b = buf[i]!;
    if (v === 0 && b === 0x80) throw new DERError("asn1: non-minimal object identifier");
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    } else if (i === n.end - 1) throw new DERError("asn1: truncated object identifier");
  }
  return arcs.join(".");
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Decodes a string-typed node as text. @throws {DERError} */
export function readString(buf: Uint8Array, n: Node): string {
  try {
    return decoder.decode(buf.subarray(n.vs, n.end));
  } catch (err) {
    throw new DERError("asn1: invalid string encoding", { cause: err });
  }
}

/** Decodes a BOOLEAN node. @throws {DERError} */
export function readBoolean(buf: Uint8Array, n: Node): boolean {
  if (n.tag !== TAG_BOOLEAN || n.end - n.vs !== 1) throw new DERError("asn1: expected boolean");
  const b = buf[n.vs]!;
  if (b !== 0 && b !== 0xff) throw new DERError("asn1: non-DER boolean");
  return b === 0xff;
}

/** Decodes a small non-negative INTEGER node (path lengths, versions). @throws {DERError} */
export function readSmallInt(buf: Uint8Array, n: Node): number {
  const len = n.end - n.vs;
  if (n.tag !== TAG_INTEGER || len < 1 || len > 4) throw new DERError("asn1: expected small integer");
  if (buf[n.vs]! & 0x80) throw new DERError("asn1: negative integer");
  if (len > 1 && buf[n.vs] === 0 && !(buf[n.vs + 1]! & 0x80)) throw new DERError("asn1: non-minimal integer");
  let v = 0;
  for (let i = n.vs; i < n.end; i++) v = v * 256 + buf[i]!;
  return v;
}

/** The content of a BIT STRING node without its unused-bits byte. @throws {DERError} */
export function readBitString(buf: Uint8Array, n: Node): { bytes: Uint8Array; unused: number } {
  if (n.tag !== TAG_BIT_STRING || n.end === n.vs) throw new DERError("asn1: expected bit string");
  const unused = buf[n.vs]!;
  if (unused > 7 || (unused > 0 && n.end - n.vs === 1)) throw new DERError("asn1: invalid bit string");
  return { bytes: buf.subarray(n.vs + 1, n.end), unused };
}

export function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i]! < 16 ? "0" : "") + b[i]!.toString(16);
  return s;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
