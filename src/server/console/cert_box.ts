/** One certificate drawn as a box: subject, key, serial, SHA-256 fingerprint and a validity bar. @module */
import { html } from "hono/html";
import { toHex } from "../../core/encoding.ts";
import { parseCertificate } from "../../core/x509/certificate_info.ts";
import { colonHex, fmtDuration, fmtSubject, fmtTime } from "./format.ts";
import type { Html } from "./layout.ts";

export interface CertBoxOptions {
  der: Uint8Array;
  /** "root", "inter", "active", "prepared", "old": the box's colour and its badge. */
  kind: "root" | "inter" | "active" | "prepared" | "old";
  label: string;
  now: Date;
  /** Where the private key lives (aws_kms), shown beside the key type. */
  keyLocation?: { kind: string; keyID: string; alias?: string } | undefined;
  /** Extra rows, e.g. the upstream calls made. */
  extra?: Html;
}

/** SHA-256 of the DER, the fingerprint `openssl x509 -fingerprint -sha256` prints. */
export async function fingerprint(der: Uint8Array): Promise<string> {
  return colonHex(toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", der as Uint8Array<ArrayBuffer>))));
}

/** An SVG bar: the part of the validity period already elapsed, amber in its last sixth. */
export function validityBar(o: { notBefore: Date; notAfter: Date; now: Date }): Html {
  const { notBefore, notAfter, now } = o;
  const total = notAfter.getTime() - notBefore.getTime();
  const frac = total > 0 ? Math.min(1, Math.max(0, (now.getTime() - notBefore.getTime()) / total)) : 1;
  const w = 300;
  const left = notAfter.getTime() - now.getTime();
  const label = left > 0 ? `${Math.round(frac * 100)}% elapsed, ${fmtDuration(left)} left` : "expired";
  return html`<svg width="${w}" height="10" role="img" aria-label="${label}"><title>${label}</title><rect class="track" x="0" y="0" width="${w}" height="10" rx="3"/><rect class="${frac > 5 / 6 ? "fill-late" : "fill"}" x="0" y="0" width="${Math.round(frac * w)}" height="10" rx="3"/></svg> <span class="muted">${label}</span>`;
}

export async function certBox(o: CertBoxOptions): Promise<Html> {
  const c = parseCertificate(o.der);
  const key = keyLabel(c.publicKeyAlgorithm, c.namedCurve);
  const kms = o.keyLocation
    ? html`<br><span class="muted">${o.keyLocation.kind}:</span> <code>${o.keyLocation.keyID}</code>${o.keyLocation.alias ? html`<br><span class="muted">alias:</span> <code>${o.keyLocation.alias}</code>` : ""}`
    : "";
  return html`<article class="cert ${o.kind}" aria-label="${o.label}: ${fmtSubject(c.subject)}">
<div><span class="badge ${o.kind === "active" ? "ok" : o.kind === "prepared" ? "warn" : "muted"}">${o.label}</span> <strong>${fmtSubject(c.subject)}</strong></div>
<dl>
<dt>Issuer</dt><dd>${fmtSubject(c.issuer)}</dd>
<dt>Key</dt><dd>${key}${kms}</dd>
<dt>Serial</dt><dd><code>${colonHex(c.serialHex)}</code></dd>
<dt>SHA-256</dt><dd><code>${await fingerprint(o.der)}</code></dd>
${c.ski ? html`<dt>Key ID</dt><dd><code>${toHex(c.ski)}</code></dd>` : ""}
<dt>Valid</dt><dd>${fmtTime(c.notBefore)} → ${fmtTime(c.notAfter)}<br>${validityBar({ notBefore: c.notBefore, notAfter: c.notAfter, now: o.now })}</dd>
${o.extra ?? ""}
</dl>
</article>`;
}

const CURVES: Record<string, string> = { "1.2.840.10045.3.1.7": "P-256", "1.3.132.0.34": "P-384", "1.3.132.0.35": "P-521" };

function keyLabel(alg: string, curve: string | undefined): string {
  if (alg === "1.2.840.10045.2.1") return `ECDSA ${curve ? CURVES[curve] ?? curve : ""}`.trim();
  if (alg === "1.2.840.113549.1.1.1") return "RSA";
  return alg;
}
