/**
 * Two wisp-servers on one PostgreSQL with one agent listing both: both CAs in the shared bundle, an entry written
 * through one server reaches a workload whose agent talks to the other, the agent fails over when its server is
 * killed, and a join token presented to both servers at once attests exactly one agent.
 */
import { X509Certificate } from "node:crypto";
import * as tls from "node:tls";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { type Watch, watchX509SVID, workloadClient, type X509SVIDResponseMsg } from "./_clients.ts";
import { waitFor, wispServer } from "./_harness.ts";
import { newPGCluster, type PGAgent, type PGCluster } from "../reliability/_pg_cluster.ts";

let c: PGCluster;
let agent: PGAgent;
let client: ReturnType<typeof workloadClient>;
let watch: Watch<X509SVIDResponseMsg>;
const NODE = "spiffe://example.org/node1";

test.before(async () => {
  c = await newPGCluster(2);
  // Both at once: the advisory write lock must keep two servers from migrating the same empty database together.
  await Promise.all([c.startServer(0), c.startServer(1)]);
  agent = await c.startAgent("one", await c.joinToken(0, NODE));
  client = workloadClient(agent.socket);
});

test.after(async () => {
  watch?.cancel();
  client?.close();
  await c?.cleanup();
});

const ids = (m: X509SVIDResponseMsg) => m.svids.map((s) => s.spiffe_id).sort();

async function createEntry(server: number, spiffeID: string): Promise<void> {
  const r = await wispServer([
    "entry",
    "create",
    "-socketPath",
    c.servers[server]!.socket,
    "-parentID",
    NODE,
    "-spiffeID",
    spiffeID,
    "-selector",
    "unix:uid:0",
  ]);
  assert.is(r.code, 0, r.stderr + r.stdout);
}

test("both servers' CAs are in the shared bundle and each server's SVID chains to its own", async () => {
  const r = await wispServer(["bundle", "show", "-socketPath", c.servers[1]!.socket, "-output", "json"]);
  const roots = (JSON.parse(r.stdout) as { x509_authorities: string[] }).x509_authorities.map((b) => new X509Certificate(Buffer.from(b, "base64")));
  assert.is(roots.length, 2, "one self-signed CA per server");
  const issuers: number[] = [];
  for (const s of c.servers) {
    const sock = tls.connect({ host: "127.0.0.1", port: s.port, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => sock.once("secureConnect", () => resolve()).once("error", reject));
    const leaf = sock.getPeerX509Certificate()!;
    sock.destroy();
    issuers.push(roots.findIndex((root) => leaf.checkIssued(root) && leaf.verify(root.publicKey)));
  }
  assert.equal(issuers.sort(), [0, 1], "server A and server B each sign with their own CA");
});

test("an entry created through server B reaches a workload whose agent is connected to server A", async () => {
  const streams = async (i: number) => {
    const text = await (await fetch(`http://127.0.0.1:${c.servers[i]!.healthPort}/metrics`)).text();
    return Number(/^wisp_server_agent_sync_streams (\d+)$/m.exec(text)?.[1]);
  };
  assert.equal([await streams(0), await streams(1)], [1, 0], "the agent's sync stream is on server A");
  await createEntry(0, "spiffe://example.org/first");
  watch = watchX509SVID(client);
  await watch.messagesAtLeast(1, "first SVID");
  const before = watch.messages.length;
  const t0 = performance.now();
  await createEntry(1, "spiffe://example.org/via-b");
  const acked = performance.now();
  const m = await waitFor("entry from B on the stream", async () => {
    const last = watch.messages.at(-1);
    return watch.messages.length > before && last && ids(last).includes("spiffe://example.org/via-b") ? last : undefined;
  }, 10_000);
  const end = performance.now();
  const ms = end - t0;
  // From the CLI's start (process start, server B's write) and from B's acknowledgement (A's 500 ms poll, push, mint).
  console.log(
    `[figure] multi_server: entry via B -> workload on A's agent: ${ms.toFixed(0)} ms from CLI start, ${(end - acked).toFixed(0)} ms after B acknowledged`,
  );
  assert.ok(ms < 5000, `propagation took ${ms.toFixed(0)} ms`);
  assert.equal(ids(m), ["spiffe://example.org/first", "spiffe://example.org/via-b"]);
});

test("kill -9 of server A: the agent fails over to B and keeps receiving updates", async () => {
  c.servers[0]!.proc!.child.kill("SIGKILL");
  await c.servers[0]!.proc!.waitExit();
  const t0 = performance.now();
  const before = watch.messages.length;
  await createEntry(1, "spiffe://example.org/after-failover");
  await waitFor("entry after failover", async () => {
    const last = watch.messages.at(-1);
    return watch.messages.length > before && last && ids(last).includes("spiffe://example.org/after-failover") ? true : undefined;
  }, 20_000);
  const ms = performance.now() - t0;
  console.log(`[figure] multi_server: after kill -9 of A, entry via B reached the workload in ${ms.toFixed(0)} ms`);
  assert.match(agent.proc!.output, /Server unreachable; switching to the next server/);
  assert.is(watch.status, undefined, "the workload's stream stayed open");
});

test("one join token presented to both servers at once attests exactly one agent", async () => {
  await c.startServer(0);
  const token = await c.joinToken(1);
  const [x, y] = await Promise.all([
    c.startAgent("race-a", token, { servers: [0], waitHealthy: false }),
    c.startAgent("race-b", token, { servers: [1], waitHealthy: false }),
  ]);
  const outcome = async (a: PGAgent) =>
    waitFor("attestation outcome", async () => {
      if (/Node attestation was successful/.test(a.proc!.output)) return "ok";
      if (a.proc!.exited) return "failed";
      return undefined;
    }, 20_000);
  const results = await Promise.all([outcome(x), outcome(y)]);
  assert.equal([...results].sort(), ["failed", "ok"]);
  const loser = results[0] === "failed" ? x : y;
  assert.match(loser.proc!.output, /join token does not exist or has already been used/);
  const agents = await wispServer(["agent", "list", "-socketPath", c.servers[1]!.socket, "-output", "json"]);
  const list = (JSON.parse(agents.stdout) as { agents: { id: { path: string } }[] }).agents.map((a) => a.id.path);
  assert.is(list.filter((id) => id.endsWith(`/join_token/${token}`)).length, 1);
});

test.run();
