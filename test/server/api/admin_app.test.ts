import { test } from "../../_uvu.ts";
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
    const res = await app.request(path, {
      method,
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    return {
      status: res.status, // deno-lint-ignore no-explicit-any
      body: (await res.json()) as Record<string, any>,
    };
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
  await call("POST", "/entry/v1/entries", {
    entries: [web, { ...web, spiffe_id: "spiffe://example.org/db", selectors: [{ type: "unix", value: "uid:1001" }] }],
  });
  const byParent = await call("GET", "/entry/v1/entries?parentID=spiffe://example.org/node1");
  assert.is(byParent.body.entries.length, 2);
  const bySel = await call("GET", "/entry/v1/entries?selector=unix:uid:1001");
  assert.equal(bySel.body.entries.map((e: { spiffe_id: { path: string } }) => e.spiffe_id.path), ["/db"]);
  const bad = await call("GET", "/entry/v1/entries?selector=unix");
  assert.equal(bad, {
    status: 400,
    body: { status: "INVALID_ARGUMENT", code: "ERR_SELECTOR_INVALID", message: 'selector "unix" must be formatted as type:value' },
  });
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
  assert.is(foreign.body.message, 'invalid agent ID: "spiffe://other.org/n" is not a member of trust domain "example.org"');
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

test("agent routes: filters from query parameters, SPIRE's errors for bad filters and IDs", async () => {
  const { ds, call } = await setup();
  const node = (name: string, selectors: { type: string; value: string }[]) =>
    ds.createAttestedNode({
      spiffeID: `spiffe://example.org/spire/agent/x509pop/${name}`,
      attestationType: "x509pop",
      certSerial: "0a",
      certNotAfter: 1_800_000_000,
      newCertSerial: "",
      newCertNotAfter: 0,
      canReattest: true,
      banned: false,
      selectors,
    });
  await node("a", [{ type: "x509pop", value: "cn:a" }]);
  await node("b", [{ type: "x509pop", value: "cn:b" }]);
  const list = await call("GET", "/agent/v1/agents?selector=x509pop:cn:a&selector=x509pop:cn:b&match=MATCH_ANY&by_can_reattest=true");
  assert.equal(list.body.agents.map((a: { id: { path: string } }) => a.id.path), ["/spire/agent/x509pop/a", "/spire/agent/x509pop/b"]);
  assert.equal((await call("GET", "/agent/v1/agents/count?selector=x509pop:cn:a")).body, { count: 1 });
  assert.equal((await call("GET", "/agent/v1/agents/count?by_expires_before=2027-01-15%2008:00:01%20%2B0000%20%2B00")).body, { count: 2 });
  assert.equal((await call("GET", "/agent/v1/agents/count?by_expires_before=2027-01-15%2008:00:01%20%2B0000%20%2B02")).body, { count: 0 });
  const bad = async (path: string) => {
    const r = await call("GET", path);
    return `${r.status} ${r.body.status}: ${r.body.message}`;
  };
  assert.is(await bad("/agent/v1/agents?by_banned=maybe"), "400 INVALID_ARGUMENT: by_banned must be true or false");
  assert.is(await bad("/agent/v1/agents?selector=a:b&match=all"), "400 INVALID_ARGUMENT: unsupported match behavior");
  assert.is(await bad("/agent/v1/agents/count?selector=ab"), `400 INVALID_ARGUMENT: failed to parse selectors: selector "ab" must be formatted as type:value`);
  assert.is(
    await bad("/agent/v1/agents?by_expires_before=soon"),
    `400 INVALID_ARGUMENT: date is not valid: parsing time "soon" as "2006-01-02 15:04:05 -0700 -07": cannot parse "soon" as "2006"`,
  );
  assert.is(await bad("/agent/v1/agent"), "400 INVALID_ARGUMENT: invalid agent ID: request must specify SPIFFE ID");
  assert.is(
    await bad("/agent/v1/agent?spiffeID=spiffe://example.org"),
    `400 INVALID_ARGUMENT: invalid agent ID: "spiffe://example.org" is not an agent in trust domain "example.org"; path is empty`,
  );
  assert.is(await bad("/agent/v1/agent?spiffeID=nope"), "400 INVALID_ARGUMENT: invalid agent ID: scheme is missing or invalid");
  const ban = await call("POST", "/agent/v1/agent/ban?spiffeID=spiffe://example.org/spire/agent/x509pop/zz");
  assert.equal([ban.status, ban.body.message], [404, "agent not found"]);
  await ds.close();
});

test.run();
