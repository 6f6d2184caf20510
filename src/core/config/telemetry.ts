/**
 * The `telemetry` block of server.conf and agent.conf (SPIRE pkg/common/telemetry/config.go FileConfig). wisp
 * exports metrics in the Prometheus text format only; every other sink or filter SPIRE knows is refused by name
 * rather than accepted and ignored.
 * @module
 */
import type { ConfigSection } from "./section.ts";
import type { ConfigStatus } from "./status.ts";

/** `telemetry { Prometheus { host port } }`: a listener serving the metrics registry. */
export interface PrometheusConfig {
  /** Listen address. Default "localhost" (SPIRE's). */
  host: string;
  /** Listen port; 0 picks a free one. */
  port: number;
}

/** The validated telemetry block. */
export interface TelemetryConfig {
  /** Absent: no Prometheus listener. */
  prometheus?: PrometheusConfig;
}

/** Keys of SPIRE's telemetry block that wisp refuses, each with the reason shown to the user. */
const UNSUPPORTED: Record<string, string> = {
  DogStatsd: "metrics are exported to Prometheus only",
  Statsd: "metrics are exported to Prometheus only",
  M3: "metrics are exported to Prometheus only",
  InMem: "metrics are exported to Prometheus only",
  MetricPrefix: "metric names are fixed (wisp_server_*, wisp_agent_*)",
  EnableTrustDomainLabel: "metric labels are fixed",
  EnableHostnameLabel: "metric labels are fixed",
  AllowedPrefixes: "metrics cannot be filtered",
  BlockedPrefixes: "metrics cannot be filtered",
  AllowedLabels: "metric labels cannot be filtered",
  BlockedLabels: "metric labels cannot be filtered",
};

/** Reads the top-level `telemetry` block. */
export function readTelemetry(root: ConfigSection, status: ConfigStatus): TelemetryConfig {
  const t = root.section("telemetry");
  for (const key of t.keys()) {
    const why = UNSUPPORTED[key];
    if (why === undefined) continue;
    t.raw(key);
    status.error(`${t.key(key)} is not supported by wisp: ${why} (supported: telemetry.Prometheus)`);
  }
  if (!t.has("Prometheus")) {
    t.raw("Prometheus");
    return {};
  }
  const p = t.section("Prometheus");
  if (p.has("tls")) {
    p.raw("tls");
    status.error(`${p.key("tls")} is not supported by wisp: the Prometheus listener serves plain HTTP; keep it on localhost or behind a TLS proxy`);
  }
  return {
    prometheus: {
      host: p.string("host") || "localhost",
      port: p.int("port", { min: 0, max: 65535 }) ?? 0,
    },
  };
}
