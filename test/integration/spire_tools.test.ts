/**
 * SPIRE's ecosystem tools against a real wisp-server, replayed call for call with a client that is not wisp's code
 * (@grpc/grpc-js + @grpc/proto-loader over the vendored spire-api-sdk protos): spire-controller-manager's entry and
 * federation reconcilers (spiffe/spire-controller-manager pkg/spireapi, pkg/spireentry,
 * pkg/spirefederationrelationship at 430567cc), Tornjak's SPIRE calls (spiffe/tornjak api/agent/spire_apis.go and the
 * request bodies its UI sends, at 0f502fed) and the spire-server CLI's paging, masks and batch shapes
 * (spiffe/spire cmd/spire-server/cli at ef8527ec). Each replay sends what the tool sends and checks what it reads back.
 * @module
 */
import { createPublicKey, X509Certificate } from "node:crypto";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { x509 } from "../../src/core/x509/_peculiar.ts";
import { newCA } from "../server/nodeattestor/_pki.ts";
import { type Cluster, newCluster, startAgent, startServer, waitFor, wispServer } from "./_harness.ts";
import { loadSpireServerAPI, methodsOf, type Msg, RPCError, SpireProtoClient } from "./_spire_proto_client.ts";

const TD = "example.org";
const AGENT = "/spire.api.server.agent.v1.Agent/";
const BUNDLE = "/spire.api.server.bundle.v1.Bundle/";
const ENTRY = "/spire.api.server.entry.v1.Entry/";
const TRUSTDOMAIN = "/spire.api.server.trustdomain.v1.TrustDomain/";
const DEBUG = "/spire.api.server.debug.v1.Debug/";
const HEALTH = "/grpc.health.v1.Health/";

let c: Cluster;
let api: SpireProtoClient;
let setupError: unknown;

const id = (path: string, td = TD) => ({ trust_domain: td, path });
const idString = (v: Msg) => `spiffe://${v.trust_domain}${v.path}`;
const ready = () => {
  if (setupError) throw setupError;
};

test.before(async () => {
  try {
    c = await newCluster();
    await startServer(c);
    api = new SpireProtoClient(c.serverSocket);
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  api?.close();
  await c?.cleanup();
});

/** A foreign trust domain's bundle as SPIRE's API carries it: one CA certificate and one JWT key (PKIX DER). */
async function foreignBundle(td: string, keyID: string): Promise<Msg> {
  const ca = await newCA({ name: `${td} root` });
  const k = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", k.publicKey));
  return {
    trust_domain: td,
    x509_authorities: [{ asn1: Buffer.from(ca.der) }],
    jwt_authorities: [{ public_key: Buffer.from(spki), key_id: keyID, expires_at: Math.floor(Date.now() / 1000) + 86_400 }],
    refresh_hint: 300,
    sequence_number: 1,
  };
}

/** What spire-controller-manager's bundleFromAPI and Tornjak's UI need of a bundle: parsable authorities and key IDs. */
function checkBundle(b: Msg, td: string): void {
  assert.is(b.trust_domain, td);
  assert.ok(b.x509_authorities.length > 0, "x509 authorities");
  for (const a of b.x509_authorities) assert.ok(new X509Certificate(a.asn1).ca, "an X.509 authority parses as a CA certificate");
  for (const k of b.jwt_authorities) {
    assert.ok(k.key_id !== "", "JWT key ID present");
    assert.is(createPublicKey({ key: k.public_key, format: "der", type: "spki" }).type, "public");
  }
}

// ---------------------------------------------------------------------------------------------------------------
// spire-controller-manager, ported from pkg/spireapi (client calls, batch sizes) and pkg/spireentry (reconcile).

const SCM_BATCH = { entryCreate: 50, entryUpdate: 50, entryDelete: 200, entryList: 200, frCreate: 50, frUpdate: 50, frDelete: 200, frList: 200 };

/** spireapi.Entry: the fields scm reads and writes. */
interface ScmEntry {
  id: string;
  spiffe_id: Msg;
  parent_id: Msg;
  selectors: { type: string; value: string }[];
  x509_svid_ttl: number;
  jwt_svid_ttl: number;
  federates_with: string[];
  admin: boolean;
  downstream: boolean;
  dns_names: string[];
  hint: string;
  store_svid: boolean;
}

/** entryToAPI: exactly the fields scm sends (no expires_at, revision or additional attributes). */
const entryToAPI = (e: ScmEntry): Msg => ({
  id: e.id,
  spiffe_id: e.spiffe_id,
  parent_id: e.parent_id,
  selectors: e.selectors,
  x509_svid_ttl: e.x509_svid_ttl,
  jwt_svid_ttl: e.jwt_svid_ttl,
  federates_with: e.federates_with,
  admin: e.admin,
  dns_names: e.dns_names,
  downstream: e.downstream,
  hint: e.hint,
  store_svid: e.store_svid,
});

/** entryFromAPI, with its validation: an entry it cannot read fails the whole list (and so the reconcile). */
function entryFromAPI(e: Msg): ScmEntry {
  for (const [what, v] of [["SPIFFE ID", e.spiffe_id], ["parent ID", e.parent_id]] as const) {
    if (!v || !v.trust_domain || !v.path.startsWith("/")) throw new Error(`invalid ${what} field: ${JSON.stringify(v)}`);
  }
  for (const s of e.selectors) {
    if (!s.type || !s.value || s.type.includes(":")) throw new Error(`invalid selectors field: ${JSON.stringify(s)}`);
  }
  return {
    id: e.id,
    spiffe_id: { trust_domain: e.spiffe_id.trust_domain, path: e.spiffe_id.path },
    parent_id: { trust_domain: e.parent_id.trust_domain, path: e.parent_id.path },
    selectors: e.selectors.map((s: Msg) => ({ type: s.type, value: s.value })),
    x509_svid_ttl: e.x509_svid_ttl,
    jwt_svid_ttl: e.jwt_svid_ttl,
    federates_with: e.federates_with,
    admin: e.admin,
    downstream: e.downstream,
    dns_names: e.dns_names,
    hint: e.hint,
    store_svid: e.store_svid,
  };
}

/** runBatch: consecutive slices of at most `size`. */
async function runBatch<T>(items: T[], size: number, fn: (slice: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await fn(items.slice(i, i + size));
}

/** entryClient.ListEntries: page_size 200 until an empty token. */
async function scmListEntries(): Promise<ScmEntry[]> {
  const out: Msg[] = [];
  let token = "";
  for (;;) {
    const r = await api.call(`${ENTRY}ListEntries`, { page_token: token, page_size: SCM_BATCH.entryList });
    out.push(...r.entries);
    token = r.next_page_token;
    if (token === "") break;
  }
  return out.map(entryFromAPI);
}

type ScmField = "jwtSVIDTTL" | "hint" | "storeSVID";

/** entryClient.GetUnsupportedFields, the startup probe: the error scm logs, or the fields the server did not echo. */
async function scmGetUnsupportedFields(td: string): Promise<{ fields: Set<ScmField> } | { error: string }> {
  const probeID = id("/spire-controller-manager/unsupported-fields-test", td);
  const resp = await api.call(`${ENTRY}BatchCreateEntry`, {
    entries: [{
      parent_id: probeID,
      spiffe_id: probeID,
      selectors: [{ type: "a", value: "1" }],
      x509_svid_ttl: 60,
      jwt_svid_ttl: 60,
      store_svid: true,
      hint: "hint",
    }],
  });
  if (resp.results.length !== 1) return { error: `only one response expected but got ${resp.results.length}` };
  const result = resp.results[0];
  if (result.status.code !== 0 && result.status.code !== 6) return { error: `failed to create entry: ${result.status.message}` };
  await api.call(`${ENTRY}BatchDeleteEntry`, { ids: [result.entry.id] });
  const fields = new Set<ScmField>();
  if (result.entry.jwt_svid_ttl === 0) fields.add("jwtSVIDTTL");
  if (result.entry.hint === "") fields.add("hint");
  if (!result.entry.store_svid) fields.add("storeSVID");
  return { fields };
}

const sortedSelectors = (s: ScmEntry["selectors"]) => [...s].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : a.value < b.value ? -1 : 1));
/** makeEntryKey: SPIFFE ID, parent ID and sorted selectors. */
const entryKey = (e: ScmEntry) => JSON.stringify([idString(e.spiffe_id), idString(e.parent_id), sortedSelectors(e.selectors)]);
const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/** getOutdatedEntryFields. */
function outdated(want: ScmEntry, have: ScmEntry, unsupported: Set<ScmField>): string[] {
  const out: string[] = [];
  if (have.x509_svid_ttl !== want.x509_svid_ttl) out.push("x509SVIDTTL");
  if (have.jwt_svid_ttl !== want.jwt_svid_ttl && !unsupported.has("jwtSVIDTTL")) out.push("jwtSVIDTTL");
  if (!sameSet(have.federates_with, want.federates_with)) out.push("federatesWith");
  if (have.admin !== want.admin) out.push("admin");
  if (have.downstream !== want.downstream) out.push("downstream");
  if (!sameSet(have.dns_names, want.dns_names)) out.push("dnsNames");
  if (have.hint !== want.hint && !unsupported.has("hint")) out.push("hint");
  if (have.store_svid !== want.store_svid && !unsupported.has("storeSVID")) out.push("storeSVID");
  return out;
}

interface ScmReport {
  probe: { fields: Set<ScmField> } | { error: string };
  created: number;
  updated: number;
  deleted: number;
  /** Non-OK statuses, which scm logs as "Failed to create/update/delete entry". */
  failures: Msg[];
}

/**
 * One pass of the entry reconciler with `entryIDPrefix` set: probe, list, then delete (≤200 a call), create (≤50,
 * client-chosen IDs "<prefix>.<uuid>") and update (≤50, no input mask), in that order.
 */
async function scmReconcileEntries(declared: ScmEntry[], prefix: string): Promise<ScmReport> {
  const probe = await scmGetUnsupportedFields(TD);
  const unsupported = "fields" in probe ? probe.fields : new Set<ScmField>();
  const current = (await scmListEntries()).filter((e) => e.id.startsWith(prefix));
  const state = new Map<string, { current: ScmEntry[]; declared: ScmEntry[] }>();
  const slot = (e: ScmEntry) => {
    const k = entryKey(e);
    if (!state.has(k)) state.set(k, { current: [], declared: [] });
    return state.get(k)!;
  };
  for (const e of current) slot(e).current.push(e);
  for (const e of declared) slot(e).declared.push({ ...e });
  const toDelete: ScmEntry[] = [], toCreate: ScmEntry[] = [], toUpdate: ScmEntry[] = [];
  for (const s of state.values()) {
    const preferred = s.declared[0];
    if (preferred) {
      if (s.current.length === 0) {
        if (preferred.id === "" && prefix !== "") preferred.id = `${prefix}${crypto.randomUUID()}`;
        toCreate.push(preferred);
      } else {
        preferred.id = s.current[0]!.id;
        if (outdated(preferred, s.current[0]!, unsupported).length > 0) toUpdate.push(preferred);
        s.current = s.current.slice(1);
      }
    }
    toDelete.push(...s.current.filter((e) => !isJoinTokenEntry(e)));
  }
  const failures: Msg[] = [];
  const collect = (results: Msg[]) => failures.push(...results.filter((r) => r.status.code !== 0).map((r) => r.status));
  await runBatch(toDelete.map((e) => e.id), SCM_BATCH.entryDelete, async (ids) => collect((await api.call(`${ENTRY}BatchDeleteEntry`, { ids })).results));
  await runBatch(
    toCreate,
    SCM_BATCH.entryCreate,
    async (es) => collect((await api.call(`${ENTRY}BatchCreateEntry`, { entries: es.map(entryToAPI) })).results),
  );
  await runBatch(
    toUpdate,
    SCM_BATCH.entryUpdate,
    async (es) => collect((await api.call(`${ENTRY}BatchUpdateEntry`, { entries: es.map(entryToAPI) })).results),
  );
  return { probe, created: toCreate.length, updated: toUpdate.length, deleted: toDelete.length, failures };
}

/** isJoinTokenEntry: a join token's alias entry, which scm never deletes (parent under /spire/agent/join_token/, a spiffe_id selector). */
const isJoinTokenEntry = (e: ScmEntry) => e.parent_id.path.startsWith("/spire/agent/join_token/") && e.selectors.some((s) => s.type === "spiffe_id");

/** A pod entry as renderPodEntry makes it (k8s:pod-uid selector, agent parent from the default template). */
function podEntry(i: number): ScmEntry {
  return {
    id: "",
    spiffe_id: id(`/ns/apps/sa/app-${i}`),
    parent_id: id(`/spire/agent/k8s_psat/demo/node-${i % 3}`),
    selectors: [{ type: "k8s", value: `pod-uid:00000000-0000-4000-8000-${String(i).padStart(12, "0")}` }, { type: "k8s", value: "ns:apps" }],
    x509_svid_ttl: 3600,
    jwt_svid_ttl: 300,
    federates_with: i % 5 === 0 ? ["b.org"] : [],
    admin: false,
    downstream: false,
    dns_names: [`app-${i}.apps.svc.cluster.local`],
    hint: "apps",
    store_svid: false,
  };
}

/** The same pod after its ClusterSPIFFEID changed: TTLs, DNS names, hint, federation, admin/downstream flags. */
function changedPodEntry(i: number): ScmEntry {
  return {
    ...podEntry(i),
    x509_svid_ttl: 7200,
    jwt_svid_ttl: i % 2 === 0 ? 600 : 300,
    federates_with: i % 5 === 0 ? [] : ["c.org", "b.org"],
    dns_names: [`app-${i}.apps.svc.cluster.local`, `app-${i}.apps`],
    hint: "apps-v2",
    admin: i === 1,
    downstream: i === 2,
  };
}

/** The scm-managed entries as our own CLI shows them (`wisp-server entry show -output json`), by entry key. */
async function cliEntries(prefix: string): Promise<Map<string, Msg>> {
  const r = await wispServer(["entry", "show", "-socketPath", c.serverSocket, "-output", "json"]);
  assert.is(r.code, 0, r.stderr);
  const out = new Map<string, Msg>();
  for (const e of (JSON.parse(r.stdout) as { entries: Msg[] }).entries) if (e.id.startsWith(prefix)) out.set(entryKey(e as ScmEntry), e);
  return out;
}

function assertDatastoreMatches(got: Map<string, Msg>, declared: ScmEntry[], revisionOf: (i: number) => number): void {
  assert.is(got.size, declared.length, "one stored entry per declared entry");
  declared.forEach((d, i) => {
    const e = got.get(entryKey(d));
    assert.ok(e, `entry for ${idString(d.spiffe_id)} stored`);
    assert.equal(
      {
        x509_svid_ttl: e.x509_svid_ttl,
        jwt_svid_ttl: e.jwt_svid_ttl,
        federates_with: [...e.federates_with].sort(),
        admin: e.admin,
        downstream: e.downstream,
        dns_names: [...e.dns_names].sort(),
        hint: e.hint,
        store_svid: e.store_svid,
        revision_number: Number(e.revision_number),
      },
      {
        x509_svid_ttl: d.x509_svid_ttl,
        jwt_svid_ttl: d.jwt_svid_ttl,
        federates_with: [...d.federates_with].sort(),
        admin: d.admin,
        downstream: d.downstream,
        dns_names: [...d.dns_names].sort(),
        hint: d.hint,
        store_svid: false,
        revision_number: revisionOf(i),
      },
      idString(d.spiffe_id),
    );
  });
}

/** spireapi.FederationRelationship as scm declares it from a ClusterFederatedTrustDomain. */
interface ScmRelationship {
  trust_domain: string;
  bundle_endpoint_url: string;
  profile: { https_web: Msg } | { https_spiffe: { endpoint_spiffe_id: string } };
  trust_domain_bundle?: Msg;
}

const relationshipToAPI = (r: ScmRelationship): Msg => ({
  trust_domain: r.trust_domain,
  bundle_endpoint_url: r.bundle_endpoint_url,
  ...r.profile,
  ...(r.trust_domain_bundle ? { trust_domain_bundle: r.trust_domain_bundle } : {}),
});

/** federationRelationshipFromAPI, with its validation (https URL with a host, a profile, a readable bundle). */
function relationshipFromAPI(r: Msg): ScmRelationship {
  const u = new URL(r.bundle_endpoint_url);
  if (u.protocol !== "https:" || u.host === "" || u.username) throw new Error(`invalid bundle endpoint URL: ${r.bundle_endpoint_url}`);
  if (r.trust_domain_bundle) checkBundle(r.trust_domain_bundle, r.trust_domain_bundle.trust_domain);
  if (r.bundle_endpoint_profile === "https_web") {
    return { trust_domain: r.trust_domain, bundle_endpoint_url: r.bundle_endpoint_url, profile: { https_web: {} } };
  }
  if (r.bundle_endpoint_profile === "https_spiffe") {
    return {
      trust_domain: r.trust_domain,
      bundle_endpoint_url: r.bundle_endpoint_url,
      profile: { https_spiffe: { endpoint_spiffe_id: r.https_spiffe.endpoint_spiffe_id } },
    };
  }
  throw new Error("bundle endpoint profile is missing");
}

/** FederationRelationship.Equal: trust domain, URL and profile (not the bundle). */
const sameRelationship = (a: ScmRelationship, b: ScmRelationship) =>
  a.trust_domain === b.trust_domain && a.bundle_endpoint_url === b.bundle_endpoint_url && JSON.stringify(a.profile) === JSON.stringify(b.profile);

/** The federation relationship reconciler: list (page 200), then delete (≤200), create (≤50), update (≤50, no mask). */
async function scmReconcileRelationships(declared: ScmRelationship[]): Promise<{ created: number; updated: number; deleted: number; failures: Msg[] }> {
  const listed: Msg[] = [];
  let token = "";
  for (;;) {
    const r = await api.call(`${TRUSTDOMAIN}ListFederationRelationships`, { page_token: token, page_size: SCM_BATCH.frList });
    listed.push(...r.federation_relationships);
    token = r.next_page_token;
    if (token === "") break;
  }
  const current = new Map(listed.map(relationshipFromAPI).map((r) => [r.trust_domain, r]));
  const want = new Map(declared.map((r) => [r.trust_domain, r]));
  const toDelete = [...current.keys()].filter((td) => !want.has(td));
  const toCreate = [...want.values()].filter((r) => !current.has(r.trust_domain));
  const toUpdate = [...want.values()].filter((r) => current.has(r.trust_domain) && !sameRelationship(current.get(r.trust_domain)!, r));
  const failures: Msg[] = [];
  const collect = (results: Msg[]) => failures.push(...results.filter((r) => r.status.code !== 0).map((r) => r.status));
  await runBatch(
    toDelete,
    SCM_BATCH.frDelete,
    async (tds) => collect((await api.call(`${TRUSTDOMAIN}BatchDeleteFederationRelationship`, { trust_domains: tds })).results),
  );
  await runBatch(
    toCreate,
    SCM_BATCH.frCreate,
    async (rs) => collect((await api.call(`${TRUSTDOMAIN}BatchCreateFederationRelationship`, { federation_relationships: rs.map(relationshipToAPI) })).results),
  );
  await runBatch(
    toUpdate,
    SCM_BATCH.frUpdate,
    async (rs) => collect((await api.call(`${TRUSTDOMAIN}BatchUpdateFederationRelationship`, { federation_relationships: rs.map(relationshipToAPI) })).results),
  );
  return { created: toCreate.length, updated: toUpdate.length, deleted: toDelete.length, failures };
}

const writes = (from: number) => api.log.slice(from).filter((l) => /^Batch/.test(l.method)).map((l) => l.method);

test("spire-controller-manager: GetBundle gives a bundle its bundleFromAPI reads (X.509 CAs, PKIX JWT keys, sequence number)", async () => {
  ready();
  const b = await api.call(`${BUNDLE}GetBundle`, {});
  checkBundle(b, TD);
  assert.ok(b.jwt_authorities.length > 0, "the server publishes its JWT key");
  assert.ok(b.sequence_number > 0);
});

test("spire-controller-manager: the unsupported-fields probe is refused for store_svid; without it every field is echoed, ALREADY_EXISTS returns the entry scm deletes", async () => {
  ready();
  // As scm sends it: wisp has no SVIDStore plugins, so it refuses store_svid rather than storing a field it ignores.
  // scm logs "failed to get unsupported fields", keeps its (empty) set and reconciles on; nothing is created.
  const probe = await scmGetUnsupportedFields(TD);
  assert.equal(probe, { error: "failed to create entry: failed to convert entry: store_svid is not supported: wisp has no SVIDStore plugins" });
  const probeID = id("/spire-controller-manager/unsupported-fields-test");
  assert.is((await api.call(`${ENTRY}CountEntries`, { filter: { by_spiffe_id: probeID } })).count, 0);

  // The same probe without store_svid: every other field scm checks comes back, twice (OK, then ALREADY_EXISTS).
  const req = {
    entries: [{ parent_id: probeID, spiffe_id: probeID, selectors: [{ type: "a", value: "1" }], x509_svid_ttl: 60, jwt_svid_ttl: 60, hint: "hint" }],
  };
  const first = (await api.call(`${ENTRY}BatchCreateEntry`, req)).results[0];
  const again = (await api.call(`${ENTRY}BatchCreateEntry`, req)).results[0];
  assert.equal(first.status, { code: 0, message: "OK" });
  assert.equal(again.status, { code: 6, message: "similar entry already exists" });
  assert.is(again.entry.id, first.entry.id, "ALREADY_EXISTS carries the existing entry, whose ID scm deletes");
  for (const r of [first, again]) assert.equal([r.entry.x509_svid_ttl, r.entry.jwt_svid_ttl, r.entry.hint], [60, 60, "hint"]);
  const del = await api.call(`${ENTRY}BatchDeleteEntry`, { ids: [again.entry.id] });
  assert.equal(del.results, [{ status: { code: 0, message: "OK" }, id: first.entry.id }]);
});

test("spire-controller-manager: MintX509SVID for its webhook (CSR with URI + DNS SANs, ttl 24 h) answers a chain it parses", async () => {
  ready();
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const dns = "spire-controller-manager-webhook-service.spire-system.svc";
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: dns }, { type: "url", value: "spiffe://example.org/spire-controller-manager-webhook" }]),
    ],
  });
  const r = await api.call("/spire.api.server.svid.v1.SVID/MintX509SVID", { csr: Buffer.from(csr.rawData), ttl: 86_400 });
  assert.equal(r.svid.id, id("/spire-controller-manager-webhook"));
  assert.ok(r.svid.cert_chain.length >= 1, "no certificates in response");
  const leaf = new X509Certificate(r.svid.cert_chain[0]);
  assert.is(leaf.subjectAltName, `DNS:${dns}, URI:spiffe://example.org/spire-controller-manager-webhook`);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  assert.ok(leaf.publicKey.export({ format: "der", type: "spki" }).equals(Buffer.from(spki)), "the CSR's key");
  assert.is(Math.floor(new Date(leaf.validTo).getTime() / 1000), r.svid.expires_at);
});

const FED_URL = (td: string, v = "") => `https://${td.split(".")[0]}.bundle.test:8443/${v}`;
let fedDeclared: ScmRelationship[] = [];

test("spire-controller-manager: federation relationship reconcile creates, keeps, updates without a mask and deletes as declared", async () => {
  ready();
  const bBundle = await foreignBundle("b.org", "b-key");
  const cBundle = await foreignBundle("c.org", "c-key");
  fedDeclared = [
    { trust_domain: "a.org", bundle_endpoint_url: FED_URL("a.org"), profile: { https_web: {} } },
    {
      trust_domain: "b.org",
      bundle_endpoint_url: FED_URL("b.org"),
      profile: { https_spiffe: { endpoint_spiffe_id: "spiffe://b.org/spire/server" } },
      trust_domain_bundle: bBundle,
    },
    { trust_domain: "c.org", bundle_endpoint_url: FED_URL("c.org"), profile: { https_web: {} }, trust_domain_bundle: cBundle },
  ];
  const mark = api.log.length;
  assert.equal(await scmReconcileRelationships(fedDeclared), { created: 3, updated: 0, deleted: 0, failures: [] });
  assert.equal(api.sent("ListFederationRelationships", mark), [{ page_token: "", page_size: 200 }], "one page of 200, empty token at once");

  // A second pass reads every relationship back (bundles included) as equal: no writes.
  const mark2 = api.log.length;
  assert.equal(await scmReconcileRelationships(fedDeclared), { created: 0, updated: 0, deleted: 0, failures: [] });
  assert.equal(writes(mark2), []);

  // c.org moves its endpoint, a.org goes away, d.org arrives.
  fedDeclared = [
    fedDeclared[1]!,
    { ...fedDeclared[2]!, bundle_endpoint_url: FED_URL("c.org", "v2") },
    { trust_domain: "d.org", bundle_endpoint_url: FED_URL("d.org"), profile: { https_web: {} } },
  ];
  const mark3 = api.log.length;
  assert.equal(await scmReconcileRelationships(fedDeclared), { created: 1, updated: 1, deleted: 1, failures: [] });
  assert.equal(writes(mark3), ["BatchDeleteFederationRelationship", "BatchCreateFederationRelationship", "BatchUpdateFederationRelationship"]);
  assert.equal(api.sent("BatchUpdateFederationRelationship", mark3)[0]!.input_mask, undefined, "scm sends no input mask");

  const listed = (await api.call(`${TRUSTDOMAIN}ListFederationRelationships`, { page_size: 200 })).federation_relationships as Msg[];
  assert.equal(listed.map((r) => [r.trust_domain, r.bundle_endpoint_url, r.bundle_endpoint_profile]), [
    ["b.org", FED_URL("b.org"), "https_spiffe"],
    ["c.org", FED_URL("c.org", "v2"), "https_web"],
    ["d.org", FED_URL("d.org"), "https_web"],
  ]);
  assert.is(listed[1]!.trust_domain_bundle.x509_authorities[0].asn1.equals(cBundle.x509_authorities[0].asn1), true, "c.org keeps its bundle");
  assert.equal(await scmReconcileRelationships(fedDeclared), { created: 0, updated: 0, deleted: 0, failures: [] });
});

const PREFIX = "scm.";
let declared: ScmEntry[] = [];

test("spire-controller-manager: a 300-entry reconcile with entryIDPrefix creates in batches of 50 with client-chosen IDs", async () => {
  ready();
  // An operator's entry without the prefix: scm must leave it alone.
  const own = await api.call(`${ENTRY}BatchCreateEntry`, {
    entries: [{ id: "operator-entry", parent_id: id("/node"), spiffe_id: id("/operator"), selectors: [{ type: "unix", value: "uid:7" }] }],
  });
  assert.equal(own.results[0].status, { code: 0, message: "OK" });
  declared = Array.from({ length: 300 }, (_, i) => podEntry(i));
  const mark = api.log.length;
  const r = await scmReconcileEntries(declared, PREFIX);
  assert.equal([r.created, r.updated, r.deleted, r.failures], [300, 0, 0, []]);
  const creates = api.sent("BatchCreateEntry", mark).filter((q) => q.entries[0].id?.startsWith(PREFIX));
  assert.equal(creates.map((q) => q.entries.length), [50, 50, 50, 50, 50, 50]);
  const stored = await cliEntries(PREFIX);
  assertDatastoreMatches(stored, declared, () => 0);
  for (const e of stored.values()) assert.match(e.id, /^scm\.[0-9a-f-]{36}$/, "the ID scm chose");
});

test("spire-controller-manager: the next reconcile pages ListEntries by 200 to an empty token and writes nothing", async () => {
  ready();
  const mark = api.log.length;
  const r = await scmReconcileEntries(declared, PREFIX);
  assert.equal([r.created, r.updated, r.deleted, r.failures], [0, 0, 0, []], "every field scm compares came back as sent");
  const pages = api.sent("ListEntries", mark);
  // 301 entries: 200, 101, then an empty page whose token is empty.
  assert.equal(pages.map((p) => p.page_size), [200, 200, 200]);
  assert.is(pages[0]!.page_token, "");
  assert.ok(pages[1]!.page_token !== "" && pages[2]!.page_token !== "");
  assert.equal(writes(mark).filter((m) => m !== "BatchCreateEntry"), [], "only the probe writes");
});

test("spire-controller-manager: changing 60 entries and dropping 30 updates (no mask, ≤50 a call) and deletes; the datastore matches", async () => {
  ready();
  const before = new Map((await scmListEntries()).filter((e) => e.id.startsWith(PREFIX)).map((e) => [entryKey(e), e]));
  const next = declared.slice(0, 270).map((e, i) => (i < 60 ? changedPodEntry(i) : e));
  const mark = api.log.length;
  const r = await scmReconcileEntries(next, PREFIX);
  assert.equal([r.created, r.updated, r.deleted, r.failures], [0, 60, 30, []]);
  assert.equal(api.sent("BatchDeleteEntry", mark).filter((q) => q.ids.length > 1).map((q) => q.ids.length), [30]);
  const updates = api.sent("BatchUpdateEntry", mark);
  assert.equal(updates.map((q) => q.entries.length), [50, 10]);
  assert.ok(updates.every((q) => q.input_mask === undefined), "no input mask: every field replaced");
  declared = next;
  const after = await cliEntries(PREFIX);
  assertDatastoreMatches(after, declared, (i) => (i < 60 ? 1 : 0));
  for (const [k, e] of after) assert.is(e.id, before.get(k)!.id, "updates keep the entry ID");
  const again = await scmReconcileEntries(declared, PREFIX);
  assert.equal([again.created, again.updated, again.deleted, again.failures], [0, 0, 0, []]);
});

test("spire-controller-manager: when its resources go away it deletes its 270 entries in calls of ≤200 and nothing else", async () => {
  ready();
  const mark = api.log.length;
  const r = await scmReconcileEntries([], PREFIX);
  assert.equal([r.created, r.updated, r.deleted, r.failures], [0, 0, 270, []]);
  assert.equal(api.sent("BatchDeleteEntry", mark).filter((q) => q.ids.length > 1).map((q) => q.ids.length), [200, 70]);
  assert.equal((await scmListEntries()).filter((e) => e.id.startsWith(PREFIX)), []);
  const left = await api.call(`${ENTRY}GetEntry`, { id: "operator-entry" });
  assert.is(idString(left.spiffe_id), "spiffe://example.org/operator", "the operator's entry is untouched");
});

test("spire-controller-manager: without entryIDPrefix it deletes every undeclared entry but a join token's alias entry, which wisp shapes as SPIRE", async () => {
  ready();
  // A node registered the SPIRE way: a join token with an agent ID makes the alias entry scm must recognise.
  const t = await api.call(`${AGENT}CreateJoinToken`, { ttl: 600, agent_id: id("/k8s-node/node-a") });
  const alias = (await api.call(`${ENTRY}ListEntries`, { filter: { by_spiffe_id: id("/k8s-node/node-a") } })).entries;
  assert.equal(alias.map((e: Msg) => [e.parent_id, e.selectors]), [[
    id(`/spire/agent/join_token/${t.value}`),
    [{ type: "spiffe_id", value: `spiffe://example.org/spire/agent/join_token/${t.value}` }],
  ]]);
  const declaredHere = [podEntry(1000)];
  const r = await scmReconcileEntries(declaredHere, "");
  assert.equal([r.created, r.updated, r.deleted, r.failures], [1, 0, 1, []], "the operator's entry goes, the alias stays");
  const left = (await scmListEntries()).map((e) => idString(e.spiffe_id)).sort();
  assert.equal(left, ["spiffe://example.org/k8s-node/node-a", "spiffe://example.org/ns/apps/sa/app-1000"]);
  const created = (await scmListEntries()).find((e) => e.spiffe_id.path === "/ns/apps/sa/app-1000")!;
  assert.match(created.id, /^[0-9a-f-]{36}$/, "no prefix: the server chose the ID");
  const again = await scmReconcileEntries(declaredHere, "");
  assert.equal([again.created, again.updated, again.deleted, again.failures], [0, 0, 0, []]);
  assert.equal((await scmReconcileEntries([], "")).deleted, 1);
});

// ---------------------------------------------------------------------------------------------------------------
// spire-server CLI: the request shapes of cmd/spire-server/cli that differ from a plain call.

test("spire-server CLI: entry show pages by 500; entry update sends no input_mask and so resets what it does not send", async () => {
  ready();
  const created = await api.call(`${ENTRY}BatchCreateEntry`, {
    entries: [{
      id: "cli-update",
      parent_id: id("/node"),
      spiffe_id: id("/svc"),
      selectors: [{ type: "unix", value: "uid:1000" }],
      hint: "old",
      dns_names: ["svc.example.org"],
      x509_svid_ttl: 600,
    }],
  });
  assert.equal(created.results[0].status, { code: 0, message: "OK" });
  // entry show: ListEntries {page_size: 500} until the token is empty.
  const seen: Msg[] = [];
  let token = "";
  let calls = 0;
  do {
    const r = await api.call(`${ENTRY}ListEntries`, { filter: {}, page_size: 500, page_token: token });
    calls++;
    seen.push(...r.entries);
    token = r.next_page_token;
  } while (token !== "");
  assert.is(calls, 2, "a full page with a token, then an empty page with none");
  assert.ok(seen.some((e) => e.id === "cli-update"));
  // entry update -entryID cli-update -parentID … -spiffeID … -selector unix:uid:1001 -x509SVIDTTL 900
  const upd = await api.call(`${ENTRY}BatchUpdateEntry`, {
    entries: [{ id: "cli-update", parent_id: id("/node"), spiffe_id: id("/svc"), selectors: [{ type: "unix", value: "uid:1001" }], x509_svid_ttl: 900 }],
  });
  const r = upd.results[0];
  assert.equal(r.status, { code: 0, message: "OK" });
  assert.equal([r.entry.hint, r.entry.dns_names, r.entry.x509_svid_ttl, r.entry.revision_number, r.entry.selectors], [
    "",
    [],
    900,
    1,
    [{ type: "unix", value: "uid:1001" }],
  ]);
});

test('spire-server CLI: federation refresh of an unreachable endpoint is SPIRE\'s Internal "failed to refresh bundle: …"', async () => {
  ready();
  const rel = { trust_domain: "down.org", bundle_endpoint_url: "https://127.0.0.1:1/", https_web: {} };
  const created = await api.call(`${TRUSTDOMAIN}BatchCreateFederationRelationship`, { federation_relationships: [rel] });
  assert.equal(created.results[0].status, { code: 0, message: "OK" });
  const err = await api.call(`${TRUSTDOMAIN}RefreshBundle`, { trust_domain: "down.org" }).catch((e: unknown) => e);
  assert.instance(err, RPCError);
  assert.is((err as RPCError).code, "INTERNAL");
  assert.match((err as RPCError).details, /^failed to refresh bundle: unable to fetch bundle: .*ECONNREFUSED/);
  // Our CLI prints it as spire-server does, not as a failure to reach its own socket.
  const cli = await wispServer(["federation", "refresh", "-id", "down.org", "-socketPath", c.serverSocket]);
  assert.is(cli.code, 1);
  assert.match(cli.stderr, /^Error: rpc error: code = Internal desc = failed to refresh bundle: unable to fetch bundle: /);
  const del = await api.call(`${TRUSTDOMAIN}BatchDeleteFederationRelationship`, { trust_domains: ["down.org"] });
  assert.equal(del.results[0].status, { code: 0, message: "OK" });
});

// ---------------------------------------------------------------------------------------------------------------
// Tornjak: api/agent/spire_apis.go passes the UI's JSON bodies through as the requests (encoding/json, or protojson for
// federation relationships); its UI reads `status.message === "OK"` and the list fields by their JSON names.

let agentID: Msg;

test("Tornjak: Health/Check and Debug/GetInfo as its serverinfo and healthcheck pages call them", async () => {
  ready();
  assert.equal(await api.call(`${HEALTH}Check`, {}), { status: "SERVING" });
  const info = await api.call(`${DEBUG}GetInfo`, {});
  assert.ok(info.svid_chain.length > 0, "server SVID chain");
  assert.is(idString(info.svid_chain[0].id), "spiffe://example.org/spire/server");
  assert.ok(info.uptime >= 0);
  assert.type(info.agents_count, "number");
  assert.type(info.entries_count, "number");
  assert.type(info.federated_bundles_count, "number");
});

test("Tornjak: CreateJoinToken {ttl: 500} from its form; an agent attests with the token and ListAgents {} lists it", async () => {
  ready();
  const t = await api.call(`${AGENT}CreateJoinToken`, { ttl: 500, token: "" });
  assert.match(t.value, /^[0-9a-f-]{36}$/);
  const now = Math.floor(Date.now() / 1000);
  assert.ok(t.expires_at >= now + 490 && t.expires_at <= now + 510, `expires_at ${t.expires_at}`);
  await startAgent(c, t.value);
  const list = await api.call(`${AGENT}ListAgents`, {});
  assert.is(list.next_page_token, "", "page_size 0: all agents at once");
  assert.is(list.agents.length, 1);
  const a = list.agents[0];
  agentID = a.id;
  assert.equal(a.id, id(`/spire/agent/join_token/${t.value}`));
  assert.equal([a.attestation_type, a.banned, a.can_reattest], ["join_token", false, false]);
  assert.ok(a.x509svid_serial_number !== "" && a.x509svid_expires_at > now);
});

test("spire-server CLI: agent list pages by 1000; agent purge lists by_can_reattest=true with mask {x509svid_expires_at}, unpaged", async () => {
  ready();
  const page = await api.call(`${AGENT}ListAgents`, { page_size: 1000, page_token: "", filter: {} });
  assert.is(page.agents.length, 1);
  assert.ok(page.next_page_token !== "", "a non-empty page carries a token");
  const last = await api.call(`${AGENT}ListAgents`, { page_size: 1000, page_token: page.next_page_token, filter: {} });
  assert.equal([last.agents, last.next_page_token], [[], ""]);
  const purge = await api.call(`${AGENT}ListAgents`, { filter: { by_can_reattest: { value: true } }, output_mask: { x509svid_expires_at: true } });
  assert.equal(purge, { agents: [], next_page_token: "" }, "a join_token agent cannot re-attest, so purge never deletes it");
  const masked = await api.call(`${AGENT}ListAgents`, { filter: { by_can_reattest: { value: false } }, output_mask: { x509svid_expires_at: true } });
  const a = masked.agents[0];
  assert.equal(a.id, agentID, "the mask keeps the ID");
  assert.ok(a.x509svid_expires_at > 0);
  assert.equal([a.attestation_type, a.x509svid_serial_number, a.selectors, a.banned], ["", "", [], false], "fields outside the mask are unset");
});

test("Tornjak: BanAgent and DeleteAgent with the {id: {trust_domain, path}} its agent table posts", async () => {
  ready();
  assert.equal(await api.call(`${AGENT}BanAgent`, { id: agentID }), {});
  const banned = (await api.call(`${AGENT}ListAgents`, {})).agents[0];
  assert.equal([banned.id, banned.banned, banned.x509svid_serial_number], [agentID, true, ""]);
  assert.equal(await api.call(`${AGENT}DeleteAgent`, { id: agentID }), {});
  assert.equal((await api.call(`${AGENT}ListAgents`, {})).agents, []);
  for (const rpc of ["DeleteAgent", "BanAgent"]) {
    const err = await api.call(`${AGENT}${rpc}`, { id: agentID }).catch((e: unknown) => e);
    assert.instance(err, RPCError);
    assert.equal([(err as RPCError).code, (err as RPCError).details], ["NOT_FOUND", "agent not found"], rpc);
  }
  // The banned agent gives up its SVID and exits, as SPIRE's does.
  await waitFor("banned agent exits", async () => (c.agent!.exited ? true : undefined));
});

test("Tornjak: entries created with its form's body, listed with {} in one response, deleted by {ids}", async () => {
  ready();
  const body = {
    entries: [{
      spiffe_id: id("/tornjak/web"),
      parent_id: id("/spire/agent/k8s_psat/demo/node-0"),
      selectors: [{ type: "k8s", value: "ns:web" }, { type: "k8s", value: "sa:web" }],
      admin: false,
      x509_svid_ttl: 0,
      jwt_svid_ttl: 0,
      expires_at: 0,
      downstream: false,
      federates_with: ["b.org"],
      dns_names: ["web.tornjak.test"],
    }],
  };
  const res = await api.call(`${ENTRY}BatchCreateEntry`, body);
  assert.is(res.results[0].status.message, "OK", "the UI counts a success by this message");
  const created = res.results[0].entry;
  const all = await api.call(`${ENTRY}ListEntries`, {});
  assert.is(all.next_page_token, "");
  const listed = (all.entries as Msg[]).find((e) => e.id === created.id)!;
  assert.equal([listed.spiffe_id, listed.parent_id, listed.federates_with, listed.dns_names], [
    body.entries[0]!.spiffe_id,
    body.entries[0]!.parent_id,
    ["b.org"],
    ["web.tornjak.test"],
  ]);
  assert.equal(listed.selectors, body.entries[0]!.selectors);
  const del = await api.call(`${ENTRY}BatchDeleteEntry`, { ids: [created.id] });
  assert.equal(del.results, [{ status: { code: 0, message: "OK" }, id: created.id }]);
});

test("Tornjak: federated bundles listed, created, updated (no mask) and deleted with its request shapes", async () => {
  ready();
  const own = await api.call(`${BUNDLE}GetBundle`, {});
  checkBundle(own, TD);
  const t1 = await foreignBundle("t1.org", "t1-key");
  const created = await api.call(`${BUNDLE}BatchCreateFederatedBundle`, { bundle: [t1] });
  assert.equal(created.results[0].status, { code: 0, message: "OK" });
  checkBundle(created.results[0].bundle, "t1.org");
  const list = await api.call(`${BUNDLE}ListFederatedBundles`, {});
  assert.is(list.next_page_token, "");
  assert.equal((list.bundles as Msg[]).map((b) => b.trust_domain), ["b.org", "c.org", "t1.org"], "every bundle but the server's own");
  const t1v2 = await foreignBundle("t1.org", "t1-key-2");
  const updated = await api.call(`${BUNDLE}BatchUpdateFederatedBundle`, { bundle: [t1v2] });
  assert.equal(updated.results[0].status, { code: 0, message: "OK" });
  assert.equal(updated.results[0].bundle.jwt_authorities.map((k: Msg) => k.key_id), ["t1-key-2"], "no input mask: replaced");
  // Tornjak sends no mode: RESTRICT (0) refuses a bundle that an entry federates with.
  const user = await api.call(`${ENTRY}BatchCreateEntry`, {
    entries: [{ spiffe_id: id("/t1-user"), parent_id: id("/node"), selectors: [{ type: "unix", value: "uid:1" }], federates_with: ["t1.org"] }],
  });
  assert.equal(user.results[0].status, { code: 0, message: "OK" });
  const restricted = await api.call(`${BUNDLE}BatchDeleteFederatedBundle`, { trust_domains: ["t1.org"] });
  assert.equal(restricted.results, [{
    status: { code: 9, message: "failed to delete federated bundle: datastore-sql: cannot delete bundle; federated with 1 registration entries" },
    trust_domain: "t1.org",
  }]);
  assert.equal((await api.call(`${ENTRY}BatchDeleteEntry`, { ids: [user.results[0].entry.id] })).results[0].status, { code: 0, message: "OK" });
  const deleted = await api.call(`${BUNDLE}BatchDeleteFederatedBundle`, { trust_domains: ["t1.org"] });
  assert.equal(deleted.results, [{ status: { code: 0, message: "OK" }, trust_domain: "t1.org" }]);
  const gone = await api.call(`${BUNDLE}BatchDeleteFederatedBundle`, { trust_domains: ["t1.org"] });
  assert.equal(gone.results, [{ status: { code: 5, message: "bundle not found" }, trust_domain: "t1.org" }]);
});

test("Tornjak: federation relationships from its documented JSON (https_spiffe + trust_domain_bundle), listed, updated, deleted", async () => {
  ready();
  const t2 = await foreignBundle("t2.org", "t2-key");
  const rel = {
    trust_domain: "t2.org",
    bundle_endpoint_url: "https://host.docker.internal:8440",
    https_spiffe: { endpoint_spiffe_id: "spiffe://t2.org/spire/server" },
    trust_domain_bundle: t2,
  };
  const created = await api.call(`${TRUSTDOMAIN}BatchCreateFederationRelationship`, { federation_relationships: [rel] });
  assert.equal(created.results[0].status, { code: 0, message: "OK" });
  assert.is(created.results[0].federation_relationship.bundle_endpoint_profile, "https_spiffe");
  const list = await api.call(`${TRUSTDOMAIN}ListFederationRelationships`, {});
  assert.is(list.next_page_token, "");
  const got = (list.federation_relationships as Msg[]).find((r) => r.trust_domain === "t2.org")!;
  assert.equal([got.bundle_endpoint_url, got.https_spiffe], [rel.bundle_endpoint_url, rel.https_spiffe]);
  checkBundle(got.trust_domain_bundle, "t2.org");
  // Creating it again fails and leaves its bundle alone (SPIRE writes both in one transaction).
  const dup = await api.call(`${TRUSTDOMAIN}BatchCreateFederationRelationship`, {
    federation_relationships: [{ ...rel, trust_domain_bundle: await foreignBundle("t2.org", "other-key") }],
  });
  assert.ok(dup.results[0].status.code !== 0, JSON.stringify(dup.results[0].status));
  const kept = await api.call(`${BUNDLE}GetFederatedBundle`, { trust_domain: "t2.org" });
  assert.equal(kept.jwt_authorities.map((k: Msg) => k.key_id), ["t2-key"]);
  const upd = await api.call(`${TRUSTDOMAIN}BatchUpdateFederationRelationship`, {
    federation_relationships: [{ ...rel, bundle_endpoint_url: "https://host.docker.internal:8441" }],
  });
  assert.equal(upd.results[0].status, { code: 0, message: "OK" });
  assert.is(upd.results[0].federation_relationship.bundle_endpoint_url, "https://host.docker.internal:8441");
  const del = await api.call(`${TRUSTDOMAIN}BatchDeleteFederationRelationship`, { trust_domains: ["t2.org"] });
  assert.equal(del.results, [{ status: { code: 0, message: "OK" }, trust_domain: "t2.org" }]);
  // As SPIRE's ProtoToFederationRelationship: the bootstrap bundle must be the relationship's trust domain's.
  const other = await api.call(`${TRUSTDOMAIN}BatchCreateFederationRelationship`, { federation_relationships: [{ ...rel, trust_domain: "t3.org" }] });
  assert.equal(other.results[0].status, {
    code: 3,
    message: 'failed to convert federation relationship: trust domain bundle ("t2.org") must match the trust domain of the federation relationship ("t3.org")',
  });
});

// ---------------------------------------------------------------------------------------------------------------

test("the admin socket routes every RPC of spire-api-sdk's server services except AttestAgent and Health/Watch", async () => {
  ready();
  const unserved: string[] = [];
  for (const [path, m] of methodsOf(loadSpireServerAPI())) {
    // A field 1 with a truncated length: no server can decode it, so a routed method never runs its handler.
    const code = await api.probe(path, new Uint8Array([0x0a, 0xff]), m.requestStream);
    if (code === "UNIMPLEMENTED") unserved.push(path);
  }
  assert.equal(unserved, ["/spire.api.server.agent.v1.Agent/AttestAgent", "/grpc.health.v1.Health/Watch"]);
});

test.run();
