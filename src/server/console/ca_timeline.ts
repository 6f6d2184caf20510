/**
 * The rotation timeline: every X.509 CA and JWT key on one time axis (journal history plus the live slots), the
 * planned prepare and activate times of the active ones from SPIRE's thresholds, and "now". Inline SVG.
 * @module
 */
import { html } from "hono/html";
import type { CAView } from "../ca/ca_manager.ts";
import { fmtTime } from "./format.ts";
import type { Html } from "./layout.ts";

const DAY = 24 * 3600 * 1000;

/** SPIRE's thresholds (pkg/server/ca/manager/slot.go) as times: prepare at notAfter − min(life/2, 30 d), activate at notAfter − min(life/6, 7 d). */
export function plannedTimes(issuedAt: Date, notAfter: Date): { prepareAt: Date; activateAt: Date } {
  const life = notAfter.getTime() - issuedAt.getTime();
  return {
    prepareAt: new Date(notAfter.getTime() - Math.min(life / 2, 30 * DAY)),
    activateAt: new Date(notAfter.getTime() - Math.min(life / 6, 7 * DAY)),
  };
}

interface Row {
  kind: "x509" | "jwt";
  id: string;
  from: number;
  to: number;
  status: string;
}

/** The rows: live slots first win over their journal copies; newest 6 per kind. */
function rows(view: CAView): Row[] {
  const out = new Map<string, Row>();
  for (const h of view.history) {
    out.set(`${h.kind}:${h.authorityID}`, { kind: h.kind, id: h.authorityID, from: h.issuedAt.getTime(), to: h.notAfter.getTime(), status: h.status.toLowerCase() });
  }
  for (const a of view.x509) out.set(`x509:${a.authorityID}`, { kind: "x509", id: a.authorityID, from: a.issuedAt.getTime(), to: a.notAfter.getTime(), status: a.status });
  for (const a of view.jwt) out.set(`jwt:${a.kid}`, { kind: "jwt", id: a.kid ?? a.authorityID, from: a.issuedAt.getTime(), to: a.notAfter.getTime(), status: a.status });
  const all = [...out.values()].sort((a, b) => a.from - b.from);
  const keep = (k: Row["kind"]) => all.filter((r) => r.kind === k).slice(-6);
  return [...keep("x509"), ...keep("jwt")];
}

export function rotationTimeline(view: CAView, now: Date): Html {
  const rs = rows(view);
  if (rs.length === 0) return html`<p>No authority yet.</p>`;
  const active = view.x509.find((a) => a.status === "active");
  const activeJWT = view.jwt.find((a) => a.status === "active");
  const plans = [active, activeJWT].filter((a) => a !== undefined).map((a) => ({ kind: a.kid ? "JWT" : "X.509", ...plannedTimes(a.issuedAt, a.notAfter) }));
  const t0 = Math.min(...rs.map((r) => r.from), now.getTime());
  const t1 = Math.max(...rs.map((r) => r.to), now.getTime());
  const span = Math.max(t1 - t0, 60_000);
  const W = 960, L = 150, R = 20, rowH = 22, top = 18;
  const x = (t: number) => L + ((t - t0) / span) * (W - L - R);
  const H = top + rs.length * rowH + 44;
  const ticks = Array.from({ length: 5 }, (_, i) => t0 + (span * i) / 4);
  const label = `Rotation timeline from ${fmtTime(t0)} to ${fmtTime(t1)}; now is ${fmtTime(now)}`;
  return html`<figure>
<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-labelledby="tl-title"><title id="tl-title">${label}</title>
${rs.map((r, i) => {
    const y = top + i * rowH;
    return html`<g><text x="4" y="${y + 14}">${r.kind === "x509" ? "X.509" : "JWT"} ${r.id.slice(0, 12)}</text>
<rect class="bar-${r.status === "active" ? "active" : r.status === "prepared" ? "prepared" : "old"}" x="${x(r.from).toFixed(1)}" y="${y + 3}" width="${Math.max(2, x(r.to) - x(r.from)).toFixed(1)}" height="14" rx="3"><title>${r.kind === "x509" ? "X.509 CA" : "JWT key"} ${r.id} (${r.status}): ${fmtTime(r.from)} → ${fmtTime(r.to)}</title></rect></g>`;
  })}
${plans.map((p) => html`<g><line class="mark" x1="${x(p.prepareAt.getTime()).toFixed(1)}" x2="${x(p.prepareAt.getTime()).toFixed(1)}" y1="${top - 6}" y2="${H - 38}"><title>${p.kind} next prepared at ${fmtTime(p.prepareAt)}</title></line>
<line class="mark" x1="${x(p.activateAt.getTime()).toFixed(1)}" x2="${x(p.activateAt.getTime()).toFixed(1)}" y1="${top - 6}" y2="${H - 38}"><title>${p.kind} next activated at ${fmtTime(p.activateAt)}</title></line></g>`)}
<line class="now" x1="${x(now.getTime()).toFixed(1)}" x2="${x(now.getTime()).toFixed(1)}" y1="${top - 10}" y2="${H - 34}"/><text x="${(x(now.getTime()) + 3).toFixed(1)}" y="${top - 8}">now</text>
<line class="axis" x1="${L}" x2="${W - R}" y1="${H - 34}" y2="${H - 34}"/>
${ticks.map((t) => html`<text x="${Math.min(x(t), W - 120).toFixed(1)}" y="${H - 18}">${fmtTime(t).slice(5, 16)}</text>`)}
</svg>
<figcaption class="muted">Bars: green active, amber prepared, grey old. Blue lines: planned prepare and activate times of the next authority. Red: now.</figcaption>
</figure>
<table><caption class="muted">Planned rotations (SPIRE's thresholds: prepare past half of the life, at most 30 days before expiry; activate at the last sixth, at most 7 days before)</caption>
<thead><tr><th scope="col">Kind</th><th scope="col">Prepare next at</th><th scope="col">Activate next at</th></tr></thead>
<tbody>${plans.map((p) => html`<tr><td>${p.kind}</td><td>${fmtTime(p.prepareAt)}</td><td>${fmtTime(p.activateAt)}</td></tr>`)}</tbody></table>`;
}
