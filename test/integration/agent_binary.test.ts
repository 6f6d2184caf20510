/** The single-file agent (dist/wisp-agent-linux-x64) run alone from an empty directory against a wisp-server on Node. */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { checkX509SVID, childGRPCClient, createEntry, pythonStubs, runPython, uriSANs } from "./_clients.ts";
import { type Cluster, joinToken, newCluster, NODE, Proc, ROOT, run, SERVER_BIN, waitFor, wispAgent, wispServer, writeBundle } from "./_harness.ts";

const BUILT = join(ROOT, `dist/wisp-agent-${process.platform}-${process.arch}`);
// The binary must not lean on this checkout: no node_modules, no tsx, no NODE_OPTIONS.
const BARE_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
let c: Cluster;
let binDir: string;
let bin: string;
let agent: ChildProcess;
let agentOutput = "";

/** Newest modification time of what goes into the binary. */
function newestInput(dir = join(ROOT, "src")): number {
  let newest = statSync(join(ROOT, "scripts/build_agent_binary.mjs")).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestInput(p) : statSync(p).mtimeMs);
  }
  return newest;
}

test.before(async () => {
  if (!existsSync(BUILT) || statSync(BUILT).mtimeMs < newestInput()) {
    const b = await run(NODE, ["scripts/build_agent_binary.mjs"], { timeoutMs: 180_000 });
    if (b.code !== 0) throw new Error(`build_agent_binary failed: ${b.stderr}${b.stdout}`);
  }
  binDir = mkdtempSync(join(tmpdir(), "wisp-bin-"));
  chmodSync(binDir, 0o755);
  bin = join(binDir, "wisp-agent");
  copyFileSync(BUILT, bin);
  chmodSync(bin, 0o755);

  c = await newCluster();
  const server = new Proc(SERVER_BIN, ["run", "-config", c.serverConf], {}, "node");
  c.server = server;
  await waitFor("server healthy", async () => {
    if (server.exited) throw new Error(`server exited: ${server.output}`);
    return (await wispServer(["healthcheck", "-socketPath", c.serverSocket], { runtime: "node" })).code === 0 ? true : undefined;
  });
  // The agent bootstraps from the server's bundle (trust_bundle_path), as startServer would write it.
  await writeBundle(c, c.bundlePath!, "node");
  const token = await joinToken(c, "spiffe://example.org/node1");
  agent = spawn(bin, ["run", "-config", c.agentConf, "-joinToken", token], { cwd: binDir, env: BARE_ENV, stdio: ["ignore", "pipe", "pipe"] });
  agent.stdout!.on("data", (d) => (agentOutput += d));
  agent.stderr!.on("data", (d) => (agentOutput += d));
  await waitFor("agent healthy", async () => {
    if (agent.exitCode !== null || agent.signalCode !== null) throw new Error(`agent exited: ${agentOutput}`);
    const r = await run(bin, ["healthcheck", "-socketPath", c.agentSocket], { cwd: binDir, env: BARE_ENV });
    return r.code === 0 ? true : undefined;
  });
  await createEntry(c, { spiffeID: "spiffe://example.org/web", selector: "unix:uid:1000" });
});

test.after(async () => {
  if (agent && agent.exitCode === null && agent.signalCode === null) {
    const exited = new Promise((r) => agent.once("exit", r));
    process.kill(agent.pid!, "SIGKILL");
    await exited;
  }
  await c?.cleanup();
  if (binDir) rmSync(binDir, { recursive: true, force: true });
});

test("the binary is alone in its directory and loads koffi from its embedded copy", () => {
  assert.equal(readdirSync(binDir), ["wisp-agent"]);
  const maps = readFileSync(`/proc/${agent.pid}/maps`, "utf8");
  assert.match(maps, /\/wisp-koffi-[^/\s]+\/koffi\.node \(deleted\)/);
  assert.not.match(maps, /node_modules/);
  assert.match(agentOutput, /Starting Workload and SDS APIs/);
});

test("a uid 1000 workload fetches its SVID from the binary agent with the Node CLI", async () => {
  const r = await waitFor("SVID for uid 1000", async () => {
    const r = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket], { asUser: 1000, runtime: "node" });
    return r.code === 0 ? r : undefined;
  });
  assert.match(r.stdout, /Received 1 svid after/);
  assert.match(r.stdout, /SPIFFE ID:\t\tspiffe:\/\/example.org\/web/);
});

test("an independent grpc-js client as uid 1000 gets a valid SVID, and a uid without entry is refused", async () => {
  const web = await childGRPCClient(c.agentSocket, 1000);
  const svid = web.first?.svids[0];
  assert.ok(svid, JSON.stringify(web));
  const leaf = checkX509SVID({
    spiffe_id: svid["spiffe_id"]!,
    x509_svid: Buffer.from(svid["x509_svid"]!, "base64"),
    x509_svid_key: Buffer.from(svid["x509_svid_key"]!, "base64"),
    bundle: Buffer.from(svid["bundle"]!, "base64"),
  });
  assert.equal(uriSANs(leaf), ["spiffe://example.org/web"]);
  assert.equal((await childGRPCClient(c.agentSocket, 1001)).error, { code: 7, details: "no identity issued" });
});

test("the independent Python client (grpcio, stubs from the upstream proto) gets uid 1000's SVID from the binary agent", async () => {
  const stubs = await pythonStubs(c.dir);
  const r = await waitFor("python SVID", async () => {
    const r = await runPython(stubs, ["--socket", c.agentSocket, "fetch"]);
    return r.code === 0 ? r : undefined;
  });
  const s = (JSON.parse(r.stdout) as { svids: { spiffe_id: string; x509_svid: string; x509_svid_key: string; bundle: string }[] }).svids[0]!;
  const b64 = (v: string) => Buffer.from(v, "base64");
  const leaf = checkX509SVID({ spiffe_id: s.spiffe_id, x509_svid: b64(s.x509_svid), x509_svid_key: b64(s.x509_svid_key), bundle: b64(s.bundle) });
  assert.equal(uriSANs(leaf), ["spiffe://example.org/web"]);
});

test("the binary's own CLI writes the SVID as uid 1000 and openssl verifies it", async () => {
  const out = join(c.dir, "svid-bin");
  const r = await run(bin, ["api", "fetch", "x509", "-socketPath", c.agentSocket, "-write", out], { asUser: 1000, cwd: binDir, env: BARE_ENV });
  assert.is(r.code, 0, r.stderr);
  const v = await run("openssl", ["verify", "-CAfile", join(out, "bundle.0.pem"), join(out, "svid.0.pem")]);
  assert.is(v.stdout.trim(), `${join(out, "svid.0.pem")}: OK`, v.stderr);
});

test("the binary agent exits 0 on SIGTERM", async () => {
  const exited = new Promise<number | null>((r) => agent.once("exit", (code) => r(code)));
  process.kill(agent.pid!, "SIGTERM");
  assert.is(await exited, 0);
  assert.match(agentOutput, /Agent stopped gracefully/);
});

test.run();
