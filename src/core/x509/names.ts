/** Distinguished names, subjectAltName and the OIDs shared by the certificate and CSR encoders. @module */
import {
  children,
  DERError,
  expectNode,
  extensionTLV,
  type Node,
  oid,
  readOID,
  readString,
  seq,
  stringTLV,
  TAG_IA5,
  TAG_PRINTABLE,
  TAG_SEQUENCE,
  TAG_SET,
  TAG_UTF8,
  tlv,
} from "./der.ts";

export const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";
export const OID_P256 = "1.2.840.10045.3.1.7";
export const OID_P384 = "1.3.132.0.34";
export const OID_P521 = "1.3.132.0.35";
export const OID_RSA = "1.2.840.113549.1.1.1";
export const OID_ED25519 = "1.3.101.112";
export const OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2";
export const OID_ECDSA_SHA384 = "1.2.840.10045.4.3.3";
export const OID_ECDSA_SHA512 = "1.2.840.10045.4.3.4";
export const OID_RSA_SHA256 = "1.2.840.113549.1.1.11";
export const OID_RSA_SHA384 = "1.2.840.113549.1.1.12";
export const OID_RSA_SHA512 = "1.2.840.113549.1.1.13";
export const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
export const OID_SKI = "2.5.29.14";
export const OID_KEY_USAGE = "2.5.29.15";
export const OID_SAN = "2.5.29.17";
export const OID_BASIC_CONSTRAINTS = "2.5.29.19";
export const OID_AKI = "2.5.29.35";
export const OID_EKU = "2.5.29.37";
export const OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** ecdsa-with-SHA256 AlgorithmIdentifier (parameters absent, RFC 5758 §3.2). */
export const ECDSA_SHA256_ALG = seq(oid(OID_ECDSA_SHA256));

/** Key usage bits as numbers, equal to Go's x509.KeyUsage constants (bit i of RFC 5280 §4.2.1.3 = 1 << i). */
export const KU_DIGITAL_SIGNATURE = 1;
export const KU_CONTENT_COMMITMENT = 2;
export const KU_KEY_ENCIPHERMENT = 4;
export const KU_DATA_ENCIPHERMENT = 8;
export const KU_KEY_AGREEMENT = 16;
export const KU_KEY_CERT_SIGN = 32;
export const KU_CRL_SIGN = 64;

/** The subject attributes wisp writes and reads; other attributes are kept only in the raw DER. */
export interface SubjectFields {
  C?: string;
  O?: string;
  OU?: string;
  CN?: string;
  serialNumber?: string;
}

/**
 * A subject to encode. Country, organization and organizational unit may hold several values, as Go's pkix.Name
 * does (SPIRE's `ca_subject { country = ["US", "FR"] }`); each such attribute becomes one multi-valued RDN.
 */
export type NameInput = {
  [K in keyof SubjectFields]?: K extends "C" | "O" | "OU" ? string | readonly string[] : string;
};

// Go's pkix.Name.ToRDNSequence order, so our names match SPIRE's byte for byte.
const ATTRS: ReadonlyArray<readonly [keyof SubjectFields, string]> = [
  ["C", "2.5.4.6"],
  ["O", "2.5.4.10"],
  ["OU", "2.5.4.11"],
  ["CN", "2.5.4.3"],
  ["serialNumber", "2.5.4.5"],
];
const ATTR_OIDS = new Map(ATTRS.map(([k, o]) => [k, oid(o)]));
const BY_OID = new Map(ATTRS.map(([k, o]) => [o, k]));

function isPrintable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x3f && c !== 0x3b &&
      c !== 0x3c && c !== 0x3e) ||
      c === 0x20 || (c >= 0x27 && c <= 0x2f && c !== 0x2a);
    if (!ok) return false;
  }
  return true;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * Encodes a Name as Go does: one RDN per attribute (all values of a multi-valued attribute in that one RDN, the SET
 * sorted as DER requires), PrintableString when possible, else UTF8String.
 */
export function encodeName(s: NameInput): Uint8Array {
  const rdns: Uint8Array[] = [];
  for (const [key] of ATTRS) {
    const v = s[key];
    const values = (typeof v === "string" ? [v] : v ?? []).filter((x) => x !== "");
    if (values.length === 0) continue;
    const atvs = values.map((x) => seq(ATTR_OIDS.get(key)!, stringTLV(isPrintable(x) ? TAG_PRINTABLE : TAG_UTF8, x)));
    rdns.push(tlv(TAG_SET, ...atvs.sort(compareBytes)));
  }
  return seq(...rdns);
}

/** Reads the attributes wisp knows from a Name node (first value of each). @throws {DERError} */
export function decodeName(buf: Uint8Array, name: Node): SubjectFields {
  if (name.tag !== TAG_SEQUENCE) throw new DERError("asn1: expected name");
  const out: SubjectFields = {};
  for (const rdn of children(buf, name)) {
    if (rdn.tag !== TAG_SET) throw new DERError("asn1: expected relative distinguished name");
    for (const atv of children(buf, rdn)) {
      const [t, v, extra] = children(buf, atv);
      if (atv.tag !== TAG_SEQUENCE || !t || !v || extra) throw new DERError("asn1: invalid name attribute");
      const key = BY_OID.get(readOID(buf, t));
      if (key && out[key] === undefined) out[key] = readString(buf, v);
    }
  }
  return out;
}

/** True for a non-empty ASCII name without spaces or control characters (what an IA5String SAN can carry). */
export function isValidDNSName(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** The subjectAltName extension value in Go's order: DNS names, then URIs. */
export function encodeSAN(uris: readonly string[], dnsNames: readonly string[]): Uint8Array {
  const names: Uint8Array[] = [];
  for (const d of dnsNames) names.push(stringTLV(0x82, d));
  for (const u of uris) names.push(stringTLV(0x86, u));
  return seq(...names);
}

/** A subjectAltName Extension; critical when the subject is empty (RFC 5280 §4.2.1.6). */
export function sanExtension(uris: readonly string[], dnsNames: readonly string[], critical: boolean): Uint8Array {
  return extensionTLV(oid(OID_SAN), critical, encodeSAN(uris, dnsNames));
}

/** Reads URIs and DNS names from a subjectAltName value; other name forms are skipped. @throws {DERError} */
export function decodeSAN(buf: Uint8Array, vs: number, end: number): { uris: string[]; dnsNames: string[]; ipAddresses: string[] } {
  const top = expectNode(buf, vs, end, TAG_SEQUENCE, "subjectAltName");
  if (top.end !== end) throw new DERError("asn1: trailing data after subjectAltName");
  const uris: string[] = [];
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const n of children(buf, top)) {
    if (n.tag === 0x86) uris.push(readIA5(buf, n));
    else if (n.tag === 0x82) dnsNames.push(readIA5(buf, n));
    else if (n.tag === 0x87) ipAddresses.push(formatIP(buf.subarray(n.vs, n.end)));
  }
  return { uris, dnsNames, ipAddresses };
}

/** An iPAddress SAN as text: dotted IPv4, or IPv6 in RFC 5952 form (Go's net.IP.String). */
function formatIP(b: Uint8Array): string {
  if (b.length === 4) return [...b].join(".");
  if (b.length !== 16) throw new DERError("asn1: invalid iPAddress in subjectAltName");
  const words = Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!);
  // The longest run of two or more zero words becomes "::".
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

function readIA5(buf: Uint8Array, n: Node): string {
  for (let i = n.vs; i < n.end; i++) if (buf[i]! > 0x7f) throw new DERError("asn1: invalid IA5String");
  return readString(buf, { ...n, tag: TAG_IA5 });
}
