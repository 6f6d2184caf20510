/** SPIFFE ID and trust domain parsing. @module */
export * from "./id.ts";
