/**
 * server.conf keys a SPIRE user brings along: the `experimental` block, `disable_jwt_svids` and `admin_ids`, plus the
 * top-level `telemetry` block. Each key either changes what the server does or is refused by name.
 * @module
 */
import * as config from "../core/config/mod.ts";
import { readTelemetry, type TelemetryConfig } from "../core/config/telemetry.ts";
import * as spiffeid from "../core/spiffeid/mod.ts";

/** What the SPIRE-only keys of server.conf set. */
export interface ServerDropInConfig {
  telemetry: TelemetryConfig;
  /** `disable_jwt_svids`: no JWT-SVID is minted; callers get "JWT functionality is disabled". Default false. */
  disableJWTSVIDs: boolean;
  /**
   * `admin_ids`: SPIFFE IDs that administer the server remotely: callers of SPIRE's admin RPCs on the server port
   * (bind_address:bind_port, mTLS) and of the web console when it listens on a non-loopback address.
   */
  adminIDs: string[];
  /** `console { bind_address bind_port }`: the read-only web console's listener; absent: no console. */
  console?: { bindAddress: string; bindPort: number };
  /**
   * `experimental.cache_reload_interval`: how often the server looks for entry and bundle changes made by other
   * servers sharing the datastore (its entry-event poll), ms. Default 500 ms.
   */
  cacheReloadInterval?: number;
}

/** SPIRE's experimental keys wisp does not implement, each with the reason shown to the user. */
const UNSUPPORTED_EXPERIMENTAL: Record<string, string> = {
  agent_spiffe_id_as_selector: "entries cannot select on the agent's SPIFFE ID",
  auth_opa_policy_engine: "authorization is built in; there is no OPA policy engine",
  full_cache_reload_interval: "the entry cache is rebuilt from the datastore on every change, so there is no periodic full reload",
  prune_events_older_than: "entry events are not pruned by age",
  event_timeout: "entry events are read in order; there is no event timeout",
  sql_transaction_timeout: "entry events are read in order; there is no event timeout",
  require_pq_kem: "TLS key exchange is Node's default; a post-quantum KEM cannot be required",
  wit_key_type: "WIT-SVIDs are not issued",
  wit_issuer: "WIT-SVIDs are not issued",
  feature_flags: "there are no developer feature flags",
  named_pipe_name: "named pipes are a Windows transport",
};

/** Reads the SPIRE-only keys of the `server` block and the top-level `telemetry` block. */
export function readServerDropIn(root: config.ConfigSection, s: config.ConfigSection, status: config.ConfigStatus): ServerDropInConfig {
  const consoleCfg = readConsole(s);
  const adminIDs = readAdminIDs(s, status);
  const x = s.section("experimental");
  for (const key of x.keys()) {
    const why = UNSUPPORTED_EXPERIMENTAL[key];
    if (why === undefined) continue;
    x.raw(key);
    status.error(`${x.key(key)} is not supported by wisp: ${why}`);
  }
  // wisp's entry cache is always events-based (it follows the datastore's entry events), so `true` asks for what
  // wisp does and `false`, SPIRE's full periodic reload, is refused rather than silently not honoured.
  if (x.bool("events_based_cache") === false) {
    status.error(`${x.key("events_based_cache")} = false is not supported by wisp: its entry cache is always events-based`);
  }
  const reload = x.duration("cache_reload_interval");
  if (reload !== undefined && reload <= 0) status.error(`${x.key("cache_reload_interval")} must be positive`);
  return {
    telemetry: readTelemetry(root, status),
    disableJWTSVIDs: s.bool("disable_jwt_svids") ?? false,
    adminIDs,
    ...config.optionalField("console", consoleCfg),
    ...config.optionalField("cacheReloadInterval", reload !== undefined && reload > 0 ? reload : undefined),
  };
}

/** Default console address: loopback, where no client certificate is asked for. */
export const CONSOLE_DEFAULT_BIND_ADDRESS = "127.0.0.1";
/** Default console port. */
export const CONSOLE_DEFAULT_BIND_PORT = 8088;

/** `console { bind_address bind_port }`; the block's presence turns the console on. */
function readConsole(s: config.ConfigSection): { bindAddress: string; bindPort: number } | undefined {
  const declared = s.has("console");
  // Read even when absent, so the keys are known to the config walk like every other block's.
  const c = s.section("console");
  const bindAddress = c.string("bind_address") || CONSOLE_DEFAULT_BIND_ADDRESS;
  const bindPort = c.int("bind_port", { min: 0, max: 65535 }) ?? CONSOLE_DEFAULT_BIND_PORT;
  return declared ? { bindAddress, bindPort } : undefined;
}

/**
 * `admin_ids`: every ID is parsed (SPIRE's "could not parse admin ID" text); they authorize SPIRE's admin RPCs on the
 * server port and the console over mTLS.
 */
function readAdminIDs(s: config.ConfigSection, status: config.ConfigStatus): string[] {
  const raw = s.stringList("admin_ids") ?? [];
  const ids: string[] = [];
  for (const v of raw) {
    try {
      ids.push(spiffeid.fromString(v).toString());
    } catch (err) {
      status.error(`${s.key("admin_ids")}: could not parse admin ID "${v}": ${(err as Error).message}`);
    }
  }
  return ids;
}
