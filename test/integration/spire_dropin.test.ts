/**
 * A SPIRE user's configs, flags and log greps against real processes: top-level health_checks and telemetry
 * (Prometheus on its own port), experimental intervals, disable_jwt_svids, -allowUnauthenticatedVerifiers,
 * -logFormat/-logFile, `api fetch`, and SPIRE's log lines in text and JSON, as SPIRE's integration scripts grep them.
 * Cluster A: server logs text, agent logs JSON to a -logFile and bootstraps from -trustBundleUrl (HTTPS, PEM).
 * Cluster B: server logs JSON (-logFormat json), agent logs text and bootstraps from -trustBundle in SPIFFE format.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server as HTTPSServer } from "node:https";
import { join } from "node:path";
import { createEntry, deleteEntry, first, watchX509Bundles, workloadClient } from "./_clients.ts";
import { AGENT_BIN, type Cluster, freePort, joinToken, newCluster, Proc, SERVER_BIN, tail, waitFor, wispAgent, wispServer } from "./_harness.ts";

const TTLS = `agent_ttl = "14s"`;
let a: Cluster;
let b: Cluster;
let promServer = 0;
let promAgent = 0;
let health = 0;
const ids: Record<"a" | "b", { agent: string; entry: string }> = { a: { agent: "", entry: "" }, b: { agent: "", entry: "" } };
let setupError: unknown;
let bundleServer: HTTPSServer | undefined;
let bundleRequests = 0;

/** Serves the server's PEM bundle over HTTPS with a throw-away certificate the agent process is told to trust. */
async function serveBundle(c: Cluster): Promise<{ url: string; env: Record<string, string> }> {
  const shown = await wispServer(["bundle", "show", "-socketPath", c.serverSocket]);
  if (shown.code !== 0) throw new Error(`bundle show: ${shown.stderr}`);
  // A CA and a leaf: Deno's TLS (rustls) refuses a CA certificate used as the server's own.
  const f = (name: string) => join(c.dir, name);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  ssl("req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.crt"), "-subj", "/CN=bundle test CA", "-days", "1");
  ssl("req", ...ec, "-keyout", f("https.key"), "-out", f("https.csr"), "-subj", "/CN=127.0.0.1");
  writeFileSync(f("leaf.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  ssl(
    "x509",
    "-req",
    "-in",
    f("https.csr"),
    "-CA",
    f("ca.crt"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-out",
    f("https.crt"),
    "-days",
    "1",
    "-extfile",
    f("leaf.ext"),
  );
  const [key, cert] = [f("https.key"), f("https.crt")];
  bundleServer = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
    bundleRequests++;
    res.end(shown.stdout);
  });
  await new Promise<void>((resolve) => bundleServer!.listen(0, "127.0.0.1", resolve));
  const port = (bundleServer.address() as { port: number }).port;
  // Node reads extra roots from NODE_EXTRA_CA_CERTS, Deno from DENO_CERT.
  return { url: `https://127.0.0.1:${port}/bundle.pem`, env: { NODE_EXTRA_CA_CERTS: f("ca.crt"), DENO_CERT: f("ca.crt") } };
}

/** The harness writes insecure_bootstrap = true; these agents bootstrap from a bundle instead. */
/** These clusters are made with insecure_bootstrap; the agents get their bundle from the -trustBundle* flags instead. */
function secureBootstrap(c: Cluster): void {
  writeFileSync(c.agentConf, readFileSync(c.agentConf, "utf8").replace("insecure_bootstrap = true", ""));
}

async function startServerWith(c: Cluster, args: string[]): Promise<void> {
  c.server = new Proc(SERVER_BIN, ["run", "-config", c.serverConf, ...args]);
  await waitFor("server healthy", async () => {
    if (c.server!.exited) throw new Error(`server exited: ${c.server!.output}`);
    return (await wispServer(["healthcheck", "-socketPath", c.serverSocket])).code === 0 ? true : undefined;
  });
}

async function startAgentWith(c: Cluster, token: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  c.agent = new Proc(AGENT_BIN, ["run", "-config", c.agentConf, "-joinToken", token, ...args], env);
  await waitFor("agent healthy", async () => {
    if (c.agent!.exited) throw new Error(`agent exited: ${c.agent!.output}`);
    return (await wispAgent(["healthcheck", "-socketPath", c.agentSocket])).code === 0 ? true : undefined;
  });
}

const agentLogA = () => readFileSync(join(a.dir, "agent.log"), "utf8");
const jsonLines = (text: string) => text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);

/** One workload's whole life, so every log line SPIRE's scripts grep gets written. */
async function scenario(c: Cluster, which: "a" | "b", agentLog: () => string): Promise<void> {
  const token = await joinToken(c, "spiffe://example.org/node1");
  ids[which].agent = `spiffe://example.org/spire/agent/join_token/${token}`;
  secureBootstrap(c);
  if (which === "a") {
    const bundle = await serveBundle(c);
    await startAgentWith(c, token, [
      "-logFormat",
      "json",
      "-logFile",
      join(c.dir, "agent.log"),
      "-allowUnauthenticatedVerifiers",
      "-trustBundleUrl",
      bundle.url,
    ], bundle.env);
  } else {
    const shown = await wispServer(["bundle", "show", "-format", "spiffe", "-socketPath", c.serverSocket]);
    writeFileSync(join(c.dir, "bundle.json"), shown.stdout);
    await startAgentWith(c, token, ["-trustBundle", join(c.dir, "bundle.json"), "-trustBundleFormat", "spiffe"]);
  }
  ids[which].entry = await createEntry(c, { spiffeID: "spiffe://example.org/web", selector: "unix:uid:1000", ttl: 14 });
  await waitFor(
    "SVID through `api fetch`",
    async () => (await wispAgent(["api", "fetch", "-socketPath", c.agentSocket], { asUser: 1000 })).code === 0 ? true : undefined,
  );
  await waitFor(
    "workload SVID renewed and agent SVID rotated",
    async () => /Renewing X509-SVID/.test(agentLog()) && /Successfully rotated agent SVID/.test(agentLog()) ? true : undefined,
    30_000,
  );
}

test.before(async () => {
  try {
    [promServer, promAgent, health] = await Promise.all([freePort(), freePort(), freePort()]);
    a = await newCluster({
      bootstrap: "insecure",
      extraServer: `${TTLS}\n  experimental { cache_reload_interval = "1s" }`,
      extraAgent: `experimental { sync_interval = "1s" }`,
    });
    appendFileSync(
      a.serverConf,
      `
telemetry { Prometheus { host = "127.0.0.1" port = ${promServer} } }
health_checks { listener_enabled = true bind_address = "127.0.0.1" bind_port = "${health}" }
`,
    );
    appendFileSync(a.agentConf, `\ntelemetry { Prometheus { host = "127.0.0.1" port = ${promAgent} } }\n`);
    b = await newCluster({ bootstrap: "insecure", extraServer: `${TTLS}\n  disable_jwt_svids = true` });
    await Promise.all([startServerWith(a, []), startServerWith(b, ["-logFormat", "json"])]);
    await Promise.all([scenario(a, "a", agentLogA), scenario(b, "b", () => b.agent!.output)]);
  } catch (err) {
    setupError = new Error(
      `${(err as Error).message}\n--- A server ---\n${tail(a?.server?.output ?? "")}\n--- B server ---\n${tail(b?.server?.output ?? "")}\n--- B agent ---\n${
        tail(b?.agent?.output ?? "")
      }\n--- A agent ---\n${tail(a?.agent?.output ?? "")}${
        (() => {
          try {
            return tail(agentLogA());
          } catch {
            return "";
          }
        })()
      }`,
    );
  }
});

test.after(async () => {
  bundleServer?.close();
  await a?.cleanup();
  await b?.cleanup();
});

test("setup", () => {
  if (setupError) throw setupError;
});

test("-trustBundleUrl and -trustBundle -trustBundleFormat spiffe bootstrap the agents without insecure_bootstrap", () => {
  assert.is(bundleRequests, 1, "the URL is fetched once, to attest");
  assert.not.match(a.agent!.output + b.agent!.output, /Insecure bootstrap/);
});

test("telemetry.Prometheus serves the server's and the agent's metrics on their own ports, on any path", async () => {
  const s = await fetch(`http://127.0.0.1:${promServer}/metrics`);
  assert.is(s.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.match(await s.text(), /^wisp_server_ca_expiry_seconds \d+$/m);
  assert.match(await (await fetch(`http://127.0.0.1:${promAgent}/`)).text(), /^wisp_agent_entries 2$/m);
  assert.match(a.server!.output, /level=info msg="Starting prometheus exporter" host=127\.0\.0\.1 port=\d+ subsystem_name=telemetry/);
});

test("top-level health_checks serves /live and /ready", async () => {
  assert.is((await fetch(`http://127.0.0.1:${health}/live`)).status, 200);
  assert.is((await fetch(`http://127.0.0.1:${health}/ready`)).status, 200);
});

test("-allowUnauthenticatedVerifiers: a caller with no identity gets the X.509 bundle; without it, PermissionDenied", async () => {
  // This test process runs as root, which has no entry.
  const clientA = workloadClient(a.agentSocket);
  const clientB = workloadClient(b.agentSocket);
  try {
    const withFlag = await first(watchX509Bundles(clientA));
    assert.ok("message" in withFlag && Object.keys(withFlag.message.bundles).includes("spiffe://example.org"));
    const without = await first(watchX509Bundles(clientB));
    assert.equal("status" in without && without.status, { code: 7, details: "no identity issued" });
  } finally {
    clientA.close();
    clientB.close();
  }
});

test("disable_jwt_svids: `api fetch jwt` fails with SPIRE's text; JWT-SVIDs still work where it is off", async () => {
  const off = await wispAgent(["api", "fetch", "jwt", "-audience", "test", "-socketPath", b.agentSocket], { asUser: 1000 });
  assert.is(off.code, 1);
  assert.match(off.stderr, /JWT functionality is disabled/);
  const on = await wispAgent(["api", "fetch", "jwt", "-audience", "test", "-socketPath", a.agentSocket], { asUser: 1000 });
  assert.is(on.code, 0, on.stderr);
});

test("server, text: Starting Server APIs once per listener, CA prepared and activated, agent attested", () => {
  const out = a.server!.output;
  assert.match(out, new RegExp(`level=info msg="Starting Server APIs" address="127\\.0\\.0\\.1:${a.port}" network=tcp subsystem_name=endpoints`));
  assert.match(out, new RegExp(`level=info msg="Starting Server APIs" address=${a.serverSocket.replaceAll(".", "\\.")} network=unix subsystem_name=endpoints`));
  assert.is(out.match(/Starting Server APIs/g)?.length, 2, "SPIRE's check-server-started counts two");
  assert.match(out, /level=info msg="X509 CA prepared" .*local_authority_id=[0-9a-f]{40} .*self_signed=true slot=A/);
  assert.match(out, /level=info msg="X509 CA activated" .*local_authority_id=[0-9a-f]{40} slot=A/);
  // SPIRE's line carries the caller's address first (logrus sorts the fields).
  assert.match(out, new RegExp(`msg="Agent attestation request completed" address=127\\.0\\.0\\.1 agent_id="${ids.a.agent}"`));
  assert.match(
    out,
    new RegExp(
      `level=debug msg="Signed X509 SVID" entry_id=${ids.a.entry} expiration="[^"]+" revision_number=\\d+ serial_num=\\d+ spiffe_id="spiffe://example.org/web"`,
    ),
  );
});

test("agent, JSON: attestation, SVID creation and renewal, agent SVID rotation, entry created", () => {
  const lines = jsonLines(agentLogA());
  const find = (msg: string, extra: Record<string, unknown> = {}) => lines.find((l) => l["msg"] === msg && Object.entries(extra).every(([k, v]) => l[k] === v));
  assert.ok(find("Node attestation was successful", { level: "info", spiffe_id: ids.a.agent }));
  assert.ok(find("Creating X509-SVID", { level: "info", spiffe_id: "spiffe://example.org/web", entry_id: ids.a.entry }));
  assert.ok(find("Renewing X509-SVID", { level: "info", spiffe_id: "spiffe://example.org/web", entry_id: ids.a.entry }));
  assert.ok(find("Successfully rotated agent SVID", { level: "info", spiffe_id: ids.a.agent }));
  assert.ok(find("Entry created", { level: "debug", entry: ids.a.entry, spiffe_id: "spiffe://example.org/web", subsystem_name: "cache_manager" }));
  assert.match(String(find("Creating X509-SVID")?.["time"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.is(Object.keys(lines[0]!).join(","), Object.keys(lines[0]!).sort().join(","), "keys sorted as logrus writes them");
});

test("agent, text: the same lines, as SPIRE's scripts grep them", () => {
  const out = b.agent!.output;
  assert.match(out, new RegExp(`level=info msg="Node attestation was successful" .*spiffe_id="${ids.b.agent}"`));
  assert.match(out, new RegExp(`level=info msg="Creating X509-SVID" entry_id=${ids.b.entry} spiffe_id="spiffe://example.org/web"`));
  assert.match(out, new RegExp(`level=info msg="Renewing X509-SVID" entry_id=${ids.b.entry} expires_at="[^"]+" spiffe_id="spiffe://example.org/web"`));
  assert.match(
    out,
    /level=info msg="Successfully rotated agent SVID" expiration="[^"]+" spiffe_id="spiffe:\/\/example\.org\/spire\/agent\/join_token\/[0-9a-f-]+"/,
  );
  assert.match(
    out,
    new RegExp(`level=debug msg="Entry created" entry=${ids.b.entry} selectors_added=1 spiffe_id="spiffe://example.org/web" subsystem_name=cache_manager`),
  );
});

test("entry delete and agent evict: Entry removed (agent, DEBUG) and Agent deleted (server), text and JSON", async () => {
  await Promise.all([deleteEntry(a, ids.a.entry), deleteEntry(b, ids.b.entry)]);
  await waitFor(
    "Entry removed",
    async () =>
      jsonLines(agentLogA()).some((l) => l["msg"] === "Entry removed" && l["entry"] === ids.a.entry && l["level"] === "debug") &&
        new RegExp(`level=debug msg="Entry removed" entry=${ids.b.entry} spiffe_id="spiffe://example.org/web"`).test(b.agent!.output)
        ? true
        : undefined,
  );
  for (const [c, id] of [[a, ids.a.agent], [b, ids.b.agent]] as const) {
    const r = await wispServer(["agent", "evict", "-socketPath", c.serverSocket, "-spiffeID", id]);
    assert.is(r.code, 0, r.stderr);
  }
  await waitFor("Agent deleted", async () =>
    new RegExp(`level=info msg="Agent deleted" .*spiffe_id="${ids.a.agent}"`).test(a.server!.output) &&
      jsonLines(b.server!.output).some((l) => l["msg"] === "Agent deleted" && l["spiffe_id"] === ids.b.agent && l["level"] === "info")
      ? true
      : undefined);
});

test("server, JSON: Starting Server APIs twice with network and address; CA lines with local_authority_id", () => {
  const lines = jsonLines(b.server!.output);
  const starts = lines.filter((l) => l["msg"] === "Starting Server APIs");
  assert.equal(starts.map((l) => [l["network"], l["address"], l["subsystem_name"], l["level"]]).sort(), [
    ["tcp", `127.0.0.1:${b.port}`, "endpoints", "info"],
    ["unix", b.serverSocket, "endpoints", "info"],
  ]);
  const prepared = lines.find((l) => l["msg"] === "X509 CA prepared")!;
  assert.equal([prepared["slot"], prepared["self_signed"], typeof prepared["local_authority_id"]], ["A", true, "string"]);
  assert.ok(lines.some((l) => l["msg"] === "X509 CA activated" && l["local_authority_id"] === prepared["local_authority_id"]));
});

test.run();
