/**
 * Certificate signature checks through WebCrypto for the algorithms a SPIFFE chain meets: wisp's own
 * ECDSA P-256 keys and the RSA or ECDSA roots an upstream CA (ACM PCA) may use.
 * @module
 */
import type { CertificateInfo } from "./certificate_info.ts";
import { children, DERError, readNode, TAG_INTEGER, TAG_SEQUENCE } from "./der.ts";
import {
  OID_EC_PUBLIC_KEY,
  OID_ECDSA_SHA256,
  OID_ECDSA_SHA384,
  OID_ECDSA_SHA512,
  OID_P256,
  OID_P384,
  OID_P521,
  OID_RSA,
  OID_RSA_SHA256,
  OID_RSA_SHA384,
  OID_RSA_SHA512,
} from "./names.ts";

const ECDSA_HASH: Record<string, string> = {
  [OID_ECDSA_SHA256]: "SHA-256",
  [OID_ECDSA_SHA384]: "SHA-384",
  [OID_ECDSA_SHA512]: "SHA-512",
};
const RSA_HASH: Record<string, string> = {
  [OID_RSA_SHA256]: "SHA-256",
  [OID_RSA_SHA384]: "SHA-384",
  [OID_RSA_SHA512]: "SHA-512",
};
const CURVES: Record<string, { name: string; size: number }> = {
  [OID_P256]: { name: "P-256", size: 32 },
  [OID_P384]: { name: "P-384", size: 48 },
  [OID_P521]: { name: "P-521", size: 66 },
};

/** DER ECDSA-Sig-Value → r||s of `size`-byte halves, as WebCrypto wants. @throws {DERError} */
export function ecdsaDERToRaw(sig: Uint8Array, size: number): Uint8Array {
  const top = readNode(sig, 0, sig.length);
  if (top.tag !== TAG_SEQUENCE || top.end !== sig.length) throw new DERError("asn1: invalid ECDSA signature");
  const parts = children(sig, top);
  if (parts.length !== 2) throw new DERError("asn1: invalid ECDSA signature");
  const out = new Uint8Array(size * 2);
  parts.forEach((n, k) => {
    if (n.tag !== TAG_INTEGER || n.end === n.vs) throw new DERError("asn1: invalid ECDSA signature");
    let v = sig.subarray(n.vs, n.end);
    while (v.length > 1 && v[0] === 0) v = v.subarray(1);
    if (v.length > size) throw new DERError("asn1: invalid ECDSA signature");
    out.set(v, k * size + size - v.length);
  });
  return out;
}

const keyCache = new WeakMap<CertificateInfo, Map<string, Promise<CryptoKey>>>();

function importKey(issuer: CertificateInfo, alg: RsaHashedImportParams | EcKeyImportParams): Promise<CryptoKey> {
  let m = keyCache.get(issuer);
  if (!m) keyCache.set(issuer, m = new Map());
  const k = JSON.stringify(alg);
  let p = m.get(k);
  if (!p) {
    p = crypto.subtle.importKey("spki", issuer.spki as BufferSource, alg, false, ["verify"]);
    m.set(k, p);
  }
  return p;
}

/**
 * Checks that `issuer`'s key signed `cert`. Returns an error text (Go's wording) instead of throwing,
 * because chain building tries several candidates.
 */
export async function checkSignedBy(cert: CertificateInfo, issuer: CertificateInfo): Promise<string | undefined> {
  const algOID = cert.signatureAlgorithm;
  try {
    if (ECDSA_HASH[algOID]) {
      const curve = CURVES[issuer.namedCurve ?? ""];
      if (issuer.publicKeyAlgorithm !== OID_EC_PUBLIC_KEY || !curve) {
        return "x509: signature algorithm does not match the issuer public key";
      }
      const key = await importKey(issuer, { name: "ECDSA", namedCurve: curve.name });
      const raw = ecdsaDERToRaw(cert.signature, curve.size);
      const ok = await crypto.subtle.verify({ name: "ECDSA", hash: ECDSA_HASH[algOID]! }, key, raw as BufferSource, cert.tbs as BufferSource);
      return ok ? undefined : "x509: ECDSA verification failure";
    }
    if (RSA_HASH[algOID]) {
      if (issuer.publicKeyAlgorithm !== OID_RSA) return "x509: signature algorithm does not match the issuer public key";
      const key = await importKey(issuer, { name: "RSASSA-PKCS1-v1_5", hash: RSA_HASH[algOID]! });
      const ok = await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, cert.signature as BufferSource, cert.tbs as BufferSource);
      return ok ? undefined : "x509: RSA verification failure";
    }
    return `x509: unsupported signature algorithm "${algOID}"`;
  } catch (err) {
    return `x509: cannot verify signature: ${err instanceof Error ? err.message : String(err)}`;
  }
}
