/** Config keys the server and the agent share: log settings, health checks, trust domain, key type. @module */
import * as spiffeid from "../spiffeid/mod.ts";
import type { LogLevel } from "../log/logger.ts";
import type { ConfigSection } from "./section.ts";
import type { ConfigStatus } from "./status.ts";

/** Log output format (`log_format`). */
export type LogFormat = "text" | "json";

/** The `health_checks` block: an optional HTTP listener answering liveness and readiness. */
export interface HealthChecksConfig {
  /** Serve the HTTP health listener. Default false. */
  listenerEnabled: boolean;
  /** Listener address. Default "localhost". */
  bindAddress: string;
  /** Listener port. Default 80. */
  bindPort: number;
  /** Liveness path. Default "/live". */
  livePath: string;
  /** Readiness path. Default "/ready". */
  readyPath: string;
}

/** Key types accepted for CA and workload keys; WebCrypto P-256 is all wisp signs with. */
export const SUPPORTED_KEY_TYPES = ["ec-p256"] as const;
export type KeyType = (typeof SUPPORTED_KEY_TYPES)[number];

const LOG_LEVELS: Record<string, LogLevel> = { DEBUG: "debug", INFO: "info", WARN: "warn", ERROR: "error" };

/** Reads `log_level` (DEBUG, INFO, WARN, ERROR; any case). Default info. */
export function readLogLevel(section: ConfigSection, status: ConfigStatus): LogLevel {
  const v = section.string("log_level");
  if (v === undefined || v === "") return "info";
  const level = LOG_LEVELS[v.toUpperCase()];
  if (level) return level;
  status.error(`${section.key("log_level")}: unsupported value "${v}" (supported: DEBUG, INFO, WARN, ERROR)`);
  return "info";
}

/** Reads `log_format` (text or json; any case). Default text. */
export function readLogFormat(section: ConfigSection, status: ConfigStatus): LogFormat {
  const v = section.string("log_format");
  if (v === undefined || v === "") return "text";
  const f = v.toLowerCase();
  if (f === "text" || f === "json") return f;
  status.error(`${section.key("log_format")}: unsupported value "${v}" (supported: text, json)`);
  return "text";
}

/** Reads a required trust domain key, reporting the SPIFFE ID parser's own text when it is malformed. */
export function readTrustDomain(section: ConfigSection, status: ConfigStatus): spiffeid.TrustDomain | undefined {
  const v = section.string("trust_domain");
  if (v === undefined || v === "") {
    status.error(`${section.key("trust_domain")} must be configured`);
    return undefined;
  }
  try {
    return spiffeid.trustDomainFromString(v);
  } catch (err) {
    status.error(`${section.key("trust_domain")}: invalid trust domain "${v}": ${(err as Error).message}`);
    return undefined;
  }
}

/** Reads a key type key; only the supported types are accepted. */
export function readKeyType(section: ConfigSection, key: string, status: ConfigStatus): KeyType {
  const v = section.string(key);
  if (v === undefined || v === "") return "ec-p256";
  const found = SUPPORTED_KEY_TYPES.find((t) => t === v.toLowerCase());
  if (found) return found;
  status.error(`${section.key(key)}: unsupported key type "${v}" (supported: ${SUPPORTED_KEY_TYPES.join(", ")})`);
  return "ec-p256";
}

/** Reads the `health_checks` block with SPIRE's defaults. */
export function readHealthChecks(parent: ConfigSection, status: ConfigStatus): HealthChecksConfig {
  const hc = parent.section("health_checks");
  const path = (key: string, def: string): string => {
    const v = hc.string(key);
    if (v === undefined || v === "") return def;
    if (!v.startsWith("/")) status.error(`${hc.key(key)} must start with "/"`);
    return v;
  };
  return {
    listenerEnabled: hc.bool("listener_enabled") ?? false,
    bindAddress: hc.string("bind_address") || "localhost",
    bindPort: hc.int("bind_port", { min: 0, max: 65535 }) ?? 80,
    livePath: path("live_path", "/live"),
    readyPath: path("ready_path", "/ready"),
  };
}

/** Freezes a built config and every plain object and array in it. */
export function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** `{ [key]: v }` when v is defined, else `{}`, so optional fields stay absent (exactOptionalPropertyTypes). */
export function optionalField<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}
