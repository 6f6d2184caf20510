/** A small operator PKI for x509pop tests: RSA or ECDSA roots, intermediates and node certificates (@peculiar/x509). @module */
import { toPEM } from "../../../src/core/x509/pem.ts";
import { x509 } from "../../../src/core/x509/_peculiar.ts";

export type KeyType = "rsa" | "ecdsa" | "ecdsa-p384";

export interface Issued {
  der: Uint8Array;
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  keyType: KeyType;
  /** PKCS#8 DER of the private key. */
  pkcs8: Uint8Array;
}

const DAY = 86_400_000;

function algorithm(t: KeyType) {
  if (t === "rsa") return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  return { name: "ECDSA", namedCurve: t === "ecdsa" ? "P-256" : "P-384", hash: "SHA-256" };
}

async function keys(t: KeyType): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(algorithm(t), true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

let serial = 1;

export async function newCA(o: { keyType?: KeyType; name: string; issuer?: Issued; notBefore?: Date; notAfter?: Date }): Promise<Issued> {
  const t = o.keyType ?? "ecdsa";
  const k = await keys(t);
  const now = Date.now();
  const signer = o.issuer ?? { keys: k, cert: undefined, keyType: t };
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(4, "0"),
    subject: `CN=${o.name}`,
    issuer: o.issuer ? o.issuer.cert.subject : `CN=${o.name}`,
    notBefore: o.notBefore ?? new Date(now - DAY),
    notAfter: o.notAfter ?? new Date(now + 30 * DAY),
    publicKey: k.publicKey,
    signingKey: signer.keys.privateKey,
    signingAlgorithm: algorithm(signer.keyType),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(k.publicKey),
    ],
  });
  return { der: new Uint8Array(cert.rawData), cert, keys: k, keyType: t, pkcs8: new Uint8Array(await crypto.subtle.exportKey("pkcs8", k.privateKey)) };
}

export async function newNodeCert(ca: Issued, o: {
  keyType?: KeyType;
  cn: string;
  notBefore?: Date;
  notAfter?: Date;
  ips?: string[];
  uris?: string[];
  usages?: number;
  serialHex?: string;
}): Promise<Issued> {
  const t = o.keyType ?? "ecdsa";
  const k = await keys(t);
  const now = Date.now();
  const names = [...(o.ips ?? []).map((value) => ({ type: "ip" as const, value })), ...(o.uris ?? []).map((value) => ({ type: "url" as const, value }))];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: o.serialHex ?? (serial++).toString(16).padStart(4, "0"),
    subject: `CN=${o.cn}`,
    issuer: ca.cert.subject,
    notBefore: o.notBefore ?? new Date(now - DAY),
    notAfter: o.notAfter ?? new Date(now + 30 * DAY),
    publicKey: k.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: algorithm(ca.keyType),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(o.usages ?? x509.KeyUsageFlags.digitalSignature, true),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
    ],
  });
  return { der: new Uint8Array(cert.rawData), cert, keys: k, keyType: t, pkcs8: new Uint8Array(await crypto.subtle.exportKey("pkcs8", k.privateKey)) };
}

export const pem = {
  cert: (...c: Issued[]) => c.map((x) => toPEM(x.der, "CERTIFICATE")).join(""),
  key: (c: Issued) => toPEM(c.pkcs8, "PRIVATE KEY"),
};
