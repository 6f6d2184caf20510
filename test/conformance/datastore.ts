/**
 * The DataStore conformance suite: every backend (SQLite, PostgreSQL, …) must pass it unchanged. It uses only the
 * DataStore port, so nothing here knows about a dialect.
 * @module
 */
import { suite } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, type ServiceError } from "../../src/core/errors.ts";
import { x509 } from "../../src/core/x509/_peculiar.ts";
import type { AttestedNode, DataStore, NewRegistrationEntry, Selector } from "../../src/server/datastore/datastore.ts";

/** A fresh, empty store on the system clock, and how to dispose of it. */
export interface OpenedDataStore {
  ds: DataStore;
  cleanup(): Promise<void>;
}

const TD = "spiffe://example.org";

export function newEntry(over: Partial<NewRegistrationEntry> = {}): NewRegistrationEntry {
  return {
    spiffeID: `${TD}/workload`,
    parentID: `${TD}/spire/agent/join_token/abc`,
    selectors: [{ type: "unix", value: "uid:1000" }],
    x509SVIDTTL: 3600,
    jwtSVIDTTL: 300,
    dnsNames: ["a.example.org"],
    hint: "",
    admin: false,
    downstream: false,
    ...over,
  };
}

/** Asserts that `p` rejects with exactly this class, code and message. */
export async function rejects(
  p: Promise<unknown>,
  cls: new (...args: never[]) => ServiceError,
  code: string,
  message: string,
): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
  assert.is((err as ServiceError).code, code);
  assert.is((err as ServiceError).message, message);
}

/** A self-signed P-256 root that expires at `notAfter` (unix seconds). */
async function rootCert(notAfter: number): Promise<Uint8Array> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.subtle.generateKey(alg, false, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=root",
    keys,
    signingAlgorithm: alg,
    notBefore: new Date((notAfter - 86400) * 1000),
    notAfter: new Date(notAfter * 1000),
  });
  return new Uint8Array(cert.rawData);
}

const bytes = (...b: number[]) => new Uint8Array(b);
const exists = (p: Promise<unknown>, message: string) => rejects(p, AlreadyExistsError, "ERR_ALREADY_EXISTS", message);
const missing = (p: Promise<unknown>, message: string) => rejects(p, NotFoundError, "ERR_NOT_FOUND", message);
const ids = (list: { id: string }[]) => list.map((e) => e.id);
const sel = (type: string, value: string): Selector => ({ type, value });
const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Registers and runs (queues, as uvu does) the suite "datastore <name>". `open` is called before every test and must
 * return an empty store that uses the system clock; `cleanup` runs after every test.
 */
export function datastoreSuite(name: string, open: () => Promise<OpenedDataStore>): void {
  const test = suite<OpenedDataStore>(`datastore ${name}`, {} as OpenedDataStore);
  test.before.each(async (ctx) => {
    Object.assign(ctx, await open());
  });
  test.after.each((ctx) => ctx.cleanup());

  test("createEntry assigns a UUIDv4 id, revision 0 and createdAt, and fetchEntry returns it", async ({ ds }) => {
    const before = nowSeconds();
    const e = await ds.createEntry(newEntry());
    assert.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.is(e.revisionNumber, 0);
    assert.ok(e.createdAt >= before && e.createdAt <= nowSeconds());
    assert.equal(await ds.fetchEntry(e.id), e);
    assert.is(await ds.fetchEntry("no-such-entry"), undefined);

    const given = await ds.createEntry(newEntry({ id: "entry-1", spiffeID: `${TD}/o`, admin: true, downstream: true }));
    assert.is(given.id, "entry-1");
    assert.equal(await ds.fetchEntry("entry-1"), given);
    // An empty id, as a protobuf request carries for "none", is absent too.
    const blank = await ds.createEntry(newEntry({ id: "", spiffeID: `${TD}/blank` }));
    assert.match(blank.id, /^[0-9a-f-]{36}$/);
  });

  test("createEntry refuses a duplicate of parent, SPIFFE ID and selector set, in any order", async ({ ds }) => {
    const selectors = [sel("unix", "uid:1000"), sel("unix", "gid:0")];
    await ds.createEntry(newEntry({ selectors }));
    const dup = newEntry({ selectors: [sel("unix", "gid:0"), sel("unix", "uid:1000"), sel("unix", "gid:0")] });
    await exists(ds.createEntry(dup), "entry already exists");
    // A different selector set, parent or SPIFFE ID is a different entry.
    await ds.createEntry(newEntry({ selectors: [sel("unix", "uid:1000")] }));
    await ds.createEntry(newEntry({ selectors, parentID: `${TD}/other-agent` }));
    await ds.createEntry(newEntry({ selectors, spiffeID: `${TD}/other` }));
    await ds.createEntry(newEntry({ id: "fixed", spiffeID: `${TD}/x` }));
    await exists(ds.createEntry(newEntry({ id: "fixed", spiffeID: `${TD}/y` })), "entry already exists");
    assert.is((await ds.listEntries()).length, 5);
  });

  test("createEntry of one entry from 10 concurrent callers succeeds exactly once", async ({ ds }) => {
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => ds.createEntry(newEntry())));
    assert.is(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results) {
      if (r.status === "rejected") assert.ok(r.reason instanceof AlreadyExistsError);
    }
  });

  test("listEntries filters by parent, SPIFFE ID and selector subset, oldest first", async ({ ds }) => {
    const [nsA, nsB, saX] = [sel("k8s", "ns:a"), sel("k8s", "ns:b"), sel("k8s", "sa:x")];
    const a = await ds.createEntry(newEntry({ parentID: `${TD}/p1`, spiffeID: `${TD}/a`, selectors: [nsA, saX] }));
    const b = await ds.createEntry(newEntry({ parentID: `${TD}/p1`, spiffeID: `${TD}/b`, selectors: [nsA] }));
    const c = await ds.createEntry(newEntry({ parentID: `${TD}/p2`, spiffeID: `${TD}/a`, selectors: [nsB, saX] }));
    assert.equal(ids(await ds.listEntries()), [a.id, b.id, c.id]);
    assert.equal(ids(await ds.listEntries({})), [a.id, b.id, c.id]);
    assert.equal(ids(await ds.listEntries({ parentID: `${TD}/p1` })), [a.id, b.id]);
    assert.equal(ids(await ds.listEntries({ spiffeID: `${TD}/a` })), [a.id, c.id]);
    assert.equal(ids(await ds.listEntries({ selectors: [saX] })), [a.id, c.id]);
    assert.equal(ids(await ds.listEntries({ selectors: [saX, nsA] })), [a.id]);
    assert.equal(ids(await ds.listEntries({ selectors: [nsA, nsB] })), []);
    assert.equal(ids(await ds.listEntries({ parentID: `${TD}/p2`, spiffeID: `${TD}/a`, selectors: [saX] })), [c.id]);
    assert.equal(ids(await ds.listEntries({ parentID: `${TD}/p3` })), []);
    assert.equal(ids(await ds.listEntries({ selectors: [] })), [a.id, b.id, c.id]);
    assert.equal((await ds.listEntries({ spiffeID: `${TD}/b` }))[0], b);
  });

  test("updateEntry replaces fields, keeps id and createdAt, and bumps the revision", async ({ ds }) => {
    const e = await ds.createEntry(newEntry());
    const change = { spiffeID: `${TD}/renamed`, selectors: [sel("unix", "uid:0")], dnsNames: [], hint: "h", admin: true };
    const u1 = await ds.updateEntry({ ...e, ...change, x509SVIDTTL: 60 });
    assert.is(u1.revisionNumber, 1);
    assert.is(u1.createdAt, e.createdAt);
    assert.is(u1.spiffeID, `${TD}/renamed`);
    assert.equal(u1.selectors, [sel("unix", "uid:0")]);
    assert.equal(await ds.fetchEntry(e.id), u1);
    const u2 = await ds.updateEntry({ ...u1, revisionNumber: 99, createdAt: 1 });
    assert.is(u2.revisionNumber, 2);
    assert.is(u2.createdAt, e.createdAt);
    // The selector index follows the update.
    assert.equal(ids(await ds.listEntries({ selectors: [sel("unix", "uid:1000")] })), []);
    assert.equal(ids(await ds.listEntries({ selectors: [sel("unix", "uid:0")] })), [e.id]);

    await missing(ds.updateEntry({ ...u2, id: "missing" }), `entry "missing" not found`);
    const other = await ds.createEntry(newEntry());
    await exists(ds.updateEntry({ ...other, spiffeID: u2.spiffeID, selectors: u2.selectors }), "entry already exists");
    assert.is((await ds.fetchEntry(other.id))?.revisionNumber, 0);
  });

  test("deleteEntry returns the entry and removes it with its selectors", async ({ ds }) => {
    const e = await ds.createEntry(newEntry());
    assert.equal(await ds.deleteEntry(e.id), e);
    assert.is(await ds.fetchEntry(e.id), undefined);
    assert.equal(await ds.listEntries({ selectors: e.selectors }), []);
    await missing(ds.deleteEntry(e.id), `entry "${e.id}" not found`);
    // The same entry can be created again once deleted.
    await ds.createEntry(newEntry());
  });

  test("every entry change writes one event, in commit order; failed changes write none", async ({ ds }) => {
    assert.is(await ds.lastEntryEventID(), 0);
    assert.equal(await ds.listEntryEvents(0), []);
    const a = await ds.createEntry(newEntry({ spiffeID: `${TD}/a` }));
    const b = await ds.createEntry(newEntry({ spiffeID: `${TD}/b` }));
    await exists(ds.createEntry(newEntry({ spiffeID: `${TD}/a` })), "entry already exists");
    await ds.updateEntry({ ...a, hint: "x" });
    await ds.deleteEntry(b.id);
    await missing(ds.deleteEntry(b.id), `entry "${b.id}" not found`);
    const events = await ds.listEntryEvents(0);
    assert.equal(events.map((e) => e.entryID), [a.id, b.id, a.id, b.id]);
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.id > events[i - 1]!.id);
    assert.is(await ds.lastEntryEventID(), events[3]!.id);
    assert.equal(await ds.listEntryEvents(events[1]!.id), events.slice(2));
    assert.equal(await ds.listEntryEvents(events[0]!.id, 2), events.slice(1, 3));
    assert.equal(await ds.listEntryEvents(events[3]!.id), []);
  });

  test("attested nodes: create, fetch, list, update, delete, with selectors in order", async ({ ds }) => {
    const node = {
      spiffeID: `${TD}/spire/agent/x509pop/b`,
      attestationType: "x509pop",
      certSerial: "0a1b",
      certNotAfter: 2_000_000_000,
      newCertSerial: "",
      newCertNotAfter: 0,
      canReattest: true,
      banned: false,
      selectors: [sel("x509pop", "subject:cn:b"), sel("x509pop", "ca:fingerprint:00")],
    };
    assert.equal(await ds.createAttestedNode(node), node);
    await exists(ds.createAttestedNode(node), `attested node "${node.spiffeID}" already exists`);
    assert.equal(await ds.fetchAttestedNode(node.spiffeID), node);
    assert.is(await ds.fetchAttestedNode(`${TD}/nobody`), undefined);
    const other = { ...node, spiffeID: `${TD}/spire/agent/join_token/a`, attestationType: "join_token", selectors: [] };
    await ds.createAttestedNode(other);
    assert.equal(await ds.listAttestedNodes(), [other, node]);

    const renewed = { ...node, newCertSerial: "0c", newCertNotAfter: 2_000_000_100, banned: true, selectors: [sel("x509pop", "subject:cn:c")] };
    assert.equal(await ds.updateAttestedNode(renewed), renewed);
    assert.equal(await ds.fetchAttestedNode(node.spiffeID), renewed);
    const ghost = { ...node, spiffeID: `${TD}/ghost` };
    await missing(ds.updateAttestedNode(ghost), `attested node "${TD}/ghost" not found`);

    assert.equal(await ds.deleteAttestedNode(node.spiffeID), renewed);
    assert.is(await ds.fetchAttestedNode(node.spiffeID), undefined);
    await missing(ds.deleteAttestedNode(node.spiffeID), `attested node "${node.spiffeID}" not found`);
    assert.equal(await ds.listAttestedNodes(), [other]);
  });

  /** A node named `name` under /spire/agent/<type>/, not banned, SVID expiring at `notAfter`. */
  const agentNode = (name: string, over: Partial<AttestedNode> = {}): AttestedNode => ({
    spiffeID: `${TD}/spire/agent/${over.attestationType ?? "join_token"}/${name}`,
    attestationType: "join_token",
    certSerial: `0${name.length}`,
    certNotAfter: 2_000_000_000,
    newCertSerial: "",
    newCertNotAfter: 0,
    canReattest: false,
    banned: false,
    selectors: [],
    ...over,
  });
  const names = (list: AttestedNode[]) => list.map((n) => n.spiffeID.slice(n.spiffeID.lastIndexOf("/") + 1));

  test("listAttestedNodes and countAttestedNodes filter by attestation type, banned, can-reattest and expiry", async ({ ds }) => {
    await ds.createAttestedNode(agentNode("a", { certNotAfter: 1_000 }));
    await ds.createAttestedNode(agentNode("b", { certNotAfter: 2_000, banned: true, certSerial: "" }));
    await ds.createAttestedNode(agentNode("c", { attestationType: "x509pop", canReattest: true, certNotAfter: 1_500 }));
    await ds.createAttestedNode(agentNode("d", { attestationType: "x509pop", canReattest: true, certNotAfter: 3_000 }));
    const check = async (filter: Parameters<DataStore["listAttestedNodes"]>[0], want: string[]) => {
      assert.equal(names(await ds.listAttestedNodes(filter)), want, JSON.stringify(filter));
      assert.is(await ds.countAttestedNodes(filter), want.length, JSON.stringify(filter));
    };
    await check(undefined, ["a", "b", "c", "d"]);
    await check({}, ["a", "b", "c", "d"]);
    await check({ attestationType: "x509pop" }, ["c", "d"]);
    await check({ attestationType: "aws_iid" }, []);
    await check({ banned: true }, ["b"]);
    await check({ banned: false }, ["a", "c", "d"]);
    await check({ canReattest: true }, ["c", "d"]);
    await check({ canReattest: false }, ["a", "b"]);
    // Strictly before, as SPIRE's `expires_at < ?`.
    await check({ expiresBefore: 2_000 }, ["a", "c"]);
    await check({ expiresBefore: 2_001 }, ["a", "b", "c"]);
    // What `agent purge` lists: re-attestable agents whose SVID expired before the cut-off.
    await check({ canReattest: true, expiresBefore: 2_000 }, ["c"]);
    await check({ attestationType: "join_token", banned: false, expiresBefore: 5_000 }, ["a"]);
  });

  test("listAttestedNodes matches node selectors: superset, any, exact and subset, as SPIRE", async ({ ds }) => {
    await ds.createAttestedNode(agentNode("ab", { selectors: [sel("a", "1"), sel("b", "2")] }));
    await ds.createAttestedNode(agentNode("a", { selectors: [sel("a", "1")] }));
    await ds.createAttestedNode(agentNode("abc", { selectors: [sel("c", "3"), sel("a", "1"), sel("b", "2")] }));
    await ds.createAttestedNode(agentNode("none"));
    await ds.createAttestedNode(agentNode("d", { selectors: [sel("d", "4")] }));
    // Same type, other value: selectors match on type and value together.
    await ds.createAttestedNode(agentNode("a2", { selectors: [sel("a", "2")] }));
    const want = { superset: ["ab", "abc"], any: ["a", "ab", "abc"], exact: ["ab"], subset: ["a", "ab"] } as const;
    for (const match of ["superset", "any", "exact", "subset"] as const) {
      const filter = { selectorMatch: { selectors: [sel("b", "2"), sel("a", "1")], match } };
      assert.equal(names(await ds.listAttestedNodes(filter)), want[match], match);
      assert.is(await ds.countAttestedNodes(filter), want[match].length, match);
    }
    // Selectors come back whole, in the attestor's order, whatever matched.
    const [abc] = await ds.listAttestedNodes({ selectorMatch: { selectors: [sel("c", "3")], match: "any" } });
    assert.equal(abc!.selectors, [sel("c", "3"), sel("a", "1"), sel("b", "2")]);
    // Combined with the other filters.
    assert.equal(names(await ds.listAttestedNodes({ banned: true, selectorMatch: { selectors: [sel("a", "1")], match: "any" } })), []);
    const empty = { selectorMatch: { selectors: [], match: "any" as const } };
    await rejects(ds.listAttestedNodes(empty), InvalidArgumentError, "ERR_INVALID_ARGUMENT", "cannot list by empty selectors set");
    await rejects(ds.countAttestedNodes(empty), InvalidArgumentError, "ERR_INVALID_ARGUMENT", "cannot list by empty selectors set");
  });

  test("banAttestedNode empties the serials and keeps the node; updates cannot lift a ban, deleting the node does", async ({ ds }) => {
    const node = agentNode("x", { certSerial: "0a", newCertSerial: "0b", newCertNotAfter: 2_000_000_100, selectors: [sel("t", "v")] });
    await ds.createAttestedNode(node);
    const banned = { ...node, certSerial: "", newCertSerial: "", newCertNotAfter: 0, banned: true };
    assert.equal(await ds.banAttestedNode(node.spiffeID), banned);
    assert.equal(await ds.fetchAttestedNode(node.spiffeID), banned);
    // Banning twice is harmless.
    assert.equal(await ds.banAttestedNode(node.spiffeID), banned);
    await missing(ds.banAttestedNode(`${TD}/spire/agent/join_token/ghost`), `attested node "${TD}/spire/agent/join_token/ghost" not found`);
    // A renewal that read the node before the ban writes it back unbanned: the ban and the empty serials stay.
    const renewed = { ...node, newCertSerial: "0c", newCertNotAfter: 2_000_000_200 };
    assert.equal(await ds.updateAttestedNode(renewed), banned);
    assert.equal(await ds.fetchAttestedNode(node.spiffeID), banned);
    assert.equal(names(await ds.listAttestedNodes({ banned: true })), ["x"]);
    assert.equal(await ds.deleteAttestedNode(node.spiffeID), banned);
    await ds.createAttestedNode(node);
    assert.equal(await ds.fetchAttestedNode(node.spiffeID), node);
  });

  test("join tokens are taken once and pruned by expiry", async ({ ds }) => {
    await ds.createJoinToken({ token: "t1", expiresAt: 100 });
    await ds.createJoinToken({ token: "t2", expiresAt: 200 });
    await ds.createJoinToken({ token: "t3", expiresAt: 300 });
    await exists(ds.createJoinToken({ token: "t1", expiresAt: 999 }), "join token already exists");
    assert.equal(await ds.takeJoinToken("t1"), { token: "t1", expiresAt: 100 });
    assert.is(await ds.takeJoinToken("t1"), undefined);
    assert.is(await ds.takeJoinToken("nope"), undefined);
    assert.is(await ds.pruneJoinTokens(250), 1);
    assert.is(await ds.takeJoinToken("t2"), undefined);
    assert.equal(await ds.takeJoinToken("t3"), { token: "t3", expiresAt: 300 });
    assert.is(await ds.pruneJoinTokens(1000), 0);
  });

  test("createJoinToken with an alias stores the token, the alias entry and its event together, or neither", async ({ ds }) => {
    const agent = `${TD}/spire/agent/join_token/t1`;
    const alias = newEntry({ spiffeID: `${TD}/node1`, parentID: agent, selectors: [sel("spiffe_id", agent)], dnsNames: [] });
    const stored = await ds.createJoinToken({ token: "t1", expiresAt: 100 }, alias);
    assert.equal(await ds.listEntries({ parentID: agent }), [stored!]);
    assert.equal((await ds.listEntryEvents(0)).map((e) => e.entryID), [stored!.id]);
    // The alias collides with the one above: the second token must not be stored without it.
    await exists(ds.createJoinToken({ token: "t2", expiresAt: 100 }, alias), "entry already exists");
    assert.is(await ds.takeJoinToken("t2"), undefined);
    // The token collides: no alias entry or event may be left behind.
    await exists(ds.createJoinToken({ token: "t1", expiresAt: 100 }, { ...alias, spiffeID: `${TD}/node2` }), "join token already exists");
    assert.equal(await ds.listEntries({ spiffeID: `${TD}/node2` }), []);
    assert.is((await ds.listEntryEvents(0)).length, 1);
    assert.is(await ds.createJoinToken({ token: "t3", expiresAt: 100 }), undefined);
    assert.equal(await ds.takeJoinToken("t1"), { token: "t1", expiresAt: 100 });
  });

  test("20 concurrent takeJoinToken calls of one token: exactly one gets it", async ({ ds }) => {
    await ds.createJoinToken({ token: "race", expiresAt: 100 });
    const got = await Promise.all(Array.from({ length: 20 }, () => ds.takeJoinToken("race")));
    assert.equal(got.filter((t) => t !== undefined), [{ token: "race", expiresAt: 100 }]);
  });

  test("appendBundle creates, dedupes roots by DER and keys by kid, bumps the sequence on change", async ({ ds }) => {
    assert.is(await ds.fetchBundle(TD), undefined);
    const k1 = { kid: "k1", publicKey: bytes(1, 2), notAfter: 500 };
    const b1 = await ds.appendBundle({ trustDomain: TD, x509Authorities: [bytes(1), bytes(1)], jwtKeys: [k1] });
    assert.equal(b1, { trustDomain: TD, x509Authorities: [bytes(1)], jwtKeys: [k1], sequence: 1, refreshHint: 300 });
    assert.equal(await ds.fetchBundle(TD), b1);

    const k1Again = { ...k1, publicKey: bytes(9) };
    assert.equal(await ds.appendBundle({ trustDomain: TD, x509Authorities: [bytes(1)], jwtKeys: [k1Again] }), b1);
    const k2 = { kid: "k2", publicKey: bytes(3), notAfter: 600 };
    const b2 = await ds.appendBundle({ trustDomain: TD, x509Authorities: [bytes(2), bytes(1)], jwtKeys: [k1, k2] });
    assert.equal(b2, { ...b1, x509Authorities: [bytes(1), bytes(2)], jwtKeys: [k1, k2], sequence: 2 });
    const b3 = await ds.appendBundle({ trustDomain: TD, x509Authorities: [], jwtKeys: [], refreshHint: 60 });
    assert.equal(b3, { ...b2, refreshHint: 60, sequence: 3 });
    assert.equal(await ds.fetchBundle(TD), b3);

    const fed = await ds.appendBundle({ trustDomain: "spiffe://a.org", x509Authorities: [bytes(7)], jwtKeys: [], refreshHint: 30 });
    assert.is(fed.refreshHint, 30);
    assert.is(fed.sequence, 1);
    assert.equal(await ds.listBundles(), [fed, b3]);
  });

  test("concurrent appendBundle calls lose no root", async ({ ds }) => {
    const append = (i: number) => ds.appendBundle({ trustDomain: TD, x509Authorities: [bytes(i)], jwtKeys: [] });
    await Promise.all(Array.from({ length: 10 }, (_, i) => append(i)));
    const b = await ds.fetchBundle(TD);
    assert.is(b?.x509Authorities.length, 10);
    assert.is(b?.sequence, 10);
  });

  test("pruneBundle drops expired roots and keys but never the last root", async ({ ds }) => {
    assert.is(await ds.pruneBundle(TD, 1000), undefined);
    const [r1, r2, r3] = await Promise.all([2_000_000_000, 2_000_100_000, 2_000_200_000].map(rootCert));
    const k1 = { kid: "k1", publicKey: bytes(1), notAfter: 2_000_000_000 };
    const k2 = { kid: "k2", publicKey: bytes(2), notAfter: 2_000_150_000 };
    const b1 = await ds.appendBundle({ trustDomain: TD, x509Authorities: [r1!, r2!, r3!], jwtKeys: [k1, k2] });

    assert.equal(await ds.pruneBundle(TD, 2_000_000_000), b1, "notAfter equal to the cut-off is kept");
    const b2 = await ds.pruneBundle(TD, 2_000_000_001);
    assert.equal(b2, { ...b1, x509Authorities: [r2!, r3!], jwtKeys: [k2], sequence: 2 });
    const b3 = await ds.pruneBundle(TD, 2_000_150_001);
    assert.equal(b3, { ...b1, x509Authorities: [r3!], jwtKeys: [], sequence: 3 });
    const b4 = await ds.pruneBundle(TD, 2_100_000_000);
    assert.equal(b4, b3, "the last root stays");
    assert.equal(await ds.fetchBundle(TD), b3);

    const other = "spiffe://b.org";
    await ds.appendBundle({ trustDomain: other, x509Authorities: [r1!, r2!], jwtKeys: [] });
    const kept = await ds.pruneBundle(other, 2_100_000_000);
    assert.equal(kept?.x509Authorities, [r2!], "when all expired, the one that expires last stays");
    assert.is(kept?.sequence, 2);
  });

  test("setCAJournal creates and upserts by id; fetchCAJournal finds the newest by authority", async ({ ds }) => {
    assert.is(await ds.fetchCAJournal("ak1"), undefined);
    const j1 = await ds.setCAJournal({ activeX509AuthorityID: "ak1", data: `{"v":1}` });
    assert.ok(j1.id > 0);
    assert.equal(j1, { id: j1.id, activeX509AuthorityID: "ak1", data: `{"v":1}` });
    assert.equal(await ds.fetchCAJournal("ak1"), j1);

    const j1b = await ds.setCAJournal({ id: j1.id, activeX509AuthorityID: "ak2", data: `{"v":2}` });
    assert.equal(j1b, { id: j1.id, activeX509AuthorityID: "ak2", data: `{"v":2}` });
    assert.is(await ds.fetchCAJournal("ak1"), undefined);
    assert.equal(await ds.fetchCAJournal("ak2"), j1b);

    const j2 = await ds.setCAJournal({ activeX509AuthorityID: "ak2", data: `{"v":3}` });
    assert.ok(j2.id > j1.id);
    assert.equal(await ds.fetchCAJournal("ak2"), j2);
    const j9 = await ds.setCAJournal({ id: 9000, activeX509AuthorityID: "ak9", data: "{}" });
    assert.equal(await ds.fetchCAJournal("ak9"), j9);
  });

  test("setManagedConfig stores a section's document, bumps its version and updatedAt; sections are separate", async ({ ds }) => {
    assert.is(await ds.fetchManagedConfig("UpstreamAuthority"), undefined);
    const before = nowSeconds();
    const c1 = await ds.setManagedConfig("UpstreamAuthority", "section: UpstreamAuthority\nschema: v1\n");
    assert.is(c1.version, 1);
    assert.ok(c1.updatedAt >= before && c1.updatedAt <= nowSeconds());
    assert.equal(await ds.fetchManagedConfig("UpstreamAuthority"), c1);

    const c2 = await ds.setManagedConfig("UpstreamAuthority", "# second\n");
    assert.equal(c2, { section: "UpstreamAuthority", document: "# second\n", version: 2, updatedAt: c2.updatedAt });
    assert.equal(await ds.fetchManagedConfig("UpstreamAuthority"), c2);

    const other = await ds.setManagedConfig("Other", "x: 1\n");
    assert.is(other.version, 1);
    assert.equal(await ds.fetchManagedConfig("UpstreamAuthority"), c2);
  });

  test("10 concurrent setManagedConfig calls of one section get versions 1 to 10, each once", async ({ ds }) => {
    const all = await Promise.all(Array.from({ length: 10 }, (_, i) => ds.setManagedConfig("UpstreamAuthority", `n: ${i}\n`)));
    assert.equal(all.map((c) => c.version).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const last = all.find((c) => c.version === 10)!;
    assert.is((await ds.fetchManagedConfig("UpstreamAuthority"))?.document, last.document);
  });

  test("setBundle replaces a foreign bundle whole, bumps the sequence only on change; deleteBundle removes it", async ({ ds }) => {
    const fed = "two.example";
    const k1 = { kid: "k1", publicKey: bytes(9), notAfter: 2_000_000_000 };
    const b1 = await ds.setBundle({ trustDomain: fed, x509Authorities: [bytes(1), bytes(2)], jwtKeys: [k1], refreshHint: 60 });
    assert.equal(b1, { trustDomain: fed, x509Authorities: [bytes(1), bytes(2)], jwtKeys: [k1], refreshHint: 60, sequence: 1 });
    assert.equal(await ds.fetchBundle(fed), b1);
    assert.equal(await ds.setBundle({ trustDomain: fed, x509Authorities: [bytes(1), bytes(2)], jwtKeys: [k1], refreshHint: 60 }), b1);
    const b2 = await ds.setBundle({ trustDomain: fed, x509Authorities: [bytes(3)], jwtKeys: [], refreshHint: 30 });
    assert.equal(b2, { trustDomain: fed, x509Authorities: [bytes(3)], jwtKeys: [], refreshHint: 30, sequence: 2 });
    assert.equal(
      await ds.setBundle({ trustDomain: fed, x509Authorities: [bytes(3)], jwtKeys: [], refreshHint: 30, sequence: 9 }),
      b2,
      "same content: not rewritten",
    );
    const b3 = await ds.setBundle({ trustDomain: fed, x509Authorities: [bytes(4)], jwtKeys: [], refreshHint: 30, sequence: 42 });
    assert.is(b3.sequence, 42, "a foreign spiffe_sequence ahead of ours is kept");
    await ds.appendBundle({ trustDomain: "one.example", x509Authorities: [bytes(5)], jwtKeys: [] });
    assert.equal((await ds.listBundles()).map((b) => b.trustDomain), ["one.example", fed]);
    await ds.deleteBundle(fed);
    assert.is(await ds.fetchBundle(fed), undefined);
    await missing(ds.deleteBundle(fed), "bundle not found");
  });

  test("federation relationships: create, fetch, list, update, delete", async ({ ds }) => {
    const web = { trustDomain: "b.example", bundleEndpointURL: "https://b.example/", profile: { type: "https_web" as const } };
    const spiffe = {
      trustDomain: "a.example",
      bundleEndpointURL: "https://a.example:8443",
      profile: { type: "https_spiffe" as const, endpointSPIFFEID: "spiffe://a.example/spire/server" },
    };
    assert.equal(await ds.createFederationRelationship(web), web);
    assert.equal(await ds.createFederationRelationship(spiffe), spiffe);
    await exists(ds.createFederationRelationship(web), "federation relationship already exists");
    assert.equal(await ds.fetchFederationRelationship("a.example"), spiffe);
    assert.is(await ds.fetchFederationRelationship("c.example"), undefined);
    assert.equal(await ds.listFederationRelationships(), [spiffe, web]);
    const moved = { ...web, bundleEndpointURL: "https://b.example:9443/" };
    assert.equal(await ds.updateFederationRelationship(moved), moved);
    assert.equal(await ds.fetchFederationRelationship("b.example"), moved);
    await missing(ds.updateFederationRelationship({ ...web, trustDomain: "c.example" }), "unable to fetch federation relationship: record not found");
    await ds.deleteFederationRelationship("b.example");
    await missing(ds.deleteFederationRelationship("b.example"), "record not found");
    assert.equal(await ds.listFederationRelationships(), [spiffe]);
  });

  test("entries keep their federates_with trust domains through create and update", async ({ ds }) => {
    const e = await ds.createEntry(newEntry({ federatesWith: ["two.example", "three.example"] }));
    assert.equal(e.federatesWith, ["two.example", "three.example"]);
    assert.equal((await ds.fetchEntry(e.id))?.federatesWith, ["two.example", "three.example"]);
    const u = await ds.updateEntry({ ...e, federatesWith: [] });
    assert.equal(u.federatesWith, []);
    assert.equal((await ds.listEntries())[0]?.federatesWith, []);
  });

  test.run();
}
