/**
 * `wisp-server` commands a SPIRE user and their scripts run, against a real server (and agent where it matters),
 * compared byte for byte with SPIRE's output. Each golden names the SPIRE source it was taken from.
 * @module
 */
import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { type Cluster, joinToken, newCluster, ROOT, run, startAgent, startServer, waitFor, wispAgent, wispServer } from "./_harness.ts";

let c: Cluster;
const FIXTURES = join(ROOT, "test/fixtures/spire/registration");

test.before(async () => {
  c = await newCluster();
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
});

test.after(async () => {
  await c?.cleanup();
});

const srv = (...args: string[]) => wispServer([...args, "-socketPath", c.serverSocket]);

// Golden: cmd/spire-server/cli/entry/util.go printEntry (alignment, "default" TTLs, Go's time.Time text).
const WEB_ENTRY = `Entry ID                : e-web
SPIFFE ID               : spiffe://example.org/web
Parent ID               : spiffe://example.org/node1
Revision                : 0
Downstream              : true
X509-SVID TTL           : 60
JWT-SVID TTL            : 30
Expiration time         : 2033-05-18 03:33:19 +0000 UTC
Selector                : unix:uid:1000
Selector                : unix:gid:1000
DNS name                : web.example.org
Admin                   : true
Hint                    : internal

`;

const WEB_ARGS = [
  "-entryID",
  "e-web",
  "-parentID",
  "spiffe://example.org/node1",
  "-spiffeID",
  "spiffe://example.org/web",
  "-selector",
  "unix:uid:1000",
  "-selector",
  "unix:gid:1000",
  "-x509SVIDTTL",
  "60",
  "-jwtSVIDTTL",
  "30",
  "-dns",
  "web.example.org",
  "-downstream",
  "-admin",
  "-hint",
  "internal",
  "-entryExpiry",
  "1999999999",
];

test("entry create prints SPIRE's entry block; a duplicate is a per-entry AlreadyExists failure with exit 1", async () => {
  const r = await srv("entry", "create", ...WEB_ARGS);
  assert.is(r.stderr, "");
  assert.is(r.code, 0);
  assert.is(r.stdout, WEB_ENTRY);

  // Golden: create.go prettyPrintCreate (failed entries go to stderr, echoing the request) and its final error.
  const dup = await srv("entry", "create", ...WEB_ARGS.slice(2));
  assert.is(dup.code, 1);
  assert.is(dup.stdout, "");
  assert.is(
    dup.stderr,
    `Failed to create the following entry (code: AlreadyExists, msg: "similar entry already exists"):\n` +
      WEB_ENTRY.replace("e-web", "(none)") +
      "Error: failed to create one or more entries\n",
  );
});

test("entry create/update refuse bad command lines with SPIRE's texts, and features wisp lacks by name", async () => {
  const cases: [string[], string][] = [
    // create.go validate()
    [["entry", "create", "-spiffeID", "spiffe://example.org/x", "-parentID", "spiffe://example.org/p"], "at least one selector is required"],
    [["entry", "create", "-spiffeID", "spiffe://example.org/x", "-selector", "unix:uid:1"], "a parent ID is required if the node flag is not set"],
    [["entry", "create", "-parentID", "spiffe://example.org/p", "-selector", "unix:uid:1"], "a SPIFFE ID is required"],
    [
      ["entry", "create", "-node", "-spiffeID", "spiffe://example.org/x", "-selector", "a:b", "-federatesWith", "spiffe://other.org"],
      "node entries can not federate",
    ],
    [
      ["entry", "create", "-parentID", "spiffe://example.org/p", "-spiffeID", "spiffe://example.org/x", "-selector", "unix:1", "-x509SVIDTTL", "-1"],
      "a positive x509-SVID TTL is required",
    ],
    [
      ["entry", "create", "-parentID", "spiffe://example.org/p", "-spiffeID", "spiffe://example.org/x", "-selector", "unix"],
      'selector "unix" must be formatted as type:value',
    ],
    [
      ["entry", "create", "-parentID", "spiffe://example.org/p", "-spiffeID", "spiffe://example.org/x", "-selector", "a:b", "-storeSVID"],
      "-storeSVID is not supported: wisp has no SVIDStore plugins",
    ],
    [
      ["entry", "create", "-parentID", "spiffe://example.org/p", "-spiffeID", "spiffe://example.org/x", "-selector", "a:b", "-federatesWith", "spiffe://Bad"],
      "invalid federated trust domain: trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores",
    ],
    // update.go validate()
    [["entry", "update", "-spiffeID", "spiffe://example.org/x"], "entry ID is required"],
    [["entry", "update", "-entryID", "e-web", "-spiffeID", "spiffe://example.org/x", "-selector", "a:b"], "a parent ID is required"],
    // delete.go validate(), show.go validate()
    [["entry", "delete"], "an entry ID is required"],
    [["entry", "show", "-entryID", "e-web", "-spiffeID", "spiffe://example.org/web"], "the -entryID flag can't be combined with others"],
    [["entry", "show", "-selector", "a:b", "-matchSelectorsOn", "most"], 'match behavior "most" unknown'],
  ];
  const results = await Promise.all(cases.map(([args]) => srv(...args)));
  results.forEach((r, i) => {
    assert.is(r.code, 1, cases[i]![0].join(" "));
    assert.is(r.stderr, `Error: ${cases[i]![1]}\n`);
  });
  // Server-side conversion errors are per-entry results (pkg/server/api/entry.go ProtoToRegistrationEntry).
  const reserved = await srv("entry", "create", "-parentID", "spiffe://example.org/p", "-spiffeID", "spiffe://example.org/spire/x", "-selector", "a:b");
  assert.is(reserved.code, 1);
  assert.ok(
    reserved.stderr.startsWith(
      `Failed to create the following entry (code: InvalidArgument, msg: "failed to convert entry: invalid spiffe ID: \\"spiffe://example.org/spire/x\\" is not a workload in trust domain \\"example.org\\"; path is in the reserved namespace"):\n`,
    ),
    reserved.stderr,
  );
});

test("entry update keeps the ID, bumps the revision and replaces the fields; unknown IDs fail per entry", async () => {
  const r = await srv(
    "entry",
    "update",
    "-entryID",
    "e-web",
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/web",
    "-selector",
    "unix:uid:1001",
  );
  assert.is(r.code, 0, r.stderr);
  // Golden: update.go prettyPrintUpdate → util.go printEntry.
  assert.is(
    r.stdout,
    `Entry ID                : e-web
SPIFFE ID               : spiffe://example.org/web
Parent ID               : spiffe://example.org/node1
Revision                : 1
X509-SVID TTL           : default
JWT-SVID TTL            : default
Selector                : unix:uid:1001

`,
  );
  const missing = await srv(
    "entry",
    "update",
    "-entryID",
    "nope",
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/web",
    "-selector",
    "unix:uid:1",
  );
  assert.is(missing.code, 1);
  assert.ok(
    missing.stderr.startsWith(
      `Failed to update the following entry (code: NotFound, msg: "failed to update entry"):\nEntry ID                : nope\n`,
    ),
    missing.stderr,
  );
  assert.ok(missing.stderr.endsWith("Error: failed to update one or more entries\n"));
  // Put e-web back as it was for the show tests.
  assert.is((await srv("entry", "update", ...WEB_ARGS)).code, 0);
});

test("entry create -data reads SPIRE's good.json: supported entries are created, store_svid and prefetch options refused", async () => {
  const r = await srv("entry", "create", "-data", join(FIXTURES, "good.json"), "-output", "json");
  // JSON mode prints every result and exits 0, as SPIRE's PrintProto does (create.go).
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { results: { status: { code: number; message: string }; entry: { spiffe_id: { path: string } } }[] };
  assert.equal(out.results.map((x) => [x.entry.spiffe_id.path, x.status.code]), [["/Blog", 0], ["/Database", 0], ["/storesvid", 3], ["/additionalattr", 3]]);
  assert.is(out.results[2]!.status.message, "failed to convert entry: store_svid is not supported: wisp has no SVIDStore plugins");
  assert.is(out.results[3]!.status.message, "failed to convert entry: additional_attributes are not supported by wisp");

  const bad = await srv("entry", "create", "-data", join(c.dir, "missing.json"));
  assert.is(bad.stderr, `Error: open ${join(c.dir, "missing.json")}: no such file or directory\n`);
});

test("entry show and count filter as SPIRE (selectors with match modes, hint, downstream, IDs) and print protobuf JSON", async () => {
  const show = await srv("entry", "show", "-spiffeID", "spiffe://example.org/web");
  assert.is(show.code, 0, show.stderr);
  // Golden: show.go printEntries ("Found 1 entry") with SortTypesEntries' selector order.
  // e-web was updated twice by the update test, hence revision 2.
  assert.is(
    show.stdout,
    "Found 1 entry\n" +
      WEB_ENTRY.replace("Revision                : 0", "Revision                : 2").replace(
        "Selector                : unix:uid:1000\nSelector                : unix:gid:1000",
        "Selector                : unix:gid:1000\nSelector                : unix:uid:1000",
      ),
  );

  const json = await srv("entry", "show", "-entryID", "e-web", "-output", "json");
  const createdAt = /"created_at":"(\d+)"/.exec(json.stdout)![1];
  // Golden: cliprinter protojson (proto names, unpopulated fields, int64 as strings, sorted keys), show_test.go.
  assert.is(
    json.stdout,
    `{"entries":[{"admin":true,"created_at":"${createdAt}","dns_names":["web.example.org"],"downstream":true,"expires_at":"1999999999","federates_with":[],` +
      `"hint":"internal","id":"e-web","jwt_svid_ttl":30,"parent_id":{"path":"/node1","trust_domain":"example.org"},"revision_number":"2",` +
      `"selectors":[{"type":"unix","value":"gid:1000"},{"type":"unix","value":"uid:1000"}],"spiffe_id":{"path":"/web","trust_domain":"example.org"},` +
      `"store_svid":false,"x509_svid_ttl":60}],"next_page_token":""}\n`,
  );

  const ids = async (...args: string[]) => {
    const r = await srv("entry", "show", "-output", "json", ...args);
    assert.is(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { entries: { spiffe_id: { path: string } }[] }).entries.map((e) => e.spiffe_id.path);
  };
  const [superset, exact, exactBoth, any, subset, hint, downstream, byParent] = await Promise.all([
    ids("-selector", "unix:uid:1000"),
    ids("-selector", "unix:uid:1000", "-matchSelectorsOn", "exact"),
    ids("-selector", "unix:uid:1000", "-selector", "unix:gid:1000", "-matchSelectorsOn", "exact"),
    ids("-selector", "unix:uid:1111", "-selector", "unix:gid:1000", "-matchSelectorsOn", "any"),
    ids("-selector", "unix:uid:1111", "-selector", "x:y", "-matchSelectorsOn", "subset"),
    ids("-hint", "internal"),
    ids("-downstream"),
    ids("-parentID", "spiffe://example.org/spire/agent/join_token/TokenDatabase"),
  ]);
  assert.equal(superset, ["/web"]);
  assert.equal(exact, []);
  assert.equal(exactBoth, ["/web"]);
  assert.equal(any, ["/Blog", "/Database", "/web"]);
  assert.equal(subset, ["/Blog", "/Database"]);
  assert.equal(hint, ["/Database", "/web"]);
  assert.equal(downstream, ["/web"]);
  assert.equal(byParent, ["/Database"]);

  // Golden: count.go prettyPrintCount.
  const [count, countJSON] = await Promise.all([srv("entry", "count", "-hint", "internal"), srv("entry", "count", "-output", "json")]);
  assert.is(count.stdout, "2 registration entries\n");
  assert.ok(/^\{"count":\d+\}\n$/.test(countJSON.stdout), countJSON.stdout);

  const nf = await srv("entry", "show", "-entryID", "nope");
  // Golden shape: show_test.go "List by entry ID not found".
  assert.is(nf.stderr, "Error: error fetching entry ID nope: rpc error: code = NotFound desc = entry not found\n");
  // No entry federates with other.org: an empty list, as SPIRE prints it.
  const fw = await srv("entry", "show", "-federatesWith", "spiffe://other.org");
  assert.is(fw.code, 0, fw.stderr);
  assert.is(fw.stdout, "Found 0 entries\n");
  const noBundle = await srv(
    "entry",
    "create",
    "-parentID",
    "spiffe://example.org/p",
    "-spiffeID",
    "spiffe://example.org/fw",
    "-selector",
    "a:b",
    "-federatesWith",
    "spiffe://other.org",
  );
  assert.is(noBundle.code, 1);
  assert.ok(
    noBundle.stderr.includes('code: InvalidArgument, msg: "failed to create entry: unable to find federated bundle \\"spiffe://other.org\\""'),
    noBundle.stderr,
  );
});

test("entry delete -entryID and -file (SPIRE's good-for-delete.json) print SPIRE's summary", async () => {
  const mk = await srv(
    "entry",
    "create",
    "-entryID",
    "entry-0",
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/d0",
    "-selector",
    "a:b",
  );
  assert.is(mk.code, 0, mk.stderr);
  const r = await srv("entry", "delete", "-file", join(FIXTURES, "good-for-delete.json"));
  // Golden: delete.go prettyPrintDelete (blank lines and summary without a trailing newline are SPIRE's).
  assert.is(r.code, 1);
  assert.is(r.stdout, "Deleted entry with ID: entry-0\n\n\n\n\nDeleted 1 entries successfully, but failed to delete 1 entries");
  assert.is(r.stderr, 'Failed to delete entry with ID entry-1 (code: NotFound, msg: "entry not found")\nError: failed to delete one or more entries\n');
  const one = await srv(
    "entry",
    "create",
    "-entryID",
    "entry-9",
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/d9",
    "-selector",
    "a:b",
  );
  assert.is(one.code, 0, one.stderr);
  const d = await srv("entry", "delete", "-entryID", "entry-9", "-output", "json");
  assert.is(d.stdout, '{"results":[{"id":"entry-9","status":{"code":0,"message":"OK"}}]}\n');
});

test("-entryExpiry is honoured: the workload is served until the entry expires, then gets no identity", async () => {
  const expiry = Math.floor(Date.now() / 1000) + 15;
  const r = await srv(
    "entry",
    "create",
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/expiring",
    "-selector",
    "unix:uid:0",
    "-entryExpiry",
    String(expiry),
  );
  assert.is(r.code, 0, r.stderr);
  await waitFor("SVID for the expiring entry", async () => {
    const f = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket]);
    return f.code === 0 && f.stdout.includes("spiffe://example.org/expiring") ? true : undefined;
  }, 15_000);
  const gone = await waitFor("no identity once expired", async () => {
    const f = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket]);
    return f.code !== 0 ? f : undefined;
  }, 40_000);
  assert.ok(Date.now() / 1000 >= expiry, "the identity was served until the expiry");
  assert.match(gone.stderr, "no identity issued");
});

test("x509 mint writes SPIRE's three files (key 0600) that openssl verifies; jwt mint prints and writes a token", async () => {
  const dir = join(c.dir, "mint");
  mkdirSync(dir);
  const r = await srv("x509", "mint", "-spiffeID", "spiffe://example.org/minted", "-dns", "minted.example.org", "-ttl", "10m", "-write", dir);
  assert.is(r.code, 0, r.stderr);
  // Golden: cmd/spire-server/cli/x509/mint.go Run (-write).
  assert.is(r.stdout, `X509-SVID written to ${dir}/svid.pem\nPrivate key written to ${dir}/key.pem\nRoot CAs written to ${dir}/bundle.pem\n`);
  assert.is(statSync(join(dir, "key.pem")).mode & 0o777, 0o600);
  assert.is(statSync(join(dir, "svid.pem")).mode & 0o777, 0o644);
  const v = await run("openssl", ["verify", "-CAfile", join(dir, "bundle.pem"), join(dir, "svid.pem")]);
  assert.is(v.stdout, `${join(dir, "svid.pem")}: OK\n`);
  const leaf = new X509Certificate(readFileSync(join(dir, "svid.pem")));
  assert.is(leaf.subjectAltName, "DNS:minted.example.org, URI:spiffe://example.org/minted");
  assert.ok(leaf.checkPrivateKey((await import("node:crypto")).createPrivateKey(readFileSync(join(dir, "key.pem")))));

  const [json, noID, jwt] = await Promise.all([
    srv("x509", "mint", "-spiffeID", "spiffe://example.org/minted", "-output", "json"),
    srv("x509", "mint"),
    srv("jwt", "mint", "-spiffeID", "spiffe://example.org/minted", "-audience", "a1", "-audience", "a2"),
  ]);
  assert.equal(Object.keys(JSON.parse(json.stdout)), ["x509_svid", "private_key", "root_cas"]);
  assert.is(noID.stderr, "Error: spiffeID must be specified\n");
  const claims = JSON.parse(Buffer.from(jwt.stdout.trim().split(".")[1]!, "base64url").toString()) as { sub: string; aud: string[] };
  assert.is(claims.sub, "spiffe://example.org/minted");
  assert.equal(claims.aud, ["a1", "a2"]);
  const noAud = await srv("jwt", "mint", "-spiffeID", "spiffe://example.org/minted");
  assert.is(noAud.stderr, "Error: at least one audience must be specified\n");
  const tokenPath = join(c.dir, "token.jwt");
  const w = await srv("jwt", "mint", "-spiffeID", "spiffe://example.org/minted", "-audience", "a1", "-write", tokenPath);
  assert.is(w.stdout, `JWT-SVID written to ${tokenPath}\n`);
  assert.is(statSync(tokenPath).mode & 0o777, 0o600);
});

test("logger get|set|reset change the running server's level (SPIRE's PrettyPrintLogger text)", async () => {
  const signed = () => c.server!.output.split('msg="Signed X509 SVID"').length - 1;
  // Golden: pkg/common/api/logger/levels.go PrettyPrintLogger; logger/get_test.go ("warning" for WARN).
  assert.is((await srv("logger", "get")).stdout, "Logger Level : debug\nLaunch Level : debug\n\n");
  assert.is((await srv("logger", "set", "-level", "WARN")).stdout, "Logger Level : warning\nLaunch Level : debug\n\n");
  assert.is((await srv("logger", "set", "-level", "never")).stderr, 'Error: the value "never" is not a valid setting\n');
  assert.is((await srv("logger", "set")).stderr, "Error: a value (-level) must be set\n");
  const before = signed();
  assert.is((await srv("x509", "mint", "-spiffeID", "spiffe://example.org/quiet")).code, 0);
  assert.is((await srv("logger", "get", "-output", "json")).stdout, '{"current_level":"WARN","launch_level":"DEBUG"}\n');
  assert.is(signed(), before, "debug lines are not written at warn level");
  assert.is((await srv("logger", "reset")).stdout, "Logger Level : debug\nLaunch Level : debug\n\n");
  assert.is((await srv("x509", "mint", "-spiffeID", "spiffe://example.org/loud")).code, 0);
  await waitFor("debug line after reset", async () => (signed() > before ? true : undefined), 10_000);
});

test("errors for a missing socket and a socket the user may not open read like SPIRE's gRPC dial errors", async () => {
  const missing = join(c.dir, "nope.sock");
  const r = await wispServer(["entry", "show", "-socketPath", missing]);
  assert.is(r.code, 1);
  assert.is(
    r.stderr,
    `Error: error fetching entries: rpc error: code = Unavailable desc = connection error: desc = "transport: error while dialing: dial unix ${missing}: connect: no such file or directory"\n`,
  );
  // The server's socket sits in its 0700 data dir: uid 1000 may not reach it.
  const denied = await wispServer(["logger", "get", "-socketPath", c.serverSocket], { asUser: 1000 });
  assert.is(denied.code, 1);
  assert.is(
    denied.stderr,
    `Error: error fetching logger: rpc error: code = Unavailable desc = connection error: desc = "transport: error while dialing: dial unix ${c.serverSocket}: connect: permission denied"\n`,
  );
});

test.run();
