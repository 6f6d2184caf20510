/** /: trust domain, health of datastore, CA and upstream (last error and its time), version, uptime and counts. @module */
import { html } from "hono/html";
import type { ConsoleSource } from "./console_source.ts";
import { fmtDuration, fmtTime } from "./format.ts";
import { badge, type Html } from "./layout.ts";

export async function overviewPage(src: ConsoleSource): Promise<Html> {
  const now = src.clock.now();
  const ds = src.datastoreHealth();
  const ca = src.caHealth();
  const view = src.caView();
  const caValid = ca.caNotAfter !== undefined && ca.caNotAfter.getTime() > now.getTime();
  let attested = 0;
  let entries = 0;
  let dsError = ds.lastError;
  try {
    attested = await src.ds.countAttestedNodes();
    entries = (await src.ds.listEntries()).length;
  } catch (err) {
    dsError = err instanceof Error ? err.message : String(err);
  }
  const connected = src.connectedAgents().size;
  const svids = src.activity.svids.values().reduce((a, b) => a + b, 0);
  const upstreamFailing = ca.consecutiveFailures > 0;
  return html`
<section class="cards" aria-label="Summary">
<div class="card"><div class="k">Trust domain</div><div class="v">${src.trustDomain.name}</div></div>
<div class="card"><div class="k">Agents connected now / attested</div><div class="v">${connected} / ${attested}</div></div>
<div class="card"><div class="k">Registration entries</div><div class="v">${entries}</div></div>
<div class="card"><div class="k">X509-SVIDs issued, last hour</div><div class="v">${svids}</div></div>
<div class="card"><div class="k">Version</div><div class="v">${src.version}</div></div>
<div class="card"><div class="k">Uptime</div><div class="v">${fmtDuration(now.getTime() - src.startedAt.getTime())}</div><div class="k">since ${fmtTime(src.startedAt)}</div></div>
</section>
<h2>Health</h2>
<table><thead><tr><th scope="col">Component</th><th scope="col">State</th><th scope="col">Detail</th><th scope="col">Last error</th><th scope="col">Since / at</th></tr></thead><tbody>
<tr><th scope="row">Datastore</th><td>${dsError ? badge("bad", "unavailable") : badge("ok", "ok")}</td><td>${dsError ? "agents keep what they hold; nothing new can be signed" : "reachable"}</td><td>${dsError ?? "—"}</td><td>${fmtTime(ds.since)}</td></tr>
<tr><th scope="row">CA</th><td>${caValid ? badge("ok", "valid") : badge("bad", "no valid CA")}</td><td>active CA expires ${fmtTime(ca.caNotAfter)}${ca.caNotAfter ? ` (in ${fmtDuration(ca.caNotAfter.getTime() - now.getTime())})` : ""}; ${view.x509.find((a) => a.status === "prepared") ? "next CA prepared" : "no CA prepared"}</td><td>—</td><td>—</td></tr>
<tr><th scope="row">Upstream (${ca.caUpstream ?? "none"})</th><td>${upstreamFailing ? badge("warn", "failing") : badge("ok", "ok")}</td><td>${ca.failedRotations} failed rotation attempts since start, ${ca.consecutiveFailures} in a row</td><td>${ca.lastError || "—"}</td><td>${fmtTime(view.lastErrorAt)}</td></tr>
</tbody></table>`;
}
