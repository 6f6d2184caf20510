/** The ACM PCA certificate templates the emulator knows and the extensions each one defines. @module */
import { x509 } from "../../../../core/x509/_peculiar.ts";

const KU = x509.KeyUsageFlags;
const EKU = { serverAuth: "1.3.6.1.5.5.7.3.1", clientAuth: "1.3.6.1.5.5.7.3.2", codeSigning: "1.3.6.1.5.5.7.3.3", ocspSigning: "1.3.6.1.5.5.7.3.9" };
const CA_USAGES = KU.digitalSignature | KU.keyCertSign | KU.cRLSign;

/** What one template puts in a certificate; undefined members are left to API or CSR passthrough. */
export interface Template {
  name: string;
  ca: boolean;
  /** basicConstraints pathLen for CA templates. */
  pathLen?: number;
  /** Critical keyUsage bits the template fixes. */
  keyUsage?: number;
  extendedKeyUsage?: string[];
  extendedKeyUsageCritical?: boolean;
  /** Copies CSR extensions the template does not define. */
  csrPassthrough: boolean;
  /** Honours ApiPassthrough (Subject and Extensions). */
  apiPassthrough: boolean;
}

const DEFAULT_TEMPLATE = "EndEntityCertificate/V1";

const END_ENTITY: Record<string, Omit<Template, "name" | "csrPassthrough" | "apiPassthrough">> = {
  EndEntityCertificate: { ca: false, keyUsage: KU.digitalSignature | KU.keyEncipherment, extendedKeyUsage: [EKU.serverAuth, EKU.clientAuth] },
  EndEntityClientAuthCertificate: { ca: false, keyUsage: KU.digitalSignature | KU.keyAgreement, extendedKeyUsage: [EKU.clientAuth] },
  EndEntityServerAuthCertificate: { ca: false, keyUsage: KU.digitalSignature | KU.keyEncipherment, extendedKeyUsage: [EKU.serverAuth] },
  CodeSigningCertificate: { ca: false, keyUsage: KU.digitalSignature, extendedKeyUsage: [EKU.codeSigning], extendedKeyUsageCritical: true },
  OCSPSigningCertificate: { ca: false, keyUsage: KU.digitalSignature, extendedKeyUsage: [EKU.ocspSigning] },
};

/** Resolves a template name such as "SubordinateCACertificate_PathLen0_CSRPassthrough/V1". */
function byName(name: string): Template | undefined {
  const m = /^(Blank)?([A-Za-z]+?)(?:_PathLen([0-3]))?(?:_(CSRPassthrough|APIPassthrough|APICSRPassthrough))?\/V1$/.exec(name);
  if (!m) return undefined;
  const [, blank, base, pathLen, pass] = m;
  const csrPassthrough = pass === "CSRPassthrough" || pass === "APICSRPassthrough";
  const apiPassthrough = pass === "APIPassthrough" || pass === "APICSRPassthrough";
  if (base === "SubordinateCACertificate" && pathLen !== undefined) {
    // Blank CA templates need a passthrough variant; they fix only basicConstraints.
    if (blank && !pass) return undefined;
    return {
      name,
      ca: true,
      pathLen: +pathLen,
      csrPassthrough,
      apiPassthrough,
      ...(blank ? {} : { keyUsage: CA_USAGES }),
    };
  }
  if (pathLen !== undefined) return undefined;
  if (base === "EndEntityCertificate" && blank) {
    if (pass !== "APIPassthrough" && pass !== "APICSRPassthrough" && pass !== "CSRPassthrough") return undefined;
    return { name, ca: false, csrPassthrough, apiPassthrough };
  }
  const ee = base === undefined || blank ? undefined : END_ENTITY[base];
  if (!ee) return undefined;
  if (pass && base !== "EndEntityCertificate") return undefined;
  return { name, ...ee, csrPassthrough, apiPassthrough };
}

/**
 * Looks up a template by ARN (`arn:<partition>:acm-pca:::template/<Name>/V1`); the partition must be the CA's.
 * Undefined when the ARN names no template this emulator models.
 */
export function templateFromArn(arn: string | undefined, partition: string): Template | undefined {
  if (arn === undefined) return byName(DEFAULT_TEMPLATE);
  const prefix = `arn:${partition}:acm-pca:::template/`;
  if (!arn.startsWith(prefix)) return undefined;
  return byName(arn.slice(prefix.length));
}
