/**
 * The console's page shell: header, navigation, styles and the small live-update script, both carried by the
 * per-response CSP nonce (no inline style attributes anywhere, no external resource: it works air-gapped).
 * @module
 */
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const NAV: ReadonlyArray<readonly [string, string]> = [
  ["/", "Overview"],
  ["/ca", "CA"],
  ["/agents", "Agents"],
  ["/entries", "Entries"],
  ["/bundle", "Bundle"],
  ["/activity", "Activity"],
];

const CSS = `
:root{color-scheme:light;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--panel:#f6f8fa;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--accent:#0550ae}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;align-items:center;gap:1.5rem;padding:.6rem 1.2rem;border-bottom:1px solid var(--line);background:var(--panel)}
header .brand{font-weight:700}header nav ul{display:flex;gap:.2rem;list-style:none;margin:0;padding:0}
header nav a{display:block;padding:.3rem .7rem;border-radius:6px;color:var(--accent);text-decoration:none}
header nav a[aria-current=page]{background:var(--accent);color:#fff}
header .live{margin-left:auto;color:var(--muted);font-size:12px}
main{padding:1rem 1.2rem;max-width:1200px}h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--panel);font-weight:600}code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;word-break:break-all}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:.8rem}
.card{border:1px solid var(--line);border-radius:8px;padding:.7rem .9rem;background:var(--bg)}.card .k{color:var(--muted);font-size:12px}.card .v{font-size:1.3rem;font-weight:600}
.badge{display:inline-block;padding:0 .45rem;border-radius:10px;font-size:12px;font-weight:600;border:1px solid currentColor}
.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}.muted{color:var(--muted)}
.chain{display:flex;flex-direction:column;align-items:flex-start;gap:0}.arrow{margin:.1rem 0 .1rem 2rem;color:var(--muted)}
.cert{border:1px solid var(--line);border-left:4px solid var(--muted);border-radius:8px;padding:.6rem .8rem;min-width:520px;max-width:900px;background:var(--bg)}
.cert.root{border-left-color:#6e40c9}.cert.inter{border-left-color:var(--accent)}.cert.active{border-left-color:var(--ok)}.cert.prepared{border-left-color:var(--warn)}.cert.old{border-left-color:var(--muted)}
.cert dl{display:grid;grid-template-columns:8rem 1fr;gap:.1rem .6rem;margin:.4rem 0 0}.cert dt{color:var(--muted)}.cert dd{margin:0}
.leaves{display:flex;flex-wrap:wrap;gap:.8rem}
svg text{font:11px system-ui,sans-serif;fill:#1b1f24}svg .axis{stroke:#8c959f}svg .now{stroke:#cf222e;stroke-width:2}
svg .bar-active{fill:#1a7f37}svg .bar-prepared{fill:#bf8700}svg .bar-old{fill:#8c959f}svg .bar-planned{fill:none;stroke:#0550ae;stroke-dasharray:4 3}
svg .mark{stroke:#0550ae;stroke-width:2}svg .col{fill:#0550ae}svg .col-bad{fill:#cf222e}svg .track{fill:#eaeef2}svg .fill{fill:#1a7f37}svg .fill-late{fill:#bf8700}
form.search{display:flex;gap:.6rem;flex-wrap:wrap;align-items:end}form.search label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
input{font:inherit;padding:.25rem .4rem;border:1px solid #8c959f;border-radius:6px;min-width:14rem}button{font:inherit;padding:.3rem .8rem;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff}
ul.tree{list-style:none;padding-left:1.2rem;border-left:1px dashed var(--line);margin:.2rem 0}ul.tree.top{border-left:0;padding-left:0}
.note{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:.5rem .8rem}
a{color:var(--accent)}
`;

/**
 * Re-renders <main> from the same URL whenever the server reports a change on /events (entries, agents, CAs), so a
 * page stays current without a reload and without a client-side framework.
 */
const LIVE_SCRIPT = `
(() => {
  const status = document.getElementById("live");
  let busy = false;
  const refresh = async () => {
    if (busy) return;
    busy = true;
    try {
      // Only <main> is asked for: a whole page would carry a style block whose nonce is not this page's.
      const r = await fetch(location.href, { headers: { "x-console-fragment": "main" } });
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      const next = doc.querySelector("main");
      const cur = document.querySelector("main");
      if (next && cur) cur.replaceWith(next);
      if (status) status.textContent = "Updated " + new Date().toLocaleTimeString();
    } finally {
      busy = false;
    }
  };
  const es = new EventSource("/events");
  es.addEventListener("change", () => void refresh());
  es.onerror = () => { if (status) status.textContent = "Live updates paused; retrying"; };
  es.onopen = () => { if (status) status.textContent = "Live"; };
})();
`;

/**
 * A full page; `nonce` is the one the response's Content-Security-Policy names. `fragment`: only the <main> element,
 * which the live-update script swaps in.
 */
export function page(o: { title: string; path: string; nonce: string; trustDomain: string; body: Html; fragment?: boolean }): Html {
  if (o.fragment) return html`<main>\n<h1>${o.title}</h1>\n${o.body}\n</main>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · wisp console · ${o.trustDomain}</title>
<style nonce="${o.nonce}">${raw(CSS)}</style>
</head>
<body>
<header>
<span class="brand">wisp · ${o.trustDomain}</span>
<nav aria-label="Console sections"><ul>${NAV.map(([href, label]) =>
    html`<li><a href="${href}"${raw(o.path === href ? ' aria-current="page"' : "")}>${label}</a></li>`
  )}</ul></nav>
<span class="live" id="live" role="status" aria-live="polite">Live</span>
</header>
<main>
<h1>${o.title}</h1>
${o.body}
</main>
<script nonce="${o.nonce}">${raw(LIVE_SCRIPT)}</script>
</body>
</html>`;
}

/** A health badge. */
export function badge(kind: "ok" | "warn" | "bad" | "muted", text: string): Html {
  return html`<span class="badge ${kind}">${text}</span>`;
}
