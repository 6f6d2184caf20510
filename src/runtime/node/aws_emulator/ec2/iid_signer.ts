/**
 * The emulator's instance-identity signing key: an RSA-2048 key and self-signed certificate that sign identity
 * documents the way AWS does (`signature`: PKCS#1 v1.5 SHA-256; `rsa2048`: PKCS#7 SignedData, content attached).
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  Attribute,
  CMSVersion,
  ContentInfo,
  DigestAlgorithmIdentifiers,
  EncapsulatedContent,
  EncapsulatedContentInfo,
  id_contentType,
  id_data,
  id_messageDigest,
  id_signedData,
  id_signingTime,
  IssuerAndSerialNumber,
  SignedData,
  SignerIdentifier,
  SignerInfo,
  SignerInfos,
  SigningTime,
} from "@peculiar/asn1-cms";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Certificate } from "@peculiar/asn1-x509";
import { x509 } from "../../../../core/x509/_peculiar.ts";
import type { JsonStore } from "../json_store.ts";

const KEY_FILE = "iid_signing_key.json";
/** The certificate users add to the server's `trusted_iid_certificates`. */
export const IID_CERT_FILE = "iid-signing-cert.pem";
const RSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;
const SHA256_OID = "2.16.840.1.101.3.4.2.1";
const RSA_ENCRYPTION_OID = "1.2.840.113549.1.1.1";
/** DER NULL, the parameters AWS puts on its digest and signature algorithm identifiers. */
const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;

interface KeyFile {
  /** PKCS#8 DER, base64. */
  privateKey: string;
  certificatePem: string;
}

/** Signs identity documents; created by `IIDSigner.open`. */
export class IIDSigner {
  readonly certificatePath: string;
  readonly certificatePem: string;
  readonly #key: CryptoKey;
  readonly #cert: Certificate;

  private constructor(key: CryptoKey, certificatePem: string, certificatePath: string) {
    this.#key = key;
    this.certificatePem = certificatePem;
    this.certificatePath = certificatePath;
    this.#cert = AsnConvert.parse(new x509.X509Certificate(certificatePem).rawData, Certificate);
  }

  /** Loads the key from the data directory or creates it, and (re)writes the certificate PEM next to it. */
  static async open(store: JsonStore): Promise<IIDSigner> {
    let file = store.read<KeyFile>(KEY_FILE);
    if (!file) {
      const keys = (await crypto.subtle.generateKey(
        { ...RSA, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
        true,
        ["sign", "verify"],
      )) as CryptoKeyPair;
      const serial = randomBytes(9);
      serial[0] = (serial[0]! & 0x7f) | 0x10;
      const now = Date.now();
      // Shaped like AWS's regional certificates (self-signed, O=Amazon Web Services LLC), but named as the emulator's.
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial.toString("hex"),
        name: "C=US, ST=Washington State, L=Seattle, O=wisp-aws-emulator, CN=wisp-aws-emulator instance identity",
        notBefore: new Date(now - 3600_000),
        notAfter: new Date(now + 20 * 365 * 24 * 3600_000),
        signingAlgorithm: RSA,
        keys,
      });
      const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
      file = { privateKey: Buffer.from(pkcs8).toString("base64"), certificatePem: cert.toString("pem") };
      store.write(KEY_FILE, file);
    }
    const key = await crypto.subtle.importKey("pkcs8", Buffer.from(file.privateKey, "base64"), RSA, false, ["sign"]);
    const certificatePath = path.join(store.dir, IID_CERT_FILE);
    fs.writeFileSync(certificatePath, file.certificatePem.trim() + "\n", { mode: 0o644 });
    return new IIDSigner(key, file.certificatePem, certificatePath);
  }

  /** `/signature`: base64 PKCS#1 v1.5 SHA-256 over the document bytes, wrapped at 64 columns as IMDS serves it. */
  async signature(document: Uint8Array): Promise<string> {
    const sig = Buffer.from(await crypto.subtle.sign(RSA, this.#key, document as Uint8Array<ArrayBuffer>)).toString("base64");
    return sig.replace(/(.{64})/g, "$1\n").trim();
  }

  /** `/rsa2048`: PKCS#7 SignedData (SHA-256, content attached, signer by issuer and serial), base64 without armour. */
  async rsa2048(document: Uint8Array, signingTime: Date): Promise<string> {
    return Buffer.from(await signPKCS7(document, { key: this.#key, cert: this.#cert, signingTime })).toString("base64");
  }
}

/**
 * Builds a PKCS#7 SignedData over `content` with signed attributes (contentType, signingTime, messageDigest).
 * Exported so tests can sign with keys of their own (an untrusted signer, a tampered document).
 */
export async function signPKCS7(content: Uint8Array, o: { key: CryptoKey; cert: Certificate; signingTime: Date }): Promise<Uint8Array> {
  const digest = createHash("sha256").update(content).digest();
  const attrs = [
    new Attribute({ attrType: id_contentType, attrValues: [oidDER(id_data)] }),
    new Attribute({ attrType: id_signingTime, attrValues: [AsnConvert.serialize(new SigningTime(o.signingTime))] }),
    new Attribute({ attrType: id_messageDigest, attrValues: [AsnConvert.serialize(new OctetString(digest))] }),
  ];
  // DER orders a SET OF by the encodings of its members; the signature covers that SET.
  const encoded = attrs.map((a) => new Uint8Array(AsnConvert.serialize(a)));
  const order = encoded.map((e, i) => [e, i] as const).sort(([a], [b]) => Buffer.compare(a, b));
  const sorted = order.map(([, i]) => attrs[i]!);
  const setBody = Buffer.concat(order.map(([e]) => e));
  const signedBytes = Buffer.concat([Buffer.from([0x31]), derLength(setBody.length), setBody]);
  const signature = await crypto.subtle.sign(RSA, o.key, signedBytes);
  const signer = new SignerInfo({
    version: CMSVersion.v1,
    sid: new SignerIdentifier({
      issuerAndSerialNumber: new IssuerAndSerialNumber({
        issuer: o.cert.tbsCertificate.issuer,
        serialNumber: o.cert.tbsCertificate.serialNumber,
      }),
    }),
    digestAlgorithm: new AlgorithmIdentifier({ algorithm: SHA256_OID, parameters: DER_NULL }),
    signedAttrs: sorted,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: RSA_ENCRYPTION_OID, parameters: DER_NULL }),
    signature: new OctetString(signature),
  });
  const signed = new SignedData({
    version: CMSVersion.v1,
    digestAlgorithms: new DigestAlgorithmIdentifiers([new AlgorithmIdentifier({ algorithm: SHA256_OID, parameters: DER_NULL })]),
    encapContentInfo: new EncapsulatedContentInfo({
      eContentType: id_data,
      eContent: new EncapsulatedContent({ single: new OctetString(content) }),
    }),
    signerInfos: new SignerInfos([signer]),
  });
  const info = new ContentInfo({ contentType: id_signedData, content: AsnConvert.serialize(signed) });
  return new Uint8Array(AsnConvert.serialize(info));
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** DER of an OBJECT IDENTIFIER value, for attribute values that are OIDs. */
function oidDER(dotted: string): ArrayBuffer {
  const parts = dotted.split(".").map(Number);
  const body: number[] = [parts[0]! * 40 + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    body.push(...chunk);
  }
  return new Uint8Array([0x06, body.length, ...body]).buffer;
}
