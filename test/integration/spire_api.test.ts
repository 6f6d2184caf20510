/**
 * SPIRE's server gRPC API (spire-api-sdk) on a real wisp-server's admin socket, driven by an independent client
 * (Python grpcio with stubs generated from the vendored protos, as spire-server's CLI, spire-controller-manager and
 * Tornjak would call it): every admin RPC with SPIRE's codes, texts, paging, masks and batch results; the JSON API
 * on the same socket keeps working.
 * @module
 */
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { type Cluster, newCluster, run, startAgent, startServer, waitFor, wispServer } from "./_harness.ts";
import { type CallResult, SpireAPIClient, spireAPIStubs } from "./_spire_api_client.ts";

let c: Cluster;
let client: SpireAPIClient;

const AGENT = "/spire.api.server.agent.v1.Agent";
const BUNDLE = "/spire.api.server.bundle.v1.Bundle";
const ENTRY = "/spire.api.server.entry.v1.Entry";
const SVID = "/spire.api.server.svid.v1.SVID";
const TD = "/spire.api.server.trustdomain.v1.TrustDomain";
const LA = "/spire.api.server.localauthority.v1.LocalAuthority";
const DEBUG = "/spire.api.server.debug.v1.Debug";
const LOGGER = "/spire.api.server.logger.v1.Logger";
const HEALTH = "/grpc.health.v1.Health";

const id = (path: string) => ({ trust_domain: "example.org", path });
const call = (method: string, request: unknown = {}) => ({ method, request });
const calls = (...cs: { method: string; request?: unknown }[]) => client.calls(cs);
const one = async (method: string, request: unknown = {}) => (await calls(call(method, request)))[0]!;
// deno-lint-ignore no-explicit-any
const ok = (r: CallResult): any => {
  if (r.status) throw new Error(`call failed: ${r.status.code} ${r.status.details}`);
  return r.response!;
};
const fails = (r: CallResult, code: string, details: string) => {
  assert.ok(r.status, `expected ${code}, got ${JSON.stringify(r.response)}`);
  assert.equal(r.status, { code, details });
};
const entry = (path: string, selectors: string[], extra: Record<string, unknown> = {}) => ({
  spiffe_id: id(path),
  parent_id: id("/node"),
  selectors: selectors.map((s) => ({ type: s.split(":")[0], value: s.slice(s.indexOf(":") + 1) })),
  ...extra,
});

test.before(async () => {
  c = await newCluster();
  await startServer(c);
  client = new SpireAPIClient(await spireAPIStubs(c.dir), c.serverSocket);
});

test.after(async () => {
  client?.close();
  await c?.cleanup();
});

test("Health/Check answers SERVING for the server and refuses per-service health", async () => {
  const [all, svc] = await calls(call(`${HEALTH}/Check`), call(`${HEALTH}/Check`, { service: "entry" }));
  assert.equal(ok(all!), { status: "SERVING" });
  fails(svc!, "INVALID_ARGUMENT", "per-service health is not supported");
});

test("the JSON API and the CLI keep working on the same socket", async () => {
  assert.is((await wispServer(["healthcheck", "-socketPath", c.serverSocket])).stdout, "Server is healthy.\n");
  const r = await wispServer([
    "entry",
    "create",
    "-socketPath",
    c.serverSocket,
    "-parentID",
    "spiffe://example.org/node",
    "-spiffeID",
    "spiffe://example.org/cli",
    "-selector",
    "unix:uid:7",
    "-entryID",
    "cli-entry",
  ]);
  assert.is(r.code, 0, r.stderr);
  const got = ok(await one(`${ENTRY}/GetEntry`, { id: "cli-entry" }));
  assert.equal(got.spiffe_id, id("/cli"));
});

test("BatchCreateEntry answers each entry in order: created, similar entry, bad selector", async () => {
  ok(await one(`${ENTRY}/BatchCreateEntry`, { entries: [entry("/web", ["unix:uid:1000"], { id: "web" })] }));
  const r = ok(
    await one(`${ENTRY}/BatchCreateEntry`, {
      entries: [
        entry("/db", ["unix:uid:1001"], { id: "db", x509_svid_ttl: 60, dns_names: ["db.example.org"], hint: "db" }),
        entry("/web", ["unix:uid:1000"]),
        entry("/bad", ["unix:"]),
        entry("/spire/x", ["unix:uid:1"]),
      ],
    }),
  );
  const results = r.results as { status: { code: number; message: string }; entry?: { id: string } }[];
  assert.equal(results.map((x) => x.status), [
    { code: 0, message: "OK" },
    { code: 6, message: "similar entry already exists" },
    { code: 3, message: "failed to convert entry: missing selector value" },
    {
      code: 3,
      message:
        'failed to convert entry: invalid spiffe ID: "spiffe://example.org/spire/x" is not a workload in trust domain "example.org"; path is in the reserved namespace',
    },
  ]);
  assert.is(results[0]!.entry!.id, "db");
  assert.is(results[1]!.entry!.id, "web", "the similar entry is the existing one");
  assert.is(results[2]!.entry, undefined);
});

test("ListEntries pages with tokens, filters and applies the output mask; CountEntries counts", async () => {
  ok(await one(`${ENTRY}/BatchCreateEntry`, { entries: [1, 2, 3].map((n) => entry(`/p${n}`, [`k8s:ns:p${n}`, "k8s:sa:x"], { id: `p${n}` })) }));
  const ids: string[] = [];
  let token = "";
  let pages = 0;
  for (;;) {
    const r = ok(await one(`${ENTRY}/ListEntries`, { page_size: 2, page_token: token }));
    pages++;
    ids.push(...(r.entries as { id: string }[]).map((e) => e.id));
    if (r.entries.length > 0) assert.ok(r.next_page_token !== "", "a non-empty page carries a token");
    token = r.next_page_token;
    if (token === "") break;
  }
  assert.equal(ids, ["cli-entry", "db", "p1", "p2", "p3", "web"]);
  assert.is(pages, 4, "three full pages, then an empty one without a token");

  const [all, masked, bySel, exact, byID, count, countSel, badToken] = await calls(
    call(`${ENTRY}/ListEntries`),
    call(`${ENTRY}/ListEntries`, { filter: { by_spiffe_id: id("/db") }, output_mask: { spiffe_id: true } }),
    call(`${ENTRY}/ListEntries`, { filter: { by_selectors: { selectors: [{ type: "k8s", value: "sa:x" }], match: "MATCH_SUPERSET" } } }),
    call(`${ENTRY}/ListEntries`, { filter: { by_selectors: { selectors: [{ type: "k8s", value: "sa:x" }] } } }),
    call(`${ENTRY}/ListEntries`, { filter: { by_spiffe_id: { trust_domain: "spiffe://example.org", path: "/p1" } } }),
    call(`${ENTRY}/CountEntries`),
    call(`${ENTRY}/CountEntries`, { filter: { by_selectors: { selectors: [{ type: "k8s", value: "ns:p2" }], match: "MATCH_ANY" } } }),
    call(`${ENTRY}/ListEntries`, { page_size: 1, page_token: "not a token" }),
  );
  assert.is(ok(all!).entries.length, 6);
  assert.is(ok(all!).next_page_token, "", "page_size 0 returns everything without a token");
  const m = ok(masked!).entries[0];
  assert.is(m.id, "db");
  assert.equal(m.spiffe_id, id("/db"));
  assert.is(m.parent_id, undefined, "masked out");
  assert.equal(m.selectors, []);
  assert.is(m.x509_svid_ttl, 0);
  assert.is(m.hint, "");
  assert.equal(ok(bySel!).entries.map((e: { id: string }) => e.id), ["p1", "p2", "p3"]);
  assert.equal(ok(exact!).entries, [], "MATCH_EXACT is the wire default");
  assert.equal(ok(byID!).entries.map((e: { id: string }) => e.id), ["p1"], "a trust domain given as a SPIFFE ID");
  assert.equal(ok(count!), { count: 6 });
  assert.equal(ok(countSel!), { count: 1 });
  fails(badToken!, "INVALID_ARGUMENT", 'could not parse token "not a token"');
});

test("GetEntry answers the entry with its fields, masks, and SPIRE's errors", async () => {
  const [full, masked, missing, empty] = await calls(
    call(`${ENTRY}/GetEntry`, { id: "db" }),
    call(`${ENTRY}/GetEntry`, { id: "db", output_mask: { hint: true } }),
    call(`${ENTRY}/GetEntry`, { id: "nope" }),
    call(`${ENTRY}/GetEntry`, { id: "" }),
  );
  const e = ok(full!);
  assert.equal(
    { ...e, created_at: undefined },
    {
      id: "db",
      spiffe_id: id("/db"),
      parent_id: id("/node"),
      selectors: [{ type: "unix", value: "uid:1001" }],
      x509_svid_ttl: 60,
      jwt_svid_ttl: 0,
      federates_with: [],
      admin: false,
      downstream: false,
      expires_at: "0",
      dns_names: ["db.example.org"],
      revision_number: "0",
      store_svid: false,
      hint: "db",
      created_at: undefined,
    },
  );
  assert.ok(Number(e.created_at) > 1_700_000_000);
  assert.is(ok(masked!).hint, "db");
  assert.is(ok(masked!).spiffe_id, undefined);
  fails(missing!, "NOT_FOUND", "entry not found");
  fails(empty!, "INVALID_ARGUMENT", "missing ID");
});

test("BatchUpdateEntry replaces the entry or, with an input mask, only the masked fields; revisions count updates", async () => {
  const full = ok(await one(`${ENTRY}/BatchUpdateEntry`, { entries: [entry("/db2", ["unix:uid:2000"], { id: "db", hint: "h1" })] }));
  assert.equal(full.results[0].status, { code: 0, message: "OK" });
  assert.is(full.results[0].entry.revision_number, "1");
  assert.equal(full.results[0].entry.spiffe_id, id("/db2"));
  assert.equal(full.results[0].entry.dns_names, [], "no mask: every field replaced");
  const r = ok(
    await one(`${ENTRY}/BatchUpdateEntry`, {
      entries: [
        { id: "db", hint: "h2", spiffe_id: id("/ignored") },
        { id: "nope", hint: "x" },
        { id: "", hint: "x" },
        { id: "web", hint: "x", selectors: [] },
      ],
      input_mask: { hint: true },
      output_mask: { hint: true, revision_number: true },
    }),
  );
  assert.equal(r.results.map((x: CallResult["response"]) => x!.status), [
    { code: 0, message: "OK" },
    { code: 5, message: "failed to update entry" },
    { code: 3, message: "failed to convert entry: missing entry ID" },
    { code: 0, message: "OK" },
  ]);
  assert.equal({ id: r.results[0].entry.id, hint: r.results[0].entry.hint, rev: r.results[0].entry.revision_number }, { id: "db", hint: "h2", rev: "2" });
  assert.is(r.results[0].entry.spiffe_id, undefined, "output mask");
  const after = ok(await one(`${ENTRY}/GetEntry`, { id: "db" }));
  assert.equal(after.spiffe_id, id("/db2"), "fields outside the input mask kept");
  const web = ok(await one(`${ENTRY}/GetEntry`, { id: "web" }));
  assert.equal(web.selectors, [{ type: "unix", value: "uid:1000" }], "selectors outside the mask kept");
});

test("BatchDeleteEntry answers per ID in order", async () => {
  const r = ok(await one(`${ENTRY}/BatchDeleteEntry`, { ids: ["p3", "nope", ""] }));
  assert.equal(r.results, [
    { status: { code: 0, message: "OK" }, id: "p3" },
    { status: { code: 5, message: "entry not found" }, id: "nope" },
    { status: { code: 3, message: "missing entry ID" }, id: "" },
  ]);
  fails(await one(`${ENTRY}/GetEntry`, { id: "p3" }), "NOT_FOUND", "entry not found");
});

test("CreateJoinToken, then Count/List/Get/Ban/DeleteAgent on a real agent", async () => {
  const [noTTL, badAlias, chosen] = await calls(
    call(`${AGENT}/CreateJoinToken`, { ttl: 0 }),
    call(`${AGENT}/CreateJoinToken`, { ttl: 60, agent_id: { trust_domain: "other.org", path: "/n" } }),
    call(`${AGENT}/CreateJoinToken`, { ttl: 600, token: "my-token", agent_id: id("/node") }),
  );
  fails(noTTL!, "INVALID_ARGUMENT", "ttl is required, you must provide one");
  fails(badAlias!, "INVALID_ARGUMENT", 'invalid agent ID: "spiffe://other.org/n" is not a member of trust domain "example.org"');
  const t = ok(chosen!);
  assert.is(t.value, "my-token");
  assert.ok(Number(t.expires_at) > Date.now() / 1000 + 590);
  const alias = ok(await one(`${ENTRY}/ListEntries`, { filter: { by_parent_id: id("/spire/agent/join_token/my-token") } }));
  assert.equal(alias.entries.map((e: { spiffe_id: unknown }) => e.spiffe_id), [id("/node")]);

  await startAgent(c, "my-token");
  const agentID = id("/spire/agent/join_token/my-token");
  const [count, list, masked, get, unknown, bad, byType] = await calls(
    call(`${AGENT}/CountAgents`),
    call(`${AGENT}/ListAgents`, { page_size: 10 }),
    call(`${AGENT}/ListAgents`, { output_mask: {} }),
    call(`${AGENT}/GetAgent`, { id: agentID }),
    call(`${AGENT}/GetAgent`, { id: id("/spire/agent/join_token/nope") }),
    call(`${AGENT}/GetAgent`, { id: id("/workload") }),
    call(`${AGENT}/CountAgents`, { filter: { by_attestation_type: "x509pop" } }),
  );
  assert.equal(ok(count!), { count: 1 });
  const l = ok(list!);
  assert.is(l.agents.length, 1);
  assert.ok(l.next_page_token !== "");
  const a = ok(get!);
  assert.equal(a.id, agentID);
  assert.is(a.attestation_type, "join_token");
  assert.is(a.banned, false);
  assert.ok(/^\d+$/.test(a.x509svid_serial_number), "serial in decimal");
  assert.ok(Number(a.x509svid_expires_at) > Date.now() / 1000);
  assert.equal(a.selectors, [{ type: "join_token", value: "my-token" }].filter(() => a.selectors.length > 0));
  const m = ok(masked!).agents[0];
  assert.equal(m.id, agentID);
  assert.is(m.attestation_type, "", "empty mask: only the ID");
  fails(unknown!, "NOT_FOUND", "agent not found");
  fails(
    bad!,
    "INVALID_ARGUMENT",
    'invalid agent ID: "spiffe://example.org/workload" is not an agent in trust domain "example.org"; path is not in the agent namespace',
  );
  assert.equal(ok(byType!), { count: 0 });

  ok(await one(`${AGENT}/BanAgent`, { id: agentID }));
  await waitFor("banned agent exits", async () => (c.agent!.exited ? true : undefined));
  const [banned, bannedCount] = await calls(
    call(`${AGENT}/GetAgent`, { id: agentID }),
    call(`${AGENT}/CountAgents`, { filter: { by_banned: true } }),
  );
  assert.is(ok(banned!).banned, true);
  assert.is(ok(banned!).x509svid_serial_number, "");
  assert.equal(ok(bannedCount!), { count: 1 });
  const [del, again, gone] = await calls(
    call(`${AGENT}/DeleteAgent`, { id: agentID }),
    call(`${AGENT}/DeleteAgent`, { id: agentID }),
    call(`${AGENT}/CountAgents`),
  );
  assert.equal(ok(del!), {});
  fails(again!, "NOT_FOUND", "agent not found");
  assert.equal(ok(gone!), { count: 0 });
  assert.match(
    c.server!.output,
    /level=info msg="Agent banned" method=BanAgent service=agent.v1.Agent spiffe_id="spiffe:\/\/example.org\/spire\/agent\/join_token\/my-token" subsystem_name=api/,
  );
  assert.match(c.server!.output, /level=info msg="Agent deleted"/);
});

function pemOf(der: string): string {
  return `-----BEGIN CERTIFICATE-----\n${der.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
}

test("MintX509SVID signs a CSR (openssl verifies it against GetBundle); MintJWTSVID signs a token", async () => {
  const key = join(c.dir, "mint.key");
  const csr = join(c.dir, "mint.csr");
  const made = await run("openssl", [
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    key,
    "-subj",
    "/O=test",
    "-addext",
    "subjectAltName=URI:spiffe://example.org/minted",
    "-outform",
    "DER",
    "-out",
    csr,
  ]);
  assert.is(made.code, 0, made.stderr);
  const csrB64 = readFileSync(csr).toString("base64");
  const [x509, bundle, noCSR, badCSR, jwt, noAud, badID] = await calls(
    call(`${SVID}/MintX509SVID`, { csr: csrB64, ttl: 120 }),
    call(`${BUNDLE}/GetBundle`),
    call(`${SVID}/MintX509SVID`, {}),
    call(`${SVID}/MintX509SVID`, { csr: Buffer.from("junk").toString("base64") }),
    call(`${SVID}/MintJWTSVID`, { id: id("/minted"), audience: ["aud1", "aud2"], ttl: 300 }),
    call(`${SVID}/MintJWTSVID`, { id: id("/minted") }),
    call(`${SVID}/MintJWTSVID`, { id: { trust_domain: "other.org", path: "/x" }, audience: ["a"] }),
  );
  const svid = ok(x509!).svid;
  assert.equal(svid.id, id("/minted"));
  const leaf = new X509Certificate(Buffer.from(svid.cert_chain[0], "base64"));
  assert.is(leaf.subjectAltName, "URI:spiffe://example.org/minted");
  const notAfter = new Date(leaf.validTo).getTime();
  assert.is(Math.round((notAfter - Date.now()) / 1000 / 10), 12, "ttl 120 s");
  assert.is(Number(svid.expires_at), Math.floor(notAfter / 1000));
  const roots = ok(bundle!).x509_authorities.map((a: { asn1: string }) => pemOf(a.asn1)).join("");
  writeFileSync(join(c.dir, "roots.pem"), roots);
  writeFileSync(join(c.dir, "chain.pem"), svid.cert_chain.slice(1).map(pemOf).join("") || roots);
  writeFileSync(join(c.dir, "leaf.pem"), pemOf(svid.cert_chain[0]));
  const verified = await run("openssl", ["verify", "-CAfile", join(c.dir, "roots.pem"), "-untrusted", join(c.dir, "chain.pem"), join(c.dir, "leaf.pem")]);
  assert.is(verified.stdout.trim(), `${join(c.dir, "leaf.pem")}: OK`, verified.stderr);
  fails(noCSR!, "INVALID_ARGUMENT", "missing CSR");
  assert.is(badCSR!.status?.code, "INVALID_ARGUMENT");
  assert.match(badCSR!.status!.details, /^malformed CSR: /);

  const s = ok(jwt!).svid;
  assert.equal(s.id, id("/minted"));
  const claims = JSON.parse(Buffer.from(s.token.split(".")[1], "base64url").toString());
  assert.is(claims.sub, "spiffe://example.org/minted");
  assert.equal(claims.aud, ["aud1", "aud2"]);
  assert.is(claims.exp, Number(s.expires_at));
  assert.is(Number(s.expires_at) - Number(s.issued_at), 300);
  fails(noAud!, "INVALID_ARGUMENT", "at least one audience is required");
  fails(badID!, "INVALID_ARGUMENT", 'invalid SPIFFE ID: "spiffe://other.org/x" is not a member of trust domain "example.org"');
});

test("federated bundles: set, create, update, get, list with paging, count, append, delete by mode", async () => {
  const own = ok(await one(`${BUNDLE}/GetBundle`));
  assert.is(own.trust_domain, "example.org");
  assert.ok(own.x509_authorities.length > 0);
  const cert = own.x509_authorities[0].asn1 as string;
  const b = (td: string, extra: Record<string, unknown> = {}) => ({ trust_domain: td, x509_authorities: [{ asn1: cert }], refresh_hint: 60, ...extra });
  const [set, create, update] = await calls(
    call(`${BUNDLE}/BatchSetFederatedBundle`, { bundle: [b("one.org"), b("example.org"), b("bad td!")] }),
    call(`${BUNDLE}/BatchCreateFederatedBundle`, { bundle: [b("two.org"), b("one.org")], output_mask: {} }),
    call(`${BUNDLE}/BatchUpdateFederatedBundle`, {
      bundle: [b("two.org", { refresh_hint: 99, x509_authorities: [] }), b("three.org")],
      input_mask: { refresh_hint: true },
    }),
  );
  const sr = ok(set!).results;
  assert.equal(sr[0].status, { code: 0, message: "OK" });
  assert.is(sr[0].bundle.trust_domain, "one.org");
  assert.equal(sr[1].status, { code: 3, message: "setting a federated bundle for the server's own trust domain is not allowed" });
  assert.is(sr[2].status.code, 3);
  assert.match(sr[2].status.message, /^trust domain argument is not valid: |^failed to convert bundle: /);
  const cr = ok(create!).results;
  assert.equal(cr.map((r: { status: unknown }) => r.status), [{ code: 0, message: "OK" }, { code: 6, message: "bundle already exists" }]);
  assert.equal(cr[0].bundle.x509_authorities, [], "empty output mask");
  const ur = ok(update!).results;
  assert.equal(ur.map((r: { status: unknown }) => r.status), [{ code: 0, message: "OK" }, { code: 5, message: "bundle not found" }]);
  assert.is(ur[0].bundle.refresh_hint, "99");
  assert.is(ur[0].bundle.x509_authorities.length, 1, "outside the input mask: kept");

  const [count, page1, get, getOwn, getMissing] = await calls(
    call(`${BUNDLE}/CountBundles`),
    call(`${BUNDLE}/ListFederatedBundles`, { page_size: 1 }),
    call(`${BUNDLE}/GetFederatedBundle`, { trust_domain: "spiffe://two.org", output_mask: { refresh_hint: true } }),
    call(`${BUNDLE}/GetFederatedBundle`, { trust_domain: "example.org" }),
    call(`${BUNDLE}/GetFederatedBundle`, { trust_domain: "nope.org" }),
  );
  assert.equal(ok(count!), { count: 3 });
  assert.equal(ok(page1!).bundles.map((x: { trust_domain: string }) => x.trust_domain), ["one.org"]);
  const page2 = ok(await one(`${BUNDLE}/ListFederatedBundles`, { page_size: 1, page_token: ok(page1!).next_page_token }));
  assert.equal(page2.bundles.map((x: { trust_domain: string }) => x.trust_domain), ["two.org"]);
  assert.equal(ok(get!).x509_authorities, []);
  assert.is(ok(get!).refresh_hint, "99");
  fails(getOwn!, "INVALID_ARGUMENT", "getting a federated bundle for the server's own trust domain is not allowed");
  fails(getMissing!, "NOT_FOUND", "bundle not found");

  // AppendBundle adds a JWT authority to the server's own bundle.
  const jwtKey = own.jwt_authorities[0];
  const [appended, empty] = await calls(
    call(`${BUNDLE}/AppendBundle`, {
      jwt_authorities: [{ public_key: jwtKey.public_key, key_id: "appended-kid", expires_at: String(Math.floor(Date.now() / 1000) + 3600) }],
    }),
    call(`${BUNDLE}/AppendBundle`, {}),
  );
  assert.ok(ok(appended!).jwt_authorities.some((k: { key_id: string }) => k.key_id === "appended-kid"));
  assert.ok(BigInt(ok(appended!).sequence_number) > BigInt(own.sequence_number));
  fails(empty!, "INVALID_ARGUMENT", "no authorities to append");

  ok(await one(`${ENTRY}/BatchCreateEntry`, { entries: [entry("/fed", ["unix:uid:3000"], { id: "fed", federates_with: ["one.org"] })] }));
  const restrict = ok(await one(`${BUNDLE}/BatchDeleteFederatedBundle`, { trust_domains: ["one.org", "nope.org", "example.org"] }));
  assert.equal(restrict.results, [
    {
      status: { code: 9, message: "failed to delete federated bundle: datastore-sql: cannot delete bundle; federated with 1 registration entries" },
      trust_domain: "one.org",
    },
    { status: { code: 5, message: "bundle not found" }, trust_domain: "nope.org" },
    { status: { code: 3, message: "removing the bundle for the server trust domain is not allowed" }, trust_domain: "example.org" },
  ]);
  const dissociate = ok(await one(`${BUNDLE}/BatchDeleteFederatedBundle`, { trust_domains: ["one.org"], mode: "DISSOCIATE" }));
  assert.equal(dissociate.results, [{ status: { code: 0, message: "OK" }, trust_domain: "one.org" }]);
  const fed = ok(await one(`${ENTRY}/GetEntry`, { id: "fed" }));
  assert.equal(fed.federates_with, []);
  assert.is(fed.revision_number, "1");
  assert.match(c.server!.output, /msg="Bundle set successfully" subsystem_name=api trust_domain_id=one.org/);
});

test("federation relationships: create, list, get, update with a mask, delete, refresh", async () => {
  const rel = (td: string, url: string) => ({ trust_domain: td, bundle_endpoint_url: url, https_web: {} });
  const created = ok(
    await one(`${TD}/BatchCreateFederationRelationship`, {
      federation_relationships: [
        rel("fed.org", "https://127.0.0.1:1/bundle"),
        rel("web.org", "http://127.0.0.1:1/"),
        rel("example.org", "https://127.0.0.1:1/"),
        { trust_domain: "spiffe.org", bundle_endpoint_url: "https://127.0.0.1:2/", https_spiffe: { endpoint_spiffe_id: "spiffe://spiffe.org/server" } },
      ],
    }),
  );
  assert.equal(created.results.map((r: { status: unknown }) => r.status), [
    { code: 0, message: "OK" },
    { code: 3, message: "failed to convert federation relationship: bundle endpoint URL must use the https scheme" },
    { code: 3, message: "unable to create federation relationship for server trust domain" },
    { code: 0, message: "OK" },
  ]);
  assert.equal(created.results[3].federation_relationship.https_spiffe, { endpoint_spiffe_id: "spiffe://spiffe.org/server" });
  const [list, page, get, missing] = await calls(
    call(`${TD}/ListFederationRelationships`),
    call(`${TD}/ListFederationRelationships`, { page_size: 1, output_mask: { bundle_endpoint_url: true } }),
    call(`${TD}/GetFederationRelationship`, { trust_domain: "fed.org" }),
    call(`${TD}/GetFederationRelationship`, { trust_domain: "nope.org" }),
  );
  assert.equal(ok(list!).federation_relationships.map((r: { trust_domain: string }) => r.trust_domain), ["fed.org", "spiffe.org"]);
  const p = ok(page!).federation_relationships;
  assert.equal(p.map((r: { trust_domain: string; bundle_endpoint_url: string; https_web?: unknown }) => [r.trust_domain, r.bundle_endpoint_url, r.https_web]), [
    ["fed.org", "https://127.0.0.1:1/bundle", undefined],
  ]);
  assert.equal(ok(get!).https_web, {});
  fails(missing!, "NOT_FOUND", "federation relationship does not exist");

  const updated = ok(
    await one(`${TD}/BatchUpdateFederationRelationship`, {
      federation_relationships: [{ trust_domain: "fed.org", bundle_endpoint_url: "https://127.0.0.1:3/new" }, rel("nope.org", "https://x/")],
      input_mask: { bundle_endpoint_url: true },
    }),
  );
  assert.equal(updated.results[0].status, { code: 0, message: "OK" });
  assert.is(updated.results[0].federation_relationship.bundle_endpoint_url, "https://127.0.0.1:3/new");
  assert.equal(updated.results[0].federation_relationship.https_web, {}, "profile outside the mask kept");
  assert.equal(updated.results[1].status, {
    code: 13,
    message: "failed to update federation relationship: unable to fetch federation relationship: record not found",
  });

  const [refreshMissing, del] = await calls(
    call(`${TD}/RefreshBundle`, { trust_domain: "nope.org" }),
    call(`${TD}/BatchDeleteFederationRelationship`, { trust_domains: ["fed.org", "nope.org", ""] }),
  );
  fails(refreshMissing!, "NOT_FOUND", 'no relationship with trust domain "nope.org"');
  assert.equal(ok(del!).results, [
    { status: { code: 0, message: "OK" }, trust_domain: "fed.org" },
    { status: { code: 5, message: "federation relationship not found" }, trust_domain: "nope.org" },
    { status: { code: 3, message: "missing trust domain" }, trust_domain: "" },
  ]);
});

test("LocalAuthority: prepare, activate, taint and revoke the X.509 and JWT authorities; WIT is unimplemented", async () => {
  const [x0, j0, wit, taintActive, taintUpstream, revokeUpstream] = await calls(
    call(`${LA}/GetX509AuthorityState`),
    call(`${LA}/GetJWTAuthorityState`),
    call(`${LA}/GetWITAuthorityState`),
    call(`${LA}/TaintX509Authority`, { authority_id: "" }),
    call(`${LA}/TaintX509UpstreamAuthority`, { subject_key_id: "abcd" }),
    call(`${LA}/RevokeX509UpstreamAuthority`, { subject_key_id: "abcd" }),
  );
  // This server's CA is self-signed.
  fails(taintUpstream!, "FAILED_PRECONDITION", "upstream authority is not configured");
  fails(revokeUpstream!, "FAILED_PRECONDITION", "upstream authority is not configured");
  const active = ok(x0!).active.authority_id as string;
  assert.match(active, /^[0-9a-f]{40}$/);
  assert.ok(ok(j0!).active.authority_id);
  fails(wit!, "UNIMPLEMENTED", "WIT-SVID functionality is not yet implemented");
  fails(taintActive!, "INVALID_ARGUMENT", "no authority ID provided");

  const prepared = ok(await one(`${LA}/PrepareX509Authority`)).prepared_authority.authority_id as string;
  const [activated, state] = await calls(call(`${LA}/ActivateX509Authority`, { authority_id: prepared }), call(`${LA}/GetX509AuthorityState`));
  assert.is(ok(activated!).activated_authority.authority_id, prepared);
  assert.equal([ok(state!).active.authority_id, ok(state!).old.authority_id], [prepared, active]);
  const [current, tainted, bundle] = await calls(
    call(`${LA}/TaintX509Authority`, { authority_id: prepared }),
    call(`${LA}/TaintX509Authority`, { authority_id: active }),
    call(`${BUNDLE}/GetBundle`),
  );
  fails(current!, "INVALID_ARGUMENT", "unable to taint current local authority");
  assert.is(ok(tainted!).tainted_authority.authority_id, active);
  assert.is(ok(bundle!).x509_authorities.filter((a: { tainted: boolean }) => a.tainted).length, 1, "the old root is marked tainted");
  const [revoked, after] = await calls(call(`${LA}/RevokeX509Authority`, { authority_id: active }), call(`${BUNDLE}/GetBundle`));
  assert.is(ok(revoked!).revoked_authority.authority_id, active);
  assert.is(ok(after!).x509_authorities.some((a: { tainted: boolean }) => a.tainted), false);
  assert.match(c.server!.output, new RegExp(`msg="X.509 authority tainted successfully" local_authority_id=${active}`));

  const oldKid = ok(j0!).active.authority_id as string;
  const kid = ok(await one(`${LA}/PrepareJWTAuthority`)).prepared_authority.authority_id as string;
  const [jact, jtaint, jrev, jbundle] = await calls(
    call(`${LA}/ActivateJWTAuthority`, { authority_id: kid }),
    call(`${LA}/TaintJWTAuthority`, { authority_id: oldKid }),
    call(`${LA}/RevokeJWTAuthority`, { authority_id: oldKid }),
    call(`${BUNDLE}/GetBundle`),
  );
  assert.is(ok(jact!).activated_authority.authority_id, kid);
  assert.is(ok(jtaint!).tainted_authority.authority_id, oldKid);
  assert.is(ok(jrev!).revoked_authority.authority_id, oldKid);
  assert.not.ok(ok(jbundle!).jwt_authorities.some((k: { key_id: string }) => k.key_id === oldKid));
});

test("Debug/GetInfo reports the server SVID chain, uptime and counts", async () => {
  const r = ok(await one(`${DEBUG}/GetInfo`));
  assert.equal(r.svid_chain[0].id, id("/spire/server"));
  assert.ok(r.svid_chain.length >= 2, "up to the root");
  assert.equal(r.svid_chain[r.svid_chain.length - 1].id, id(""));
  assert.match(r.svid_chain[0].subject, /(^|,)C=US$/);
  assert.ok(r.uptime >= 1);
  assert.is(r.agents_count, 0);
  assert.is(r.entries_count, ok(await one(`${ENTRY}/CountEntries`)).count);
  assert.is(r.federated_bundles_count, ok(await one(`${BUNDLE}/CountBundles`)).count);
});

test("Logger: get, set, reset; UNSPECIFIED is refused", async () => {
  const [got, set, bad, reset] = await calls(
    call(`${LOGGER}/GetLogger`),
    call(`${LOGGER}/SetLogLevel`, { new_level: "WARN" }),
    call(`${LOGGER}/SetLogLevel`, { new_level: "UNSPECIFIED" }),
    call(`${LOGGER}/ResetLogLevel`),
  );
  assert.equal(ok(got!), { current_level: "DEBUG", launch_level: "DEBUG" });
  assert.equal(ok(set!), { current_level: "WARN", launch_level: "DEBUG" });
  fails(bad!, "INVALID_ARGUMENT", "newLevel value cannot be LogLevel_UNSPECIFIED");
  assert.equal(ok(reset!), { current_level: "DEBUG", launch_level: "DEBUG" });
});

test("agent-only and downstream RPCs are denied to a local caller, as SPIRE's policy does", async () => {
  const rs = await calls(
    call(`${AGENT}/RenewAgent`),
    call(`${AGENT}/PostStatus`),
    call(`${ENTRY}/GetAuthorizedEntries`),
    call(`${ENTRY}/SyncAuthorizedEntries`),
    call(`${SVID}/BatchNewX509SVID`),
    call(`${SVID}/NewJWTSVID`),
    call(`${SVID}/NewDownstreamX509CA`),
    call(`${BUNDLE}/PublishJWTAuthority`),
  );
  const paths = [
    `${AGENT}/RenewAgent`,
    `${AGENT}/PostStatus`,
    `${ENTRY}/GetAuthorizedEntries`,
    `${ENTRY}/SyncAuthorizedEntries`,
    `${SVID}/BatchNewX509SVID`,
    `${SVID}/NewJWTSVID`,
    `${SVID}/NewDownstreamX509CA`,
    `${BUNDLE}/PublishJWTAuthority`,
  ];
  rs.forEach((r, i) => fails(r, "PERMISSION_DENIED", `authorization denied for method ${paths[i]}`));
  assert.match(
    c.server!.output,
    /level=error msg="Failed to authenticate caller" authorized_as=nobody authorized_via= error="rpc error: code = PermissionDenied desc = authorization denied for method \/spire.api.server.agent.v1.Agent\/RenewAgent"/,
  );
  fails(await one(`${SVID}/MintWITSVID`), "UNIMPLEMENTED", "WIT functionality is disabled");
});

test.run();
