/**
 * The console's pages over HTTP against a real server in this process (console on 127.0.0.1, port from
 * `console.bind_port = 0`): what each page shows, its Content-Security-Policy, the downloads, read-only answers,
 * no secrets, and the change events that drive live updates.
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { mkdirSync, readFileSync } from "node:fs";
import { toHex } from "../../../src/core/encoding.ts";
import { parseCertificate } from "../../../src/core/x509/certificate_info.ts";
import { toPEM } from "../../../src/core/x509/mod.ts";
import { fingerprint } from "../../../src/server/console/cert_box.ts";
import { wispServer } from "../../integration/_harness.ts";
import { type ConsoleServer, startConsoleServer } from "./_console_server.ts";

let s: ConsoleServer;
let setupError: unknown;
const TOKEN = "f3b1c2d4-0000-4a5b-9c8d-123456789abc";
const AGENT = "spiffe://example.org/spire/agent/join_token/node-1";

test.before(async () => {
  try {
    s = await startConsoleServer();
    const now = Math.floor(Date.now() / 1000);
    await s.ds.createJoinToken({ token: TOKEN, expiresAt: now + 600 });
    await s.ds.createAttestedNode({
      spiffeID: AGENT,
      attestationType: "join_token",
      certSerial: "0a",
      certNotAfter: now + 3600,
      newCertSerial: "",
      newCertNotAfter: 0,
      canReattest: false,
      banned: false,
      selectors: [{ type: "spiffe_id", value: AGENT }],
    });
    const base = { x509SVIDTTL: 0, jwtSVIDTTL: 0, dnsNames: [], hint: "", admin: false, downstream: false };
    await s.ds.createEntry({
      ...base,
      id: "alias-1",
      spiffeID: "spiffe://example.org/node-group",
      parentID: "spiffe://example.org/spire/server",
      selectors: [{ type: "spiffe_id", value: AGENT }],
    });
    await s.ds.createEntry({
      ...base,
      id: "web-1",
      spiffeID: "spiffe://example.org/web",
      parentID: "spiffe://example.org/node-group",
      selectors: [{ type: "unix", value: "uid:1000" }],
    });
    await s.ds.createEntry({
      ...base,
      id: "db-1",
      spiffeID: "spiffe://example.org/db",
      parentID: AGENT,
      selectors: [{ type: "unix", value: "uid:2000" }],
      x509SVIDTTL: 600,
    });
    mkdirSync(join(s.dir, "minted"));
    // As `token generate -spiffeID` leaves it before any agent used the token: the token is in the parent ID and selector.
    const unused = `spiffe://example.org/spire/agent/join_token/${TOKEN}`;
    await s.ds.createEntry({
      ...base,
      id: "pending-1",
      spiffeID: "spiffe://example.org/pending",
      parentID: unused,
      selectors: [{ type: "spiffe_id", value: unused }],
    });
    const mint = await wispServer(["x509", "mint", "-spiffeID", "spiffe://example.org/minted", "-socketPath", s.socketPath, "-write", join(s.dir, "minted")]);
    if (mint.code !== 0) throw new Error(`x509 mint failed: ${mint.stderr}`);
  } catch (err) {
    setupError = err;
  }
});
test.after(async () => {
  await s?.stop();
});

async function get(path: string): Promise<{ status: number; headers: Headers; body: string }> {
  if (setupError) throw setupError;
  const r = await fetch(new URL(path, s.consoleURL));
  return { status: r.status, headers: r.headers, body: await r.text() };
}

const PAGES = ["/", "/ca", "/agents", "/entries", "/bundle", "/activity"];

test("every page answers 200 with a strict CSP: no unsafe-inline, no external source, the nonce on the one style and script", async () => {
  for (const p of PAGES) {
    const r = await get(p);
    assert.is(r.status, 200, p);
    const csp = r.headers.get("content-security-policy") ?? "";
    assert.match(csp, /^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/=]+'; style-src 'nonce-[A-Za-z0-9+/=]+';/, p);
    assert.not.match(csp, /unsafe|https?:|\*/, p);
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)![1]!;
    assert.is([...r.body.matchAll(/<script nonce="([^"]+)">/g)].map((m) => m[1]).join(), nonce, p);
    assert.is([...r.body.matchAll(/<style nonce="([^"]+)">/g)].map((m) => m[1]).join(), nonce, p);
    assert.not.match(r.body, / style="|<script src|<link |https?:\/\/(?!127\.0\.0\.1)/, p);
    assert.is(r.headers.get("x-content-type-options"), "nosniff");
  }
  const a = await get("/ca");
  const b = await get("/ca");
  assert.is.not(a.headers.get("content-security-policy"), b.headers.get("content-security-policy"), "a fresh nonce per response");
});

test("/ shows the trust domain, health, agents connected vs attested, entries and SVIDs issued in the last hour", async () => {
  const r = await get("/");
  assert.match(r.body, "<h1>Overview</h1>");
  assert.match(r.body, /Trust domain<\/div><div class="v">example\.org</);
  assert.match(r.body, /Agents connected now \/ attested<\/div><div class="v">0 \/ 1</);
  assert.match(r.body, /Registration entries<\/div><div class="v">4</);
  assert.match(r.body, /X509-SVIDs issued, last hour<\/div><div class="v">[1-9]\d*</);
  assert.match(r.body, /<th scope="row">Datastore<\/th><td><span class="badge ok">ok/);
  assert.match(r.body, /<th scope="row">CA<\/th><td><span class="badge ok">valid/);
  assert.match(r.body, /<th scope="row">Upstream \(self-signed\)<\/th><td><span class="badge ok">ok/);
  assert.match(r.body, /Version<\/div><div class="v">0\.1\.0</);
});

test("/ca draws the active self-signed CA with serial and SHA-256 fingerprint, the timeline and the planned rotation times", async () => {
  const r = await get("/ca");
  const bundle = (await s.ds.fetchBundle("example.org"))!;
  const root = bundle.x509Authorities[0]!;
  const info = parseCertificate(root);
  assert.match(r.body, "active · slot A");
  assert.match(r.body, await fingerprint(root));
  assert.match(r.body, toHex(info.serial).toUpperCase().match(/.{2}/g)!.join(":"));
  assert.match(r.body, "O=SPIFFE, C=US");
  assert.match(r.body, "Signed by</dt><dd>self-signed");
  assert.match(r.body, /<h2>Rotation timeline<\/h2>\s*<figure>\s*<svg/);
  // SPIRE's thresholds for a 24 h CA: prepare at 12 h, activate at 20 h.
  const issued = info.notAfter.getTime() - 24 * 3_600_000;
  const at = (ms: number) => new Date(issued + ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").slice(0, 16);
  assert.match(r.body, new RegExp(`<tr><td>X\\.509</td><td>${at(12 * 3_600_000)}:\\d\\dZ</td><td>${at(20 * 3_600_000)}:\\d\\dZ</td></tr>`));
  assert.match(r.body, /<h2>JWT signing keys<\/h2>[\s\S]*<td>active<\/td><td>A<\/td>/);
});

test("/agents lists the agent with attestation type, selectors, SVID expiry, can re-attest and not connected", async () => {
  const r = await get("/agents");
  assert.match(r.body, `<td><code>${AGENT}</code></td>`);
  assert.match(r.body, "<td>join_token</td>");
  assert.match(r.body, `<code>spiffe_id:${AGENT}</code>`);
  assert.match(r.body, /<td>no<\/td>\s*<td><span class="badge muted">not connected<\/span><\/td>/);
  assert.match(r.body, "1 attested, 0 connected now.");
});

test("/entries searches by SPIFFE ID, parent ID and selector, and draws the tree with the node alias and the agent it covers", async () => {
  const all = await get("/entries");
  assert.match(all.body, "<h2>4 of 4 entries</h2>");
  assert.match(all.body, /<code>spiffe:\/\/example\.org\/spire\/server<\/code> <span class="muted">server \(node aliases\)<\/span>/);
  assert.match(all.body, `node alias</span> <span class="muted">covers ${AGENT}</span>`);
  assert.match(all.body, /node-group<\/code><\/a>[\s\S]*?<ul class="tree"><li><a href="\/entries\/web-1"><code>spiffe:\/\/example\.org\/web<\/code>/);
  assert.is((await get("/entries?spiffe_id=web")).body.match(/<h2>(\d+) of 4 entries/)![1], "1");
  assert.is((await get("/entries?parent_id=join_token/node-1")).body.match(/<h2>(\d+) of 4 entries/)![1], "1");
  assert.is((await get("/entries?selector=uid:2000")).body.match(/<h2>(\d+) of 4 entries/)![1], "1");
  assert.is((await get("/entries?selector=nothing")).body.match(/<h2>(\d+) of 4 entries/)![1], "0");
});

test("an unused join token never shows: parent ID and selector show a placeholder, and search cannot probe it", async () => {
  const all = (await get("/entries")).body;
  assert.match(all, "<code>spiffe://example.org/spire/agent/join_token/(unused join token)</code>");
  assert.match(all, "spiffe_id:spiffe://example.org/spire/agent/join_token/(unused join token)");
  const entry = (await get("/entries/pending-1")).body;
  assert.match(entry, '<tr><th scope="row">Parent ID</th><td><code>spiffe://example.org/spire/agent/join_token/(unused join token)</code></td></tr>');
  for (const q of [`parent_id=${TOKEN.slice(0, 4)}`, `selector=${TOKEN.slice(0, 4)}`, `spiffe_id=${TOKEN.slice(0, 4)}`]) {
    assert.is((await get(`/entries?${q}`)).body.match(/<h2>(\d+) of 4 entries/)![1], "0", q);
  }
});

test("/entries/:id lists the agents the entry reaches, through parent links and node aliases; an unknown ID is a 404", async () => {
  for (const id of ["web-1", "db-1"]) {
    const r = await get(`/entries/${id}`);
    assert.is(r.status, 200);
    assert.match(r.body, "<h2>Agents this entry reaches (1)</h2>");
    assert.match(r.body, `<tr><td><code>${AGENT}</code></td><td>join_token</td><td>no</td></tr>`);
  }
  const missing = await get("/entries/nope");
  assert.is(missing.status, 404);
  assert.match(missing.body, "entry &quot;nope&quot; not found");
});

test("/bundle lists the roots with expiry; the PEM and SPIFFE bundle downloads carry the datastore's bundle", async () => {
  const b = (await s.ds.fetchBundle("example.org"))!;
  const r = await get("/bundle");
  assert.match(r.body, await fingerprint(b.x509Authorities[0]!));
  assert.match(r.body, `<code>${b.jwtKeys[0]!.kid}</code>`);
  const pem = await get("/bundle.pem");
  assert.is(pem.body, b.x509Authorities.map((d) => toPEM(d, "CERTIFICATE")).join(""));
  assert.match(pem.headers.get("content-disposition") ?? "", "attachment");
  const json = JSON.parse((await get("/bundle.json")).body) as { keys: { use: string; kid?: string }[]; spiffe_sequence: number };
  assert.is(json.spiffe_sequence, b.sequence);
  assert.equal(json.keys.map((k) => k.use).sort(), ["jwt-svid", "x509-svid"]);
});

test("/activity charts SVIDs issued, sync pushes and attestations per minute; the minted SVID is counted", async () => {
  const r = await get("/activity");
  for (const t of ["X509-SVIDs issued", "Sync pushes to agents", "Attestation successes", "Attestation failures"]) {
    assert.match(r.body, `<strong>${t}</strong>`);
  }
  const svids = /<strong>X509-SVIDs issued<\/strong>: <span data-total="(\d+)"/.exec(r.body)![1];
  assert.ok(Number(svids) >= 1, `SVIDs issued: ${svids}`);
  assert.is((r.body.match(/<svg /g) ?? []).length, 4);
});

test("read-only: other methods answer 405; no page shows a private key or a join token value", async () => {
  if (setupError) throw setupError;
  const post = await fetch(new URL("/entries", s.consoleURL), { method: "POST", body: "x" });
  assert.is(post.status, 405);
  assert.is(await post.text(), "the console is read-only");
  const key = readFileSync(join(s.dir, "minted", "key.pem"), "utf8").split("\n")[1]!;
  for (const p of [...PAGES, "/entries/web-1", "/bundle.pem", "/bundle.json"]) {
    const body = (await get(p)).body;
    assert.not.match(body, "PRIVATE KEY", p);
    assert.not.match(body, TOKEN, p);
    assert.not.match(body, key, p);
  }
});

test("/events sends a change when an entry is created, which the pages' script turns into a refresh", async () => {
  if (setupError) throw setupError;
  const ctl = new AbortController();
  const r = await fetch(new URL("/events", s.consoleURL), { signal: ctl.signal });
  assert.match(r.headers.get("content-type") ?? "", "text/event-stream");
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("event: ready")) text += (await reader.read()).value ?? "";
  await s.ds.createEntry({
    spiffeID: "spiffe://example.org/new",
    parentID: AGENT,
    selectors: [{ type: "unix", value: "uid:3000" }],
    x509SVIDTTL: 0,
    jwtSVIDTTL: 0,
    dnsNames: [],
    hint: "",
    admin: false,
    downstream: false,
  });
  while (!text.includes("event: change")) text += (await reader.read()).value ?? "";
  ctl.abort();
  assert.match(text, /event: change\ndata: \d+/);
});

test.run();
