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
import type { ChallengeFn, NodeAttestationResult, ServerNodeAttestor } from "../../../src/server/nodeattestor/node_attestor.ts";
import { PermissionDeniedError } from "../../../src/core/errors.ts";
import * as spiffeid from "../../../src/core/spiffeid/mod.ts";

/**
 * A re-attestable attestor with one challenge round: the payload names the node and its selector, the agent must
 * answer the challenge reversed (enough to exercise the HTTP bridging; x509pop has its own suites).
 */
class EchoAttestor implements ServerNodeAttestor {
  readonly name = "echo";
  async attest(payload: Uint8Array, challenge: ChallengeFn): Promise<NodeAttestationResult> {
    const node = new TextDecoder().decode(payload);
    const nonce = crypto.getRandomValues(new Uint8Array(8));
    const answer = await challenge(nonce);
    if (answer.length !== nonce.length || answer.some((b, i) => b !== nonce[nonce.length - 1 - i])) {
      throw new PermissionDeniedError("challenge response verification failed");
    }
    return {
      agentID: spiffeid.fromString(`spiffe://example.org/spire/agent/echo/${node}`),
      selectors: [{ type: "echo", value: `node:${node}` }],
      canReattest: true,
    };
  }
}
import { SyncHub } from "../../../src/server/api/sync_hub.ts";
import { VerifiedChains } from "../../../src/server/api/verified_chains.ts";
import { bundleDigest } from "../../../src/core/sync/bundle_digest.ts";
import { Registry } from "../../../src/core/metrics/registry.ts";
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
  metrics: Registry;
}

async function setup(): Promise<Env> {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const manager = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * HOUR });
  await manager.initialize();
  const ca = new ServerCA({ manager, clock, defaultX509SVIDTTL: HOUR });
  const metrics = new Registry();
  const hub = new SyncHub({ ds, trustDomain: "example.org", logger: nullLogger, clock, metrics });
  return {
    clock,
    ds,
    hub,
    metrics,
    app: agentApp({
      ds,
      ca,
      hub,
      clock,
      logger: nullLogger,
      trustDomain: TD,
      agentTTL: 3600,
      keepAliveMs: 60_000,
      metrics,
      nodeAttestors: new Map<string, ServerNodeAttestor>([["join_token", new JoinTokenAttestor({ ds, clock, trustDomain: TD })], ["echo", new EchoAttestor()]]),
    }),
  };
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
  return e.ds.createEntry({
    spiffeID,
    parentID,
    selectors: [{ type: "unix", value: "uid:1000" }],
    x509SVIDTTL: 0,
    jwtSVIDTTL: 0,
    dnsNames: [],
    hint: "",
    admin: false,
    downstream: false,
  });
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

  const again = await post(e, "/agent/v1/attest", {
    attestation_data: { type: "join_token", payload: b64("tok-1") },
    csr: toBase64(await createCSR(await generateKeyPair())),
  });
  assert.equal(await errorOf(again), {
    http: 400,
    status: "INVALID_ARGUMENT",
    code: "ERR_JOIN_TOKEN_INVALID",
    message: "failed to attest: join token does not exist or has already been used",
  });
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
  const { results } = (await res.json()) as {
    results: { status: { status: string; code: string; message: string }; svid?: { id: string; cert_chain: string[] } }[];
  };
  assert.is(results[0]!.svid!.id, "spiffe://example.org/web");
  assert.equal(parseCertificate(fromBase64(results[0]!.svid!.cert_chain[0]!)).uris, ["spiffe://example.org/web"], "never the CSR's ID");
  assert.equal(results[1]!.status, { status: "NOT_FOUND", code: "ERR_NOT_FOUND", message: "entry not found or not authorized" });
  assert.equal(results[2]!.status, { status: "NOT_FOUND", code: "ERR_NOT_FOUND", message: "entry not found or not authorized" });
  assert.is(results[3]!.status.code, "ERR_CSR_INVALID");
  await e.ds.close();
});

test("batch: an entry written behind the hub's back (another server) is signed before the next poll", async () => {
  const e = await setup();
  const a = await attest(e, "a");
  const csr = toBase64(await createCSR(await generateKeyPair()));
  const first = await entry(e, a.id, "spiffe://example.org/first");
  assert.is((await post(e, "/svid/v1/batch", { params: [{ entry_id: first.id, csr }] }, a.chain)).status, 200);
  // The hub's index is built; this entry reaches it through no notify() and no poll.
  const later = await entry(e, a.id, "spiffe://example.org/later");
  const res = await post(e, "/svid/v1/batch", { params: [{ entry_id: later.id, csr }] }, a.chain);
  const { results } = (await res.json()) as { results: { svid?: { id: string } }[] };
  assert.is(results[0]!.svid?.id, "spiffe://example.org/later");
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
  assert.equal(await errorOf(evicted), {
    http: 403,
    status: "PERMISSION_DENIED",
    code: "ERR_PERMISSION_DENIED",
    message: `agent "${a.id}" is not attested`,
    reason: "AGENT_NOT_ATTESTED",
  });
  await e.ds.close();
  await other.ds.close();
});

test("agent auth: a chain verified once is not trusted past a bundle change that drops its authority", async () => {
  const e = await setup();
  const a = await attest(e, "a");
  // Verified on the first call and remembered for the next ones.
  for (let i = 0; i < 2; i++) assert.is((await post(e, "/svid/v1/batch", { params: [] }, a.chain)).status, 200);
  // The operator replaces the trust domain's authorities (a new sequence): the remembered chain is checked again.
  const b = (await e.ds.fetchBundle("example.org"))!;
  const other = await setup();
  await e.ds.setBundle({ ...b, x509Authorities: (await other.ds.fetchBundle("example.org"))!.x509Authorities });
  await other.ds.close();
  const refused = await post(e, "/svid/v1/batch", { params: [] }, a.chain);
  assert.equal(await errorOf(refused), { http: 401, status: "UNAUTHENTICATED", code: "ERR_UNAUTHENTICATED", message: "invalid agent SVID" });
  await e.ds.close();
});

test("VerifiedChains: a chain is remembered per bundle sequence until its path expires, least recently used evicted", () => {
  const chain = [new Uint8Array([1]), new Uint8Array([2])];
  const v = new VerifiedChains(2);
  v.set(VerifiedChains.key(chain, 1), "spiffe://example.org/spire/agent/a", 1_000);
  assert.is(v.get(VerifiedChains.key(chain, 1), 999), "spiffe://example.org/spire/agent/a");
  assert.is(v.get(VerifiedChains.key(chain, 2), 999), undefined, "another bundle sequence");
  assert.is(v.get(VerifiedChains.key(chain, 1), 1_001), undefined, "expired");
  for (const n of [3, 4, 5]) v.set(VerifiedChains.key([new Uint8Array([n])], 1), `spiffe://example.org/spire/agent/${n}`, 9_000);
  assert.is(v.size, 2);
  assert.is(v.get(VerifiedChains.key([new Uint8Array([3])], 1), 0), undefined, "the oldest went first");
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
  assert.equal(await errorOf(old), {
    http: 403,
    status: "PERMISSION_DENIED",
    code: "ERR_PERMISSION_DENIED",
    message: `agent "${a.id}" expected to have serial number "${parseCertificate(fresh[0]!).serialHex}"; has "${parseCertificate(a.chain[0]!).serialHex}"`,
    reason: "AGENT_NOT_ACTIVE",
  });
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

/** Attests with EchoAttestor through the challenge round trip; `reply` may spoil the answer. */
async function attestEcho(e: Env, node: string, reply: (c: Uint8Array) => Uint8Array = (c) => c.slice().reverse()) {
  const csr = toBase64(await createCSR(await generateKeyPair()));
  const first = await post(e, "/agent/v1/attest", { attestation_data: { type: "echo", payload: b64(node) }, csr });
  assert.is(first.status, 200);
  const step = (await first.json()) as { challenge: string; session_id: string };
  assert.type(step.session_id, "string");
  const res = await post(e, "/agent/v1/attest", { session_id: step.session_id, challenge_response: toBase64(reply(fromBase64(step.challenge))) });
  return { res, sessionID: step.session_id };
}

test("attest: a challenge round trip yields the SVID; the node keeps type, selectors and can_reattest", async () => {
  const e = await setup();
  const { res, sessionID } = await attestEcho(e, "n1");
  assert.is(res.status, 200);
  const body = (await res.json()) as { svid: { id: string; cert_chain: string[] }; reattestable: boolean };
  assert.is(body.svid.id, "spiffe://example.org/spire/agent/echo/n1");
  assert.is(body.reattestable, true);
  const node = (await e.ds.fetchAttestedNode(body.svid.id))!;
  assert.equal({ type: node.attestationType, selectors: node.selectors, canReattest: node.canReattest }, {
    type: "echo",
    selectors: [{ type: "echo", value: "node:n1" }],
    canReattest: true,
  });
  const replay = await post(e, "/agent/v1/attest", { session_id: sessionID, challenge_response: toBase64(new Uint8Array(8)) });
  assert.equal(await errorOf(replay), {
    http: 400,
    status: "INVALID_ARGUMENT",
    code: "ERR_ATTEST_SESSION",
    message: `attestation session "${sessionID}" not found or expired; restart attestation`,
  });

  // A second attestation updates the node with the new serial; the old SVID is no longer active.
  const again = await attestEcho(e, "n1");
  const fresh = ((await again.res.json()) as { svid: { cert_chain: string[] } }).svid.cert_chain.map(fromBase64);
  assert.is((await e.ds.fetchAttestedNode(body.svid.id))!.certSerial, parseCertificate(fresh[0]!).serialHex);
  const old = await post(e, "/svid/v1/batch", { params: [] }, body.svid.cert_chain.map(fromBase64));
  assert.is(((await old.json()) as { reason: string }).reason, "AGENT_NOT_ACTIVE");

  const bad = await attestEcho(e, "n2", (c) => c);
  assert.equal(await errorOf(bad.res), {
    http: 403,
    status: "PERMISSION_DENIED",
    code: "ERR_PERMISSION_DENIED",
    message: "challenge response verification failed",
  });
  assert.is(await e.ds.fetchAttestedNode("spiffe://example.org/spire/agent/echo/n2"), undefined);
  await e.ds.close();
});

test("re-attestation: renew is refused with AGENT_MUST_REATTEST, a banned node cannot attest, an expired SVID is AGENT_EXPIRED", async () => {
  const e = await setup();
  const { res } = await attestEcho(e, "n1");
  const body = (await res.json()) as { svid: { id: string; cert_chain: string[] } };
  const chain = body.svid.cert_chain.map(fromBase64);
  const renew = await post(e, "/agent/v1/renew", { csr: toBase64(await createCSR(await generateKeyPair())) }, chain);
  assert.equal(await errorOf(renew), {
    http: 403,
    status: "PERMISSION_DENIED",
    code: "ERR_PERMISSION_DENIED",
    message: "agent must reattest instead of renew",
    reason: "AGENT_MUST_REATTEST",
  });

  e.clock.advance(2 * HOUR);
  const expired = await post(e, "/svid/v1/batch", { params: [] }, chain);
  assert.equal(await errorOf(expired), {
    http: 403,
    status: "PERMISSION_DENIED",
    code: "ERR_PERMISSION_DENIED",
    message: `agent "${body.svid.id}" SVID is expired`,
    reason: "AGENT_EXPIRED",
  });

  const node = (await e.ds.fetchAttestedNode(body.svid.id))!;
  await e.ds.updateAttestedNode({ ...node, banned: true });
  const banned = await attestEcho(e, "n1");
  assert.equal(await errorOf(banned.res), {
    http: 403,
    status: "PERMISSION_DENIED",
    code: "ERR_PERMISSION_DENIED",
    message: "failed to attest: agent is banned",
  });
  await e.ds.close();
});

test("sync: a reconnect's parameters are checked, each with a precise error, and its federated bundles resume by digest", async () => {
  const e = await setup();
  const a = await attest(e, "a");
  const cases: [string, string][] = [
    ["since=-1", '"since" must be a non-negative integer'],
    ["since=1&digest=XYZ", '"digest" must be 16 lowercase hex digits'],
    ["since=1&digest=0000000000000000&federated=two.example", '"federated" must be <trust domain>:<16 hex digits> pairs, got "two.example"'],
  ];
  for (const [q, message] of cases) {
    const res = await e.app.request(`/agent/v1/sync?${q}`, {}, { peerCertChain: a.chain });
    assert.equal(await errorOf(res), { http: 400, status: "INVALID_ARGUMENT", code: "ERR_INVALID_ARGUMENT", message }, q);
  }
  await e.ds.setBundle({ trustDomain: "two.example", x509Authorities: [new Uint8Array([1])], jwtKeys: [], refreshHint: 60 });
  await e.ds.createEntry({
    spiffeID: "spiffe://example.org/web",
    parentID: a.id,
    selectors: [{ type: "unix", value: "uid:1000" }],
    x509SVIDTTL: 0,
    jwtSVIDTTL: 0,
    dnsNames: [],
    hint: "",
    admin: false,
    downstream: false,
    federatesWith: ["two.example"],
  });
  const first = readSSE((await e.app.request("/agent/v1/sync", {}, { peerCertChain: a.chain })).body!);
  const snap = JSON.parse((await first.next()).value!.data) as { revision: number; digest: string; bundle: { sequence: number } };
  await first.return(undefined);
  const held = bundleDigest({ x509_authorities: ["AQ=="], jwt_authorities: [] });
  const resume = (fed: string) => `/agent/v1/sync?since=${snap.revision}&digest=${snap.digest}&bundle_sequence=${snap.bundle.sequence}&federated=${fed}`;
  // Holding that bundle and a dropped one: nothing to send but the removal.
  const again = readSSE((await e.app.request(resume(`two.example:${held},gone.example:${held}`), {}, { peerCertChain: a.chain })).body!);
  const ev = (await again.next()).value!;
  await again.return(undefined);
  assert.is(ev.event, "delta");
  assert.equal(JSON.parse(ev.data), { revision: snap.revision, digest: snap.digest, upserts: [], deletes: [], federated_bundles_removed: ["gone.example"] });
  await e.ds.close();
});

test("sync: evicting the agent ends its open stream", async () => {
  const e = await setup();
  const a = await attest(e, "a");
  const res = await e.app.request("/agent/v1/sync", {}, { peerCertChain: a.chain });
  const it = readSSE(res.body!);
  assert.is((await it.next()).value!.event, "snapshot");
  // Deleted behind this server's back (as another server sharing the datastore does); the periodic sweep notices.
  await e.ds.deleteAttestedNode(a.id);
  await e.hub.sweepNodes();
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
  const again = await post(e, "/agent/v1/attest", {
    attestation_data: { type: "join_token", payload: b64("banme") },
    csr: toBase64(await createCSR(await generateKeyPair())),
  });
  assert.equal(await errorOf(again), { http: 403, status: "PERMISSION_DENIED", code: "ERR_PERMISSION_DENIED", message: "failed to attest: agent is banned" });
  assert.is(await e.ds.takeJoinToken("banme"), undefined);
  await e.ds.deleteAttestedNode(a.id);
  const back = await attest(e, "banme");
  assert.is(back.id, a.id);
  assert.is((await post(e, "/svid/v1/batch", { params: [] }, back.chain)).status, 200);
  await e.ds.close();
});

test("metrics for the console: attestations by result, sync pushes, and the connected agent with its last push", async () => {
  const e = await setup();
  const a = await attest(e, "counted");
  const refused = await post(e, "/agent/v1/attest", {
    attestation_data: { type: "join_token", payload: b64("counted") },
    csr: toBase64(await createCSR(await generateKeyPair())),
  });
  assert.is(refused.status, 400);
  const attestations = e.metrics.counter("wisp_server_node_attestations_total", "");
  assert.is(attestations.get({ result: "success" }), 1);
  assert.is(attestations.get({ result: "failure" }), 1);
  assert.equal([...e.hub.connectedAgents().keys()], []);
  const ac = new AbortController();
  const res = await e.app.request("/agent/v1/sync", { signal: ac.signal }, { peerCertChain: a.chain });
  const it = readSSE(res.body!);
  await it.next();
  assert.equal([...e.hub.connectedAgents()], [[a.id, e.clock.now()]]);
  assert.is(e.metrics.counter("wisp_server_sync_pushes_total", "").sum(), 1);
  ac.abort();
  await it.return(undefined);
  await e.ds.close();
});

test.run();
