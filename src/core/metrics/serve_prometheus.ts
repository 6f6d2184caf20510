/** The `telemetry { Prometheus { ... } }` listener: the metrics registry on a port of its own, as SPIRE serves it. @module */
import type { Logger } from "../log/logger.ts";
import type { HTTPServe, HTTPServerHandle } from "../ports/http_server.ts";
import { METRICS_CONTENT_TYPE, type Registry } from "./registry.ts";

/** `host:port`, with brackets around an IPv6 address (Go's net.JoinHostPort). */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Serves `metrics` in the Prometheus text format on every path of host:port: SPIRE mounts promhttp as the whole
 * handler, so scrapers configured for SPIRE (any path, usually /metrics) keep working.
 */
export async function servePrometheus(o: { http: HTTPServe; metrics: Registry; logger: Logger; host: string; port: number }): Promise<HTTPServerHandle> {
  const log = o.logger.with({ subsystem_name: "telemetry" });
  if (o.host !== "localhost") {
    // SPIRE's warning (pkg/common/telemetry/prometheus.go).
    log.warn(
      "Agent is now configured to accept remote network connections for Prometheus stats collection. Please ensure access to this port is tightly controlled",
    );
  }
  const handle = await o.http.http({
    hostname: o.host,
    port: o.port,
    fetch: () => new Response(o.metrics.render(), { headers: { "content-type": METRICS_CONTENT_TYPE } }),
  });
  log.info("Starting prometheus exporter", { host: o.host, port: handle.port });
  return handle;
}
