/** The console's per-minute series, fed from counters the server keeps in its metrics registry. @module */
import type { Registry } from "../../core/metrics/registry.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { ConsoleSource } from "./console_source.ts";
import { MinuteSeries } from "./minute_series.ts";

/** How often the series sample their counters, ms: well inside a minute so each lands in its own bucket. */
const SAMPLE_EVERY_MS = 5_000;

export function activitySeries(metrics: Registry, clock: Clock): ConsoleSource["activity"] {
  // The same registrations the server, hub and agent API make: registering again returns the existing counter.
  const svids = metrics.counter("wisp_server_x509_svids_issued_total", "X509-SVIDs signed by this server");
  const pushes = metrics.counter("wisp_server_sync_pushes_total", "Snapshots pushed to agents on their sync streams");
  const attest = metrics.counter("wisp_server_node_attestations_total", "Node attestations by result");
  return {
    svids: new MinuteSeries(() => svids.sum(), clock),
    syncPushes: new MinuteSeries(() => pushes.sum(), clock),
    attestOK: new MinuteSeries(() => attest.sum({ result: "success" }), clock),
    attestFailed: new MinuteSeries(() => attest.sum({ result: "failure" }), clock),
  };
}

/** Samples every series until aborted, so minutes nobody looked at still get their counts. */
export async function sampleActivity(a: ConsoleSource["activity"], o: { clock: Clock; signal: AbortSignal }): Promise<void> {
  const { clock, signal } = o;
  while (!signal.aborted) {
    for (const s of Object.values(a)) s.sample();
    try {
      await clock.sleep(SAMPLE_EVERY_MS, signal);
    } catch {
      return;
    }
  }
}

/** MintX509CA calls per upstream, by result, from `wisp_server_upstream_mint_calls_total`. */
export function upstreamCalls(metrics: Registry): { upstream: string; ok: number; error: number }[] {
  const calls = metrics.counter("wisp_server_upstream_mint_calls_total", "Upstream authority MintX509CA calls by result");
  const names = new Set<string>();
  for (const line of calls.render()) {
    const m = /upstream="([^"]*)"/.exec(line);
    if (m) names.add(m[1]!);
  }
  return [...names].map((upstream) => ({ upstream, ok: calls.get({ upstream, result: "ok" }), error: calls.get({ upstream, result: "error" }) }));
}
