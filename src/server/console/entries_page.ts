/**
 * /entries: search by SPIFFE ID, parent ID and selector, and the parent → child tree agents see (node aliases under
 * the server ID, with the agents each covers); /entries/:id: one entry and the agents it reaches.
 * @module
 */
import { html } from "hono/html";
import { NotFoundError } from "../../core/errors.ts";
import { isNodeAliasOf } from "../api/authorized_entries.ts";
import type { AttestedNode, RegistrationEntry } from "../datastore/datastore.ts";
import type { ConsoleSource } from "./console_source.ts";
import { fmtSelector, fmtTime } from "./format.ts";
import type { Html } from "./layout.ts";
import { redactID, redactSelector } from "./redact.ts";

/** Rows shown at most, so a trust domain with many entries still renders quickly. */
const MAX_ROWS = 500;

export interface EntryQuery {
  spiffeID: string;
  parentID: string;
  selector: string;
}

function matches(e: RegistrationEntry, q: EntryQuery): boolean {
  const has = (v: string, part: string) => part === "" || v.toLowerCase().includes(part.toLowerCase());
  return has(e.spiffeID, q.spiffeID) && has(e.parentID, q.parentID) && (q.selector === "" || e.selectors.some((s) => has(fmtSelector(s), q.selector)));
}

const link = (e: RegistrationEntry) => html`<a href="/entries/${encodeURIComponent(e.id)}"><code>${e.spiffeID}</code></a>`;

function tree(entries: RegistrationEntry[], nodes: AttestedNode[], serverID: string): Html {
  const byParent = new Map<string, RegistrationEntry[]>();
  for (const e of entries) byParent.set(e.parentID, [...(byParent.get(e.parentID) ?? []), e]);
  const ids = new Set(entries.map((e) => e.spiffeID));
  const agents = new Set(nodes.map((n) => n.spiffeID));
  const roots = [...byParent.keys()].filter((p) => !ids.has(p)).sort();
  let budget = MAX_ROWS;
  const walk = (parent: string, seen: Set<string>): Html => {
    const kids = (byParent.get(parent) ?? []).sort((a, b) => a.spiffeID.localeCompare(b.spiffeID));
    if (kids.length === 0 || budget <= 0) return html``;
    return html`<ul class="tree">${kids.map((e) => {
      budget--;
      const alias = parent === serverID;
      const covers = alias ? nodes.filter((n) => isNodeAliasOf(e, n.selectors)).map((n) => n.spiffeID) : [];
      const again = seen.has(e.spiffeID);
      const next = new Set(seen).add(e.spiffeID);
      return html`<li>${link(e)} <span class="muted">${e.selectors.map(fmtSelector).join(", ")}</span>${alias ? html` <span class="badge warn">node alias</span> <span class="muted">covers ${covers.length ? covers.join(", ") : "no agent yet"}</span>` : ""}${again ? html` <span class="muted">(cycle)</span>` : walk(e.spiffeID, next)}</li>`;
    })}</ul>`;
  };
  return html`<ul class="tree top">${roots.map((r) => html`<li><code>${r}</code> <span class="muted">${r === serverID ? "server (node aliases)" : agents.has(r) ? "agent" : "no attested agent"}</span>${walk(r, new Set([r]))}</li>`)}</ul>`;
}

/** Entries with unused join tokens replaced in their IDs and selectors. */
function redacted(entries: RegistrationEntry[], nodes: AttestedNode[]): RegistrationEntry[] {
  const attested = new Set(nodes.map((n) => n.spiffeID));
  return entries.map((e) => ({
    ...e,
    spiffeID: redactID(e.spiffeID, attested),
    parentID: redactID(e.parentID, attested),
    selectors: e.selectors.map((x) => redactSelector(x, attested)),
  }));
}

export async function entriesPage(src: ConsoleSource, q: EntryQuery): Promise<Html> {
  const [raw, nodes] = await Promise.all([src.ds.listEntries(), src.ds.listAttestedNodes()]);
  const entries = redacted(raw, nodes);
  const found = entries.filter((e) => matches(e, q)).sort((a, b) => a.spiffeID.localeCompare(b.spiffeID));
  const serverID = `spiffe://${src.trustDomain.name}/spire/server`;
  return html`<form class="search" method="get" action="/entries" role="search" aria-label="Search entries">
<label for="q-spiffe">SPIFFE ID contains<input id="q-spiffe" name="spiffe_id" value="${q.spiffeID}"></label>
<label for="q-parent">Parent ID contains<input id="q-parent" name="parent_id" value="${q.parentID}"></label>
<label for="q-selector">Selector contains<input id="q-selector" name="selector" value="${q.selector}" placeholder="unix:uid:1000"></label>
<button type="submit">Search</button>
</form>
<h2>${found.length} of ${entries.length} entries</h2>
<table><thead><tr><th scope="col">SPIFFE ID</th><th scope="col">Parent ID</th><th scope="col">Selectors</th><th scope="col">X509-SVID TTL</th><th scope="col">Entry ID</th></tr></thead>
<tbody>${found.slice(0, MAX_ROWS).map((e) => html`<tr><td>${link(e)}</td><td><code>${e.parentID}</code></td><td>${e.selectors.map((s) => html`<code>${fmtSelector(s)}</code><br>`)}</td><td>${e.x509SVIDTTL ? `${e.x509SVIDTTL}s` : "default"}</td><td><code>${e.id}</code></td></tr>`)}</tbody></table>
<h2>Parent → child tree</h2>
${tree(entries, nodes, serverID)}`;
}

export async function entryPage(src: ConsoleSource, id: string): Promise<{ title: string; body: Html }> {
  const found = await src.ds.fetchEntry(id);
  if (!found) throw new NotFoundError(`entry "${id}" not found`);
  const nodes = await src.ds.listAttestedNodes();
  const e = redacted([found], nodes)[0]!;
  const reached: AttestedNode[] = [];
  for (const n of nodes) {
    if (n.banned) continue;
    if ((await src.authorizedEntries(n.spiffeID, n.selectors)).some((x) => x.id === e.id)) reached.push(n);
  }
  const connected = src.connectedAgents();
  return {
    title: `Entry ${e.spiffeID}`,
    body: html`<table><tbody>
<tr><th scope="row">Entry ID</th><td><code>${e.id}</code></td></tr>
<tr><th scope="row">SPIFFE ID</th><td><code>${e.spiffeID}</code></td></tr>
<tr><th scope="row">Parent ID</th><td><code>${e.parentID}</code></td></tr>
<tr><th scope="row">Selectors</th><td>${e.selectors.map((s) => html`<code>${fmtSelector(s)}</code><br>`)}</td></tr>
<tr><th scope="row">X509-SVID TTL</th><td>${e.x509SVIDTTL ? `${e.x509SVIDTTL}s` : "default"}</td></tr>
<tr><th scope="row">JWT-SVID TTL</th><td>${e.jwtSVIDTTL ? `${e.jwtSVIDTTL}s` : "default"}</td></tr>
<tr><th scope="row">DNS names</th><td>${e.dnsNames.join(", ") || "—"}</td></tr>
<tr><th scope="row">Admin / downstream</th><td>${e.admin ? "admin" : "—"} / ${e.downstream ? "downstream" : "—"}</td></tr>
<tr><th scope="row">Expires</th><td>${e.expiresAt ? fmtTime(e.expiresAt * 1000) : "never"}</td></tr>
<tr><th scope="row">Revision</th><td>${e.revisionNumber}</td></tr>
</tbody></table>
<h2>Agents this entry reaches (${reached.length})</h2>
<table><thead><tr><th scope="col">Agent</th><th scope="col">Attestation type</th><th scope="col">Connected now</th></tr></thead>
<tbody>${reached.length ? reached.map((n) => html`<tr><td><code>${n.spiffeID}</code></td><td>${n.attestationType}</td><td>${connected.has(n.spiffeID) ? "yes" : "no"}</td></tr>`) : html`<tr><td colspan="3">No attested agent receives this entry.</td></tr>`}</tbody></table>
<p><a href="/entries">All entries</a></p>`,
  };
}
