/** wisp-agent on Deno against a wisp-server on Node: peer credentials through Deno FFI, workloads of other uids, openssl. */
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { checkX509SVID, childGRPCClient, createEntry, pythonStubs, runPython, uriSANs } from "./_clients.ts";
import { type Cluster, joinToken, newCluster, Proc, run, SERVER_BIN, startAgent, waitFor, wispAgent, wispServer, writeBundle } from "./_harness.ts";

let c: Cluster;

test.before(async () => {
  c = await newCluster();
  // Started here rather than by startServer so the server is on Node under either test runner.
  const server = new Proc(SERVER_BIN, ["run", "-config", c.serverConf], {}, "node");
  c.server = server;
  await waitFor("server healthy", async () => {
    if (server.exited) throw new Error(`server exited: ${server.output}`);
    return (await wispServer(["healthcheck", "-socketPath", c.serverSocket], { runtime: "node" })).code === 0 ? true : undefined;
  });
  // The agent bootstraps from the server's bundle (trust_bundle_path), as startServer would write it.
  await writeBundle(c, c.bundlePath!, "node");
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"), { runtime: "deno" });
  await createEntry(c, { spiffeID: "spiffe://example.org/web", selector: "unix:uid:1000" });
  await createEntry(c, { spiffeID: "spiffe://example.org/db", selector: "unix:uid:1002" });
});

test.after(async () => {
  await c?.cleanup();
});

test("the agent runs on Deno and reads peer credentials through Deno FFI, not koffi", () => {
  const pid = c.agent!.child.pid!;
  assert.match(readlinkSync(`/proc/${pid}/exe`), /[\\/]deno$/);
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8");
  assert.not.match(maps, /koffi/);
  assert.match(c.agent!.output, /Starting Workload and SDS APIs/);
});

test("a uid 1000 workload fetches its SVID with the Node CLI, and openssl verifies it", async () => {
  const out = join(c.dir, "svid-1000");
  const r = await waitFor("SVID for uid 1000", async () => {
    const r = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket, "-write", out], { asUser: 1000, runtime: "node" });
    return r.code === 0 ? r : undefined;
  });
  assert.match(r.stdout, /SPIFFE ID:\t\tspiffe:\/\/example.org\/web/);
  for (const f of ["svid.0.pem", "svid.0.key", "bundle.0.pem"]) assert.ok(existsSync(join(out, f)), f);
  const v = await run("openssl", ["verify", "-CAfile", join(out, "bundle.0.pem"), join(out, "svid.0.pem")]);
  assert.is(v.code, 0, v.stderr);
  assert.is(v.stdout.trim(), `${join(out, "svid.0.pem")}: OK`);
  const san = await run("openssl", ["x509", "-in", join(out, "svid.0.pem"), "-noout", "-ext", "subjectAltName"]);
  assert.match(san.stdout, /URI:spiffe:\/\/example.org\/web/);
});

test("independent grpc-js clients get the SVID of their own uid", async () => {
  const web = await childGRPCClient(c.agentSocket, 1000);
  assert.ok(web.first, JSON.stringify(web));
  const svid = web.first!.svids[0]!;
  const leaf = checkX509SVID({
    spiffe_id: svid["spiffe_id"]!,
    x509_svid: Buffer.from(svid["x509_svid"]!, "base64"),
    x509_svid_key: Buffer.from(svid["x509_svid_key"]!, "base64"),
    bundle: Buffer.from(svid["bundle"]!, "base64"),
  });
  assert.equal(uriSANs(leaf), ["spiffe://example.org/web"]);
  const db = await waitFor("SVID for uid 1002", async () => {
    const r = await childGRPCClient(c.agentSocket, 1002);
    return r.first ? r : undefined;
  });
  assert.is(db.first!.svids[0]!["spiffe_id"], "spiffe://example.org/db");
});

test("the independent Python client (grpcio, stubs from the upstream proto) gets uid 1000's SVID from the Deno agent", async () => {
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

test("a uid with no entry gets PermissionDenied from the Deno agent", async () => {
  const r = await childGRPCClient(c.agentSocket, 1001);
  assert.equal(r.error, { code: 7, details: "no identity issued" });
  const cli = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket], { asUser: 1001, runtime: "node" });
  assert.is(cli.code, 1);
  assert.is(cli.stderr.trim(), "Error: rpc error: code = PermissionDenied desc = no identity issued");
});

test("the Deno CLI fetches from the Deno agent as uid 1000", async () => {
  const r = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket], { asUser: 1000, runtime: "deno" });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /SPIFFE ID:\t\tspiffe:\/\/example.org\/web/);
});

test("the Deno agent exits 0 on SIGTERM", async () => {
  assert.is(await c.agent!.stop(), 0);
  assert.match(c.agent!.output, /Agent stopped gracefully/);
});

test.run();
