/**
 * X509SVIDFanout and lazyMethods against a cache that behaves like the agent's (subscribe/identities/entriesFor/hold/ensure/bundle), in
 * process: what each FetchX509SVID stream receives, and what streams of one selector set share.
 * @module
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { create, toBinary } from "@bufbuild/protobuf";
import { InvalidArgumentError, PermissionDeniedError } from "../../../src/core/errors.ts";
import type { CallContext, GRPCMethod } from "../../../src/core/ports/grpc_server.ts";
import type { Selector } from "../../../src/core/selector.ts";
import type { AgentManager } from "../../../src/agent/manager/manager.ts";
import type { Identity } from "../../../src/agent/manager/svid_cache.ts";
import { serverStreamMethod, unaryMethod } from "../../../src/agent/workload/codec.ts";
import { lazyMethods } from "../../../src/agent/workload/lazy_methods.ts";
import { X509SVIDRequestSchema, type X509SVIDResponse, X509SVIDResponseSchema } from "../../../src/agent/workload/proto/workload_pb.ts";
import { X509SVIDFanout } from "../../../src/agent/workload/x509_svid_fanout.ts";

const UID: Selector = { type: "unix", value: "uid:1000" };
const GID: Selector = { type: "unix", value: "gid:1000" };

function identity(id: string, notAfter: number): Identity {
  return {
    entry: {
      id,
      spiffeID: `spiffe://example.org/${id}`,
      parentID: "spiffe://example.org/node",
      selectors: [UID],
      x509SVIDTTL: 0,
      dnsNames: [],
      hint: "",
      revisionNumber: 1,
      createdAt: 0,
    },
    svid: {
      chain: [new Uint8Array([1, 2, 3])],
      keyPKCS8: new Uint8Array([4, 5]),
      issuedAt: new Date(0),
      notAfter: new Date(notAfter),
      rotateAt: new Date(0),
      revision: 1,
    },
  };
}

/** The cache's surface the fanout uses; `lookups` counts identity lookups. */
function fakeManager() {
  const listeners = new Set<() => void>();
  const state = { ids: [identity("web", 1000)], lookups: 0, rootsVersion: 1, holds: 0 };
  const manager = {
    subscribe: (fn: () => void) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    identities: (selectors: Selector[]) => {
      state.lookups++;
      return selectors.some((s) => s.value === UID.value) ? state.ids : [];
    },
    entriesFor: (selectors: Selector[]) => (selectors.some((s) => s.value === UID.value) ? state.ids.map((i) => i.entry) : []),
    hold: () => {
      state.holds++;
      return () => state.holds--;
    },
    ensure: () => Promise.resolve(),
    bundle: () => ({ trustDomain: "spiffe://example.org", roots: [new Uint8Array([9])], jwtKeys: [], sequence: 1, rootsVersion: state.rootsVersion }),
    federatedVersion: 0,
    federatedBundlesFor: () => [],
  } as unknown as AgentManager;
  const notify = () => {
    for (const fn of [...listeners]) fn();
  };
  return { manager, listeners, state, notify };
}

/** Waits until the fanout's batched delivery has run (it yields with setTimeout between batches). */
const settle = () => new Promise((r) => setTimeout(r, 20));

function stream(fanout: X509SVIDFanout, selectors: Selector[]) {
  const ctl = new AbortController();
  const got: X509SVIDResponse[] = [];
  const done = fanout.watch(selectors, ctl.signal, (m) => got.push(m)).then(() => "ended", (err: unknown) => err);
  return { ctl, got, done };
}

test("streams of one selector set share one subscription, one lookup per change and one message object", async () => {
  const { manager, listeners, state, notify } = fakeManager();
  const fanout = new X509SVIDFanout(manager);
  const a = stream(fanout, [UID, GID]);
  const b = stream(fanout, [GID, UID]); // the same set in another order
  await settle(); // each stream's first message follows ensure() (SVIDs beyond the cache are minted first)
  assert.is(listeners.size, 1);
  assert.is(state.holds, 1, "one hold on the selectors' SVIDs per group, not per stream");
  assert.is(fanout.groups, 1);
  assert.is(a.got.length, 1);
  assert.is(b.got.length, 1);
  assert.is(a.got[0], b.got[0], "the second stream gets the same message object, so its encoding is shared too");
  assert.equal(a.got[0]!.svids.map((s) => s.spiffeId), ["spiffe://example.org/web"]);

  state.ids = [identity("web", 2000)];
  const before = state.lookups;
  notify();
  await settle();
  assert.is(state.lookups - before, 1, "one lookup for the whole group");
  assert.is(a.got.length, 2);
  assert.is(b.got.length, 2);
  assert.is(a.got[1], b.got[1]);

  // A notification that changes nothing for these selectors sends nothing.
  notify();
  await settle();
  assert.is(a.got.length, 2);

  a.ctl.abort();
  assert.is(await a.done, "ended");
  assert.is(listeners.size, 1, "the group stays while a stream is open");
  b.ctl.abort();
  assert.is(await b.done, "ended");
  assert.is(listeners.size, 0, "the last stream to leave ends the subscription");
  assert.is(state.holds, 0, "and releases the hold");
  assert.is(fanout.groups, 0);
});

test("a caller without an identity is refused at once; streams end with PermissionDenied when the identity goes", async () => {
  const { manager, listeners, state, notify } = fakeManager();
  const fanout = new X509SVIDFanout(manager);
  const none = stream(fanout, [GID]);
  const err = await none.done;
  assert.instance(err, PermissionDeniedError);
  assert.is((err as Error).message, "no identity issued");
  assert.is(listeners.size, 0);

  const a = stream(fanout, [UID]);
  const b = stream(fanout, [UID]);
  state.ids = [];
  notify();
  for (const s of [a, b]) {
    const e = await s.done;
    assert.instance(e, PermissionDeniedError);
  }
  assert.is(listeners.size, 0);
  assert.is(fanout.groups, 0);
});

test("a stream whose client left before it was watched never subscribes", async () => {
  const { manager, listeners } = fakeManager();
  const fanout = new X509SVIDFanout(manager);
  const ctl = new AbortController();
  ctl.abort();
  await fanout.watch([UID], ctl.signal, () => assert.unreachable("nothing is sent"));
  assert.is(listeners.size, 0);
});

test("a message that cannot be sent ends that stream only", async () => {
  const { manager, state, notify } = fakeManager();
  const fanout = new X509SVIDFanout(manager);
  const ok = stream(fanout, [UID]);
  const ctl = new AbortController();
  let calls = 0;
  const failing = fanout.watch([UID], ctl.signal, () => {
    if (++calls === 2) throw new Error("socket gone");
  }).then(() => "ended", (e: unknown) => e);
  await settle(); // both got their first message
  state.ids = [identity("web", 3000)];
  notify();
  await settle();
  assert.is(((await failing) as Error).message, "socket gone");
  assert.is(ok.got.length, 2);
  ok.ctl.abort();
});

test("server-stream encoding is memoised per message object", async () => {
  const m = serverStreamMethod({ req: X509SVIDRequestSchema, res: X509SVIDResponseSchema, path: "/x" }, () => Promise.resolve());
  const { manager } = fakeManager();
  const fanout = new X509SVIDFanout(manager);
  const s = stream(fanout, [UID]);
  await settle();
  const msg = s.got[0]!;
  const bytes = m.encode(msg);
  assert.is(m.encode(msg), bytes);
  assert.equal(bytes, toBinary(X509SVIDResponseSchema, msg));
  s.ctl.abort();
});

test("lazyMethods loads the implementation once, at the first call, and decodes with its schemas", async () => {
  let loads = 0;
  const real: GRPCMethod[] = [
    unaryMethod({ req: X509SVIDRequestSchema, res: X509SVIDResponseSchema, path: "/svc/Unary" }, () => Promise.resolve(create(X509SVIDResponseSchema))),
  ];
  const [lazy] = lazyMethods([{ path: "/svc/Unary", kind: "unary" }], async () => {
    loads++;
    return real;
  });
  assert.is(loads, 0, "nothing is loaded before a call");
  const ctx = {} as CallContext;
  const u = lazy as Extract<GRPCMethod, { kind: "unary" }>;
  const out1 = await u.handle(new Uint8Array(), ctx);
  const out2 = await u.handle(new Uint8Array(), ctx);
  assert.instance(out1, Uint8Array);
  assert.equal(out1, out2);
  assert.is(loads, 1);
  const err = await u.handle(new Uint8Array([0xff, 0xff, 0xff]), ctx).then(() => undefined, (e: unknown) => e);
  assert.instance(err, InvalidArgumentError);
  assert.match((err as Error).message, /^failed to decode request: /);
});

test.run();
