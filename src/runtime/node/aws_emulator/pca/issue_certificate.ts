/** Builds the certificate IssueCertificate returns: CSR checks, template extensions, API/CSR passthrough, signing. @module */
import { x509 } from "../../../../core/x509/_peculiar.ts";
import { AwsError } from "../aws_error.ts";
import { randomSerial } from "./pca_state.ts";
import type { Template } from "./templates.ts";

const OID = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectKeyId: "2.5.29.14",
  authorityKeyId: "2.5.29.35",
  subjectAltName: "2.5.29.17",
  certificatePolicies: "2.5.29.32",
};

const SUBJECT_OIDS: Array<[string, string]> = [
  ["Country", "2.5.4.6"],
  ["State", "2.5.4.8"],
  ["Locality", "2.5.4.7"],
  ["Organization", "2.5.4.10"],
  ["OrganizationalUnit", "2.5.4.11"],
  ["DistinguishedNameQualifier", "2.5.4.46"],
  ["SerialNumber", "2.5.4.5"],
  ["CommonName", "2.5.4.3"],
  ["Title", "2.5.4.12"],
  ["Surname", "2.5.4.4"],
  ["GivenName", "2.5.4.42"],
  ["Initials", "2.5.4.43"],
  ["Pseudonym", "2.5.4.65"],
  ["GenerationQualifier", "2.5.4.44"],
];
const KEY_USAGE_BITS: Array<[string, number]> = [
  ["DigitalSignature", x509.KeyUsageFlags.digitalSignature],
  ["NonRepudiation", x509.KeyUsageFlags.nonRepudiation],
  ["KeyEncipherment", x509.KeyUsageFlags.keyEncipherment],
  ["DataEncipherment", x509.KeyUsageFlags.dataEncipherment],
  ["KeyAgreement", x509.KeyUsageFlags.keyAgreement],
  ["KeyCertSign", x509.KeyUsageFlags.keyCertSign],
  ["CRLSign", x509.KeyUsageFlags.cRLSign],
  ["EncipherOnly", x509.KeyUsageFlags.encipherOnly],
  ["DecipherOnly", x509.KeyUsageFlags.decipherOnly],
];
const EKU_TYPES: Record<string, string> = {
  SERVER_AUTH: "1.3.6.1.5.5.7.3.1",
  CLIENT_AUTH: "1.3.6.1.5.5.7.3.2",
  CODE_SIGNING: "1.3.6.1.5.5.7.3.3",
  EMAIL_PROTECTION: "1.3.6.1.5.5.7.3.4",
  TIME_STAMPING: "1.3.6.1.5.5.7.3.8",
  OCSP_SIGNING: "1.3.6.1.5.5.7.3.9",
  SMART_CARD_LOGIN: "1.3.6.1.4.1.311.20.2.2",
  DOCUMENT_SIGNING: "1.3.6.1.5.5.7.3.36",
  CERTIFICATE_TRANSPARENCY: "1.3.6.1.4.1.11129.2.4.4",
};

function malformed(reason: string): AwsError {
  return new AwsError("MalformedCSRException", `The certificate signing request is malformed: ${reason}.`);
}

/**
 * Parses and checks the Csr blob as the SDK sends it (PEM text bytes).
 * @throws {AwsError} MalformedCSRException when it is not a PEM CSR, does not verify, or names nobody
 */
export async function parseCsr(blob: Uint8Array): Promise<x509.Pkcs10CertificateRequest> {
  const text = Buffer.from(blob).toString("latin1").trim();
  const m = /^-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n([\s\S]+?)\r?\n-----END (NEW )?CERTIFICATE REQUEST-----$/.exec(text);
  if (!m) throw malformed("expected one PEM-encoded CERTIFICATE REQUEST block");
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(Buffer.from(m[2]!.replace(/\s+/g, ""), "base64"));
  } catch {
    throw malformed("the request could not be decoded");
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch {
    ok = false;
  }
  if (!ok) throw malformed("the signature does not verify");
  if (csr.subject === "" && !csr.getExtension(OID.subjectAltName)) throw malformed("it has neither a subject nor a subject alternative name");
  return csr;
}

function apiSubject(s: unknown): x509.Name | undefined {
  if (typeof s !== "object" || s === null) return undefined;
  const rec = s as Record<string, unknown>;
  const json: Array<Record<string, string[]>> = [];
  for (const [field, oid] of SUBJECT_OIDS) if (typeof rec[field] === "string") json.push({ [oid]: [rec[field] as string] });
  for (const a of Array.isArray(rec["CustomAttributes"]) ? rec["CustomAttributes"] : []) {
    const { ObjectIdentifier, Value } = a as Record<string, unknown>;
    if (typeof ObjectIdentifier === "string" && typeof Value === "string") json.push({ [ObjectIdentifier]: [Value] });
  }
  return json.length ? new x509.Name(json) : undefined;
}

function apiExtensions(ext: unknown): x509.Extension[] {
  if (typeof ext !== "object" || ext === null) return [];
  const e = ext as Record<string, unknown>;
  const out: x509.Extension[] = [];
  if (typeof e["KeyUsage"] === "object" && e["KeyUsage"] !== null) {
    const ku = e["KeyUsage"] as Record<string, unknown>;
    const bits = KEY_USAGE_BITS.reduce((acc, [k, bit]) => (ku[k] === true ? acc | bit : acc), 0);
    out.push(new x509.KeyUsagesExtension(bits, true));
  }
  if (Array.isArray(e["ExtendedKeyUsage"])) {
    const oids = e["ExtendedKeyUsage"].map((u: Record<string, unknown>) =>
      typeof u["ExtendedKeyUsageObjectIdentifier"] === "string" ? u["ExtendedKeyUsageObjectIdentifier"] : EKU_TYPES[String(u["ExtendedKeyUsageType"])]
    );
    if (oids.some((o) => o === undefined)) throw new AwsError("InvalidArgsException", "An ExtendedKeyUsage entry names no known usage.");
    out.push(new x509.ExtendedKeyUsageExtension(oids as string[]));
  }
  if (Array.isArray(e["SubjectAlternativeNames"])) {
    const names = e["SubjectAlternativeNames"].map((g: Record<string, unknown>): x509.JsonGeneralName => {
      if (typeof g["DnsName"] === "string") return { type: "dns", value: g["DnsName"] };
      if (typeof g["UniformResourceIdentifier"] === "string") return { type: "url", value: g["UniformResourceIdentifier"] };
      if (typeof g["IpAddress"] === "string") return { type: "ip", value: g["IpAddress"] };
      if (typeof g["Rfc822Name"] === "string") return { type: "email", value: g["Rfc822Name"] };
      throw new AwsError(
        "InvalidArgsException",
        "The emulator supports DnsName, UniformResourceIdentifier, IpAddress and Rfc822Name subject alternative names only.",
      );
    });
    out.push(new x509.SubjectAlternativeNameExtension(names));
  }
  if (Array.isArray(e["CertificatePolicies"])) {
    out.push(new x509.CertificatePolicyExtension(e["CertificatePolicies"].map((p: Record<string, unknown>) => String(p["CertPolicyId"]))));
  }
  for (const c of Array.isArray(e["CustomExtensions"]) ? e["CustomExtensions"] : []) {
    const { ObjectIdentifier, Value, Critical } = c as Record<string, unknown>;
    if (typeof ObjectIdentifier !== "string" || typeof Value !== "string") {
      throw new AwsError("InvalidArgsException", "A CustomExtension needs an ObjectIdentifier and a Value.");
    }
    out.push(new x509.Extension(ObjectIdentifier, Critical === true, Buffer.from(Value, "base64")));
  }
  return out;
}

/** Everything needed to sign one certificate. */
export interface IssueInput {
  csr: x509.Pkcs10CertificateRequest;
  template: Template;
  caCertificatePem: string;
  caKey: CryptoKey;
  hash: "SHA-256" | "SHA-384" | "SHA-512";
  notBefore: Date;
  notAfter: Date;
  apiPassthrough: unknown;
}

/** Signs the certificate; returns its PEM (no trailing newline) and lower-case hex serial. */
export async function issueCertificate(input: IssueInput): Promise<{ pem: string; serial: string }> {
  const { csr, template } = input;
  const caCert = new x509.X509Certificate(input.caCertificatePem);
  const ext = new Map<string, x509.Extension>();
  // Precedence per extension is template > API passthrough > CSR passthrough, so apply in reverse.
  if (template.csrPassthrough) { for (const e of csr.extensions) ext.set(e.type, e); }
  const csrSan = csr.getExtension(OID.subjectAltName);
  if (csrSan) ext.set(OID.subjectAltName, csrSan);
  let subject: x509.Name = csr.subjectName;
  if (template.apiPassthrough) {
    const pass = (input.apiPassthrough ?? {}) as Record<string, unknown>;
    for (const e of apiExtensions(pass["Extensions"])) ext.set(e.type, e);
    subject = apiSubject(pass["Subject"]) ?? subject;
  }
  ext.set(OID.basicConstraints, new x509.BasicConstraintsExtension(template.ca, template.pathLen, template.ca));
  if (template.keyUsage !== undefined) ext.set(OID.keyUsage, new x509.KeyUsagesExtension(template.keyUsage, true));
  if (template.extendedKeyUsage) {
    ext.set(OID.extKeyUsage, new x509.ExtendedKeyUsageExtension(template.extendedKeyUsage, template.extendedKeyUsageCritical ?? false));
  }
  const keyId = Buffer.from(await csr.publicKey.getKeyIdentifier()).toString("hex");
  ext.set(OID.subjectKeyId, new x509.SubjectKeyIdentifierExtension(keyId));
  const caSki = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  ext.set(
    OID.authorityKeyId,
    caSki ? new x509.AuthorityKeyIdentifierExtension(caSki.keyId) : await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
  );
  if (subject.toJSON().length === 0 && !ext.has(OID.subjectAltName)) {
    throw new AwsError("MalformedCSRException", "The certificate signing request is malformed: it has neither a subject nor a subject alternative name.");
  }
  const san = ext.get(OID.subjectAltName);
  if (san && subject.toJSON().length === 0 && !san.critical) {
    // RFC 5280 §4.2.1.6: with an empty subject the SAN must be critical.
    ext.set(OID.subjectAltName, new x509.Extension(OID.subjectAltName, true, san.value));
  }
  const order = [OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectKeyId, OID.authorityKeyId, OID.subjectAltName];
  const sorted = [...ext.values()].sort((a, b) => {
    const ia = order.indexOf(a.type), ib = order.indexOf(b.type);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  });
  const serial = randomSerial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject,
    issuer: caCert.subjectName,
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    signingAlgorithm: { name: "ECDSA", hash: input.hash } as EcdsaParams,
    publicKey: csr.publicKey,
    signingKey: input.caKey,
    extensions: sorted,
  });
  return { pem: cert.toString("pem").trim(), serial };
}
