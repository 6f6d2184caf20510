/** Wraps an UpstreamAuthority to count its calls and failures for /metrics. @module */
import type { Registry } from "../../core/metrics/registry.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { UpstreamAuthority } from "./upstream_authority.ts";

export function countingUpstream(inner: UpstreamAuthority, o: { metrics: Registry; clock: Clock }): UpstreamAuthority {
  const { metrics, clock } = o;
  const calls = metrics.counter("wisp_server_upstream_mint_calls_total", "Upstream authority MintX509CA calls by result");
  const seconds = metrics.histogram("wisp_server_upstream_mint_seconds", "Time the upstream authority took to mint a CA", [0.1, 0.5, 1, 2, 5, 10, 30, 60, 180]);
  return {
    name: inner.name,
    async mintX509CA(csr, ttl, signal) {
      const start = clock.now().getTime();
      try {
        const r = await inner.mintX509CA(csr, ttl, signal);
        calls.inc({ upstream: inner.name, result: "ok" });
        return r;
      } catch (err) {
        calls.inc({ upstream: inner.name, result: "error" });
        throw err;
      } finally {
        seconds.observe((clock.now().getTime() - start) / 1000, { upstream: inner.name });
      }
    },
  };
}
