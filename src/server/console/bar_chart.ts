/** A per-minute bar chart as inline SVG (no chart library, no script): one bar per minute of the last hour. @module */
import { html } from "hono/html";
import type { Html } from "./layout.ts";

export function barChart(o: { title: string; values: number[]; newestMinute: Date; bad?: boolean }): Html {
  const W = 640, H = 140, L = 36, B = 22, T = 8;
  const max = Math.max(1, ...o.values);
  const n = o.values.length;
  const bw = (W - L - 4) / n;
  const total = o.values.reduce((a, b) => a + b, 0);
  const y = (v: number) => T + (H - T - B) * (1 - v / max);
  const minuteLabel = (i: number) => new Date(o.newestMinute.getTime() - (n - 1 - i) * 60_000).toISOString().slice(11, 16);
  const id = o.title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  return html`<figure>
<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-labelledby="${id}-t"><title id="${id}-t">${o.title}: ${total} in the last hour, at most ${max === 1 && total === 0 ? 0 : max} per minute</title>
<line class="axis" x1="${L}" x2="${W}" y1="${H - B}" y2="${H - B}"/><line class="axis" x1="${L}" x2="${L}" y1="${T}" y2="${H - B}"/>
<text x="2" y="${T + 8}">${max}</text><text x="2" y="${H - B}">0</text>
${o.values.map((v, i) => v > 0 ? html`<rect class="${o.bad ? "col-bad" : "col"}" x="${(L + 2 + i * bw).toFixed(1)}" y="${y(v).toFixed(1)}" width="${Math.max(1, bw - 1.5).toFixed(1)}" height="${(H - B - y(v)).toFixed(1)}"><title>${minuteLabel(i)} UTC: ${v}</title></rect>` : "")}
<text x="${L}" y="${H - 6}">${minuteLabel(0)}</text><text x="${(L + (W - L) / 2 - 14).toFixed(0)}" y="${H - 6}">${minuteLabel(Math.floor(n / 2))}</text><text x="${W - 34}" y="${H - 6}">${minuteLabel(n - 1)}</text>
</svg>
<figcaption><strong>${o.title}</strong>: <span data-total="${total}">${total}</span> in the last hour (per minute, UTC).</figcaption>
</figure>`;
}
