import { test } from "uvu";
import * as assert from "uvu/assert";
import { nullLogger } from "../../../src/core/log/logger.ts";
import { adminApp } from "../../../src/server/api/admin_app.ts";
import { SyncHub } from "../../../src/server/api/sync_hub.ts";
import { CAManager } from "../../../src/server/ca/ca_manager.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import { HOUR, memoryStore, newClock, TD } from "../_fixtures.ts";

async function setup() {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const caManager = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * HOUR });
  await caManager.initialize();
  const hub = new SyncHub({ ds, trustDomain: "example.org", logger: nullLogger, clock });
  const app = adminApp({ ds, caManager, hub, clock, logger: nullLogger, trustDomain: TD, health: () => ({ live: true, ready: true, details: {} }) });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, { method, ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  return { ds, clock, call };
}

const web = { spiffe_id: "spiffe://example.org/web", parent_id: "spiffe://example.org/node1", selectors: [{ type: "unix", value: "uid:1000" }] };

test("entry create: each bad entry gets its own error and the good ones are stored", async () => {
  const { ds, call } = await setup();
  const r = await call("POST", "/entry/v1/entries", {
    entries: [
      web,
      { ...web, spiffe_id: "spiffe://example.org/web/" },
      { ...web, spiffe_id: "spiffe://other.org/web" },
      { ...web, spiffe_id: "spiffe://example.org/db", selectors: [] },
      { ...web, spiffe_id: "spiffe://example.org/db", parent_id: "" },
      { ...web, spiffe_id: "spiffe://example.org/db", x509_svid_ttl: -1 },
      { ...web, spiffe_id: "spiffe://example.org" },
      web,
    ],
  });
  assert.is(r.status, 200);
  const statuses = (r.body.results as { status: { status: string; message?: string } }[]).map((x) => `${x.status.status}: ${x.status.message ?? ""}`);
  assert.equal(statuses, [
    "OK: ",
    "INVALID_ARGUMENT: invalid registration entry: invalid spiffe_id: path cannot have a trailing slash",
    'INVALID_ARGUMENT: invalid registration entry: spiffe_id "spiffe://other.org/web" is not a member of trust domain "example.org"',
    "INVALID_ARGUMENT: invalid registration entry: missing selector list",
    "INVALID_ARGUMENT: invalid registration entry: missing parent ID",
    "INVALID_ARGUMENT: invalid registration entry: x509_svid_ttl must be a non-negative integer",
    "INVALID_ARGUMENT: invalid registration entry: spiffe_id cannot be the trust domain ID",
    "ALREADY_EXISTS: entry already exists",
  ]);
  const stored = await ds.listEntries();
  assert.equal(stored.map((e) => e.spiffeID), ["spiffe://example.org/web"]);
  assert.is(await ds.lastEntryEventID() > 0, true);
  await ds.close();
});

test("entry show filters by parent, SPIFFE ID and selector; bad filters are rejected", async () => {
  const { ds, call } = await setup();
  await call("POST", "/entry/v1/entries", { entries: [web, { ...web, spiffe_id: "spiffe://example.org/db", selectors: [{ type: "unix", value: "uid:1001" }] }] });
  const byParent = await call("GET", "/entry/v1/entries?parentID=spiffe://example.org/node1");
  assert.is(byParent.body.entries.length, 2);
  const bySel = await call("GET", "/entry/v1/entries?selector=unix:uid:1001");
  assert.equal(bySel.body.entries.map((e: any) => e.spiffe_id.path), ["/db"]);
  const bad = await call("GET", "/entry/v1/entries?selector=unix");
  assert.equal(bad, { status: 400, body: { status: "INVALID_ARGUMENT", code: "ERR_SELECTOR_INVALID", message: 'selector "unix" must be formatted as type:value' } });
  const badID = await call("GET", "/entry/v1/entries?parentID=spiffe://Example.org/x");
  assert.is(badID.body.code, "ERR_SPIFFEID_INVALID");
  const missing = await call("DELETE", "/entry/v1/entries/nope");
  assert.is(missing.status, 404);
  assert.is(missing.body.status, "NOT_FOUND");
  await ds.close();
});

test("join tokens: -spiffeID creates the node alias entry; bad input is refused", async () => {
  const { ds, call } = await setup();
  const r = await call("POST", "/agent/v1/join_tokens", { ttl: 60, agent_id: "spiffe://example.org/node1" });
  assert.is(r.status, 200);
  assert.match(r.body.value, /^[0-9a-f-]{36}$/);
  const [alias] = await ds.listEntries({ spiffeID: "spiffe://example.org/node1" });
  assert.is(alias!.parentID, `spiffe://example.org/spire/agent/join_token/${r.body.value}`);
  assert.equal(alias!.selectors, [{ type: "spiffe_id", value: alias!.parentID }]);
  const zero = await call("POST", "/agent/v1/join_tokens", { ttl: 0 });
  assert.is(zero.body.message, "ttl is required, you must provide one");
  const foreign = await call("POST", "/agent/v1/join_tokens", { ttl: 10, agent_id: "spiffe://other.org/n" });
  assert.is(foreign.body.message, 'agent_id "spiffe://other.org/n" is not a member of trust domain "example.org"');
  assert.is(await ds.pruneJoinTokens(Number.MAX_SAFE_INTEGER), 1, "only the first token was stored, not the refused ones");
  const garbage = await call("POST", "/agent/v1/join_tokens", "[1,2]");
  assert.is(garbage.body.message, "request body must be a JSON object");
  await ds.close();
});

test("bundle: raw and SPIFFE formats carry the CA and the JWT key", async () => {
  const { ds, call } = await setup();
  const raw = await call("GET", "/bundle/v1/bundle");
  assert.is(raw.body.trust_domain, "example.org");
  assert.is(raw.body.x509_authorities.length, 1);
  assert.is(raw.body.jwt_authorities.length, 1);
  const spiffe = await call("GET", "/bundle/v1/bundle?format=spiffe");
  const uses = (spiffe.body.keys as { use: string }[]).map((k) => k.use).sort();
  assert.equal(uses, ["jwt-svid", "x509-svid"]);
  assert.ok(spiffe.body.spiffe_sequence >= 1);
  await ds.close();
});

test("ca rotate activates a new authority", async () => {
  const { ds, call } = await setup();
  const before = (await call("GET", "/bundle/v1/bundle")).body.x509_authorities.length;
  const r = await call("POST", "/ca/v1/rotate", {});
  assert.is(r.status, 200);
  assert.match(r.body.authority_id, /^[0-9a-f]{40}$/);
  assert.is((await call("GET", "/bundle/v1/bundle")).body.x509_authorities.length, before + 1);
  await ds.close();
});

test.run();
