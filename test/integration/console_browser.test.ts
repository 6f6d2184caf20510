/**
 * The console in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by puppeteer-core against
 * real wisp-server processes. A self-signed server with entries, a join-token agent (node alias) and a CA rotation
 * done with `localauthority x509 prepare|activate` while the page is open; an aws_pca + aws_kms server against the
 * emulator for the three-level chain. Each page must show them, live updates must arrive without a reload, axe-core
 * must find no serious or critical violation, and the Content-Security-Policy must block nothing the page needs.
 * Screenshots go to test-output/screenshots/ (git-ignored).
 *
 * Node only (scripts/run_tests.mjs): puppeteer-core drives Chromium over a pipe/WebSocket with Node's child_process
 * and ws; under Deno the launch is not supported by puppeteer, and the console it tests is the same server process.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { type RunningEmulator, startEmulator } from "../emulator/emulator_process.ts";
import { type Cluster, freePort, joinToken, newCluster, ROOT, startAgent, startServer, wispServer } from "./_harness.ts";

const SHOTS = join(ROOT, "test-output", "screenshots");
const AXE = readFileSync(join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8");
const AGENT_ID = "spiffe://example.org/spire/agent/join_token/";

let emu: RunningEmulator;
let a: Cluster;
let b: Cluster;
let urlA = "";
let urlB = "";
let browser: Browser;
let setupError: unknown;
const cspViolations: string[] = [];

async function consoleCluster(extraServer = "", o: Parameters<typeof newCluster>[0] = {}): Promise<{ c: Cluster; url: string }> {
  const port = await freePort();
  const c = await newCluster({
    ...o,
    extraServer: `${o.extraServer ?? ""}\n  ${extraServer}\n  console {\n    bind_address = "127.0.0.1"\n    bind_port = "${port}"\n  }`,
  });
  return { c, url: `http://127.0.0.1:${port}` };
}

async function cli(...args: string[]): Promise<string> {
  const r = await wispServer(args);
  if (r.code !== 0) throw new Error(`wisp-server ${args.join(" ")} failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const t0 = Date.now();
const mark = (what: string) => process.stdout.write(`  [${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}\n`);

test.before(async () => {
  try {
    mkdirSync(SHOTS, { recursive: true });
    emu = await startEmulator();
    const setupA = async () => {
      ({ c: a, url: urlA } = await consoleCluster());
      await startServer(a);
      mark("server A up");
      await cli(
        "entry",
        "create",
        "-socketPath",
        a.serverSocket,
        "-parentID",
        "spiffe://example.org/node1",
        "-spiffeID",
        "spiffe://example.org/web",
        "-selector",
        "unix:uid:1000",
      );
      await cli(
        "entry",
        "create",
        "-socketPath",
        a.serverSocket,
        "-parentID",
        "spiffe://example.org/web",
        "-spiffeID",
        "spiffe://example.org/web/sidecar",
        "-selector",
        "unix:uid:1001",
      );
      await startAgent(a, await joinToken(a, "spiffe://example.org/node1"));
      mark("entries and agent");
    };
    const setupB = async () => {
      const pcaCluster = await consoleCluster(`ca_ttl = "168h"`, {
        keyManager: "aws_kms",
        keyManagerData: `\n      region = "${emu.info.region}"\n      endpoint = "${emu.info.endpoint}"\n    `,
        extraServerPlugins: `
  UpstreamAuthority "aws_pca" {
    plugin_data {
      region = "${emu.info.region}"
      certificate_authority_arn = "${emu.info.subordinateCaArn}"
      signing_algorithm = "SHA256WITHECDSA"
      endpoint = "${emu.info.endpoint}"
    }
  }`,
        serverEnv: { AWS_ACCESS_KEY_ID: emu.info.accessKeyId, AWS_SECRET_ACCESS_KEY: emu.info.secretAccessKey, AWS_ENDPOINT_URL_STS: emu.info.endpoint },
      });
      b = pcaCluster.c;
      urlB = pcaCluster.url;
      await startServer(b);
      mark("server B up");
    };
    // Both servers start side by side: process start-up dominates this file's time.
    await Promise.all([setupA(), setupB()]);
    browser = await puppeteer.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await browser?.close();
  await a?.cleanup();
  await b?.cleanup();
  await emu?.stop();
});

/** A page with the CSP enforced; any CSP report in its console is recorded as a failure. */
async function open(url: string): Promise<Page> {
  if (setupError) throw setupError;
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(`${url}: ${m.text()}`);
  });
  await page.goto(url, { waitUntil: "load" });
  return page;
}

const text = (page: Page) => page.evaluate(() => document.body.innerText);

/** Waits until the page's text contains `want`, without reloading it. */
async function waitForText(page: Page, want: string | RegExp, timeout = 15_000): Promise<void> {
  const src = typeof want === "string" ? { s: want } : { r: want.source };
  await page.waitForFunction(
    (w: { s?: string; r?: string }) => (w.s !== undefined ? document.body.innerText.includes(w.s) : new RegExp(w.r!).test(document.body.innerText)),
    { timeout, polling: 100 },
    src,
  );
}

/** axe-core in a separate page with CSP bypassed (axe is injected as an inline script); serious or critical fail. */
async function axe(url: string): Promise<void> {
  mark(`axe ${url}`);
  const page = await browser.newPage();
  try {
    await page.setBypassCSP(true);
    await page.goto(url, { waitUntil: "load" });
    await page.addScriptTag({ content: AXE });
    const violations = await page.evaluate(async () => {
      // deno-lint-ignore no-explicit-any
      const r = await (globalThis as any).axe.run(document, { resultTypes: ["violations"] });
      // deno-lint-ignore no-explicit-any
      return r.violations.map((v: any) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length }));
    });
    const bad = violations.filter((v: { impact: string }) => v.impact === "serious" || v.impact === "critical");
    assert.equal(bad, [], `${url}: ${JSON.stringify(bad)}`);
  } finally {
    await page.close();
  }
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

test("overview: trust domain, the agent connected and attested, entries and SVIDs; no serious accessibility violation", async () => {
  const page = await open(urlA + "/");
  await waitForText(page, /Agents connected now \/ attested\s+1 \/ 1/);
  const t = await text(page);
  assert.match(t, "example.org");
  assert.match(t, /Registration entries\s+3/, "two entries and the join token's node alias");
  assert.match(t, /X509-SVIDs issued, last hour\s+[1-9]/);
  await shot(page, "overview");
  await page.close();
  await axe(urlA + "/");
});

test("agents: the join-token agent with its type, selectors, expiry and connected now", async () => {
  const page = await open(urlA + "/agents");
  const t = await text(page);
  assert.match(t, AGENT_ID);
  assert.match(t, "join_token");
  assert.match(t, "connected");
  assert.not.match(t, "not connected");
  await shot(page, "agents");
  await page.close();
  await axe(urlA + "/agents");
});

test("entries: tree through the node alias, search, and an entry page listing the agent it reaches; a new entry appears live", async () => {
  const page = await open(urlA + "/entries");
  let t = await text(page);
  assert.match(t, "spiffe://example.org/web/sidecar");
  // The join token's -spiffeID entry hangs under the agent's ID; the workloads under it.
  assert.match(t, /spiffe:\/\/example\.org\/spire\/agent\/join_token\/[0-9a-f-]+ agent\s+spiffe:\/\/example\.org\/node1/);
  await page.evaluate(() => ((globalThis as unknown as { __noReload: boolean }).__noReload = true));
  await cli(
    "entry",
    "create",
    "-socketPath",
    a.serverSocket,
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/live-added",
    "-selector",
    "unix:uid:1234",
  );
  await waitForText(page, "spiffe://example.org/live-added");
  assert.is(await page.evaluate(() => (globalThis as unknown as { __noReload?: boolean }).__noReload), true, "updated without a reload");
  await shot(page, "entries");

  await page.type("#q-selector", "uid:1001");
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  t = await text(page);
  assert.match(t, "1 of 4 entries");
  await Promise.all([page.waitForNavigation(), page.click('a[href^="/entries/"]')]);
  t = await text(page);
  assert.match(t, "Agents this entry reaches (1)");
  assert.match(t, AGENT_ID);
  await page.close();
  await axe(urlA + "/entries");
});

test("ca: a rotation with localauthority x509 prepare and activate shows up live as prepared, then active and old", async () => {
  const page = await open(urlA + "/ca");
  await page.evaluate(() => ((globalThis as unknown as { __noReload: boolean }).__noReload = true));
  assert.match(await text(page), "active · slot A");
  const prepared = JSON.parse(await cli("localauthority", "x509", "prepare", "-socketPath", a.serverSocket, "-output", "json")) as {
    prepared_authority: { authority_id: string };
  };
  await waitForText(page, "prepared · slot B");
  await cli("localauthority", "x509", "activate", "-socketPath", a.serverSocket, "-authorityID", prepared.prepared_authority.authority_id);
  await waitForText(page, "active · slot B");
  const t = await text(page);
  assert.match(t, "old · slot A");
  assert.match(t, prepared.prepared_authority.authority_id);
  assert.is(await page.evaluate(() => (globalThis as unknown as { __noReload?: boolean }).__noReload), true, "updated without a reload");
  await shot(page, "ca-self-signed-rotated");
  await page.close();
  await axe(urlA + "/ca");
});

test("ca on aws_pca: PCA root → PCA subordinate → wisp intermediate, the KMS key, the PCA calls; after a prepare both CAs", async () => {
  await cli("localauthority", "x509", "prepare", "-socketPath", b.serverSocket);
  const page = await open(urlB + "/ca");
  await waitForText(page, "prepared · slot B");
  const t = await text(page);
  assert.match(t, "upstream root");
  assert.match(t, "CN=Wisp Emulator Root CA");
  assert.match(t, "upstream intermediate");
  assert.match(t, "CN=Wisp Emulator Subordinate CA");
  assert.match(t, "active · slot A");
  assert.match(t, /aws_kms:\s+arn:aws:kms:/);
  assert.match(t, /alias:\s+alias\/SPIRE_SERVER\/example_org\//);
  assert.match(t, /aws_pca calls\s+2 succeeded, 0 failed/);
  const order = await page.evaluate(() => [...document.querySelectorAll("article.cert .badge")].map((e) => e.textContent));
  assert.equal(order.slice(0, 2), ["upstream root", "upstream intermediate"]);
  await shot(page, "ca-aws-pca");
  await page.close();
  await axe(urlB + "/ca");
});

test("bundle: the roots with expiry and both downloads; activity: four charts with the SVIDs counted", async () => {
  const page = await open(urlA + "/bundle");
  const t = await text(page);
  assert.match(t, "X.509 roots");
  const links = await page.evaluate(() => [...document.querySelectorAll("a[download]")].map((e) => e.getAttribute("href")));
  assert.equal(links, ["/bundle.pem", "/bundle.json"]);
  const pem = await page.evaluate(async () => (await fetch("/bundle.pem")).text());
  assert.is(pem.match(/BEGIN CERTIFICATE/g)?.length, 2, "the first and the rotated self-signed CA");
  await shot(page, "bundle");
  await page.goto(urlA + "/activity", { waitUntil: "load" });
  assert.is(await page.evaluate(() => document.querySelectorAll("main svg").length), 4);
  const svids = await page.evaluate(() => Number(document.querySelector("[data-total]")?.getAttribute("data-total")));
  assert.ok(svids >= 2, `agent SVID and workload SVIDs counted: ${svids}`);
  assert.match(await text(page), /Attestation successes: 1 in the last hour/);
  await shot(page, "activity");
  await page.close();
  await axe(urlA + "/bundle");
  await axe(urlA + "/activity");
});

test("the Content-Security-Policy blocked nothing on any page (styles and the live script carry the nonce)", () => {
  if (setupError) throw setupError;
  assert.equal(cspViolations, []);
  writeFileSync(join(SHOTS, "README.txt"), "Screenshots from test/integration/console_browser.test.ts\n");
});

test.run();
