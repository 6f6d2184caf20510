/** /bundle: the trust bundle's X.509 roots and JWT keys with their expiry; downloads as PEM and SPIFFE bundle JSON. @module */
import { html } from "hono/html";
import { toHex } from "../../core/encoding.ts";
import { parseCertificate } from "../../core/x509/certificate_info.ts";
import { fingerprint, validityBar } from "./cert_box.ts";
import type { ConsoleSource } from "./console_source.ts";
import { fmtSubject, fmtTime } from "./format.ts";
import type { Html } from "./layout.ts";

export async function bundlePage(src: ConsoleSource): Promise<Html> {
  const b = await src.ds.fetchBundle(src.trustDomain.name);
  const now = src.clock.now();
  if (!b) return html`<p>No bundle yet.</p>`;
  const roots: Html[] = [];
  for (const der of b.x509Authorities) {
    const c = parseCertificate(der);
    const tainted = c.ski !== undefined && (b.taintedX509 ?? []).includes(toHex(c.ski));
    roots.push(html`<tr><td>${fmtSubject(c.subject)}${tainted ? html` <span class="badge bad">tainted</span>` : ""}</td><td><code>${await fingerprint(der)}</code></td><td>${fmtTime(c.notAfter)}<br>${validityBar({ notBefore: c.notBefore, notAfter: c.notAfter, now })}</td></tr>`);
  }
  const jwt = b.jwtKeys.map((k) => html`<tr><td><code>${k.kid}</code>${(b.taintedJWT ?? []).includes(k.kid) ? html` <span class="badge bad">tainted</span>` : ""}</td><td>${fmtTime(k.notAfter * 1000)}</td></tr>`);
  return html`<p>Sequence ${b.sequence}. Download: <a href="/bundle.pem" download="bundle.pem">PEM (X.509 roots)</a> · <a href="/bundle.json" download="bundle.json">SPIFFE bundle (JSON)</a></p>
<h2>X.509 roots</h2>
<table><thead><tr><th scope="col">Subject</th><th scope="col">SHA-256</th><th scope="col">Expires</th></tr></thead><tbody>${roots}</tbody></table>
<h2>JWT keys</h2>
<table><thead><tr><th scope="col">Key ID</th><th scope="col">Expires</th></tr></thead><tbody>${jwt}</tbody></table>`;
}
