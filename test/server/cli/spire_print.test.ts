import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { parseEntriesFile } from "../../../src/server/cli/entry_commands.ts";
import { formatEntryBlock, goJSON, goTimeUTC, sortEntries } from "../../../src/server/cli/spire_print.ts";
import type { EntryJSON } from "../../../src/server/api/entry_json.ts";

const entry = (path: string, over: Partial<EntryJSON> = {}): EntryJSON => ({
  id: "entry-id",
  spiffe_id: { trust_domain: "example.org", path },
  parent_id: { trust_domain: "example.org", path: "/parent" },
  selectors: [{ type: "zebra", value: "zebra:2000" }, { type: "alpha", value: "alpha:2000" }],
  x509_svid_ttl: 60,
  jwt_svid_ttl: 30,
  dns_names: ["unu1000", "ung1000"],
  hint: "",
  admin: true,
  downstream: true,
  revision_number: 0,
  created_at: 1547583197,
  expires_at: 1552410266,
  federates_with: [],
  store_svid: false,
  ...over,
});

test("goTimeUTC() prints time.Unix(s, 0).UTC() as Go's %s does", () => {
  assert.is(goTimeUTC(1552410266), "2019-03-12 17:04:26 +0000 UTC");
  assert.is(goTimeUTC(0), "1970-01-01 00:00:00 +0000 UTC");
});

test("formatEntryBlock() is SPIRE's printEntry (cmd/spire-server/cli/entry/create_test.go expOutPretty)", () => {
  assert.is(
    formatEntryBlock(entry("/workload")),
    `Entry ID                : entry-id
SPIFFE ID               : spiffe://example.org/workload
Parent ID               : spiffe://example.org/parent
Revision                : 0
Downstream              : true
X509-SVID TTL           : 60
JWT-SVID TTL            : 30
Expiration time         : 2019-03-12 17:04:26 +0000 UTC
Selector                : zebra:zebra:2000
Selector                : alpha:alpha:2000
DNS name                : unu1000
DNS name                : ung1000
Admin                   : true

`,
  );
  assert.match(formatEntryBlock(entry("/w", { id: "", x509_svid_ttl: 0 })), new RegExp(`^Entry ID {16}: \\(none\\)\n[\\s\\S]*X509-SVID TTL {11}: default\n`));
});

test("goJSON() sorts keys, drops nulls and escapes HTML characters like Go's encoder", () => {
  assert.is(goJSON({ b: 1, a: { d: null, c: "<&>" }, l: [null, 2] }), '{"a":{"c":"\\u003c\\u0026\\u003e"},"b":1,"l":[2]}\n');
});

test("sortEntries() orders as SPIRE's SortTypesEntries and sorts selectors", () => {
  const sorted = sortEntries([entry("/b"), entry("/a", { x509_svid_ttl: 5 }), entry("/a", { x509_svid_ttl: 1 })]);
  assert.equal(sorted.map((e) => [e.spiffe_id.path, e.x509_svid_ttl]), [["/a", 1], ["/a", 5], ["/b", 60]]);
  assert.equal(sorted[0]!.selectors.map((s) => s.type), ["alpha", "zebra"]);
});

test("parseEntriesFile() reads SPIRE's registration JSON (case-insensitive keys, string IDs, entryExpiry)", () => {
  const [e] = parseEntriesFile(JSON.stringify({
    Entries: [{
      Entry_ID: "x",
      spiffe_id: "spiffe://example.org/a",
      parent_id: "spiffe://example.org/p",
      selectors: [{ type: "unix", value: "uid:1" }],
      entryExpiry: 99,
      x509_svid_ttl: 200,
    }],
  }));
  assert.equal(e, {
    id: "x",
    spiffe_id: { trust_domain: "example.org", path: "/a" },
    parent_id: { trust_domain: "example.org", path: "/p" },
    selectors: [{ type: "unix", value: "uid:1" }],
    x509_svid_ttl: 200,
    jwt_svid_ttl: 0,
    federates_with: [],
    admin: false,
    downstream: false,
    expires_at: 99,
    dns_names: [],
    store_svid: false,
    hint: "",
  });
  assert.throws(() => parseEntriesFile("invalid-format-json"), (err: Error) => err.message === "invalid character 'i' looking for beginning of value");
  assert.throws(
    () => parseEntriesFile('{"entries":[{"spiffe_id":"http://example.org/Blog","parent_id":"spiffe://example.org/p"}]}'),
    (err: Error) => err.message.startsWith("invalid SPIFFE ID: "),
  );
});

test.run();
