import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { PermissionDeniedError, ServiceError, UnauthenticatedError } from "../../../src/core/errors.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import type { ManualClock } from "../../../src/core/ports/clock.ts";
import { type CallContext, type GRPCMethod, NO_PEER_CREDENTIALS, type TLSCaller } from "../../../src/core/ports/grpc_server.ts";
import * as spiffeid from "../../../src/core/spiffeid/mod.ts";
import { StatusSchema } from "../../../src/agent/workload/proto/google/rpc/status_pb.ts";
import { PermissionDeniedDetailsSchema } from "../../../src/agent/workload/proto/spire/api/types/status_pb.ts";
import { CAManager } from "../../../src/server/ca/ca_manager.ts";
import { type IssuedX509SVID, ServerCA } from "../../../src/server/ca/server_ca.ts";
import type { SQLStore } from "../../../src/server/datastore/sql/sql_store.ts";
import { authorizeCall, authorizeMethods, callerAgent } from "../../../src/server/grpcapi/authorize_methods.ts";
import { statusDetails } from "../../../src/server/grpcapi/status_details.ts";
import { tlsCallerAuthenticator } from "../../../src/server/grpcapi/tls_caller.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import { HOUR, memoryStore, newClock, TD } from "../_fixtures.ts";

const AGENT = "spiffe://example.org/spire/agent/join_token/t1";
const ADMIN_CONFIG = "spiffe://example.org/ops/admin";
const FOREIGN_ADMIN = "spiffe://other.org/ops/admin";
const COUNT_ENTRIES = "/spire.api.server.entry.v1.Entry/CountEntries";
const SYNC = "/spire.api.server.entry.v1.Entry/SyncAuthorizedEntries";
const DOWNSTREAM_CA = "/spire.api.server.svid.v1.SVID/NewDownstreamX509CA";

interface Env {
  clock: ManualClock;
  ds: SQLStore;
  ca: ServerCA;
  foreignCA: ServerCA;
}

async function newCA(td: string, ds: SQLStore, clock: ManualClock): Promise<ServerCA> {
  const manager = new CAManager({
    trustDomain: spiffeid.trustDomainFromString(td),
    keyManager: new MemoryKeyManager(),
    ds,
    clock,
    logger: nullLogger,
    caTTL: 24 * HOUR,
  });
  await manager.initialize();
  return new ServerCA({ manager, clock, defaultX509SVIDTTL: HOUR });
}

async function setup(): Promise<Env> {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const ca = await newCA("example.org", ds, clock);
  // other.org's CA writes its bundle to its own store; this server knows it as a federated bundle.
  const foreignDS = await memoryStore(clock);
  const foreignCA = await newCA("other.org", foreignDS, clock);
  await ds.setBundle((await foreignDS.fetchBundle("other.org"))!);
  return { clock, ds, ca, foreignCA };
}

async function svid(ca: ServerCA, id: string, ttl = 3600): Promise<IssuedX509SVID> {
  const pair = await generateKeyPair(true);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  return ca.signX509SVID({ spiffeID: id, publicKeySPKI: spki, ttl });
}

function ctx(caller?: TLSCaller): CallContext {
  return { peer: NO_PEER_CREDENTIALS, caller, metadata: () => [], signal: new AbortController().signal, verifyPeerAlive: async () => {} };
}

async function agentNode(e: Env, s: IssuedX509SVID, o: { banned?: boolean; newSerial?: string } = {}) {
  await e.ds.createAttestedNode({
    spiffeID: AGENT,
    attestationType: "join_token",
    certSerial: o.newSerial ? "01" : s.serialHex,
    certNotAfter: Math.floor(s.notAfter.getTime() / 1000),
    newCertSerial: o.newSerial ?? "",
    newCertNotAfter: o.newSerial ? Math.floor(s.notAfter.getTime() / 1000) : 0,
    canReattest: false,
    banned: false,
    selectors: [],
  });
  if (o.banned) await e.ds.banAttestedNode(AGENT);
}

async function entry(e: Env, spiffeID: string, flags: { admin?: boolean; downstream?: boolean }) {
  await e.ds.createEntry({
    spiffeID,
    parentID: AGENT,
    selectors: [{ type: "unix", value: "uid:1" }],
    x509SVIDTTL: 0,
    jwtSVIDTTL: 0,
    dnsNames: [],
    hint: "",
    admin: flags.admin ?? false,
    downstream: flags.downstream ?? false,
  });
}

const deps = (e: Env) => ({ ds: e.ds, adminIDs: [ADMIN_CONFIG, FOREIGN_ADMIN], logger: nullLogger });
const tcp = (id: string, chain: Uint8Array[], expired = false): TLSCaller => ({ address: "10.0.0.1", id, chain, ...(expired ? { expired } : {}) });

async function denied(p: Promise<unknown>, method: string, reason?: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, PermissionDeniedError);
    assert.is((err as ServiceError).message, `authorization denied for method ${method}`);
    assert.is((err as ServiceError).reason, reason);
    return;
  }
  assert.unreachable("expected PermissionDenied");
}

test("authorizeCall() lets anyone call AttestAgent and GetBundle, and local callers the local/admin RPCs", async () => {
  const e = await setup();
  assert.equal(await authorizeCall(deps(e), "/spire.api.server.agent.v1.Agent/AttestAgent", ctx({ address: "10.0.0.1" })), { as: "any" });
  assert.equal(await authorizeCall(deps(e), "/spire.api.server.bundle.v1.Bundle/GetBundle", ctx({ address: "10.0.0.1" })), { as: "any" });
  assert.equal(await authorizeCall(deps(e), COUNT_ENTRIES, ctx()), { as: "local" });
  await denied(authorizeCall(deps(e), COUNT_ENTRIES, ctx({ address: "10.0.0.1" })), COUNT_ENTRIES);
  // Agent-only RPCs are never local (SPIRE's allow_agent requires a TCP caller).
  await denied(authorizeCall(deps(e), SYNC, ctx()), SYNC);
  await denied(authorizeCall(deps(e), "/spire.api.server.entry.v1.Entry/NoSuchMethod", ctx()), "/spire.api.server.entry.v1.Entry/NoSuchMethod");
});

test("authorizeCall() admits admin_ids and IDs with an admin entry on admin RPCs; downstream entries on downstream RPCs", async () => {
  const e = await setup();
  const admin = await svid(e.ca, ADMIN_CONFIG);
  assert.equal(await authorizeCall(deps(e), COUNT_ENTRIES, ctx(tcp(ADMIN_CONFIG, admin.chain))), { as: "admin" });
  await entry(e, "spiffe://example.org/ops/by-entry", { admin: true });
  await entry(e, "spiffe://example.org/downstream", { downstream: true });
  assert.equal(await authorizeCall(deps(e), COUNT_ENTRIES, ctx(tcp("spiffe://example.org/ops/by-entry", []))), { as: "admin" });
  const d = await authorizeCall(deps(e), DOWNSTREAM_CA, ctx(tcp("spiffe://example.org/downstream", [])));
  assert.is(d.as, "downstream");
  await denied(authorizeCall(deps(e), COUNT_ENTRIES, ctx(tcp("spiffe://example.org/downstream", []))), COUNT_ENTRIES);
  // An expired certificate names nobody for admin purposes.
  await denied(authorizeCall(deps(e), COUNT_ENTRIES, ctx(tcp(ADMIN_CONFIG, admin.chain, true))), COUNT_ENTRIES);
});

test("authorizeCall() runs SPIRE's agent authorizer: an agent on an admin-only RPC is denied without details", async () => {
  const e = await setup();
  const s = await svid(e.ca, AGENT);
  await agentNode(e, s);
  const a = await authorizeCall(deps(e), SYNC, ctx(tcp(AGENT, s.chain)));
  assert.is(a.as, "agent");
  await denied(authorizeCall(deps(e), COUNT_ENTRIES, ctx(tcp(AGENT, s.chain))), COUNT_ENTRIES);
  await denied(authorizeCall(deps(e), SYNC, ctx(tcp(AGENT, s.chain, true))), SYNC, "AGENT_EXPIRED");
  await denied(
    authorizeCall(deps(e), SYNC, ctx(tcp("spiffe://example.org/web", (await svid(e.ca, "spiffe://example.org/web")).chain))),
    SYNC,
    "AGENT_NOT_ATTESTED",
  );
  const renewed = await svid(e.ca, AGENT);
  await denied(authorizeCall(deps(e), SYNC, ctx(tcp(AGENT, renewed.chain))), SYNC, "AGENT_NOT_ACTIVE");
  await e.ds.banAttestedNode(AGENT);
  await denied(authorizeCall(deps(e), SYNC, ctx(tcp(AGENT, s.chain))), SYNC, "AGENT_BANNED");
});

test("authorizeCall() promotes a renewed agent SVID to current on first use", async () => {
  const e = await setup();
  const s = await svid(e.ca, AGENT);
  await agentNode(e, s, { newSerial: s.serialHex });
  await authorizeCall(deps(e), SYNC, ctx(tcp(AGENT, s.chain)));
  const node = await e.ds.fetchAttestedNode(AGENT);
  assert.is(node!.certSerial, s.serialHex);
  assert.is(node!.newCertSerial, "");
});

test("authorizeMethods() runs the handler only for authorized calls and hands it the calling agent", async () => {
  const e = await setup();
  const s = await svid(e.ca, AGENT);
  await agentNode(e, s);
  const seen: string[] = [];
  const method: GRPCMethod = {
    kind: "unary",
    path: SYNC,
    decode: (b) => b,
    encode: (m) => m as Uint8Array,
    handle: async (_req, c) => {
      seen.push(callerAgent(c).id);
      return new Uint8Array();
    },
  };
  const [wrapped] = authorizeMethods([method], deps(e));
  if (wrapped?.kind !== "unary") throw new Error("expected a unary method");
  await wrapped.handle(new Uint8Array(), ctx(tcp(AGENT, s.chain)));
  await denied(wrapped.handle(new Uint8Array(), ctx({ address: "10.0.0.1" })), SYNC);
  assert.equal(seen, [AGENT]);
  assert.throws(
    () => authorizeMethods([method, method], deps(e)),
    (err: Error) => err instanceof TypeError && err.message === `method "${SYNC}" is given twice`,
  );
});

test("statusDetails() carries the PermissionDeniedDetails reason in a google.rpc.Status, and nothing else", () => {
  const bin = statusDetails(new PermissionDeniedError("authorization denied for method /x/Y", { reason: "AGENT_BANNED" }));
  const st = fromBinary(StatusSchema, bin!);
  assert.is(st.code, 7);
  assert.is(st.message, "authorization denied for method /x/Y");
  assert.is(st.details[0]!.typeUrl, "type.googleapis.com/spire.api.types.PermissionDeniedDetails");
  assert.is(anyUnpack(st.details[0]!, PermissionDeniedDetailsSchema)!.reason, 4);
  assert.is(statusDetails(new PermissionDeniedError("no")), undefined);
});

test("tlsCallerAuthenticator() verifies the chain against the caller's trust domain bundle, foreign admins included", async () => {
  const e = await setup();
  const auth = tlsCallerAuthenticator({ ds: e.ds, clock: e.clock, trustDomain: TD, adminIDs: [FOREIGN_ADMIN], logger: nullLogger });
  assert.equal(await auth({ chain: [], address: "10.0.0.1" }), { address: "10.0.0.1" });
  const web = await svid(e.ca, "spiffe://example.org/web", 60);
  const ok = await auth({ chain: web.chain, address: "10.0.0.1" });
  assert.is(ok.id, "spiffe://example.org/web");
  assert.is(ok.chain!.length, web.chain.length);
  const foreign = await svid(e.foreignCA, FOREIGN_ADMIN);
  assert.is((await auth({ chain: foreign.chain, address: "10.0.0.1" })).id, FOREIGN_ADMIN);
  const stranger = await svid(e.foreignCA, "spiffe://other.org/someone");
  try {
    await auth({ chain: stranger.chain, address: "10.0.0.1" });
    assert.unreachable("a foreign ID outside admin_ids must be refused");
  } catch (err) {
    assert.instance(err, UnauthenticatedError);
    assert.is((err as Error).message, 'client certificate is not acceptable: unexpected trust domain in ID "spiffe://other.org/someone"');
  }
  // Signed by other.org's CA but claiming our trust domain: the chain does not verify against our bundle.
  const forged = await svid(e.foreignCA, "spiffe://example.org/web");
  try {
    await auth({ chain: forged.chain, address: "10.0.0.1" });
    assert.unreachable("a chain from another CA must be refused");
  } catch (err) {
    assert.instance(err, UnauthenticatedError);
    assert.match((err as Error).message, /^client certificate is not acceptable: x509svid: could not verify leaf certificate/);
  }
  e.clock.advance(120_000);
  const expired = await auth({ chain: web.chain, address: "10.0.0.1" });
  assert.equal([expired.id, expired.expired], ["spiffe://example.org/web", true]);
});

test.run();
