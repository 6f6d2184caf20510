/** Log field names, spelled as SPIRE's telemetry names so operators can reuse their queries. @module */
export const SPIFFE_ID = "spiffe_id";
export const TRUST_DOMAIN_ID = "trust_domain_id";
export const SLOT = "slot";
export const SELECTORS = "selectors";
export const ERROR = "error";
export const ENTRY_ID = "entry_id";
export const PARENT_ID = "parent_id";
export const AGENT_ID = "agent_id";
export const AUTHORITY_ID = "authority_id";
export const EXPIRATION = "expiration";
export const PID = "pid";
export const UID = "uid";
export const ADDRESS = "address";
export const PATH = "path";
export const METHOD = "method";
export const COUNT = "count";
