/**
 * PostgreSQL stopped under a running server and agent for OUTAGE_MS: agents keep serving, the server reports itself
 * degraded and not ready, writes fail with "datastore is unavailable" (CLI exit 1), and once the database is back the
 * server is ready again, every acknowledged write is there and new writes reach workloads.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { first, type Watch, watchX509SVID, workloadClient, type X509SVIDResponseMsg } from "../integration/_clients.ts";
import { waitFor, wispServer } from "../integration/_harness.ts";
import { newPGCluster, type PGAgent, type PGCluster } from "./_pg_cluster.ts";

/** How long the database stays down; short to keep CI fast, long enough for many polls and retries. */
const OUTAGE_MS = 12_000;
const NODE = "spiffe://example.org/node1";

let c: PGCluster;
let agent: PGAgent;
let client: ReturnType<typeof workloadClient>;
let watch: Watch<X509SVIDResponseMsg>;
const acked: string[] = [];

test.before(async () => {
  c = await newPGCluster(1);
  await c.startServer(0);
  agent = await c.startAgent("one", await c.joinToken(0, NODE));
  client = workloadClient(agent.socket);
});

test.after(async () => {
  watch?.cancel();
  client?.close();
  await c?.cleanup();
});

const server = () => c.servers[0]!;
const ready = async () => (await fetch(`http://127.0.0.1:${server().healthPort}/ready`)).status;

function entryCreate(spiffeID: string, uid: number) {
  return wispServer(["entry", "create", "-socketPath", server().socket, "-parentID", NODE, "-spiffeID", spiffeID, "-selector", `unix:uid:${uid}`]);
}

async function served(): Promise<boolean> {
  const cl = workloadClient(agent.socket, { ownConnection: true });
  try {
    const r = await first(watchX509SVID(cl), 3000);
    return "message" in r && r.message.svids.length > 0;
  } finally {
    cl.close();
  }
}

test(`database down for ${OUTAGE_MS / 1000} s: agents serve, the server is degraded, writes fail clearly, nothing acknowledged is lost`, async () => {
  for (let i = 0; i < 5; i++) {
    const r = await entryCreate(`spiffe://example.org/before/${i}`, i === 0 ? 0 : 2000 + i);
    assert.is(r.code, 0, r.stderr);
    acked.push(`/before/${i}`);
  }
  watch = watchX509SVID(client);
  await watch.messagesAtLeast(1, "SVID before the outage");
  assert.is(await ready(), 200);

  await c.pg.halt();
  const down = performance.now();
  await waitFor("/ready 503", async () => ((await ready()) === 503 ? true : undefined), 5000);
  const detectMs = performance.now() - down;
  const hc = await wispServer(["healthcheck", "-socketPath", server().socket, "-verbose"]);
  assert.is(hc.code, 1);
  assert.match(hc.stderr, /"status":"degraded","datastore":"unavailable","datastore_error":"datastore is unavailable"/);

  const w = await entryCreate("spiffe://example.org/during", 3000);
  assert.is(w.code, 1);
  // SPIRE's per-entry failure of BatchCreateEntry (cmd/spire-server/cli/entry/create.go prettyPrintCreate).
  assert.ok(
    w.stderr.startsWith('Failed to create the following entry (code: Unavailable, msg: "failed to create entry: datastore is unavailable"):\n'),
    JSON.stringify(w),
  );
  assert.ok(w.stderr.endsWith("Error: failed to create one or more entries\n"), JSON.stringify(w));
  const t = await wispServer(["token", "generate", "-socketPath", server().socket]);
  assert.is(t.code, 1);
  assert.match(t.stderr, /^Error: rpc error: code = Unavailable desc = datastore is unavailable/);

  let checks = 0;
  // At least one fetch however slow the steps above were on a loaded machine: the claim needs one.
  do {
    assert.ok(await served(), "a new Workload API client is served from the agent's cache");
    checks++;
    await new Promise((r) => setTimeout(r, 1000));
  } while (performance.now() - down < OUTAGE_MS);
  assert.is(watch.status, undefined, "the open stream stayed open");

  await c.pg.resume();
  const up = performance.now();
  await waitFor("/ready 200", async () => ((await ready()) === 200 ? true : undefined), 10_000);
  const recoverMs = performance.now() - up;

  const list = await wispServer(["entry", "show", "-socketPath", server().socket, "-output", "json"]);
  const paths = (JSON.parse(list.stdout) as { entries: { spiffe_id: { path: string } }[] }).entries.map((e) => e.spiffe_id.path);
  for (const p of acked) assert.ok(paths.includes(p), `acknowledged entry ${p} lost`);
  assert.not.ok(paths.includes("/during"), "the refused write did not land");

  const before = watch.messages.length;
  const after = performance.now();
  assert.is((await entryCreate("spiffe://example.org/after", 0)).code, 0);
  await waitFor(
    "entry written after the outage on the open stream",
    async () => watch.messages.length > before && watch.messages.at(-1)!.svids.some((s) => s.spiffe_id === "spiffe://example.org/after") ? true : undefined,
  );
  const log = server().proc!.output;
  assert.is((log.match(/msg="Failed to poll for entry changes; datastore is unavailable"/g) ?? []).length, 1, "one warning per outage");
  assert.match(log, /msg="Datastore is reachable again"/);
  console.log(
    `[figure] datastore_outage: PostgreSQL down ${OUTAGE_MS / 1000} s; /ready 503 after ${
      detectMs.toFixed(0)
    } ms; ${checks} workload fetches served during the outage, 0 failed; ` +
      `writes refused with "datastore is unavailable"; /ready 200 ${
        recoverMs.toFixed(0)
      } ms after PostgreSQL was back; ${acked.length}/${acked.length} acknowledged entries kept; ` +
      `new entry on the open stream ${(performance.now() - after).toFixed(0)} ms after the CLI started`,
  );
});

test.run();
