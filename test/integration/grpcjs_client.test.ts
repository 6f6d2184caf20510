/** The Workload API seen by an independent grpc-js + proto-loader client: bytes, bundles map, header rules, many clients and streams. @module */
import * as grpc from "@grpc/grpc-js";
import { X509Certificate } from "node:crypto";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import {
  checkX509SVID,
  createEntry,
  first,
  headerMetadata,
  percentile,
  rssKiB,
  splitDER,
  TRUST_DOMAIN_ID,
  type Watch,
  watchX509Bundles,
  watchX509SVID,
  workloadClient,
  type X509SVIDResponseMsg,
} from "./_clients.ts";
import { type Cluster, joinToken, newCluster, startAgent, startServer, waitFor, wispAgent } from "./_harness.ts";

const ID = "spiffe://example.org/js";
/** Separate connections opened at once for the latency figure. */
const CONCURRENT_CLIENTS = 100;
/** Streams held open on one connection for the memory figure. */
const OPEN_STREAMS = 1000;
let c: Cluster;

test.before(async () => {
  c = await newCluster();
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  // The test process runs as root, so the entry selects uid 0.
  await createEntry(c, { spiffeID: ID, selector: "unix:uid:0" });
});

test.after(async () => {
  await c?.cleanup();
});

test("FetchX509SVID: leaf-first DER chain with the entry's SPIFFE ID, matching PKCS#8 key, DER bundle", async () => {
  const client = workloadClient(c.agentSocket);
  try {
    const m = await waitFor("SVID for uid 0", async () => {
      const r = await first(watchX509SVID(client));
      return "message" in r ? r.message : undefined;
    });
    assert.is(m.svids.length, 1);
    const s = m.svids[0]!;
    assert.is(s.spiffe_id, ID);
    assert.is(s.hint, "");
    checkX509SVID(s);
    assert.equal(m.crl, []);
    assert.equal(m.federated_bundles, {});
  } finally {
    client.close();
  }
});

test('FetchX509Bundles: a map keyed by "spiffe://example.org" holding the concatenated DER CA certificates', async () => {
  const client = workloadClient(c.agentSocket);
  try {
    const [b, s] = await Promise.all([first(watchX509Bundles(client)), first(watchX509SVID(client))]);
    assert.ok("message" in b && "message" in s, JSON.stringify([b, s]));
    if (!("message" in b) || !("message" in s)) return;
    assert.equal(Object.keys(b.message.bundles), [TRUST_DOMAIN_ID]);
    const der = b.message.bundles[TRUST_DOMAIN_ID]!;
    const certs = splitDER(der).map((d) => new X509Certificate(d));
    assert.ok(certs.length >= 1);
    for (const cert of certs) {
      assert.ok(cert.ca);
      assert.ok(cert.verify(cert.publicKey), "self-signed root");
      assert.is(cert.subjectAltName, `URI:${TRUST_DOMAIN_ID}`);
    }
    assert.ok(der.equals(s.message.svids[0]!.bundle), "same bundle as the SVID carries");
    assert.equal(b.message.crl, []);
  } finally {
    client.close();
  }
});

test('security header missing, "false", "TRUE" or repeated: INVALID_ARGUMENT on both RPCs', async () => {
  const client = workloadClient(c.agentSocket);
  try {
    for (const values of [[], ["false"], ["TRUE"], ["true", "true"], ["true", "false"]]) {
      for (const open of [watchX509SVID, watchX509Bundles]) {
        const r = await first<unknown>(open(client, headerMetadata(...values)));
        assert.equal(r, { status: { code: grpc.status.INVALID_ARGUMENT, details: "security header missing from request" } }, JSON.stringify(values));
      }
    }
  } finally {
    client.close();
  }
});

test(`${CONCURRENT_CLIENTS} clients on their own connections all get their SVID at once`, async () => {
  const clients = Array.from({ length: CONCURRENT_CLIENTS }, () => workloadClient(c.agentSocket, { ownConnection: true }));
  try {
    const watches = clients.map((cl) => watchX509SVID(cl));
    const results = await Promise.all(watches.map((w) => first(w, 30_000)));
    for (const r of results) {
      assert.ok("message" in r, JSON.stringify(r));
      if ("message" in r) assert.is(r.message.svids[0]!.spiffe_id, ID);
    }
    const ms = watches.map((w) => w.firstAt! - w.startedAt);
    console.log(
      `  first-response latency over ${CONCURRENT_CLIENTS} concurrent grpc-js clients (own connections): p50 ${percentile(ms, 50).toFixed(1)} ms, p99 ${
        percentile(ms, 99).toFixed(1)
      } ms, max ${Math.max(...ms).toFixed(1)} ms`,
    );
  } finally {
    for (const cl of clients) cl.close();
  }
  // For scale: one client on a warm connection, one stream at a time.
  const warm = workloadClient(c.agentSocket, { ownConnection: true });
  try {
    const ms: number[] = [];
    for (let i = 0; i < 30; i++) {
      const w = watchX509SVID(warm);
      const r = await first(w);
      assert.ok("message" in r, JSON.stringify(r));
      if (i >= 5) ms.push(w.firstAt! - w.startedAt);
    }
    console.log(`  sequential first-response latency on one warm connection: p50 ${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms`);
  } finally {
    warm.close();
  }
});

test(`${OPEN_STREAMS} streams held open on one connection all get their first message; the agent stays healthy`, async () => {
  const pid = c.agent!.child.pid!;
  const idle = rssKiB(pid);
  const client = workloadClient(c.agentSocket, { ownConnection: true });
  const watches: Watch<X509SVIDResponseMsg>[] = [];
  try {
    const started = performance.now();
    for (let i = 0; i < OPEN_STREAMS; i++) watches.push(watchX509SVID(client));
    await waitFor("first message on every stream", async () => {
      const failed = watches.find((w) => w.status !== undefined);
      if (failed) throw new Error(`a stream ended: ${JSON.stringify(failed.status)}`);
      return watches.every((w) => w.messages.length >= 1) ? true : undefined;
    }, 30_000);
    const openMs = performance.now() - started;
    const held = rssKiB(pid);
    for (const w of watches) assert.is(w.messages[0]!.svids[0]!.spiffe_id, ID);
    const h = await wispAgent(["healthcheck", "-socketPath", c.agentSocket]);
    assert.is(h.code, 0, h.stderr);
    console.log(
      `  agent RSS: ${(idle / 1024).toFixed(1)} MiB before, ${(held / 1024).toFixed(1)} MiB with ${OPEN_STREAMS} open streams (opened in ${
        openMs.toFixed(0)
      } ms)`,
    );
  } finally {
    for (const w of watches) w.cancel();
    client.close();
  }
  // Every cancelled stream is let go: a new client is served and the process is still there.
  const again = workloadClient(c.agentSocket, { ownConnection: true });
  try {
    const r = await first(watchX509SVID(again));
    assert.ok("message" in r, JSON.stringify(r));
  } finally {
    again.close();
  }
  assert.is(c.agent!.exited, false);
  console.log(`  agent RSS after the streams were cancelled: ${(rssKiB(pid) / 1024).toFixed(1)} MiB`);
});

test.run();
