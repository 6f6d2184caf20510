/** PEM armour and concatenated-DER lists (the Workload API's x509_svid and bundle fields). @module */
import { InvalidArgumentError } from "../errors.ts";
import { toBase64 } from "../encoding.ts";
import { concat, DERError, readNode, TAG_SEQUENCE } from "./der.ts";

/** Wraps DER as one PEM block with 64-character lines. */
export function toPEM(der: Uint8Array, label: string): string {
  const b64 = toBase64(der);
  let body = "";
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + "\n";
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes every PEM block in `text`. Text between blocks is ignored (as Go and OpenSSL do, so files with
 * comments load), but the text must hold at least one block and every block must decode cleanly.
 * @throws {InvalidArgumentError} on no blocks, an unterminated or mismatched block, bad base64, or a
 *   block whose label differs from `label`
 */
export function fromPEM(text: string, label?: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  let last = 0;
  for (const m of text.matchAll(BLOCK)) {
    const [, begin, body, end] = m;
    if (begin !== end) throw new InvalidArgumentError(`PEM block "${begin}" ends with "${end}"`);
    if (label !== undefined && begin !== label) {
      throw new InvalidArgumentError(`expected PEM block type "${label}", got "${begin}"`);
    }
    const b64 = body!.replace(/\s+/g, "");
    if (body!.includes(":") || !B64.test(b64) || b64.length % 4 !== 0) {
      throw new InvalidArgumentError(`invalid base64 in PEM block "${begin}"`);
    }
    const bin = atob(b64);
    const der = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) der[i] = bin.charCodeAt(i);
    out.push(der);
    last = m.index + m[0].length;
  }
  if (text.indexOf("-----BEGIN", last) !== -1) throw new InvalidArgumentError("unterminated PEM block");
  if (out.length === 0) throw new InvalidArgumentError("no PEM data found");
  return out;
}

/** Concatenates DER items (certificates) into one byte string. */
export function concatDER(list: readonly Uint8Array[]): Uint8Array {
  return concat(list);
}

/**
 * Splits concatenated DER SEQUENCEs (certificates) into views of `bytes`. An empty input is an empty list.
 * @throws {InvalidArgumentError} "malformed DER certificate list" when an item is truncated or not a SEQUENCE
 */
export function splitDER(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  try {
    for (let p = 0; p < bytes.length;) {
      const n = readNode(bytes, p, bytes.length);
      if (n.tag !== TAG_SEQUENCE) throw new DERError("asn1: expected certificate sequence");
      out.push(bytes.subarray(n.start, n.end));
      p = n.end;
    }
  } catch (err) {
    throw new InvalidArgumentError("malformed DER certificate list", { cause: err });
  }
  return out;
}
