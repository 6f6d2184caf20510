/** WebCrypto ECDSA P-256 helpers and the Signer port. @module */
export * from "./ec_p256.ts";
export * from "./signer.ts";
