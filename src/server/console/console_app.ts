/**
 * The read-only web console: a hono app rendering every page on the server (no client framework, no build step, no
 * external resource), with a strict Content-Security-Policy whose per-response nonce carries the one style block and
 * the small live-update script, and a server-sent event stream that says when entries, agents or CAs changed.
 * @module
 */
import { Hono } from "hono";
import { html } from "hono/html";
import { streamSSE } from "hono/streaming";
import { toSPIFFEBundle } from "../../core/bundle/spiffe_bundle.ts";
import { toBase64 } from "../../core/encoding.ts";
import { formatError, NotFoundError, PermissionDeniedError, UnauthenticatedError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import { toPEM } from "../../core/x509/mod.ts";
import { activityPage } from "./activity_page.ts";
import { agentsPage } from "./agents_page.ts";
import { bundlePage } from "./bundle_page.ts";
import { caPage } from "./ca_page.ts";
import { authorizeConsole } from "./console_access.ts";
import type { ConsoleSource } from "./console_source.ts";
import { entriesPage, entryPage } from "./entries_page.ts";
import { type Html, page } from "./layout.ts";
import { overviewPage } from "./overview_page.ts";

export interface ConsoleAppConfig {
  source: ConsoleSource;
  logger: Logger;
  bindAddress: string;
  adminIDs: readonly string[];
  /** How often /events looks for changes, ms. Default 1 s. */
  changePollMs?: number;
}

interface ConsoleEnv {
  Bindings: { peerCertChain?: Uint8Array[]; remoteAddress?: string };
  Variables: { nonce: string };
}

function csp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "img-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Changes the console reacts to: entry events, bundle sequence, attested, banned and connected agents, CA slots. */
async function changeStamp(src: ConsoleSource): Promise<string> {
  const [ev, bundle, nodes, banned] = await Promise.all([
    src.ds.lastEntryEventID(),
    src.ds.fetchBundle(src.trustDomain.name),
    src.ds.countAttestedNodes(),
    src.ds.countAttestedNodes({ banned: true }),
  ]);
  const ca = src.caView();
  return JSON.stringify([
    ev,
    bundle?.sequence ?? 0,
    nodes,
    banned,
    [...src.connectedAgents().keys()].sort(),
    ca.x509.map((a) => `${a.status}:${a.authorityID}`),
    ca.jwt.map((a) => `${a.status}:${a.kid}`),
  ]);
}

/** One stamp per poll interval however many browsers hold /events open: the datastore is asked once, not per tab. */
function sharedStamp(src: ConsoleSource, everyMs: number): () => Promise<string> {
  let last: { at: number; value: Promise<string> } | undefined;
  return () => {
    const now = src.clock.now().getTime();
    if (!last || now - last.at >= everyMs / 2) last = { at: now, value: changeStamp(src) };
    return last.value;
  };
}

export function consoleApp(cfg: ConsoleAppConfig): Hono<ConsoleEnv> {
  const src = cfg.source;
  const log = cfg.logger.with({ subsystem_name: "console" });
  const access = { bindAddress: cfg.bindAddress, adminIDs: cfg.adminIDs, ds: src.ds, trustDomain: src.trustDomain.name, clock: src.clock };
  const app = new Hono<ConsoleEnv>();
  const pollMs = cfg.changePollMs ?? 1000;
  const stamp = sharedStamp(src, pollMs);

  app.use("*", async (c, next) => {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const nonce = toBase64(bytes);
    c.set("nonce", nonce);
    c.header("Content-Security-Policy", csp(nonce));
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-store");
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      return c.text("the console is read-only", 405, { Allow: "GET, HEAD" });
    }
    await authorizeConsole(access, c.env?.peerCertChain);
    await next();
  });

  app.onError((err, c) => {
    if (err instanceof UnauthenticatedError) return c.text(err.message, 401);
    if (err instanceof PermissionDeniedError) {
      log.warn("Console access refused", { [F.ERROR]: err.message });
      return c.text(err.message, 403);
    }
    if (err instanceof NotFoundError) return c.html(page({ title: "Not found", path: "", nonce: c.get("nonce") ?? "", trustDomain: src.trustDomain.name, body: html`<p>${err.message}</p><p><a href="/">Overview</a></p>` }), 404);
    log.error("Console page failed", { [F.ERROR]: formatError(err) });
    return c.text("internal error", 500);
  });

  type Ctx = { get: (k: "nonce") => string; html: (h: Html) => Response | Promise<Response>; req: { header: (n: string) => string | undefined } };
  const show = async (c: Ctx, title: string, path: string, body: Html) =>
    c.html(page({ title, path, nonce: c.get("nonce"), trustDomain: src.trustDomain.name, body, fragment: c.req.header("x-console-fragment") === "main" }));
  const render = (title: string, path: string, body: () => Html | Promise<Html>) => async (c: Ctx) => show(c, title, path, await body());

  // Browsers ask for it on every page; an empty answer keeps the console free of 404s.
  app.get("/favicon.ico", (c) => c.body(null, 204));
  app.get("/", (c) => render("Overview", "/", () => overviewPage(src))(c));
  app.get("/ca", (c) => render("Certificate authorities", "/ca", () => caPage(src))(c));
  app.get("/agents", (c) => render("Agents", "/agents", () => agentsPage(src))(c));
  app.get("/entries", (c) => {
    const q = { spiffeID: c.req.query("spiffe_id") ?? "", parentID: c.req.query("parent_id") ?? "", selector: c.req.query("selector") ?? "" };
    return render("Registration entries", "/entries", () => entriesPage(src, q))(c);
  });
  app.get("/entries/:id", async (c) => {
    const p = await entryPage(src, c.req.param("id"));
    return show(c, p.title, "/entries", p.body);
  });
  app.get("/bundle", (c) => render("Trust bundle", "/bundle", () => bundlePage(src))(c));
  app.get("/activity", (c) => render("Activity", "/activity", () => activityPage(src))(c));

  app.get("/bundle.pem", async (c) => {
    const b = await src.ds.fetchBundle(src.trustDomain.name);
    const pem = (b?.x509Authorities ?? []).map((d) => toPEM(d, "CERTIFICATE")).join("");
    return c.body(pem, 200, { "Content-Type": "application/x-pem-file", "Content-Disposition": `attachment; filename="${src.trustDomain.name}.bundle.pem"` });
  });
  app.get("/bundle.json", async (c) => {
    const b = await src.ds.fetchBundle(src.trustDomain.name);
    if (!b) throw new NotFoundError("no bundle yet");
    const doc = await toSPIFFEBundle(b);
    return c.body(JSON.stringify(doc, null, 2) + "\n", 200, {
      "Content-Type": "application/json",
      "Content-Disposition": `attachment; filename="${src.trustDomain.name}.bundle.json"`,
    });
  });

  app.get("/events", (c) =>
    streamSSE(c, async (stream) => {
      const stop = new AbortController();
      stream.onAbort(() => stop.abort());
      let last = await stamp().catch(() => "");
      let quiet = 0;
      await stream.writeSSE({ event: "ready", data: "" });
      while (!stop.signal.aborted) {
        try {
          await src.clock.sleep(pollMs, stop.signal);
        } catch {
          return;
        }
        const now = await stamp().catch(() => last);
        if (now !== last) {
          last = now;
          quiet = 0;
          await stream.writeSSE({ event: "change", data: String(src.clock.now().getTime()) });
        } else if (++quiet >= 15) {
          // A comment every ~15 s keeps proxies from closing an idle stream and notices a gone client.
          quiet = 0;
          await stream.write(": keep-alive\n\n");
        }
      }
    }));

  return app;
}
