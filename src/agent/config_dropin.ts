/**
 * agent.conf keys a SPIRE user brings along: the `experimental` block, `allow_unauthenticated_verifiers`, the Envoy
 * SDS keys (`sds { … }`, `disable_sds_api`), plus the top-level `telemetry` block. Each key either changes what the agent does or is
 * refused by name.
 * @module
 */
import * as config from "../core/config/mod.ts";
import { readTelemetry, type TelemetryConfig } from "../core/config/telemetry.ts";
import { DEFAULT_SDS_CONFIG, type SDSConfig } from "./sds/sds_config.ts";

/** What the SPIRE-only keys of agent.conf set. */
export interface AgentDropInConfig {
  telemetry: TelemetryConfig;
  /** Workloads without an identity may still fetch X.509 and JWT bundles (SPIRE's flag). Default false. */
  allowUnauthenticatedVerifiers: boolean;
  /**
   * `experimental.sync_interval`: how long the agent waits before reconnecting its sync stream after it failed or
   * ended, ms; repeated failures back off up to min(8 min, 48 × this), SPIRE's cap. wisp's server pushes every change on
   * that stream, so this is not a polling period. Default: 500 ms, backing off to 30 s.
   */
  syncInterval?: number;
  /** The `sds` block: SDS resource names and the validator choice (SPIRE's defaults). */
  sds: SDSConfig;
  /** `disable_sds_api`: the socket serves no SecretDiscoveryService. Default false. */
  disableSDSAPI: boolean;
}

/** SPIRE's experimental agent keys wisp does not implement, each with the reason shown to the user. */
const UNSUPPORTED_EXPERIMENTAL: Record<string, string> = {
  jwt_svid_cache_hit_timeout: "JWT-SVIDs are minted on a cache miss without a fallback timeout",
  named_pipe_name: "named pipes are a Windows transport",
  admin_named_pipe_name: "named pipes are a Windows transport",
  require_pq_kem: "TLS key exchange is Node's default; a post-quantum KEM cannot be required",
  ratelimit: "the Workload API has no per-method rate limits",
  broker: "the SPIFFE Broker API is not served",
  feature_flags: "there are no developer feature flags",
};

/** Reads the SPIRE-only keys of the `agent` block and the top-level `telemetry` block. */
export function readAgentDropIn(root: config.ConfigSection, a: config.ConfigSection, status: config.ConfigStatus): AgentDropInConfig {
  const x = a.section("experimental");
  for (const key of x.keys()) {
    const why = UNSUPPORTED_EXPERIMENTAL[key];
    if (why === undefined) continue;
    x.raw(key);
    status.error(`${x.key(key)} is not supported by wisp: ${why}`);
  }
  // The agent always receives exactly its authorized entries (pushed by the server): `true` asks for that, `false`
  // (SPIRE's older FetchEntries sync) is refused rather than silently not honoured.
  if (x.bool("use_sync_authorized_entries") === false) {
    status.error(`${x.key("use_sync_authorized_entries")} = false is not supported by wisp: the agent always syncs its authorized entries`);
  }
  const sync = x.duration("sync_interval");
  if (sync !== undefined && sync <= 0) status.error(`${x.key("sync_interval")} must be positive`);

  return {
    telemetry: readTelemetry(root, status),
    allowUnauthenticatedVerifiers: a.bool("allow_unauthenticated_verifiers") ?? false,
    sds: readSDS(a.section("sds")),
    disableSDSAPI: a.bool("disable_sds_api") ?? false,
    ...config.optionalField("syncInterval", sync !== undefined && sync > 0 ? sync : undefined),
  };
}

/** SPIRE's `sds` block: an empty or absent name takes its default (SPIRE merges its defaults over empty strings). */
function readSDS(s: config.ConfigSection): SDSConfig {
  const d = DEFAULT_SDS_CONFIG;
  return {
    defaultSVIDName: s.string("default_svid_name") || d.defaultSVIDName,
    defaultBundleName: s.string("default_bundle_name") || d.defaultBundleName,
    defaultAllBundlesName: s.string("default_all_bundles_name") || d.defaultAllBundlesName,
    disableSPIFFECertValidation: s.bool("disable_spiffe_cert_validation") ?? d.disableSPIFFECertValidation,
  };
}
