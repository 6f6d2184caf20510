/** X.509 for wisp: SVID minting, CSRs, CA certificates, parsing, SVID validation and PEM. @module */
export { LeafMinter, type LeafMinterOptions, type MintParams } from "./leaf_minter.ts";
export { buildCSR, createCSR, type CSROptions, parseAndVerifyCSR, type ParsedCSR } from "./csr.ts";
export { type CACSROptions, createCACSR, createSelfSignedCA, type IntermediateCAOptions, type SelfSignedCAOptions, signIntermediateCA } from "./ca_cert.ts";
export { type CertificateInfo, parseCertificate } from "./certificate_info.ts";
export { type VerifiedSVID, verifyCAChain, verifyCertificateChain, verifyX509SVID } from "./verify.ts";
export { concatDER, fromPEM, splitDER, toPEM } from "./pem.ts";
export {
  KU_CONTENT_COMMITMENT,
  KU_CRL_SIGN,
  KU_DATA_ENCIPHERMENT,
  KU_DIGITAL_SIGNATURE,
  KU_KEY_AGREEMENT,
  KU_KEY_CERT_SIGN,
  KU_KEY_ENCIPHERMENT,
  type NameInput,
  type SubjectFields,
} from "./names.ts";
export { isP256SPKI } from "./spki.ts";
