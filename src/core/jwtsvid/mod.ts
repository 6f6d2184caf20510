/** JWT-SVIDs (SPIFFE JWT-SVID spec): parsing, key stores built from bundles, and validation. @module */
export * from "./key_store.ts";
export * from "./parse.ts";
export * from "./validate.ts";
