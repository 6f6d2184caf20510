/** /agents: every attested agent with its attestation, selectors, SVID expiry, re-attestability and sync state. @module */
import { html } from "hono/html";
import type { ConsoleSource } from "./console_source.ts";
import { fmtDuration, fmtSelector, fmtTime } from "./format.ts";
import { badge, type Html } from "./layout.ts";

export async function agentsPage(src: ConsoleSource): Promise<Html> {
  const now = src.clock.now();
  const nodes = (await src.ds.listAttestedNodes()).sort((a, b) => a.spiffeID.localeCompare(b.spiffeID));
  const connected = src.connectedAgents();
  const rows = nodes.map((n) => {
    const exp = new Date(n.certNotAfter * 1000);
    const on = connected.has(n.spiffeID);
    const last = connected.get(n.spiffeID);
    return html`<tr>
<td><code>${n.spiffeID}</code>${n.banned ? html` ${badge("bad", "banned")}` : ""}</td>
<td>${n.attestationType}</td>
<td>${n.selectors.length ? n.selectors.map((s) => html`<code>${fmtSelector(s)}</code><br>`) : html`<span class="muted">none</span>`}</td>
<td>${fmtTime(exp)}<br><span class="muted">${exp > now ? `in ${fmtDuration(exp.getTime() - now.getTime())}` : "expired"}</span></td>
<td>${n.canReattest ? "yes" : "no"}</td>
<td>${on ? badge("ok", "connected") : badge("muted", "not connected")}</td>
<td>${last ? fmtTime(last) : "—"}</td>
</tr>`;
  });
  return html`<p>${nodes.length} attested, ${connected.size} connected now.</p>
<table><thead><tr><th scope="col">SPIFFE ID</th><th scope="col">Attestation type</th><th scope="col">Selectors</th><th scope="col">SVID expires</th><th scope="col">Can re-attest</th><th scope="col">Connected now</th><th scope="col">Last sync</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="7">No agent has attested yet.</td></tr>`}</tbody></table>`;
}
