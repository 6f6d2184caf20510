import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { createCSR, parseCertificate, verifyX509SVID } from "../../../src/core/x509/mod.ts";
import { generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { fromBase64, toBase64 } from "../../../src/core/encoding.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import type { ManualClock } from "../../../src/core/ports/clock.ts";
import { readSSE } from "../../../src/core/sse.ts";
import { agentApp } from "../../../src/server/api/agent_app.ts";
import { JoinTokenAttestor } from "../../../src/server/nodeattestor/join_token.ts";
import { SyncHub } from "../../../src/server/api/sync_hub.ts";
import { CAManager } from "../../../src/server/ca/ca_manager.ts";
import { ServerCA } from "../../../src/server/ca/server_ca.ts";
import type { SQLStore } from "../../../src/server/datastore/sql/sql_store.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import { HOUR, memoryStore, newClock, TD } from "../_fixtures.ts";

interface Env {
  clock: ManualClock;
  ds: SQLStore;
  app: ReturnType<typeof agentApp>;
  hub: SyncHub;
}

async function setup(): Promise<Env> {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const manager = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * HOUR });
  await manager.initialize();
  const ca = new ServerCA({ manager, clock, defaultX509SVIDTTL: HOUR });
  const hub = new SyncHub({ ds, trustDomain: "example.org", logger: nullLogger, clock });
  return { clock, ds, hub, app: agentApp({
    ds, ca, hub, clock, logger: nullLogger, trustDomain: TD, agentTTL: 3600, keepAliveMs: 60_000,
    nodeAttestors: new Map([["join_token", new JoinTokenAttestor({ ds, clock, trustDomain: TD })]]),
  }) };
}

const b64 = (t: string) => toBase64(new TextEncoder().encode(t));

const post = (e: Env, path: string, body: unknown, chain?: Uint8Array[]) =>
  e.app.request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }, chain ? { peerCertChain: chain } : {});

async function attest(e: Env, token: string): Promise<{ chain: Uint8Array[]; id: string }> {
  await e.ds.createJoinToken({ token, expiresAt: Math.floor(e.clock.now().getTime() / 1000) + 600 });
  const csr = await createCSR(await generateKeyPair());
  const res = await post(e, "/agent/v1/attest", { attestation_data: { type: "join_token", payload: b64(token) }, csr: toBase64(csr) });
  assert.is(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { svid: { id: string; cert_chain: string[] } };
  return { chain: body.svid.cert_chain.map(fromBase64), id: body.svid.id };
}

async function entry(e: Env, parentID: string, spiffeID: string) {
  return e.ds.createEntry({ spiffeID, parentID, selectors: [{ type: "unix", value: "uid:1000" }], x509SVIDTTL: 0, jwtSVIDTTL: 0, dnsNames: [], hint: "", admin: false, downstream: false });
}

async function errorOf(res: Response) {
  return { http: res.status, ...((await res.json()) as { status: string; code: string; message: string }) };
}

test("attest: a join token yields an agent SVID once; the second use is refused", async () => {
  const e = await setup();
  const a = await attest(e, "tok-1");
  assert.is(a.id, "spiffe://example.org/spire/agent/join_token/tok-1");
  const roots = (await e.ds.fetchBundle("example.org"))!.x509Authorities;
  assert.is((await verifyX509SVID(a.chain, roots, e.clock.now())).spiffeID, a.id);
  const node = (await e.ds.fetchAttestedNode(a.id))!;
  assert.is(node.certSerial, parseCertificate(a.chain[0]!).serialHex);

  const again = await post(e, "/agent/v1/attest", { attestation_data: { type: "join_token", payload: b64("tok-1") }, csr: toBase64(await createCSR(await generateKeyPair())) });
  assert.equal(await errorOf(again), { http: 400, status: "INVALID_ARGUMENT", code: "ERR_JOIN_TOKEN_INVALID", message: "failed to attest: join token does not exist or has already been used" });
  await e.ds.close();
});

test("attest: an expired token is refused and consumed", async () => {
  const e = await setup();
  await e.ds.createJoinToken({ token: "old", expiresAt: Math.floor(e.clock.now().getTime() / 1000) + 10 });
  e.clock.advance(11_000);
  const csr = toBase64(await createCSR(await generateKeyPair()));
  const res = await post(e, "/agent/v1/attest", { attestation_data: { type: "join_token", payload: b64("old") }, csr });
  assert.equal(await errorOf(res), { http: 400, status: "INVALID_ARGUMENT", code: "ERR_JOIN_TOKEN_INVALID", message: "join token expired" });
  assert.is(await e.ds.takeJoinToken("old"), undefined);
  await e.ds.close();
});

test("attest: malformed input gets precise errors and consumes no token", async () => {
  const e = await setup();
  await e.ds.createJoinToken({ token: "keep", expiresAt: Math.floor(e.clock.now().getTime() / 1000) + 600 });
  const bad = await post(e, "/agent/v1/attest", { attestation_data: { type: "join_token", payload: b64("keep") }, csr: toBase64(new Uint8Array([1, 2, 3])) });
  assert.equal(await errorOf(bad), { http: 400, status: "INVALID_ARGUMENT", code: "ERR_CSR_INVALID", message: "malformed CSR" });
  const csr = await createCSR(await generateKeyPair());
  csr[csr.length - 5]! ^= 0xff;
  const forged = await post(e, "/agent/v1/attest", { attestation_data: { type: "join_token", payload: b64("keep") }, csr: toBase64(csr) });
  assert.is((await errorOf(forged)).code, "ERR_CSR_INVALID");
  const notJSON = await e.app.request("/agent/v1/attest", { method: "POST", body: "{nope" });
  assert.equal(await errorOf(notJSON), { http: 400, status: "INVALID_ARGUMENT", code: "ERR_INVALID_ARGUMENT", message: "request body is not valid JSON" });
  const wrongType = await post(e, "/agent/v1/attest", { attestation_data: { type: "aws_iid", payload: b64("x") }, csr: "" });
  assert.is((await errorOf(wrongType)).message, 'failed to attest: could not find node attestor type "aws_iid"');
  assert.ok(await e.ds.takeJoinToken("keep"), "the token survives bad requests");
  await e.ds.close();
});

test("batch: an agent gets SVIDs only for its entries, with the ID from the entry, per-item errors for the rest", async () => {
  const e = await setup();
  const a = await attest(e, "a");
  const b = await attest(e, "b");
  const mine = await entry(e, a.id, "spiffe://example.org/web");
  const theirs = await entry(e, b.id, "spiffe://example.org/db");
  const key = await generateKeyPair();
  const csrForeignID = toBase64(await createCSR(key, { spiffeID: "spiffe://example.org/admin" }));
  const tampered = await createCSR(await generateKeyPair());
  tampered[tampered.length - 3]! ^= 0x01;
  const res = await post(e, "/svid/v1/batch", {
    params: [
      { entry_id: mine.id, csr: csrForeignID },
      { entry_id: theirs.id, csr: csrForeignID },
      { entry_id: "no-such-entry", csr: csrForeignID },
      { entry_id: mine.id, csr: toBase64(tampered) },
    ],
  }, a.chain);
  assert.is(res.status, 200);
  const { results } = (await res.json()) as { results: { status: { status: string; code: string; message: string }; svid?: { id: string; cert_chain: string[] } }[] };
  assert.is(results[0]!.svid!.id, "spiffe://example.org/web");
  assert.equal(parseCertificate(fromBase64(results[0]!.svid!.cert_chain[0]!)).uris, ["spiffe://example.org/web"], "never the CSR's ID");
  assert.equal(results[1]!.status, { status: "NOT_FOUND", code: "ERR_NOT_FOUND", message: "entry not found or not authorized" });
  assert.equal(results[2]!.status, { status: "NOT_FOUND", code: "ERR_NOT_FOUND", message: "entry not found or not authorized" });
  assert.is(results[3]!.status.code, "ERR_CSR_INVALID");
  await e.ds.close();
});

test("agent auth: no certificate, a foreign certificate, and an evicted agent are refused", async () => {
  const e = await setup();
  const a = await attest(e, "a");
  const none = await post(e, "/svid/v1/batch", { params: [] });
  assert.equal(await errorOf(none), { http: 401, status: "UNAUTHENTICATED", code: "ERR_UNAUTHENTICATED", message: "agent SVID is required" });

  const other = await setup();
  const foreign = await attest(other, "x");
  const bad = await post(e, "/svid/v1/batch", { params: [] }, foreign.chain);
  assert.equal(await errorOf(bad), { http: 401, status: "UNAUTHENTICATED", code: "ERR_UNAUTHENTICATED", message: "invalid agent SVID" });

  await e.ds.deleteAttestedNode(a.id);
  const evicted = await post(e, "/svid/v1/batch", { params: [] }, a.chain);
  assert.equal(await errorOf(evicted), { http: 403, status: "PERMISSION_DENIED", code: "ERR_PERMISSION_DENIED", message: `agent "${a.id}" is not attested`, reason: "AGENT_NOT_ATTESTED" });
  await e.ds.close();
  await other.ds.close();
});

test("renew: the old SVID works until the new one is used, then only the new one works", async () => {
  const e = await setup();
  const a = await attest(e, "a");
  const res = await post(e, "/agent/v1/renew", { csr: toBase64(await createCSR(await generateKeyPair())) }, a.chain);
  assert.is(res.status, 200);
  const fresh = ((await res.json()) as { svid: { cert_chain: string[] } }).svid.cert_chain.map(fromBase64);
  assert.is((await post(e, "/svid/v1/batch", { params: [] }, a.chain)).status, 200, "old serial still valid");
  assert.is((await post(e, "/svid/v1/batch", { params: [] }, fresh)).status, 200, "new serial accepted and promoted");
  const old = await post(e, "/svid/v1/batch", { params: [] }, a.chain);
  assert.equal(await errorOf(old), { http: 403, status: "PERMISSION_DENIED", code: "ERR_PERMISSION_DENIED", message: `agent "${a.id}" expected to have serial number "${parseCertificate(fresh[0]!).serialHex}"; has "${parseCertificate(a.chain[0]!).serialHex}"`, reason: "AGENT_NOT_ACTIVE" });
  await e.ds.close();
});

test("sync: the stream's first event carries the agent's entries (descendants through aliases) and the bundle", async () => {
  const e = await setup();
  const a = await attest(e, "a");
  await entry(e, a.id, "spiffe://example.org/node1");
  await entry(e, "spiffe://example.org/node1", "spiffe://example.org/web");
  await entry(e, "spiffe://example.org/elsewhere", "spiffe://example.org/not-mine");
  const ac = new AbortController();
  const res = await e.app.request("/agent/v1/sync", { signal: ac.signal }, { peerCertChain: a.chain });
  assert.is(res.status, 200);
  assert.is(res.headers.get("content-type"), "text/event-stream");
  const it = readSSE(res.body!);
  const first = (await it.next()).value!;
  assert.is(first.event, "snapshot");
  const snap = JSON.parse(first.data) as { entries: { spiffe_id: { path: string } }[]; bundle: { x509_authorities: string[] } };
  assert.equal(snap.entries.map((x) => x.spiffe_id.path).sort(), ["/node1", "/web"]);
  assert.is(snap.bundle.x509_authorities.length, 1);
  ac.abort();
  await it.return(undefined);
  await e.ds.close();
});

test("sync: evicting the agent ends its open stream", async () => {
  const e = await setup();
  const a = await attest(e, "a");
  const res = await e.app.request("/agent/v1/sync", {}, { peerCertChain: a.chain });
  const it = readSSE(res.body!);
  assert.is((await it.next()).value!.event, "snapshot");
  await e.ds.deleteAttestedNode(a.id);
  await e.hub.notify();
  const end = await it.next();
  assert.is(end.done, true, "the server closed the stream");
  await e.ds.close();
});

test("ban: the open stream ends at once, every call is refused with reason AGENT_BANNED, and so is a new attestation until eviction", async () => {
  const e = await setup();
  const a = await attest(e, "banme");
  const res = await e.app.request("/agent/v1/sync", {}, { peerCertChain: a.chain });
  const it = readSSE(res.body!);
  assert.is((await it.next()).value!.event, "snapshot");
  await e.ds.banAttestedNode(a.id);
  e.hub.disconnect(a.id);
  assert.is((await it.next()).done, true, "the server closed the stream");
  const banned = { http: 403, status: "PERMISSION_DENIED", code: "ERR_PERMISSION_DENIED", message: `agent "${a.id}" is banned`, reason: "AGENT_BANNED" };
  assert.equal(await errorOf(await e.app.request("/agent/v1/sync", {}, { peerCertChain: a.chain })), banned);
  assert.equal(await errorOf(await post(e, "/svid/v1/batch", { params: [] }, a.chain)), banned);
  assert.equal(await errorOf(await post(e, "/agent/v1/renew", { csr: toBase64(await createCSR(await generateKeyPair())) }, a.chain)), banned);
  // The same token again (same agent ID): refused while banned; the token is spent all the same, as in SPIRE.
  await e.ds.createJoinToken({ token: "banme", expiresAt: Math.floor(e.clock.now().getTime() / 1000) + 600 });
  const again = await post(e, "/agent/v1/attest", { attestation_data: { type: "join_token", payload: b64("banme") }, csr: toBase64(await createCSR(await generateKeyPair())) });
  assert.equal(await errorOf(again), { http: 403, status: "PERMISSION_DENIED", code: "ERR_PERMISSION_DENIED", message: "failed to attest: agent is banned" });
  assert.is(await e.ds.takeJoinToken("banme"), undefined);
  await e.ds.deleteAttestedNode(a.id);
  const back = await attest(e, "banme");
  assert.is(back.id, a.id);
  assert.is((await post(e, "/svid/v1/batch", { params: [] }, back.chain)).status, 200);
  await e.ds.close();
});

test.run();
