/**
 * The incremental sync property with a real wisp-server process: agents (the agent's own ServerClient and
 * SyncedEntries over mTLS) hold sync streams while random entry creates (chains through other entries), deletes,
 * stream reconnects with their cursor and server restarts happen; after each step every agent's entries must reach
 * the truth computed from the server's entry listing. The seed is printed; WISP_SYNC_SEED replays one.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { exportPKCS8, generateKeyPair } from "../../src/core/crypto/ec_p256.ts";
import { fromBase64 } from "../../src/core/encoding.ts";
import * as spiffeid from "../../src/core/spiffeid/mod.ts";
import { createCSR } from "../../src/core/x509/csr.ts";
import { ServerClient } from "../../src/agent/client/server_client.ts";
import { SyncedEntries } from "../../src/agent/manager/synced_entries.ts";
import { nodeServerConnector } from "../../src/runtime/node/server_connector.ts";
import { unixFetch } from "../../src/runtime/node/unix_fetch.ts";
import type { RegistrationEntry } from "../../src/server/datastore/datastore.ts";
import { crawl, prng } from "../server/api/_sync_world.ts";
import { type Cluster, joinToken, newCluster, startServer } from "./_harness.ts";

const seedFromEnv = Number(process.env.WISP_SYNC_SEED ?? "");
const seed = Number.isFinite(seedFromEnv) && seedFromEnv > 0 ? seedFromEnv : Date.now() % 1_000_000_007;

interface Agent {
  id: string;
  client: ServerClient;
  held: SyncedEntries;
  bundleSeq: number;
  stream?: AbortController;
  mismatches: number;
}

let c: Cluster;

test.after(async () => {
  await c?.cleanup();
});

test("agents on a real server follow random entry changes, reconnects and server restarts", async () => {
  console.log(`sync property (real server): seed ${seed}`);
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  c = await newCluster();
  await startServer(c);
  const admin = unixFetch(c.serverSocket);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await admin(path, { method, ...(body ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const roots = ((await call("GET", "/bundle/v1/bundle")).x509_authorities as string[]).map(fromBase64);
  const agents: Agent[] = [];
  for (let i = 0; i < 3; i++) {
    const client = new ServerClient({
      connector: nodeServerConnector,
      address: "127.0.0.1",
      port: c.port,
      trustDomain: spiffeid.trustDomainFromString("example.org"),
    });
    client.setCredentials(roots);
    const pair = await generateKeyPair(true);
    const svid = await client.attestJoinToken(await joinToken(c), await createCSR(pair));
    client.setCredentials(roots, { chainDER: svid.chain, keyPKCS8: await exportPKCS8(pair.privateKey) });
    agents.push({ id: svid.spiffeID, client, held: new SyncedEntries(), bundleSeq: -1, mismatches: 0 });
  }
  const connect = (a: Agent) => {
    a.stream?.abort();
    const ctl = new AbortController();
    a.stream = ctl;
    void a.client.sync(ctl.signal, a.held.resume(a.bundleSeq), async (m) => {
      if (m.body.bundle) a.bundleSeq = m.body.bundle.sequence;
      if (!a.held.apply(m).ok) a.mismatches++;
    }).catch(() => {});
  };
  const steps: string[] = [];
  const fail = (what: string): never => {
    throw new Error(`incremental sync diverged (seed ${seed}): ${what}\nsteps:\n  ${steps.join("\n  ")}`);
  };
  const truthOf = async (a: Agent) => {
    const list = ((await call("GET", "/entry/v1/entries")).entries as {
      id: string;
      spiffe_id: { path: string };
      parent_id: { path: string };
      selectors: { type: string; value: string }[];
      revision_number: number;
    }[])
      .map((e) =>
        ({
          id: e.id,
          spiffeID: `spiffe://example.org${e.spiffe_id.path}`,
          parentID: `spiffe://example.org${e.parent_id.path}`,
          selectors: e.selectors,
          revisionNumber: e.revision_number,
        }) as RegistrationEntry
      );
    return new Map(crawl(list, a.id, []).map((e) => [e.id, e.revisionNumber]));
  };
  const settled = async (step: string) => {
    for (const a of agents) {
      const truth = await truthOf(a);
      const deadline = Date.now() + 15_000;
      for (;;) {
        const held = new Map([...a.held.entries.values()].map((e) => [e.id, e.revisionNumber]));
        if (held.size === truth.size && [...truth].every(([id, rev]) => held.get(id) === rev)) break;
        if (Date.now() > deadline) {
          fail(`after "${step}": agent ${a.id} holds [${[...held.keys()].join(", ")}], the server says [${[...truth.keys()].join(", ")}]`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      if (a.mismatches > 0) fail(`after "${step}": agent ${a.id} saw a digest mismatch`);
    }
  };
  for (const a of agents) connect(a);
  await settled("connect");
  const ids: { id: string; spiffeID: string }[] = [];
  const stop = Date.now() + 35_000;
  for (let i = 0; i < 40 && Date.now() < stop; i++) {
    const r = rnd();
    let step: string;
    if (r < 0.5 || ids.length < 2) {
      const parent = rnd() < 0.5 || ids.length === 0 ? agents[int(agents.length)]!.id : ids[int(ids.length)]!.spiffeID;
      const spiffeID = `spiffe://example.org/w${int(8)}`;
      const res = (await call("POST", "/entry/v1/entries", {
        entries: [{ spiffe_id: spiffeID, parent_id: parent, selectors: [{ type: "unix", value: `uid:${int(3)}` }] }],
      })).results as { entry?: { id: string } }[];
      if (res[0]?.entry) ids.push({ id: res[0].entry.id, spiffeID });
      step = `create ${parent} → ${spiffeID}${res[0]?.entry ? "" : " (refused)"}`;
    } else if (r < 0.7) {
      const [e] = ids.splice(int(ids.length), 1);
      await call("DELETE", `/entry/v1/entries/${e!.id}`);
      step = `delete ${e!.spiffeID}`;
    } else if (r < 0.9) {
      const a = agents[int(agents.length)]!;
      connect(a);
      step = `reconnect ${a.id} with cursor ${a.held.cursor ?? "none"}`;
    } else {
      await c.server!.stop();
      await startServer(c);
      for (const a of agents) connect(a);
      step = "restart the server; every agent reconnects with its cursor";
    }
    steps.push(step);
    await settled(step);
  }
  for (const a of agents) a.stream?.abort();
  await admin.close();
  for (const a of agents) await a.client.close();
  assert.ok(steps.length > 0);
});

test.run();
