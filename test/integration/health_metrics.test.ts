/** Health endpoints and Prometheus metrics of a real server and agent (SPIRE's health_checks block). */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { type Cluster, freePort, joinToken, newCluster, startAgent, startServer, waitFor, wispAgent, wispServer } from "./_harness.ts";

let c: Cluster;
let serverHealth = 0;
let agentHealth = 0;

const hc = (port: number) =>
  `health_checks {
    listener_enabled = true
    bind_address = "127.0.0.1"
    bind_port = "${port}"
  }`;

test.before(async () => {
  serverHealth = await freePort();
  agentHealth = await freePort();
  c = await newCluster({ extraServer: hc(serverHealth), extraAgent: hc(agentHealth) });
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  await wispServer([
    "entry",
    "create",
    "-socketPath",
    c.serverSocket,
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/web",
    "-selector",
    "unix:uid:1000",
  ]);
  await waitFor(
    "SVID",
    async () => ((await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket], { asUser: 1000 })).code === 0 ? true : undefined),
  );
});

test.after(async () => {
  await c?.cleanup();
});

const get = async (port: number, path: string) => {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
};

test("server /live and /ready answer 200 while the CA is valid; unknown paths 404", async () => {
  const live = await get(serverHealth, "/live");
  assert.equal([live.status, live.text], [200, "ok"]);
  assert.is((await get(serverHealth, "/ready")).status, 200);
  assert.is((await get(serverHealth, "/nope")).status, 404);
});

test("agent /live and /ready answer 200 once synced", async () => {
  assert.is((await get(agentHealth, "/live")).status, 200);
  assert.is((await get(agentHealth, "/ready")).text, "ok");
});

test("server /metrics reports SVIDs issued, CA expiry and open sync streams", async () => {
  const m = await get(serverHealth, "/metrics");
  assert.is(m.type, "text/plain; version=0.0.4; charset=utf-8");
  const value = (name: string) => Number(m.text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);
  assert.ok(value("wisp_server_x509_svids_issued_total") >= 3, "server SVID + agent SVID + workload SVIDs");
  const expiry = value("wisp_server_ca_expiry_seconds");
  assert.ok(expiry > 23 * 3600 && expiry <= 24 * 3600, `CA expiry ${expiry}`);
  assert.is(value("wisp_server_agent_sync_streams"), 1);
  assert.match(m.text, /# TYPE wisp_server_x509_svids_issued_total counter/);
});

test("agent /metrics reports entries, cached SVIDs and workload streams", async () => {
  const m = await get(agentHealth, "/metrics");
  const value = (name: string) => Number(m.text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);
  assert.is(value("wisp_agent_entries"), 2, "the node alias and the workload entry");
  assert.is(value("wisp_agent_x509_svids_cached"), 1, "only the workload entry gets an SVID");
  assert.is(value("wisp_agent_workload_api_streams"), 0);
  assert.ok(value("wisp_agent_sync_snapshots") >= 1);
});

test.run();
