/** The issue-4 acceptance flow against real processes: server, agent, CLI, workloads of other uids, openssl. */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { AGENT_BIN, binCommand, type Cluster, joinToken, newCluster, run, startAgent, startServer, waitFor, wispAgent, wispServer } from "./_harness.ts";

let c: Cluster;
let token = "";

test.before(async () => {
  c = await newCluster();
  await startServer(c);
  token = await joinToken(c, "spiffe://example.org/node1");
  await startAgent(c, token);
});

test.after(async () => {
  await c?.cleanup();
});

test("entry create registers a workload under the node alias", async () => {
  const r = await wispServer([
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
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /SPIFFE ID\s+: spiffe:\/\/example.org\/web/);
  assert.match(r.stdout, /Parent ID\s+: spiffe:\/\/example.org\/node1/);
  assert.match(r.stdout, /Selector\s+: unix:uid:1000/);
});

test("agent list, entry show and bundle show report what the server holds", async () => {
  const agents = await wispServer(["agent", "list", "-socketPath", c.serverSocket, "-output", "json"]);
  assert.is(agents.code, 0, agents.stderr);
  const list = JSON.parse(agents.stdout).agents as { id: { trust_domain: string; path: string }; attestation_type: string }[];
  assert.equal(list.map((a) => a.id), [{ path: `/spire/agent/join_token/${token}`, trust_domain: "example.org" }]);
  assert.is(list[0]!.attestation_type, "join_token");

  const entries = await wispServer(["entry", "show", "-socketPath", c.serverSocket]);
  assert.match(entries.stdout, /Found 2 entries/);

  const bundle = await wispServer(["bundle", "show", "-socketPath", c.serverSocket]);
  assert.is(bundle.code, 0);
  assert.match(bundle.stdout, /^-----BEGIN CERTIFICATE-----\n/);
});

test("a workload running as uid 1000 fetches its SVID, writes it and openssl verifies it", async () => {
  const out = join(c.dir, "svid");
  const r = await waitFor("SVID for uid 1000", async () => {
    const r = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket, "-write", out], { asUser: 1000 });
    return r.code === 0 ? r : undefined;
  });
  assert.match(r.stdout, /Received 1 svid after/);
  assert.match(r.stdout, /SPIFFE ID:\t\tspiffe:\/\/example.org\/web/);
  assert.match(r.stdout, /openssl verify -CAfile/);
  for (const f of ["svid.0.pem", "svid.0.key", "bundle.0.pem"]) assert.ok(existsSync(join(out, f)), f);
  assert.is(statSync(join(out, "svid.0.key")).mode & 0o777, 0o600);
  const v = await run("openssl", ["verify", "-CAfile", join(out, "bundle.0.pem"), "-untrusted", join(out, "svid.0.pem"), join(out, "svid.0.pem")]);
  assert.is(v.code, 0, v.stderr);
  assert.match(v.stdout, /svid\.0\.pem: OK/);
  const text = await run("openssl", ["x509", "-in", join(out, "svid.0.pem"), "-noout", "-ext", "subjectAltName"]);
  assert.match(text.stdout, /URI:spiffe:\/\/example.org\/web/);
});

test("fetch x509 is an alias of api fetch x509 and honours SPIFFE_ENDPOINT_SOCKET", async () => {
  const r = await wispAgent(["fetch", "x509"], { asUser: 1000, env: { SPIFFE_ENDPOINT_SOCKET: `unix://${c.agentSocket}` } });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /spiffe:\/\/example.org\/web/);
});

test('a workload with no entry (uid 1001) gets PermissionDenied "no identity issued"', async () => {
  const r = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket], { asUser: 1001 });
  assert.is(r.code, 1);
  assert.is(r.stderr.trim(), "Error: rpc error: code = PermissionDenied desc = no identity issued");
});

test("api watch prints the SVID, keeps watching, and exits 0 on SIGINT", async () => {
  const child = spawn("setpriv", [
    "--reuid=1000",
    "--regid=1000",
    "--clear-groups",
    ...binCommand(AGENT_BIN).flat(),
    "api",
    "watch",
    "-socketPath",
    c.agentSocket,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  await waitFor("first watch update", async () => (out.includes("Received 1 svid") ? true : undefined), 30_000);
  assert.match(out, /SPIFFE ID:\t\tspiffe:\/\/example.org\/web/);
  const code = new Promise((r) => child.once("exit", (c) => r(c)));
  process.kill(child.pid!, "SIGINT"); // child.kill() misreports the exit under Deno
  assert.is(await code, 0);
});

test("the join token cannot be used a second time", async () => {
  const r = await wispAgent(["run", "-config", c.agentConf, "-joinToken", token, "-dataDir", join(c.dir, "agent2"), "-socketPath", join(c.dir, "agent2.sock")]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /Error: failed to attest: join token does not exist or has already been used/);
});

test("a second server on the same data dir refuses to start", async () => {
  const r = await wispServer(["run", "-config", c.serverConf, "-socketPath", join(c.dir, "other.sock"), "-serverPort", "0"]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /is in use by another process/);
  // The first server is unaffected.
  assert.is((await wispServer(["healthcheck", "-socketPath", c.serverSocket])).code, 0);
});

test.run();
