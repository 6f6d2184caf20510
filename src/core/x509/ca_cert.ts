/**
 * CA certificates and CA CSRs in SPIRE's profile (credtemplate), signed through the Signer port so that
 * remote keys (KMS) work: @peculiar/x509 would need a WebCrypto CryptoKey, so the TBSCertificate is encoded
 * here with the same DER helpers as the leaf template and handed to `signer.sign`.
 * @module
 */
import type { Signer } from "../crypto/signer.ts";
import { InvalidArgumentError } from "../errors.ts";
import { TrustDomain } from "../spiffeid/id.ts";
import { parseCertificate } from "./certificate_info.ts";
import { buildCSR } from "./csr.ts";
import { bitStringTLV, extensionTLV, octetTLV, oid, seq, smallIntTLV, TAG_BOOLEAN, tlv, toHex } from "./der.ts";
import { serialTLV } from "./leaf_minter.ts";
import { timeTLV } from "./time.ts";
import { ECDSA_SHA256_ALG, encodeName, type NameInput, OID_AKI, OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, OID_SKI, sanExtension } from "./names.ts";
import { isP256SPKI, subjectKeyId } from "./spki.ts";

export interface SelfSignedCAOptions {
  signer: Signer;
  trustDomain: string;
  notBefore: Date;
  notAfter: Date;
  /** Default C=US, O=SPIFFE; a serialNumber attribute is added unless given (SPIRE makes subjects unique so). */
  subject?: NameInput;
  /** Unsigned big-endian serial; default 16 random bytes. */
  serial?: Uint8Array;
}

export interface CACSROptions {
  signer: Signer;
  trustDomain: string;
  /** SPIRE's `ca_subject`; default C=US, O=SPIFFE; a random serialNumber attribute is added. */
  subject?: NameInput;
}

export interface IntermediateCAOptions {
  issuerCertDER: Uint8Array;
  issuerSigner: Signer;
  publicKeySPKI: Uint8Array;
  trustDomain: string;
  notBefore: Date;
  notAfter: Date;
  /** pathLenConstraint; omitted when undefined. */
  pathLen?: number;
  subject?: NameInput;
  /** The subject as encoded DER, used as is (SPIRE's disk upstream copies the CSR's RawSubject). Wins over `subject`. */
  subjectDER?: Uint8Array;
  serial?: Uint8Array;
}

const DEFAULT_CA_SUBJECT: NameInput = { C: "US", O: "SPIFFE" };
const VERSION_3 = Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02);
// keyCertSign|cRLSign|digitalSignature = bits 0,5,6 → 0x86, one unused trailing bit.
const CA_KU_EXT = extensionTLV(oid(OID_KEY_USAGE), true, bitStringTLV(Uint8Array.of(0x86), 1));

function randomSerial(): Uint8Array {
  const s = crypto.getRandomValues(new Uint8Array(16));
  s[0]! &= 0x7f;
  s[15]! |= 1;
  return s;
}

/** Go's big.Int.String() of the serial, which SPIRE puts in the subject serialNumber attribute. */
function serialDecimal(serial: Uint8Array): string {
  return BigInt("0x" + (toHex(serial) || "0")).toString(10);
}

function caSubject(subject: NameInput | undefined, serial: Uint8Array): NameInput {
  const s: NameInput = { ...(subject ?? DEFAULT_CA_SUBJECT) };
  if (s.serialNumber === undefined) s.serialNumber = serialDecimal(serial);
  return s;
}

function basicConstraintsCA(pathLen: number | undefined): Uint8Array {
  const ca = Uint8Array.of(TAG_BOOLEAN, 1, 0xff);
  const value = pathLen === undefined ? seq(ca) : seq(ca, smallIntTLV(pathLen));
  return extensionTLV(oid(OID_BASIC_CONSTRAINTS), true, value);
}

function requireKey(spki: Uint8Array, what: string): void {
  if (!isP256SPKI(spki)) throw new InvalidArgumentError(`${what} must be an ECDSA P-256 key`);
}

async function signCA(p: {
  signer: Signer;
  serial: Uint8Array;
  issuerDER: Uint8Array | undefined;
  aki: Uint8Array | undefined;
  subject: NameInput | Uint8Array;
  spki: Uint8Array;
  trustDomain: string;
  notBefore: Date;
  notAfter: Date;
  pathLen: number | undefined;
}): Promise<Uint8Array> {
  if (!(p.notAfter.getTime() > p.notBefore.getTime())) throw new RangeError("notAfter must be after notBefore");
  const td = TrustDomain.fromString(p.trustDomain);
  const subject = p.subject instanceof Uint8Array ? p.subject : encodeName(p.subject);
  const exts = [
    CA_KU_EXT,
    basicConstraintsCA(p.pathLen),
    extensionTLV(oid(OID_SKI), false, octetTLV(subjectKeyId(p.spki))),
  ];
  if (p.aki) exts.push(extensionTLV(oid(OID_AKI), false, seq(tlv(0x80, p.aki))));
  exts.push(sanExtension([td.idString()], [], subject.length === 2));
  const tbs = seq(
    VERSION_3,
    serialTLV(p.serial),
    ECDSA_SHA256_ALG,
    p.issuerDER ?? subject,
    seq(timeTLV(p.notBefore), timeTLV(p.notAfter)),
    subject,
    p.spki,
    tlv(0xa3, seq(...exts)),
  );
  const sig = await p.signer.sign(tbs);
  return seq(tbs, ECDSA_SHA256_ALG, bitStringTLV(sig));
}

/**
 * Creates a self-signed root CA for `trustDomain` (URI SAN spiffe://<td>, CA:true, KU keyCertSign|cRLSign|
 * digitalSignature, SKI; no AKI, as Go omits it on self-signed certificates).
 * @throws {InvalidArgumentError} on a bad trust domain or a non-P-256 signer
 */
export async function createSelfSignedCA(o: SelfSignedCAOptions): Promise<Uint8Array> {
  requireKey(o.signer.publicKeySPKI, "signer public key");
  const serial = o.serial ?? randomSerial();
  return signCA({
    signer: o.signer,
    serial,
    issuerDER: undefined,
    aki: undefined,
    subject: caSubject(o.subject, serial),
    spki: o.signer.publicKeySPKI,
    trustDomain: o.trustDomain,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    pathLen: undefined,
  });
}

/**
 * Creates the CSR for an upstream-signed intermediate CA, exactly SPIRE's BuildUpstreamSignedX509CACSR:
 * subject (with a random serialNumber attribute), URI SAN spiffe://<td>, and no basicConstraints or key usage.
 * @throws {InvalidArgumentError} on a bad trust domain or a non-P-256 signer
 */
export async function createCACSR(o: CACSROptions): Promise<Uint8Array> {
  requireKey(o.signer.publicKeySPKI, "signer public key");
  const td = TrustDomain.fromString(o.trustDomain);
  return buildCSR(o.signer.publicKeySPKI, (data) => o.signer.sign(data), {
    spiffeID: td.idString(),
    subject: caSubject(o.subject, randomSerial()),
  });
}

/**
 * Signs an intermediate CA certificate for `publicKeySPKI` with the issuer's key (tests, disk upstream authority).
 * @throws {InvalidArgumentError} when the issuer is not a CA, the issuer signer does not match, or a key is not P-256
 */
export async function signIntermediateCA(o: IntermediateCAOptions): Promise<Uint8Array> {
  requireKey(o.publicKeySPKI, "public key");
  requireKey(o.issuerSigner.publicKeySPKI, "issuer signer public key");
  const issuer = parseCertificate(o.issuerCertDER);
  if (!issuer.isCA) throw new InvalidArgumentError("issuer certificate is not a CA");
  if (toHex(issuer.spki) !== toHex(o.issuerSigner.publicKeySPKI)) {
    throw new InvalidArgumentError("issuer signer public key does not match the issuer certificate");
  }
  const serial = o.serial ?? randomSerial();
  return signCA({
    signer: o.issuerSigner,
    serial,
    issuerDER: issuer.subjectDER,
    aki: issuer.ski ?? subjectKeyId(issuer.spki, issuer.spki.length - 65),
    subject: o.subjectDER ?? caSubject(o.subject, serial),
    spki: o.publicKeySPKI,
    trustDomain: o.trustDomain,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    pathLen: o.pathLen,
  });
}
