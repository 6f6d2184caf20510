/** EntryIndex and authorizedEntries: the agent's crawl through parent links and node aliases (SPIRE semantics). @module */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import type { Selector } from "../../../src/core/selector.ts";
import { authorizedEntries, EntryIndex, isNodeAliasOf } from "../../../src/server/api/authorized_entries.ts";
import type { RegistrationEntry } from "../../../src/server/datastore/datastore.ts";
import { memoryStore, newClock } from "../_fixtures.ts";

const SERVER = "spiffe://example.org/spire/server";
const AGENT = "spiffe://example.org/spire/agent/x509pop/abc";
const sel = (v: string): Selector => ({ type: "x509pop", value: v });
let n = 0;
const entry = (parentID: string, spiffeID: string, selectors: Selector[] = [{ type: "unix", value: "uid:0" }]): RegistrationEntry => ({
  id: `e${n++}`,
  spiffeID,
  parentID,
  selectors,
  x509SVIDTTL: 0,
  jwtSVIDTTL: 0,
  dnsNames: [],
  hint: "",
  admin: false,
  downstream: false,
  revisionNumber: 0,
  createdAt: 0,
});

const entries = [
  entry(SERVER, "spiffe://example.org/cluster/edge", [sel("subject:cn:edge-1")]),
  entry(SERVER, "spiffe://example.org/cluster/eu", [sel("subject:cn:edge-1"), sel("san:region:eu")]),
  entry("spiffe://example.org/cluster/edge", "spiffe://example.org/web"),
  entry("spiffe://example.org/cluster/eu", "spiffe://example.org/eu-db"),
  entry(AGENT, "spiffe://example.org/own"),
  // A cycle an admin may create must not loop.
  entry("spiffe://example.org/web", "spiffe://example.org/cluster/edge"),
];

test("isNodeAliasOf() needs every selector of the entry among the node's", () => {
  assert.ok(isNodeAliasOf(entries[0]!, [sel("subject:cn:edge-1"), sel("serialnumber:01")]));
  assert.not.ok(isNodeAliasOf(entries[1]!, [sel("subject:cn:edge-1")]));
  assert.not.ok(isNodeAliasOf(entries[0]!, []));
});

test("EntryIndex.descendants() starts from the agent ID and from the aliases its node selectors match", () => {
  const index = new EntryIndex(entries, SERVER);
  const ids = (xs: RegistrationEntry[]) => xs.map((e) => e.spiffeID).sort();
  assert.equal(ids(index.descendants(AGENT, [sel("subject:cn:edge-1")])), [
    "spiffe://example.org/cluster/edge",
    "spiffe://example.org/cluster/edge",
    "spiffe://example.org/own",
    "spiffe://example.org/web",
  ]);
  assert.equal(ids(index.descendants(AGENT, [sel("subject:cn:edge-1"), sel("san:region:eu")])), [
    "spiffe://example.org/cluster/edge",
    "spiffe://example.org/cluster/edge",
    "spiffe://example.org/cluster/eu",
    "spiffe://example.org/eu-db",
    "spiffe://example.org/own",
    "spiffe://example.org/web",
  ]);
  assert.equal(ids(index.descendants(AGENT)), ["spiffe://example.org/own"], "no selectors, no aliases");
});

test("authorizedEntries() from the datastore gives the same entries as the index", async () => {
  const ds = await memoryStore(newClock());
  for (const e of entries) await ds.createEntry({ ...e, id: e.id });
  const got = await authorizedEntries(ds, { spiffeID: AGENT, selectors: [sel("subject:cn:edge-1")], serverID: SERVER });
  const want = new EntryIndex(entries, SERVER).descendants(AGENT, [sel("subject:cn:edge-1")]);
  assert.equal(got.map((e) => e.id).sort(), want.map((e) => e.id).sort());
  await ds.close();
});

test.run();
