import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { batchCreateEntry, batchDeleteEntry, batchUpdateEntry, filterEntries, selectorsMatch } from "../../../src/server/api/entry_api.ts";
import { type SyncDelta, SyncHub, type SyncSnapshot } from "../../../src/server/api/sync_hub.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import { systemClock } from "../../../src/core/ports/clock.ts";
import { memoryStore, newClock, TD } from "../_fixtures.ts";

const id = (path: string) => ({ trust_domain: "example.org", path });
const node = {
  attestationType: "join_token",
  certSerial: "01",
  certNotAfter: 4_000_000_000,
  newCertSerial: "",
  newCertNotAfter: 0,
  canReattest: false,
  banned: false,
  selectors: [],
};
const web = { spiffe_id: id("/web"), parent_id: id("/node1"), selectors: [{ type: "unix", value: "uid:1000" }, { type: "unix", value: "gid:1" }] };

test("selectorsMatch() follows SPIRE's SelectorMatch modes", () => {
  const e = [{ type: "a", value: "1" }, { type: "b", value: "2" }];
  const s = (...vs: string[]) => vs.map((v) => ({ type: v[0]!, value: v.slice(1) }));
  assert.ok(selectorsMatch(e, s("a1"), "MATCH_SUPERSET"));
  assert.not.ok(selectorsMatch(e, s("a1", "c3"), "MATCH_SUPERSET"));
  assert.ok(selectorsMatch(e, s("b2", "a1"), "MATCH_EXACT"));
  assert.not.ok(selectorsMatch(e, s("a1"), "MATCH_EXACT"));
  assert.ok(selectorsMatch(e, s("a1", "b2", "c3"), "MATCH_SUBSET"));
  assert.not.ok(selectorsMatch(e, s("a1"), "MATCH_SUBSET"));
  assert.ok(selectorsMatch(e, s("c3", "b2"), "MATCH_ANY"));
  assert.not.ok(selectorsMatch(e, s("c3"), "MATCH_ANY"));
});

test("batchCreateEntry() answers one status per entry with SPIRE's codes and texts", async () => {
  const ds = await memoryStore(newClock());
  const r = await batchCreateEntry(ds, TD, [
    web,
    web,
    { ...web, spiffe_id: id("/spire/x") },
    { ...web, spiffe_id: { trust_domain: "other.org", path: "/x" } },
    { ...web, selectors: [] },
    { ...web, spiffe_id: id("/fw"), federates_with: ["other.org"] },
    { ...web, spiffe_id: id("/bad id"), id: "bad id!" },
  ]);
  assert.equal(r.map((x) => x.status.code), [0, 6, 3, 3, 3, 3, 3]);
  assert.is(r[1]!.status.message, "similar entry already exists");
  assert.is(r[1]!.entry!.id, r[0]!.entry!.id, "AlreadyExists carries the existing entry");
  assert.is(
    r[2]!.status.message,
    'failed to convert entry: invalid spiffe ID: "spiffe://example.org/spire/x" is not a workload in trust domain "example.org"; path is in the reserved namespace',
  );
  assert.is(r[3]!.status.message, 'failed to convert entry: invalid spiffe ID: "spiffe://other.org/x" is not a member of trust domain "example.org"');
  assert.is(r[4]!.status.message, "failed to convert entry: selector list is empty");
  assert.is(r[5]!.status.message, 'failed to create entry: unable to find federated bundle "spiffe://other.org"');
});

test("batchUpdateEntry() keeps id and created_at and bumps the revision; batchDeleteEntry() reports unknown IDs", async () => {
  const ds = await memoryStore(newClock());
  const [created] = await batchCreateEntry(ds, TD, [{ ...web, id: "e1", expires_at: 4000000000 }]);
  const [updated] = await batchUpdateEntry(ds, TD, [{ ...web, id: "e1", hint: "h", selectors: [{ type: "unix", value: "uid:2" }] }]);
  assert.is(updated!.status.code, 0);
  assert.is(updated!.entry!.id, "e1");
  assert.is(updated!.entry!.revision_number, created!.entry!.revision_number + 1);
  assert.is(updated!.entry!.created_at, created!.entry!.created_at);
  assert.is(updated!.entry!.hint, "h");
  assert.is(updated!.entry!.expires_at, 0, "no input mask: every field is replaced, as SPIRE's CLI update does");
  const [missing] = await batchUpdateEntry(ds, TD, [{ ...web, id: "nope" }]);
  assert.equal(missing!.status, { code: 5, message: "failed to update entry" });
  const del = await batchDeleteEntry(ds, ["e1", "e1", ""]);
  assert.equal(del.map((d) => d.status), [{ code: 0, message: "OK" }, { code: 5, message: "entry not found" }, { code: 3, message: "missing entry ID" }]);
});

test("filterEntries() applies hint and downstream filters; by_downstream=false does not filter", async () => {
  const ds = await memoryStore(newClock());
  await batchCreateEntry(ds, TD, [web, { ...web, spiffe_id: id("/ds"), downstream: true, hint: "x" }]);
  const paths = async (f: Parameters<typeof filterEntries>[1]) => (await filterEntries(ds, f)).map((e) => e.spiffeID);
  assert.equal(await paths({ by_downstream: false }), ["spiffe://example.org/web", "spiffe://example.org/ds"]);
  assert.equal(await paths({ by_downstream: true }), ["spiffe://example.org/ds"]);
  assert.equal(await paths({ by_hint: "x" }), ["spiffe://example.org/ds"]);
  assert.equal(await paths({ by_selectors: { selectors: [{ type: "unix", value: "gid:1" }], match: "MATCH_EXACT" } }), []);
});

test("SyncHub does not hand out an entry past its expiry", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const now = Math.floor(clock.now().getTime() / 1000);
  await batchCreateEntry(ds, TD, [{ ...web, expires_at: now + 60 }, { ...web, spiffe_id: id("/forever") }]);
  const hub = new SyncHub({ ds, trustDomain: "example.org", logger: nullLogger, clock });
  assert.is((await hub.authorizedEntries("spiffe://example.org/node1")).length, 2);
  clock.advance(61_000);
  await hub.notify();
  assert.equal((await hub.authorizedEntries("spiffe://example.org/node1")).map((e) => e.spiffeID), ["spiffe://example.org/forever"]);
});

test("entries federate with trust domains whose bundle exists; the sync snapshot carries those bundles to the agent", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const root = new Uint8Array([1, 2, 3]);
  await ds.setBundle({
    trustDomain: "two.example",
    x509Authorities: [root],
    jwtKeys: [{ kid: "k", publicKey: new Uint8Array([9]), notAfter: 0 }],
    refreshHint: 60,
  });
  await ds.setBundle({ trustDomain: "three.example", x509Authorities: [new Uint8Array([4])], jwtKeys: [], refreshHint: 60 });
  const r = await batchCreateEntry(ds, TD, [
    { ...web, federates_with: ["spiffe://two.example", "two.example"] },
    { ...web, spiffe_id: id("/plain") },
    { ...web, spiffe_id: id("/self"), federates_with: ["example.org"] },
  ]);
  assert.equal(r.map((x) => x.status.code), [0, 0, 3]);
  assert.equal(r[0]!.entry!.federates_with, ["two.example"]);
  assert.is(r[2]!.status.message, 'failed to convert entry: invalid federated trust domain: cannot federate with own trust domain "example.org"');
  assert.equal((await filterEntries(ds, { by_federates_with: { trust_domains: ["spiffe://two.example"], match: "MATCH_SUPERSET" } })).map((e) => e.spiffeID), [
    "spiffe://example.org/web",
  ]);

  await ds.createAttestedNode({ ...node, spiffeID: "spiffe://example.org/node1" });
  const hub = new SyncHub({ ds, trustDomain: "example.org", logger: nullLogger, clock });
  const pushed: [string, SyncSnapshot][] = [];
  await hub.subscribe("spiffe://example.org/node1", (event, d) => pushed.push([event, JSON.parse(d)]));
  assert.equal(pushed.map(([event]) => event), ["snapshot"]);
  // Only the trust domains the agent's entries name: three.example's bundle is not sent.
  assert.equal(pushed[0]![1].federated_bundles, {
    "two.example": { x509_authorities: ["AQID"], jwt_authorities: [{ kid: "k", public_key: "CQ==", expires_at: 0 }] },
  });
});

test("a foreign bundle another server stored reaches the agent's stream through the datastore poll", async () => {
  const ds = await memoryStore(newClock());
  await ds.setBundle({ trustDomain: "two.example", x509Authorities: [new Uint8Array([1])], jwtKeys: [], refreshHint: 60 });
  await batchCreateEntry(ds, TD, [{ ...web, parent_id: id("/spire/agent/join_token/t"), federates_with: ["two.example"] }]);
  const agentID = "spiffe://example.org/spire/agent/join_token/t";
  await ds.createAttestedNode({ ...node, spiffeID: agentID });
  const hub = new SyncHub({ ds, trustDomain: "example.org", logger: nullLogger, clock: systemClock });
  const pushed: [string, SyncSnapshot | SyncDelta][] = [];
  const stop = new AbortController();
  const running = hub.run(stop.signal, 10);
  try {
    await hub.subscribe(agentID, (event, d) => pushed.push([event, JSON.parse(d)]));
    assert.equal(pushed[0]?.[1].federated_bundles?.["two.example"]?.x509_authorities, ["AQ=="]);
    // Another server (same datastore) stores a refreshed bundle: no notify() here, only the poll can see it.
    await ds.setBundle({ trustDomain: "two.example", x509Authorities: [new Uint8Array([1]), new Uint8Array([2])], jwtKeys: [], refreshHint: 60 });
    for (let i = 0; i < 200 && pushed.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    // Only the bundle: no entry changed.
    assert.equal(pushed[1]?.[0], "delta");
    const delta = pushed[1]![1] as SyncDelta;
    assert.equal([delta.upserts, delta.deletes], [[], []]);
    assert.equal(delta.federated_bundles?.["two.example"]?.x509_authorities, ["AQ==", "Ag=="]);
    // The relationship is gone and its bundle deleted: the agent drops it.
    await ds.deleteBundle("two.example");
    for (let i = 0; i < 200 && pushed.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal((pushed[2]?.[1] as SyncDelta | undefined)?.federated_bundles_removed, ["two.example"]);
  } finally {
    stop.abort();
    await running;
  }
});

test.run();
