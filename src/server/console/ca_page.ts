/**
 * /ca: the drawn chain from the upstream root (ACM PCA root and subordinate, the disk upstream, or the self-signed
 * CA itself) down to each wisp intermediate (prepared, active, old), then the rotation timeline.
 * @module
 */
import { html } from "hono/html";
import { equalBytes, toHex } from "../../core/encoding.ts";
import { formatRemaining } from "../ca/rotation_health.ts";
import { parseCertificate } from "../../core/x509/certificate_info.ts";
import type { AuthorityView } from "../ca/ca_manager.ts";
import { certBox } from "./cert_box.ts";
import type { ConsoleSource } from "./console_source.ts";
import { fmtTime } from "./format.ts";
import type { Html } from "./layout.ts";
import { rotationTimeline } from "./ca_timeline.ts";

/** The upstream part of a CA's chain, root first: its intermediates plus the bundle root that signed the last one. */
function upstreamChain(a: AuthorityView): Uint8Array[] {
  const chain = a.chain ?? [];
  if (chain.length === 1 && a.upstream === "self-signed") return [];
  const inters = chain.slice(1).reverse();
  const top = chain.at(-1)!;
  const issuer = parseCertificate(top).issuerDER;
  const root = (a.bundleRoots ?? []).find((r) => equalBytes(parseCertificate(r).subjectDER, issuer) && !equalBytes(r, top));
  return root ? [root, ...inters] : inters;
}

export async function caPage(src: ConsoleSource): Promise<Html> {
  const view = src.caView();
  const health = src.caHealth();
  const now = src.clock.now();
  // CAs signed through the same upstream chain share one drawing; a switch (self-signed → aws_pca) gives two.
  const groups = new Map<string, { upstream: Uint8Array[]; name: string; cas: AuthorityView[] }>();
  for (const a of view.x509) {
    const up = upstreamChain(a);
    const key = up.map((d) => toHex(d.subarray(0, 64))).join("|") + `#${up.length}`;
    const g = groups.get(key) ?? { upstream: up, name: a.upstream ?? "unknown", cas: [] };
    g.cas.push(a);
    groups.set(key, g);
  }
  const calls = src.upstreamCalls();
  const failing = health.consecutiveFailures > 0;
  const active = view.x509.find((a) => a.status === "active");
  const drawings: Html[] = [];
  for (const g of groups.values()) {
    const boxes: Html[] = [];
    for (const [i, der] of g.upstream.entries()) {
      const isRoot = i === 0 && parseCertificate(der).issuerDER.length > 0 && equalBytes(parseCertificate(der).issuerDER, parseCertificate(der).subjectDER);
      const c = calls.find((x) => x.upstream === g.name);
      const extra = i === g.upstream.length - 1 && c
        ? html`<dt>${g.name} calls</dt><dd>${c.ok} succeeded, ${c.error} failed (MintX509CA, since start)</dd>`
        : undefined;
      boxes.push(await certBox({ der, kind: isRoot ? "root" : "inter", label: isRoot ? "upstream root" : "upstream intermediate", now, ...(extra ? { extra } : {}) }));
      boxes.push(html`<div class="arrow" aria-hidden="true">↓ signs</div>`);
    }
    const leaves: Html[] = [];
    for (const a of g.cas) {
      leaves.push(await certBox({
        der: a.chain![0]!, kind: a.status, label: `${a.status} · slot ${a.slot}`, now, keyLocation: a.keyLocation,
        extra: html`<dt>Signed by</dt><dd>${a.upstream}</dd>`,
      }));
    }
    drawings.push(html`<section class="chain" aria-label="Chain through ${g.name}">${boxes}<div class="leaves">${leaves}</div></section>`);
  }
  const jwt = view.jwt.map((k) => html`<tr><td>${k.status}</td><td>${k.slot}</td><td><code>${k.kid}</code></td><td>${fmtTime(k.issuedAt)}</td><td>${fmtTime(k.notAfter)}</td><td>${k.keyLocation ? html`<code>${k.keyLocation.keyID}</code>` : "in process"}</td></tr>`);
  return html`
${failing && active
    ? html`<p class="note bad" role="alert">Upstream authority failing (${health.consecutiveFailures} attempts, last at ${fmtTime(view.lastErrorAt)}): ${health.lastError}. The active CA expires in <strong>${formatRemaining(active.notAfter.getTime() - now.getTime())}</strong>.</p>`
    : ""}
<h2>X.509 CA chain</h2>
${drawings}
<h2>Rotation timeline</h2>
${rotationTimeline(view, now)}
<h2>JWT signing keys</h2>
<table><thead><tr><th scope="col">Status</th><th scope="col">Slot</th><th scope="col">Key ID</th><th scope="col">Issued</th><th scope="col">Expires</th><th scope="col">Key</th></tr></thead><tbody>${jwt}</tbody></table>`;
}
