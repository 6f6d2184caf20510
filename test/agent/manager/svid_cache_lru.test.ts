/**
 * x509_svid_cache_max_size: the agent's bounded workload SVID cache (SPIRE's LRU cache). The manager runs against a
 * server stand-in that sends one snapshot and signs every CSR: the agent serves once synced, fills the cache up to
 * its size, mints an entry beyond it when a workload asks, and evicts the least recently used SVIDs that no stream
 * holds.
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { AgentManager } from "../../../src/agent/manager/manager.ts";
import type { BatchResult, ServerClient, SyncMessage, SyncResumeParams } from "../../../src/agent/client/server_client.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import { ManualClock } from "../../../src/core/ports/clock.ts";
import type { Selector } from "../../../src/core/selector.ts";
import { trustDomainFromString } from "../../../src/core/spiffeid/mod.ts";
import { buildAgentConfig } from "../../../src/agent/config.ts";
import { ConfigError } from "../../../src/core/errors.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";

const uid = (n: number): Selector[] => [{ type: "unix", value: `uid:${n}` }];

function entry(n: number) {
  return {
    id: `entry-${n}`,
    spiffe_id: { trust_domain: "example.org", path: `/w${n}` },
    parent_id: { trust_domain: "example.org", path: "/spire/agent/join_token/t" },
    selectors: uid(n),
    x509_svid_ttl: 3600,
    jwt_svid_ttl: 300,
    dns_names: [],
    hint: "",
    revision_number: 0,
    created_at: n,
  };
}

async function start(entries: number, max: number) {
  const clock = new ManualClock(new Date("2026-12-01T00:00:00Z"));
  const signed: string[] = [];
  const stop = new AbortController();
  const client = {
    sync: async (signal: AbortSignal, _resume: SyncResumeParams | undefined, onMessage: (m: SyncMessage) => Promise<boolean | void>) => {
      await onMessage({
        kind: "snapshot",
        body: {
          revision: 1,
          bundle: { trust_domain: "example.org", x509_authorities: [], jwt_authorities: [], sequence: 1 },
          entries: Array.from({ length: entries }, (_, i) => entry(i + 1)),
        },
      });
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    },
    batchSign: async (params: { entryID: string }[]): Promise<BatchResult[]> => {
      signed.push(...params.map((p) => p.entryID));
      return params.map((p) => ({
        entryID: p.entryID,
        svid: {
          spiffeID: `spiffe://example.org/${p.entryID}`,
          chain: [new TextEncoder().encode(p.entryID)],
          notAfter: new Date(clock.now().getTime() + 3600_000),
        },
      }));
    },
  } as unknown as ServerClient;
  const manager = new AgentManager({
    trustDomain: trustDomainFromString("example.org"),
    client,
    fs: nodeFS,
    attestor: { name: "join_token", payload: () => Promise.resolve(new Uint8Array()), challenge: () => Promise.reject(new Error("no challenge")) },
    insecureBootstrap: true,
    clock,
    logger: nullLogger,
    svidCacheMaxSize: max,
  });
  const running = manager.run(stop.signal);
  while (!manager.synced) await new Promise((r) => setImmediate(r));
  // Let the background pass that follows the first sync finish.
  while (manager.stats().minted < Math.min(max, entries)) await new Promise((r) => setImmediate(r));
  return { manager, signed, stop: async () => (stop.abort(), await running) };
}

test("x509_svid_cache_max_size = 2: after the first sync the agent holds 2 of 5 SVIDs and serves the others on request", async () => {
  const { manager, signed, stop } = await start(5, 2);
  try {
    assert.is(manager.stats().entries, 5);
    assert.is(manager.stats().svids, 2, "the cache is filled up to its size, no further");
    assert.equal(signed, ["entry-1", "entry-2"]);
    assert.equal(manager.identities(uid(5)), [], "entry 5 is beyond the cache");
    await manager.ensure(uid(5));
    const ids = manager.identities(uid(5));
    assert.is(ids.length, 1, "a workload whose entry is beyond the cache still gets its SVID");
    assert.is(ids[0]!.entry.spiffeID, "spiffe://example.org/w5");
    assert.is(manager.stats().svids, 2, "the least recently used SVID made room");
    assert.equal(manager.identities(uid(1)), [], "entry 1 was the least recently used");
    assert.is(manager.identities(uid(2)).length, 1);
  } finally {
    await stop();
  }
});

test("eviction never drops an SVID a stream holds; once released it is evicted like any other", async () => {
  const { manager, stop } = await start(6, 2);
  try {
    const release = manager.hold(uid(1));
    for (const n of [3, 4, 5, 6]) await manager.ensure(uid(n));
    assert.is(manager.identities(uid(1)).length, 1, "the held SVID survived four evictions");
    assert.is(manager.stats().svids, 2, "the held SVID counts towards the size; the LRU one made way");
    release();
    for (const n of [2, 3]) {
      await manager.ensure(uid(n));
      manager.identities(uid(n));
    }
    assert.equal(manager.identities(uid(1)), [], "released, it aged out");
    assert.is(manager.stats().svids, 2);
  } finally {
    await stop();
  }
});

test("x509_svid_cache_max_size: 0 means the default 1,000, a negative size is refused", () => {
  const base = { agent: { server_address: "wisp.example.org", trust_domain: "example.org", trust_bundle_path: "/etc/bundle.pem" } };
  const cfg = (v: unknown) => buildAgentConfig({ ...base, agent: { ...base.agent, x509_svid_cache_max_size: v } });
  assert.is(cfg(0).svidCacheMaxSize, 1000);
  assert.is(cfg(25).svidCacheMaxSize, 25);
  assert.is(buildAgentConfig(base).svidCacheMaxSize, 1000);
  try {
    cfg(-1);
    assert.unreachable("a negative size was accepted");
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.ok((err as ConfigError).issues.includes("agent.x509_svid_cache_max_size should not be negative"), String(err));
  }
});

test.run();
