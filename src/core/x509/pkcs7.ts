/**
 * PKCS#7 / CMS SignedData verification (RFC 5652 §5) as SPIRE's fullsailor/pkcs7 `Verify` does it: the signer is found
 * among the given certificates by issuer and serial number, the messageDigest attribute must match the content, and
 * the signature is checked with WebCrypto RSASSA-PKCS1-v1_5. No chain, validity or signing-time checks, by design.
 * @module
 */
import { ContentInfo, id_messageDigest, id_signedData, SignedData } from "@peculiar/asn1-cms";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { TAG_SET, tlv } from "./der.ts";

/** A parse or verification failure; the message is fullsailor/pkcs7's where it has one. */
export class PKCS7Error extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PKCS7Error";
  }
}

const DIGESTS: Record<string, "SHA-1" | "SHA-256" | "SHA-384" | "SHA-512"> = {
  "1.3.14.3.2.26": "SHA-1",
  "2.16.840.1.101.3.4.2.1": "SHA-256",
  "2.16.840.1.101.3.4.2.2": "SHA-384",
  "2.16.840.1.101.3.4.2.3": "SHA-512",
};
/** rsaEncryption (the digest then comes from digestAlgorithm) and the sha*WithRSAEncryption OIDs. */
const RSA_SIGNATURES = ["1.2.840.113549.1.1.1", "1.2.840.113549.1.1.5", "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13"];

function bytes(b: ArrayBuffer | ArrayBufferView): Uint8Array<ArrayBuffer> {
  const u = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength);
  return new Uint8Array(u);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Serial numbers compare as integers: DER may carry a leading zero byte that another encoder drops. */
function serialEqual(a: Uint8Array, b: Uint8Array): boolean {
  const strip = (x: Uint8Array) => {
    let i = 0;
    while (i < x.length - 1 && x[i] === 0) i++;
    return x.subarray(i);
  };
  return equal(strip(a), strip(b));
}

/** A parsed SignedData, ready to be verified against candidate signer certificates. */
export interface ParsedPKCS7 {
  signedData: SignedData;
  /** The attached content (eContent), or undefined for a detached signature. */
  content: Uint8Array | undefined;
}

/**
 * Parses DER ContentInfo carrying SignedData.
 * @throws {PKCS7Error} when the bytes are not a SignedData ContentInfo
 */
export function parsePKCS7(der: Uint8Array): ParsedPKCS7 {
  let info: ContentInfo;
  try {
    info = AsnConvert.parse(bytes(der), ContentInfo);
  } catch (cause) {
    throw new PKCS7Error(`asn1: structure error: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  if (info.contentType !== id_signedData) throw new PKCS7Error("pkcs7: cannot parse data: unimplemented content type");
  let signedData: SignedData;
  try {
    signedData = AsnConvert.parse(info.content, SignedData);
  } catch (cause) {
    throw new PKCS7Error(`asn1: structure error: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  const e = signedData.encapContentInfo.eContent;
  const content = e?.single ? bytes(e.single.buffer) : e?.any ? bytes(e.any) : undefined;
  return { signedData, content };
}

/**
 * Verifies every SignerInfo against `certificates` (DER) and returns the signed content.
 * @throws {PKCS7Error} "pkcs7: No certificate for signer", "pkcs7: Message digest mismatch", "crypto/rsa: verification error", …
 */
export async function verifyPKCS7(p: ParsedPKCS7, certificates: readonly Uint8Array[]): Promise<Uint8Array> {
  if (!p.content) throw new PKCS7Error("pkcs7: the message has no attached content");
  if (p.signedData.signerInfos.length === 0) throw new PKCS7Error("pkcs7: Message has no signers");
  const certs = certificates.map((c) => AsnConvert.parse(bytes(c), Certificate));
  for (const signer of p.signedData.signerInfos) {
    const sid = signer.sid.issuerAndSerialNumber;
    const issuer = sid ? new Uint8Array(AsnConvert.serialize(sid.issuer)) : undefined;
    const cert = sid && certs.find((c) =>
      equal(new Uint8Array(AsnConvert.serialize(c.tbsCertificate.issuer)), issuer!) &&
      serialEqual(new Uint8Array(c.tbsCertificate.serialNumber), new Uint8Array(sid.serialNumber))
    );
    if (!cert) throw new PKCS7Error("pkcs7: No certificate for signer");
    const hash = DIGESTS[signer.digestAlgorithm.algorithm];
    if (!hash) throw new PKCS7Error("pkcs7: cannot verify data: unsupported algorithm");
    if (!RSA_SIGNATURES.includes(signer.signatureAlgorithm.algorithm)) throw new PKCS7Error("pkcs7: cannot verify data: unsupported algorithm");
    let signed: Uint8Array<ArrayBuffer> = bytes(p.content);
    if (signer.signedAttrs && signer.signedAttrs.length > 0) {
      const md = signer.signedAttrs.find((a) => a.attrType === id_messageDigest);
      if (!md || md.attrValues.length !== 1) throw new PKCS7Error("pkcs7: missing message digest attribute");
      const want = bytes(AsnConvert.parse(md.attrValues[0]!, OctetString).buffer);
      const got = new Uint8Array(await crypto.subtle.digest(hash, p.content as Uint8Array<ArrayBuffer>));
      if (!equal(want, got)) throw new PKCS7Error("pkcs7: Message digest mismatch");
      // The signature covers the attributes as a SET OF (tag 0x31), not with the [0] IMPLICIT tag they travel under.
      // They are re-encoded in the order received, as fullsailor's marshalAttributes does; DER input round-trips.
      signed = bytes(tlv(TAG_SET, ...signer.signedAttrs.map((a) => new Uint8Array(AsnConvert.serialize(a)))));
    }
    const alg = { name: "RSASSA-PKCS1-v1_5", hash };
    let key: CryptoKey;
    try {
      key = await crypto.subtle.importKey("spki", AsnConvert.serialize(cert.tbsCertificate.subjectPublicKeyInfo), alg, false, ["verify"]);
    } catch (cause) {
      throw new PKCS7Error("x509: signer certificate does not hold an RSA public key", { cause });
    }
    const ok = await crypto.subtle.verify(alg, key, bytes(signer.signature.buffer), signed);
    if (!ok) throw new PKCS7Error("crypto/rsa: verification error");
  }
  return p.content;
}
