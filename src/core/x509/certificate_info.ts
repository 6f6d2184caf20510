/** Fast, strict X.509 certificate parsing into the fields wisp's hot paths need. @module */
import { InvalidArgumentError } from "../errors.ts";
import {
  children,
  DERError,
  expectNode,
  type Node,
  readBitString,
  readBoolean,
  readNode,
  readOID,
  readSmallInt,
  TAG_BIT_STRING,
  TAG_BOOLEAN,
  TAG_INTEGER,
  TAG_OCTET_STRING,
  TAG_SEQUENCE,
  toHex,
  value,
  whole,
} from "./der.ts";
import { decodeName, decodeSAN, OID_AKI, OID_BASIC_CONSTRAINTS, OID_EKU, OID_KEY_USAGE, OID_SAN, OID_SKI, type SubjectFields } from "./names.ts";
import { readTime } from "./time.ts";

/**
 * A parsed certificate. Byte fields are views into the DER passed to `parseCertificate` (no copies), so
 * callers that keep them must not mutate that buffer.
 */
export interface CertificateInfo {
  der: Uint8Array;
  /** The raw TBSCertificate bytes the signature covers. */
  tbs: Uint8Array;
  /** Dotted OID of the outer signatureAlgorithm. */
  signatureAlgorithm: string;
  /** The signature BIT STRING contents (a DER ECDSA-Sig-Value for ECDSA). */
  signature: Uint8Array;
  version: number;
  serial: Uint8Array;
  /** Lowercase hex of the serial's magnitude, without a sign-padding zero byte. */
  serialHex: string;
  issuerDER: Uint8Array;
  subjectDER: Uint8Array;
  subject: SubjectFields;
  issuer: SubjectFields;
  notBefore: Date;
  notAfter: Date;
  /** The whole SubjectPublicKeyInfo DER. */
  spki: Uint8Array;
  /** Dotted OID of the SPKI algorithm, and of the named curve for EC keys. */
  publicKeyAlgorithm: string;
  namedCurve?: string;
  uris: string[];
  dnsNames: string[];
  /** iPAddress SANs as text (dotted IPv4, RFC 5952 IPv6). */
  ipAddresses: string[];
  basicConstraintsValid: boolean;
  isCA: boolean;
  pathLen?: number;
  /** Key usage bits (KU_* constants); undefined when the extension is absent. */
  keyUsage?: number;
  keyUsageCritical: boolean;
  /** Dotted EKU OIDs; undefined when the extension is absent. */
  extKeyUsage?: string[];
  ski?: Uint8Array;
  aki?: Uint8Array;
  sanCritical: boolean;
  /** Critical extensions this parser does not interpret; verifiers must reject them. */
  unhandledCriticalExtensions: string[];
}

function parseAlgorithm(buf: Uint8Array, n: Node): { alg: string; param?: string } {
  if (n.tag !== TAG_SEQUENCE) throw new DERError("asn1: expected algorithm identifier");
  const [a, p] = children(buf, n);
  if (!a) throw new DERError("asn1: empty algorithm identifier");
  const alg = readOID(buf, a);
  return p && p.tag === 0x06 ? { alg, param: readOID(buf, p) } : { alg };
}

function parseKeyUsage(buf: Uint8Array, vs: number, end: number): number {
  const bs = readBitString(buf, expectNode(buf, vs, end, TAG_BIT_STRING, "key usage"));
  let bits = 0;
  for (let i = 0; i < bs.bytes.length && i < 2; i++) {
    const byte = bs.bytes[i]!;
    for (let b = 0; b < 8; b++) if (byte & (0x80 >> b)) bits |= 1 << (i * 8 + b);
  }
  return bits;
}

function parseExtensions(buf: Uint8Array, list: Node, info: CertificateInfo): void {
  const seen = new Set<string>();
  for (const ext of children(buf, list)) {
    const parts = children(buf, ext);
    if (ext.tag !== TAG_SEQUENCE || parts.length < 2 || parts.length > 3) throw new DERError("asn1: invalid extension");
    const id = readOID(buf, parts[0]!);
    if (seen.has(id)) throw new DERError(`asn1: duplicate extension "${id}"`);
    seen.add(id);
    const critical = parts.length === 3 ? readBoolean(buf, parts[1]!) : false;
    const v = parts[parts.length - 1]!;
    if (v.tag !== TAG_OCTET_STRING) throw new DERError("asn1: expected extension value");
    switch (id) {
      case OID_BASIC_CONSTRAINTS: {
        const bc = expectNode(buf, v.vs, v.end, TAG_SEQUENCE, "basic constraints");
        info.basicConstraintsValid = true;
        for (const f of children(buf, bc)) {
          if (f.tag === TAG_BOOLEAN) info.isCA = readBoolean(buf, f);
          else if (f.tag === TAG_INTEGER) info.pathLen = readSmallInt(buf, f);
        }
        break;
      }
      case OID_KEY_USAGE:
        info.keyUsage = parseKeyUsage(buf, v.vs, v.end);
        info.keyUsageCritical = critical;
        break;
      case OID_EKU:
        info.extKeyUsage = children(buf, expectNode(buf, v.vs, v.end, TAG_SEQUENCE, "extended key usage"))
          .map((n) => readOID(buf, n));
        break;
      case OID_SKI:
        info.ski = value(buf, expectNode(buf, v.vs, v.end, TAG_OCTET_STRING, "subject key identifier"));
        break;
      case OID_AKI: {
        const aki = expectNode(buf, v.vs, v.end, TAG_SEQUENCE, "authority key identifier");
        const kid = children(buf, aki).find((n) => n.tag === 0x80);
        if (kid) info.aki = value(buf, kid);
        break;
      }
      case OID_SAN: {
        const san = decodeSAN(buf, v.vs, v.end);
        info.uris = san.uris;
        info.dnsNames = san.dnsNames;
        info.ipAddresses = san.ipAddresses;
        info.sanCritical = critical;
        break;
      }
      default:
        if (critical) info.unhandledCriticalExtensions.push(id);
    }
  }
}

function parse(der: Uint8Array): CertificateInfo {
  const cert = expectNode(der, 0, der.length, TAG_SEQUENCE, "certificate");
  if (cert.end !== der.length) throw new DERError("asn1: trailing data after certificate");
  const [tbsN, algN, sigN, extra] = children(der, cert);
  if (!tbsN || !algN || !sigN || extra || tbsN.tag !== TAG_SEQUENCE) throw new DERError("asn1: invalid certificate");
  const f = children(der, tbsN);
  let i = 0;
  let version = 1;
  if (f[0]?.tag === 0xa0) {
    version = readSmallInt(der, expectNode(der, f[0].vs, f[0].end, TAG_INTEGER, "version")) + 1;
    i = 1;
  }
  const [serialN, innerAlgN, issuerN, validityN, subjectN, spkiN] = f.slice(i, i + 6);
  if (!serialN || !innerAlgN || !issuerN || !validityN || !subjectN || !spkiN) {
    throw new DERError("asn1: truncated TBSCertificate");
  }
  if (serialN.tag !== TAG_INTEGER || serialN.end === serialN.vs) throw new DERError("asn1: invalid serial number");
  const sigAlg = parseAlgorithm(der, algN).alg;
  if (parseAlgorithm(der, innerAlgN).alg !== sigAlg) throw new DERError("asn1: signature algorithm mismatch");
  if (issuerN.tag !== TAG_SEQUENCE) throw new DERError("asn1: invalid issuer");
  const [nbN, naN] = children(der, validityN);
  if (validityN.tag !== TAG_SEQUENCE || !nbN || !naN) throw new DERError("asn1: invalid validity");
  if (spkiN.tag !== TAG_SEQUENCE) throw new DERError("asn1: invalid subject public key info");
  const [keyAlgN, keyN] = children(der, spkiN);
  if (!keyAlgN || !keyN) throw new DERError("asn1: invalid subject public key info");
  readBitString(der, keyN);
  const keyAlg = parseAlgorithm(der, keyAlgN);
  const serial = value(der, serialN);
  const info: CertificateInfo = {
    der,
    tbs: whole(der, tbsN),
    signatureAlgorithm: sigAlg,
    signature: readBitString(der, sigN).bytes,
    version,
    serial,
    serialHex: toHex(serial[0] === 0 && serial.length > 1 ? serial.subarray(1) : serial),
    issuerDER: whole(der, issuerN),
    subjectDER: whole(der, subjectN),
    subject: decodeName(der, subjectN),
    issuer: decodeName(der, issuerN),
    notBefore: readTime(der, nbN),
    notAfter: readTime(der, naN),
    spki: whole(der, spkiN),
    publicKeyAlgorithm: keyAlg.alg,
    uris: [],
    dnsNames: [],
    ipAddresses: [],
    basicConstraintsValid: false,
    isCA: false,
    keyUsageCritical: false,
    sanCritical: false,
    unhandledCriticalExtensions: [],
  };
  if (keyAlg.param !== undefined) info.namedCurve = keyAlg.param;
  for (const n of f.slice(i + 6)) {
    if (n.tag === 0xa3) {
      const list = readNode(der, n.vs, n.end);
      if (list.tag !== TAG_SEQUENCE || list.end !== n.end) throw new DERError("asn1: invalid extensions");
      parseExtensions(der, list, info);
    }
  }
  return info;
}

/**
 * Parses a DER certificate without re-encoding anything.
 * @throws {InvalidArgumentError} "malformed certificate" with the decoding error as cause
 */
export function parseCertificate(der: Uint8Array): CertificateInfo {
  try {
    return parse(der);
  } catch (err) {
    if (err instanceof DERError || err instanceof RangeError) {
      throw new InvalidArgumentError("malformed certificate", { cause: err });
    }
    throw err;
  }
}
