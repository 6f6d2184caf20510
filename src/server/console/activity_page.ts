/** /activity: SVIDs issued, sync pushes and attestations per minute over the last hour, from the metrics counters. @module */
import { html } from "hono/html";
import { barChart } from "./bar_chart.ts";
import type { ConsoleSource } from "./console_source.ts";
import type { Html } from "./layout.ts";

export function activityPage(src: ConsoleSource): Html {
  const a = src.activity;
  const chart = (title: string, s: typeof a.svids, bad = false) => barChart({ title, values: s.values(), newestMinute: s.newestMinute, bad });
  return html`<p class="muted">Counted since this server started, from the counters it exports on /metrics.</p>
${chart("X509-SVIDs issued", a.svids)}
${chart("Sync pushes to agents", a.syncPushes)}
${chart("Attestation successes", a.attestOK)}
${chart("Attestation failures", a.attestFailed, true)}`;
}
