/**
 * Checks the signature on an instance identity document the way SPIRE's aws_iid server does: the PKCS#7 `rsa2048`
 * against the region's AWS RSA-2048 certificate, else the base64 `signature` (PKCS#1 v1.5, SHA-256).
 * @module
 */
import { InternalError, InvalidArgumentError } from "../../../core/errors.ts";
import { equalBytes, fromBase64 } from "../../../core/encoding.ts";
import { parsePKCS7, verifyPKCS7 } from "../../../core/x509/pkcs7.ts";
import { fromPEM, parseCertificate } from "../../../core/x509/mod.ts";
import { AWS_RSA2048_CERTS } from "./aws_rsa2048_certs.ts";

/** The attestation payload as SPIRE's agent sends it (pkg/common/plugin/aws/iid.go). */
export interface IIDAttestationData {
  document: string;
  signature: string;
  rsa2048: string;
}

/** Certificates (DER) trusted besides AWS's: wisp's `trusted_iid_certificates`. */
export interface IIDTrust {
  extraCertificates: readonly Uint8Array[];
}

function invalid(message: string, cause?: unknown): InvalidArgumentError {
  return new InvalidArgumentError(message, cause === undefined ? undefined : { cause });
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Verifies the payload's signature over its document for `region`.
 * @throws {InvalidArgumentError} for a missing, malformed or wrong signature (SPIRE's texts)
 * @throws {InternalError} when no AWS certificate exists for the region (RSA-2048)
 */
export async function verifyIIDSignature(data: IIDAttestationData, region: string, trust: IIDTrust): Promise<void> {
  const document = new TextEncoder().encode(data.document);
  if (data.rsa2048 !== "") {
    const pem = AWS_RSA2048_CERTS[region];
    if (pem === undefined) {
      throw new InternalError(`failed to load the AWS CA certificate for region "${region}": unsupported region "${region}"`);
    }
    let der: Uint8Array;
    try {
      der = fromPEM(`-----BEGIN PKCS7-----\n${data.rsa2048}\n-----END PKCS7-----\n`, "PKCS7")[0] ?? new Uint8Array();
      if (der.length === 0) throw new Error("no PEM block");
    } catch (cause) {
      throw invalid("failed to decode the instance identity cryptographic signature", cause);
    }
    let parsed;
    try {
      parsed = parsePKCS7(der);
    } catch (cause) {
      throw invalid(`failed to parse the instance identity cryptographic signature: ${reason(cause)}`, cause);
    }
    let content: Uint8Array;
    try {
      content = await verifyPKCS7(parsed, [...fromPEM(pem, "CERTIFICATE"), ...trust.extraCertificates]);
    } catch (cause) {
      throw invalid(`failed verification of instance identity cryptographic signature: ${reason(cause)}`, cause);
    }
    if (!equalBytes(content, document)) throw invalid("instance identity document does not match the verified PKCS7 content");
    return;
  }
  if (data.signature === "") throw invalid("instance identity cryptographic signature is required");
  let sig: Uint8Array;
  try {
    sig = fromBase64(data.signature.replace(/[\r\n]/g, ""));
  } catch (cause) {
    throw invalid("failed to decode the IID signature", cause);
  }
  // wisp ships only AWS's RSA-2048 certificates, so the RSA-1024 `signature` is checked against the trusted extras.
  for (const cert of trust.extraCertificates) {
    if (await verifyRSA(cert, sig, document)) return;
  }
  throw invalid(
    trust.extraCertificates.length === 0
      ? "failed to verify the cryptographic signature: no certificate for the signature-only (RSA-1024) form; send rsa2048 or add the signer to trusted_iid_certificates"
      : "failed to verify the cryptographic signature: crypto/rsa: verification error",
  );
}

async function verifyRSA(certDER: Uint8Array, sig: Uint8Array, data: Uint8Array): Promise<boolean> {
  const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  try {
    const key = await crypto.subtle.importKey("spki", parseCertificate(certDER).spki as Uint8Array<ArrayBuffer>, alg, false, ["verify"]);
    return await crypto.subtle.verify(alg, key, sig as Uint8Array<ArrayBuffer>, data as Uint8Array<ArrayBuffer>);
  } catch {
    return false;
  }
}
