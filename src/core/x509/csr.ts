/** PKCS#10 certificate signing requests: creation (agent, CA) and fast parse-and-verify (server). @module */
import { derToRaw, exportSPKI, rawToDER, signRaw } from "../crypto/ec_p256.ts";
import { InvalidArgumentError } from "../errors.ts";
import { fromString } from "../spiffeid/id.ts";
import {
  bitStringTLV,
  children,
  DERError,
  expectNode,
  extensionTLV,
  type Node,
  oid,
  readBitString,
  readBoolean,
  readOID,
  readSmallInt,
  seq,
  TAG_INTEGER,
  TAG_OCTET_STRING,
  TAG_SEQUENCE,
  TAG_SET,
  tlv,
  whole,
} from "./der.ts";
import {
  decodeName,
  decodeSAN,
  ECDSA_SHA256_ALG,
  encodeName,
  encodeSAN,
  isValidDNSName,
  type NameInput,
  OID_EC_PUBLIC_KEY,
  OID_ECDSA_SHA256,
  OID_ED25519,
  OID_EXTENSION_REQUEST,
  OID_P256,
  OID_P384,
  OID_P521,
  OID_RSA,
  OID_SAN,
  type SubjectFields,
} from "./names.ts";
import { isP256SPKI, P256_POINT_OFFSET } from "./spki.ts";

export interface CSROptions {
  /** Becomes the single URI SAN. */
  spiffeID?: string;
  dnsNames?: string[];
  /** Default empty, as SPIRE's agent sends; the server decides the SVID subject. */
  subject?: NameInput;
}

/** What the server needs from a verified CSR. */
export interface ParsedCSR {
  publicKeySPKI: Uint8Array;
  uris: string[];
  dnsNames: string[];
  subject: SubjectFields;
  subjectDER: Uint8Array;
}

const VERSION_0 = Uint8Array.of(TAG_INTEGER, 1, 0);

/**
 * Encodes and signs a CSR. `sign` returns a DER ECDSA-Sig-Value over the CertificationRequestInfo, so
 * both WebCrypto keys and remote (KMS) Signers fit.
 * @throws {InvalidArgumentError} on a bad SPIFFE ID or DNS name
 */
export async function buildCSR(
  spki: Uint8Array,
  sign: (data: Uint8Array) => Promise<Uint8Array>,
  opts: CSROptions = {},
): Promise<Uint8Array> {
  const uris: string[] = [];
  if (opts.spiffeID !== undefined) uris.push(fromString(opts.spiffeID).toString());
  const dnsNames = opts.dnsNames ?? [];
  for (const d of dnsNames) if (!isValidDNSName(d)) throw new InvalidArgumentError(`invalid DNS name "${d}"`);
  const subject = encodeName(opts.subject ?? {});
  let attrs: Uint8Array = new Uint8Array(0);
  if (uris.length + dnsNames.length > 0) {
    const san = extensionTLV(oid(OID_SAN), subject.length === 2, encodeSAN(uris, dnsNames));
    attrs = seq(oid(OID_EXTENSION_REQUEST), tlv(TAG_SET, seq(san)));
  }
  const info = seq(VERSION_0, subject, spki, tlv(0xa0, attrs));
  const sig = await sign(info);
  return seq(info, ECDSA_SHA256_ALG, bitStringTLV(sig));
}

/** Creates a DER PKCS#10 CSR for a WebCrypto P-256 key pair (the agent's workload and agent keys). */
export async function createCSR(key: CryptoKeyPair, opts: CSROptions = {}): Promise<Uint8Array> {
  const spki = await exportSPKI(key.publicKey);
  return buildCSR(spki, async (data) => rawToDER(await signRaw(key.privateKey, data)), opts);
}

function csrError(message: string, cause?: unknown): InvalidArgumentError {
  return new InvalidArgumentError(
    message,
    cause === undefined ? { code: "ERR_CSR_INVALID" } : {
      code: "ERR_CSR_INVALID",
      cause,
    },
  );
}

const KEY_NAMES: Record<string, string> = { [OID_RSA]: "RSA", [OID_ED25519]: "Ed25519" };
const CURVE_NAMES: Record<string, string> = { [OID_P384]: "P-384", [OID_P521]: "P-521" };

function checkKeyAlgorithm(buf: Uint8Array, spki: Node): void {
  const [algN, keyN] = children(buf, spki);
  if (spki.tag !== TAG_SEQUENCE || !algN || !keyN || algN.tag !== TAG_SEQUENCE) {
    throw new DERError("asn1: invalid subject public key info");
  }
  const [a, p] = children(buf, algN);
  if (!a) throw new DERError("asn1: empty algorithm identifier");
  const alg = readOID(buf, a);
  if (alg !== OID_EC_PUBLIC_KEY) {
    throw csrError(`unsupported CSR public key algorithm "${KEY_NAMES[alg] ?? alg}"`);
  }
  const curve = p && p.tag === 0x06 ? readOID(buf, p) : "";
  if (curve !== OID_P256) {
    throw csrError(`unsupported CSR public key algorithm "ECDSA ${CURVE_NAMES[curve] ?? curve}"`);
  }
}

function parseExtensionRequest(buf: Uint8Array, attrs: Node, out: ParsedCSR): void {
  for (const attr of children(buf, attrs)) {
    const [t, vals] = children(buf, attr);
    if (attr.tag !== TAG_SEQUENCE || !t || !vals || vals.tag !== TAG_SET) throw new DERError("asn1: invalid attribute");
    if (readOID(buf, t) !== OID_EXTENSION_REQUEST) continue;
    for (const exts of children(buf, vals)) {
      if (exts.tag !== TAG_SEQUENCE) throw new DERError("asn1: invalid extension request");
      for (const ext of children(buf, exts)) {
        const parts = children(buf, ext);
        if (ext.tag !== TAG_SEQUENCE || parts.length < 2 || parts.length > 3) {
          throw new DERError("asn1: invalid extension");
        }
        if (parts.length === 3) readBoolean(buf, parts[1]!);
        const v = parts[parts.length - 1]!;
        if (v.tag !== TAG_OCTET_STRING) throw new DERError("asn1: expected extension value");
        if (readOID(buf, parts[0]!) !== OID_SAN) continue;
        const n = decodeSAN(buf, v.vs, v.end);
        out.uris.push(...n.uris);
        out.dnsNames.push(...n.dnsNames);
      }
    }
  }
}

function parse(der: Uint8Array): { parsed: ParsedCSR; info: Uint8Array; sig: Uint8Array } {
  const top = expectNode(der, 0, der.length, TAG_SEQUENCE, "certificate request");
  if (top.end !== der.length) throw new DERError("asn1: trailing data after certificate request");
  const [infoN, algN, sigN, extra] = children(der, top);
  if (!infoN || !algN || !sigN || extra || infoN.tag !== TAG_SEQUENCE || algN.tag !== TAG_SEQUENCE) {
    throw new DERError("asn1: invalid certificate request");
  }
  const [verN, subjN, spkiN, attrsN] = children(der, infoN);
  if (!verN || !subjN || !spkiN) throw new DERError("asn1: truncated certificate request info");
  if (readSmallInt(der, verN) !== 0) throw new DERError("asn1: unsupported certificate request version");
  checkKeyAlgorithm(der, spkiN);
  const spki = whole(der, spkiN);
  if (!isP256SPKI(spki)) throw new DERError("asn1: invalid P-256 public key");
  const [sigAlgOID] = children(der, algN);
  if (!sigAlgOID) throw new DERError("asn1: empty algorithm identifier");
  const sigAlg = readOID(der, sigAlgOID);
  if (sigAlg !== OID_ECDSA_SHA256) throw csrError(`unsupported CSR signature algorithm "${sigAlg}"`);
  const parsed: ParsedCSR = {
    publicKeySPKI: spki.slice(),
    uris: [],
    dnsNames: [],
    subject: decodeName(der, subjN),
    subjectDER: whole(der, subjN).slice(),
  };
  if (attrsN) {
    if (attrsN.tag !== 0xa0) throw new DERError("asn1: invalid certificate request attributes");
    parseExtensionRequest(der, attrsN, parsed);
  }
  return { parsed, info: whole(der, infoN), sig: readBitString(der, sigN).bytes };
}

/**
 * Parses a DER CSR and checks its self-signature over the CertificationRequestInfo bytes as received.
 * Only ECDSA P-256 with SHA-256 is accepted.
 * @throws {InvalidArgumentError} ERR_CSR_INVALID: "malformed CSR" (with cause), "invalid CSR signature",
 *   or "unsupported CSR public key algorithm ..." / "unsupported CSR signature algorithm ..."
 */
export async function parseAndVerifyCSR(der: Uint8Array): Promise<ParsedCSR> {
  let r: ReturnType<typeof parse>;
  try {
    r = parse(der);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw csrError("malformed CSR", err);
  }
  const raw = derToRaw(r.sig);
  if (raw === undefined) throw csrError("invalid CSR signature");
  // "raw" import of the point is ~3.5× cheaper than "spki" in Node (no OpenSSL decoder round); the SPKI
  // header was already checked byte for byte, so the point is all that is left to hand over.
  const key = await crypto.subtle.importKey(
    "raw",
    r.parsed.publicKeySPKI.subarray(P256_POINT_OFFSET) as BufferSource,
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["verify"],
  );
  const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw as BufferSource, r.info as BufferSource);
  if (!ok) throw csrError("invalid CSR signature");
  return r.parsed;
}
