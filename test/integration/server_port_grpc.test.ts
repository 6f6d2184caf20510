/**
 * SPIRE's gRPC API on wisp-server's TCP port, seen by an independent "test agent" (Python grpcio, stubs generated from
 * the vendored spire-api-sdk protos; TLS verified against the bundle with the server's SPIFFE ID, as SPIRE's agent
 * does): join-token attestation, the calls of a SPIRE agent's sync loop over mTLS, SPIRE's authorization texts and
 * PermissionDeniedDetails, and the HTTPS agent API still answering on the same port.
 * @module
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as tls from "node:tls";
import { join } from "node:path";
import { type Cluster, joinToken, run, startServer, wispServer } from "./_harness.ts";
import { x509popCluster } from "./_x509pop.ts";
import { newCA, newNodeCert, pem } from "../server/nodeattestor/_pki.ts";
import * as pop from "../../src/core/x509pop/protocol.ts";
import { ok, spireAgent, spireStubs, type StepResult } from "./_spire_agent_client.ts";
import { H2_GOAWAY, H2_PREFACE, h2FrameTypes } from "../clients/raw_h2.ts";

const ADMIN_BY_CONFIG = "spiffe://example.org/ops/admin-by-config";
const ADMIN_BY_ENTRY = "spiffe://example.org/ops/admin-by-entry";
const DOWNSTREAM = "spiffe://example.org/downstream-server";
const WEB = "spiffe://example.org/web";
const OTHER_TD = "other.org";
const DENIED = (method: string) => `authorization denied for method ${method}`;

let c: Cluster;
let stubs = "";
let setupError: unknown;
let agentID = "";
let token = "";
const entryIDs = { web: "", adminByConfig: "", adminByEntry: "", downstream: "" };
let step = 0;
const edgeRoot = await newCA({ keyType: "ecdsa", name: "edge root" });
const edgeLeaf = await newNodeCert(edgeRoot, { keyType: "ecdsa", cn: "edge-1" });

/** Runs steps in a fresh client process with its own work dir, or in `dir` to reuse saved identities. */
function agent(steps: Record<string, unknown>[], dir = "main"): Promise<StepResult[]> {
  return spireAgent(c, { stubs, workDir: join(c.dir, `agent-${dir}`) }, steps);
}

/** Creates entries with `entry create -data` (one BatchCreateEntry); returns their IDs in order. */
async function createEntries(entries: Record<string, unknown>[]): Promise<string[]> {
  const file = join(c.dir, `entries-${++step}.json`);
  writeFileSync(file, JSON.stringify({ entries }));
  const r = await wispServer(["entry", "create", "-socketPath", c.serverSocket, "-output", "json", "-data", file]);
  if (r.code !== 0) throw new Error(`entry create failed: ${r.stderr}${r.stdout}`);
  const out = JSON.parse(r.stdout) as { results: { status: { code: number; message: string }; entry?: { id: string } }[] };
  return out.results.map((x) => {
    if (!x.entry) throw new Error(`entry create: ${x.status.message}`);
    return x.entry.id;
  });
}

/** POSTs JSON to the server's admin socket (the routes the CLI uses). */
function adminPost(path: string, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: c.serverSocket, path, method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      let s = "";
      res.on("data", (d) => (s += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: s }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

test.before(async () => {
  try {
    c = await x509popCluster([edgeRoot], { extraServer: `admin_ids = ["${ADMIN_BY_CONFIG}"]` });
    writeFileSync(join(c.dir, "node.pem"), pem.cert(edgeLeaf));
    writeFileSync(join(c.dir, "node.key"), pem.key(edgeLeaf), { mode: 0o600 });
    await startServer(c);
    stubs = await spireStubs(c.dir);
    token = await joinToken(c);
    const [attested] = await agent([{ op: "attest", type: "join_token", payload: token }]);
    agentID = ok(attested).svid.id;
    const ids = await createEntries([
      { spiffe_id: WEB, parent_id: agentID, selectors: [{ type: "unix", value: "uid:1000" }], x509_svid_ttl: 600 },
      { spiffe_id: ADMIN_BY_CONFIG, parent_id: agentID, selectors: [{ type: "unix", value: "uid:1001" }] },
      { spiffe_id: ADMIN_BY_ENTRY, parent_id: agentID, selectors: [{ type: "unix", value: "uid:1002" }], admin: true },
      { spiffe_id: DOWNSTREAM, parent_id: agentID, selectors: [{ type: "unix", value: "uid:1003" }], downstream: true },
    ]);
    const [web, adminByConfig, adminByEntry, downstream] = ids;
    if (!web || !adminByConfig || !adminByEntry || !downstream) throw new Error(`entry create returned ${ids.length} IDs`);
    Object.assign(entryIDs, { web, adminByConfig, adminByEntry, downstream });
    // A federated bundle to read: the server's own roots under another trust domain's name.
    const bundle = join(c.dir, "other.pem");
    writeFileSync(bundle, readFileSync(c.bundlePath!));
    const r = await wispServer(["bundle", "set", "-socketPath", c.serverSocket, "-id", `spiffe://${OTHER_TD}`, "-path", bundle]);
    if (r.code !== 0) throw new Error(`bundle set failed: ${r.stderr}${r.stdout}`);
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await c?.cleanup();
});

function ready(): void {
  if (setupError) throw setupError;
}

test("AttestAgent with a join token gives the agent its SVID; the token works once, with SPIRE's text", async () => {
  ready();
  assert.match(agentID, /^spiffe:\/\/example\.org\/spire\/agent\/join_token\/[0-9a-f-]{36}$/);
  assert.is(agentID, `spiffe://example.org/spire/agent/join_token/${token}`);
  const [again, unknownType] = await agent([
    { op: "attest", type: "join_token", payload: token },
    { op: "attest", type: "tpm_devid", payload: "x" },
  ], "second");
  assert.equal(again!.status, { code: "INVALID_ARGUMENT", details: "failed to attest: join token does not exist or has already been used" });
  assert.equal(unknownType!.status, { code: "FAILED_PRECONDITION", details: 'failed to attest: could not find node attestor type "tpm_devid"' });
});

test("x509pop over AttestAgent: the challenge runs on the stream, a wrong answer is refused, RenewAgent says reattest", async () => {
  ready();
  const node = { cert: join(c.dir, "node.pem"), key: join(c.dir, "node.key") };
  const [good, renew, bad] = await agent([
    { op: "attest", type: "x509pop", x509pop: node },
    { op: "renew" },
    { op: "attest", type: "x509pop", x509pop: { ...node, tamper: true }, as: "none" },
  ], "x509pop");
  const g = ok(good);
  assert.is(g.svid.id, `spiffe://example.org/spire/agent/x509pop/${pop.fingerprint(edgeLeaf.der)}`);
  assert.is(g.reattestable, true);
  assert.is(g.challenges, 1);
  assert.equal(renew!.status, { code: "PERMISSION_DENIED", details: "agent must reattest instead of renew", reason: "AGENT_MUST_REATTEST" });
  assert.equal(bad!.status, { code: "PERMISSION_DENIED", details: "challenge response verification failed: ECDSA signature verify failed" });
});

test("over mTLS the agent gets the bundle, posts its status, and signs a workload SVID that openssl verifies", async () => {
  ready();
  const [bundle, status, batch] = await agent([
    { op: "get_bundle" },
    { op: "post_status", agent_version: "1.15.3" },
    { op: "batch_new_x509", entries: [{ id: entryIDs.web, save: "web" }, { id: "no-such-entry" }] },
  ]);
  const b = ok(bundle);
  assert.is(b.trust_domain, "example.org");
  assert.is(b.x509_authorities.join(""), readFileSync(c.bundlePath!, "utf8"));
  assert.is(b.jwt_authorities.length, 1);
  assert.equal(ok(status), {});
  const [web, missing] = ok(batch).results;
  assert.equal(web.status, { code: 0, message: "OK" });
  assert.is(web.svid.id, WEB);
  assert.equal(missing, { status: { code: 5, message: "entry not found or not authorized" } });
  const leaf = new X509Certificate(web.svid.cert_chain);
  assert.is(leaf.subjectAltName, `URI:${WEB}`);
  assert.ok(Math.abs(new Date(leaf.validTo).getTime() / 1000 - web.svid.expires_at) < 2);
  const dir = join(c.dir, "agent-main");
  const v = await run("openssl", ["verify", "-CAfile", c.bundlePath!, "-untrusted", join(dir, "web.pem"), join(dir, "web.pem")]);
  assert.is(v.code, 0, v.stderr);
  assert.match(v.stdout, /: OK/);
});

test("NewJWTSVID signs for an authorized entry; its claims name the entry's SPIFFE ID and audience", async () => {
  ready();
  const [jwt, noAudience] = await agent([
    { op: "new_jwt", entry_id: entryIDs.web, audience: ["spire-test"] },
    { op: "new_jwt", entry_id: entryIDs.web, audience: [] },
  ]);
  const j = ok(jwt);
  assert.is(j.id, WEB);
  const claims = JSON.parse(Buffer.from(j.token.split(".")[1], "base64url").toString()) as { sub: string; aud: string[] | string; exp: number };
  assert.is(claims.sub, WEB);
  assert.equal([claims.aud].flat(), ["spire-test"]);
  assert.is(claims.exp, j.expires_at);
  assert.equal(noAudience!.status, { code: "INVALID_ARGUMENT", details: "audience must be specified" });
});

test("SyncAuthorizedEntries with ≤500 entries answers them all at once, with revisions; GetAuthorizedEntries agrees", async () => {
  ready();
  const [sync, get, badFirst, masked] = await agent([
    { op: "sync", mask: null },
    { op: "get_authorized_entries" },
    { op: "sync_initial_ids" },
    { op: "sync", mask: { spiffe_id: true } },
  ]);
  const s = ok(sync);
  assert.is(s.mode, "full");
  const byID = new Map((s.entries as { id: string; spiffe_id: string; parent_id: string; revision_number: number }[]).map((e) => [e.id, e]));
  assert.equal([...byID.keys()].sort(), Object.values(entryIDs).sort());
  assert.is(byID.get(entryIDs.web)!.spiffe_id, WEB);
  assert.is(byID.get(entryIDs.web)!.parent_id, agentID);
  assert.is(byID.get(entryIDs.web)!.revision_number, 0);
  assert.equal((ok(get).entries as { id: string }[]).map((e) => e.id).sort(), Object.values(entryIDs).sort());
  assert.equal(badFirst!.status, { code: "INVALID_ARGUMENT", details: "specifying IDs on initial request is not supported" });
  assert.equal(masked!.status, { code: "INVALID_ARGUMENT", details: "revision number cannot be masked" });
});

test("authorization: no client certificate, a workload SVID, admin_ids and admin entries, as SPIRE decides", async () => {
  ready();
  // The agent signs SVIDs for the two admin identities; the steps after use them as client certificates.
  const [batch] = await agent([{
    op: "batch_new_x509",
    entries: [{ id: entryIDs.adminByConfig, save: "admin-config" }, { id: entryIDs.adminByEntry, save: "admin-entry" }],
  }]);
  assert.equal(ok(batch).results.map((r: { status: { code: number } }) => r.status.code), [0, 0]);
  const fed = { op: "get_federated_bundle", trust_domain: OTHER_TD };
  const [anonSign, anonFed, workloadFed, workloadSync, byConfig, byEntry, byAgent, own, unknown] = await agent([
    { op: "batch_new_x509", entries: [{ id: entryIDs.web }], as: "none" },
    { ...fed, as: "none" },
    { ...fed, as: "web" },
    { op: "sync", as: "web" },
    { ...fed, as: "admin-config" },
    { ...fed, as: "admin-entry" },
    fed,
    { op: "get_federated_bundle", trust_domain: "example.org" },
    { op: "get_federated_bundle", trust_domain: "nowhere.org" },
  ]);
  assert.equal(anonSign!.status, { code: "PERMISSION_DENIED", details: DENIED("/spire.api.server.svid.v1.SVID/BatchNewX509SVID") });
  assert.equal(anonFed!.status, { code: "PERMISSION_DENIED", details: DENIED("/spire.api.server.bundle.v1.Bundle/GetFederatedBundle") });
  // A workload is neither admin nor an attested agent: the agent check's reason rides along, as in SPIRE.
  assert.equal(workloadFed!.status, {
    code: "PERMISSION_DENIED",
    details: DENIED("/spire.api.server.bundle.v1.Bundle/GetFederatedBundle"),
    reason: "AGENT_NOT_ATTESTED",
  });
  assert.equal(workloadSync!.status, {
    code: "PERMISSION_DENIED",
    details: DENIED("/spire.api.server.entry.v1.Entry/SyncAuthorizedEntries"),
    reason: "AGENT_NOT_ATTESTED",
  });
  for (const r of [byConfig, byEntry, byAgent]) {
    assert.is(ok(r).trust_domain, OTHER_TD);
    assert.is(ok(r).x509_authorities.join(""), readFileSync(c.bundlePath!, "utf8"));
  }
  assert.equal(own!.status, { code: "INVALID_ARGUMENT", details: "getting a federated bundle for the server's own trust domain is not allowed" });
  assert.equal(unknown!.status, { code: "NOT_FOUND", details: "bundle not found" });
});

test("authorization of RPCs the agent may not call: admin and downstream RPCs refuse agents and admins alike", async () => {
  ready();
  const [batch] = await agent([{ op: "batch_new_x509", entries: [{ id: entryIDs.downstream, save: "downstream" }] }]);
  assert.is(ok(batch).results[0].status.code, 0);
  const [agentCount, agentDownstream, adminDownstream, byDownstream, downstreamCount] = await agent([
    { op: "count_entries" },
    { op: "new_downstream_ca" },
    { op: "new_downstream_ca", as: "admin-config" },
    { op: "new_downstream_ca", as: "downstream" },
    { op: "count_entries", as: "downstream" },
  ]);
  assert.equal(agentCount!.status, { code: "PERMISSION_DENIED", details: DENIED("/spire.api.server.entry.v1.Entry/CountEntries") });
  assert.equal(agentDownstream!.status, { code: "PERMISSION_DENIED", details: DENIED("/spire.api.server.svid.v1.SVID/NewDownstreamX509CA") });
  assert.equal(adminDownstream!.status, { code: "PERMISSION_DENIED", details: DENIED("/spire.api.server.svid.v1.SVID/NewDownstreamX509CA") });
  // A downstream entry passes the policy; wisp signs no downstream CAs, so the RPC itself is not implemented.
  assert.equal(byDownstream!.status, { code: "UNIMPLEMENTED", details: "method NewDownstreamX509CA not implemented" });
  assert.equal(downstreamCount!.status, { code: "PERMISSION_DENIED", details: DENIED("/spire.api.server.entry.v1.Entry/CountEntries") });
});

test("SyncAuthorizedEntries with >500 entries pages revisions, then the requested entries", async () => {
  ready();
  const many = Array.from({ length: 520 }, (_, i) => ({
    spiffe_id: `spiffe://example.org/bulk/${i}`,
    parent_id: agentID,
    selectors: [{ type: "unix", value: `uid:${2000 + i}` }],
  }));
  const created = await createEntries(many);
  const [sync] = await agent([{ op: "sync", mask: null }]);
  const s = ok(sync);
  const all = [...created, ...Object.values(entryIDs)].sort();
  assert.is(s.mode, "paged");
  assert.is(s.page_size, 500);
  assert.is(s.revision_pages, 2);
  assert.equal((s.revisions as { id: string }[]).map((r) => r.id).sort(), all);
  assert.ok((s.revisions as { created_at: number }[]).every((r) => r.created_at > 0));
  // 523 IDs asked in chunks of 500: one page for the first chunk, one for the rest.
  assert.is(s.entry_pages, 2);
  assert.equal((s.entries as { id: string }[]).map((e) => e.id).sort(), all);
  const bulk7 = (s.entries as { id: string; spiffe_id: string }[]).find((e) => e.spiffe_id === "spiffe://example.org/bulk/7");
  assert.ok(bulk7);
  assert.equal(s.unknown, { entries: 0, more: false });
});

test("RenewAgent: the renewed SVID works, and once used the old one is refused as not active", async () => {
  ready();
  const [kept, renewed, useNew, useOld] = await agent([
    { op: "keep", as_name: "agent-before-renew" },
    { op: "renew" },
    { op: "get_authorized_entries" },
    { op: "get_authorized_entries", as: "agent-before-renew" },
  ]);
  ok(kept);
  assert.is(ok(renewed).svid.id, agentID);
  ok(useNew);
  assert.equal(useOld!.status, {
    code: "PERMISSION_DENIED",
    details: DENIED("/spire.api.server.entry.v1.Entry/GetAuthorizedEntries"),
    reason: "AGENT_NOT_ACTIVE",
  });
});

test("the HTTPS agent API answers on the same port over HTTP/1.1, with ALPN and without", async () => {
  ready();
  const get = (alpn: string[] | undefined) =>
    new Promise<{ status: number; body: string; alpn: string | false }>((resolve, reject) => {
      const req = https.get({
        host: "127.0.0.1",
        port: c.port,
        path: "/bundle/v1/bundle",
        ca: readFileSync(c.bundlePath!),
        checkServerIdentity: () => undefined,
        ...(alpn ? { ALPNProtocols: alpn } : {}),
        agent: false,
      }, (res) => {
        let s = "";
        res.on("data", (d) => (s += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: s, alpn: (res.socket as import("node:tls").TLSSocket).alpnProtocol ?? false }));
      });
      req.on("error", reject);
    });
  for (const alpn of [["http/1.1"], undefined]) {
    const r = await get(alpn);
    assert.is(r.status, 200, r.body);
    assert.is(r.alpn, alpn ? "http/1.1" : false);
    assert.ok((JSON.parse(r.body) as { keys: unknown[] }).keys.length >= 2);
  }
});

/**
 * Sends `bytes` on a TLS connection to the port (with `alpn`); resolves with what came back when the server closed the
 * connection, or after 3 s with the connection still open.
 */
function rawTLS(alpn: string[] | undefined, bytes: Buffer): Promise<{ alpn: string | false; reply: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = tls.connect({
      host: "127.0.0.1",
      port: c.port,
      ca: readFileSync(c.bundlePath!),
      checkServerIdentity: () => undefined,
      ...(alpn ? { ALPNProtocols: alpn } : {}),
    }, () => sock.write(bytes));
    const chunks: Buffer[] = [];
    const done = (closed: boolean) => {
      clearTimeout(t);
      resolve({ alpn: sock.alpnProtocol ?? false, reply: Buffer.concat(chunks), closed });
      sock.destroy();
    };
    const t = setTimeout(() => done(false), 3000);
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("error", () => {});
    sock.on("close", () => done(true));
  });
}

/** One gRPC call with a raw request message, over node:http2 (ALPN h2): the response's grpc-status and grpc-message. */
function rawGRPC(path: string, message: Buffer): Promise<{ status: string; message: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${c.port}`, { ca: readFileSync(c.bundlePath!), checkServerIdentity: () => undefined });
    session.on("error", reject);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
    let headers: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => (headers = h));
    req.on("trailers", (h) => (headers = { ...headers, ...h }));
    req.on("data", () => {});
    req.on("end", () => {
      session.close();
      resolve({ status: String(headers["grpc-status"]), message: decodeURIComponent(String(headers["grpc-message"] ?? "")) });
    });
    req.on("error", reject);
    req.end(Buffer.concat([prefix, message]));
  });
}

test("bad input on the port: broken HTTP/2, garbage without ALPN, undecodable messages and unknown methods; the server carries on", async () => {
  ready();
  // A SETTINGS frame whose length is not a multiple of 6 is a connection error (RFC 9113 §6.5).
  const badSettings = Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 5, 4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5])]);
  const h2 = await rawTLS(["h2"], badSettings);
  assert.is(h2.alpn, "h2");
  assert.ok(h2FrameTypes(h2.reply).includes(H2_GOAWAY), h2.reply.toString("hex"));
  const notH2 = await rawTLS(["h2"], Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.equal([notH2.alpn, notH2.closed], ["h2", true]);
  assert.ok(h2FrameTypes(notH2.reply).includes(H2_GOAWAY), notH2.reply.toString("hex"));
  const garbage = await rawTLS(undefined, Buffer.from("\x00\x01 not http at all\r\n\r\n"));
  assert.equal([garbage.alpn, garbage.closed], [false, true]);
  assert.match(garbage.reply.toString("latin1"), /^HTTP\/1\.1 400 /);
  assert.equal(await rawGRPC("/spire.api.server.bundle.v1.Bundle/GetBundle", Buffer.from([0xff, 0xff, 0xff])), {
    status: "3",
    message: "failed to decode request: premature EOF",
  });
  const unknown = await rawGRPC("/spire.api.server.bundle.v1.Bundle/NoSuchRPC", Buffer.alloc(0));
  assert.is(unknown.status, "12");
  const [bundle] = await agent([{ op: "get_bundle", as: "none" }], "after-bad-input");
  assert.is(ok(bundle).trust_domain, "example.org");
});

test("a banned agent is refused with AGENT_BANNED, and attesting again as that agent fails as in SPIRE", async () => {
  ready();
  const ban = await wispServer(["agent", "ban", "-socketPath", c.serverSocket, "-spiffeID", agentID]);
  assert.is(ban.code, 0, ban.stderr);
  // The same join token again (an operator may choose its value), so the attestation names the banned agent.
  const t = await adminPost("/agent/v1/join_tokens", { token, ttl: 600 });
  assert.is(t.status, 200, t.body);
  const [bundle, sync, reattest] = await agent([
    { op: "get_bundle" },
    { op: "sync" },
    { op: "attest", type: "join_token", payload: token, as: "none" },
  ]);
  assert.is(ok(bundle).trust_domain, "example.org");
  assert.equal(sync!.status, {
    code: "PERMISSION_DENIED",
    details: DENIED("/spire.api.server.entry.v1.Entry/SyncAuthorizedEntries"),
    reason: "AGENT_BANNED",
  });
  assert.equal(reattest!.status, { code: "PERMISSION_DENIED", details: "failed to attest: agent is banned" });
});

test.run();
