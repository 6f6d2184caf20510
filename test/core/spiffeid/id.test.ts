import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { SPIFFEIDError } from "../../../src/core/errors.ts";
import * as spiffeid from "../../../src/core/spiffeid/mod.ts";

const accepts = [
  "spiffe://example.org",
  "spiffe://example.org/web",
  "spiffe://example.org/a/b/c",
  "spiffe://a-b_c.9/x.y-z_1",
  "spiffe://example.org/Upper/Case",
  "spiffe://example.org/spire/agent/join_token/2f857fc7-5cbf-4247-9943-3a823d9ff836",
];
for (const s of accepts) {
  test(`fromString() accepts ${s}`, () => {
    assert.is(spiffeid.fromString(s).toString(), s);
  });
}

const rejects: [string, string][] = [
  ["", spiffeid.ERR_EMPTY],
  ["http://example.org/web", spiffeid.ERR_WRONG_SCHEME],
  ["spiffe:/example.org", spiffeid.ERR_WRONG_SCHEME],
  ["SPIFFE://example.org", spiffeid.ERR_WRONG_SCHEME],
  ["spiffe://", spiffeid.ERR_MISSING_TRUST_DOMAIN],
  ["spiffe:///path", spiffeid.ERR_MISSING_TRUST_DOMAIN],
  ["spiffe://Example.org/web", spiffeid.ERR_BAD_TRUST_DOMAIN_CHAR],
  ["spiffe://example.org:8080/web", spiffeid.ERR_BAD_TRUST_DOMAIN_CHAR],
  ["spiffe://user@example.org/web", spiffeid.ERR_BAD_TRUST_DOMAIN_CHAR],
  ["spiffe://example.org/", spiffeid.ERR_TRAILING_SLASH],
  ["spiffe://example.org/web/", spiffeid.ERR_TRAILING_SLASH],
  ["spiffe://example.org//web", spiffeid.ERR_EMPTY_SEGMENT],
  ["spiffe://example.org/./web", spiffeid.ERR_DOT_SEGMENT],
  ["spiffe://example.org/web/..", spiffeid.ERR_DOT_SEGMENT],
  ["spiffe://example.org/we%20b", spiffeid.ERR_BAD_PATH_SEGMENT_CHAR],
  ["spiffe://example.org/web?x=1", spiffeid.ERR_BAD_PATH_SEGMENT_CHAR],
  ["spiffe://example.org/web#frag", spiffeid.ERR_BAD_PATH_SEGMENT_CHAR],
  [`spiffe://example.org/${"a".repeat(2040)}`, spiffeid.ERR_TOO_LONG],
];
for (const [s, msg] of rejects) {
  test(`fromString() rejects ${JSON.stringify(s.slice(0, 40))}`, () => {
    try {
      spiffeid.fromString(s);
      assert.unreachable("should have thrown");
    } catch (err) {
      assert.instance(err, SPIFFEIDError);
      assert.is((err as SPIFFEIDError).code, "ERR_SPIFFEID_INVALID");
      assert.is((err as SPIFFEIDError).status, "INVALID_ARGUMENT");
      assert.is((err as Error).message, msg);
    }
  });
}

test("trustDomainFromString() accepts a bare name or an ID and rejects bad characters", () => {
  assert.is(spiffeid.trustDomainFromString("example.org").name, "example.org");
  assert.is(spiffeid.trustDomainFromString("spiffe://example.org/x").name, "example.org");
  assert.throws(() => spiffeid.trustDomainFromString("Example.org"), (e: Error) => e.message === spiffeid.ERR_BAD_TRUST_DOMAIN_CHAR);
  assert.throws(() => spiffeid.trustDomainFromString(""), (e: Error) => e.message === "trust domain cannot be empty");
  assert.throws(() => spiffeid.trustDomainFromString("a".repeat(256)), (e: Error) => e.message === spiffeid.ERR_TD_TOO_LONG);
});

test("ID helpers: memberOf, equals, trust domain ID, agent and server IDs", () => {
  const td = spiffeid.trustDomainFromString("example.org");
  const id = spiffeid.fromString("spiffe://example.org/web");
  assert.ok(id.memberOf(td));
  assert.ok(!id.memberOf(spiffeid.trustDomainFromString("other.org")));
  assert.ok(id.equals(spiffeid.ID.fromPath(td, "/web")));
  assert.ok(td.id().isTrustDomainID());
  assert.is(spiffeid.serverID(td).toString(), "spiffe://example.org/spire/server");
  assert.is(spiffeid.agentIDForJoinToken(td, "abc").toString(), "spiffe://example.org/spire/agent/join_token/abc");
  assert.throws(() => spiffeid.ID.fromPath(td, "web"), (e: Error) => e.message === spiffeid.ERR_NO_LEADING_SLASH);
  assert.throws(() => spiffeid.requireFromString("nope"), TypeError);
});

test.run();
