/** JWT-SVIDs end to end with real processes: server signs, agent caches and serves them, CLI fetches and validates. */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { InvalidArgumentError, PermissionDeniedError } from "../../src/core/errors.ts";
import { FETCH_JWT_BUNDLES, FETCH_JWT_SVID, VALIDATE_JWT_SVID } from "../../src/agent/workload/codec.ts";
import {
  JWTBundlesRequestSchema,
  JWTBundlesResponseSchema,
  JWTSVIDRequestSchema,
  JWTSVIDResponseSchema,
  ValidateJWTSVIDRequestSchema,
} from "../../src/agent/workload/proto/workload_pb.ts";
import { dialWorkloadAPI } from "../../src/runtime/node/grpc_client.ts";
import { type Cluster, joinToken, newCluster, startAgent, startServer, waitFor, wispAgent, wispServer } from "./_harness.ts";

let c: Cluster;
let token = "";
let jwks: { keys: { kid: string; kty: string; crv: string; x: string; y: string }[] };

test.before(async () => {
  c = await newCluster({ extraServer: `jwt_issuer = "https://oidc.example.org"` });
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  const r = await wispServer([
    "entry",
    "create",
    "-socketPath",
    c.serverSocket,
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/web",
    "-selector",
    "unix:uid:1000",
    "-hint",
    "web",
  ]);
  assert.is(r.code, 0, r.stderr);
});

test.after(async () => {
  await c?.cleanup();
});

const sock = () => ["-socketPath", c.agentSocket];

test("a workload running as uid 1000 fetches a JWT-SVID and the JWT bundle", async () => {
  const r = await waitFor("JWT-SVID for uid 1000", async () => {
    const r = await wispAgent(["api", "fetch", "jwt", "-audience", "db", ...sock()], { asUser: 1000 });
    return r.code === 0 ? r : undefined;
  });
  const m = /^token\(spiffe:\/\/example\.org\/web\):\n\t(\S+)\nhint\(spiffe:\/\/example\.org\/web\):\n\tweb\nbundle\(spiffe:\/\/example\.org\):\n\t(\{.*\})\n$/
    .exec(r.stdout);
  assert.ok(m, r.stdout);
  token = m![1]!;
  jwks = JSON.parse(m![2]!);
  assert.is(jwks.keys.length, 1);
  const k = jwks.keys[0]!;
  assert.equal(Object.keys(k).sort(), ["crv", "kid", "kty", "x", "y"]);
  assert.is(k.kty, "EC");
  assert.equal(decodeProtectedHeader(token), { alg: "ES256", kid: k.kid, typ: "JWT" });
});

test("jose verifies the token against the JWKS the agent served", async () => {
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { audience: "db", algorithms: ["ES256"], issuer: "https://oidc.example.org" });
  assert.is(payload.sub, "spiffe://example.org/web");
  assert.equal(payload.aud, ["db"]);
  assert.is(payload.exp! - payload.iat!, 300);
});

test("the agent serves the cached token for the same audience set", async () => {
  const r = await wispAgent(["fetch", "jwt", "-audience", "db", ...sock()], { asUser: 1000 });
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(`\t${token}\n`), "same token from the cache");
});

test("api validate jwt accepts the token and prints its claims", async () => {
  const r = await wispAgent(["api", "validate", "jwt", "-audience", "db", "-svid", token, ...sock()], { asUser: 1000 });
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assert.is(lines[0], "SVID is valid.");
  assert.is(lines[1], "SPIFFE ID : spiffe://example.org/web");
  assert.ok(lines[2]!.startsWith("Claims    : "), r.stdout);
  const claims = JSON.parse(lines[2]!.slice("Claims    : ".length));
  assert.equal(claims.aud, ["db"]);
  assert.is(claims.sub, "spiffe://example.org/web");
  assert.is(claims.iss, "https://oidc.example.org");
});

test("a wrong audience is rejected as not valid", async () => {
  const r = await wispAgent(["api", "validate", "jwt", "-audience", "other", "-svid", token, ...sock()], { asUser: 1000 });
  assert.is(r.code, 1);
  assert.is(r.stderr.trim(), `Error: SVID is not valid: expected audience in ["other"] (audience=["db"])`);
});

test("a tampered token is rejected as not valid", async () => {
  const [h, p, s] = token.split(".");
  const bad = `${h}.${p!.slice(0, -2)}${p!.endsWith("A") ? "B" : "A"}${p!.slice(-1)}.${s}`;
  const r = await wispAgent(["api", "validate", "jwt", "-audience", "db", "-svid", bad, ...sock()], { asUser: 1000 });
  assert.is(r.code, 1);
  assert.match(r.stderr, /^Error: SVID is not valid: /);
});

test("several audiences, -spiffeID and -output json", async () => {
  const r = await wispAgent(["api", "fetch", "jwt", "-audience", "db,cache", "-spiffeID", "spiffe://example.org/web", "-output", "json", ...sock()], {
    asUser: 1000,
  });
  assert.is(r.code, 0, r.stderr);
  const [svids, bundles] = JSON.parse(r.stdout) as [{ svids: { spiffe_id: string; svid: string; hint: string }[] }, { bundles: Record<string, string> }];
  assert.is(svids.svids.length, 1);
  assert.is(svids.svids[0]!.spiffe_id, "spiffe://example.org/web");
  assert.is(svids.svids[0]!.hint, "web");
  const served = JSON.parse(Buffer.from(bundles.bundles["spiffe://example.org"]!, "base64").toString());
  const { payload } = await jwtVerify(svids.svids[0]!.svid, createLocalJWKSet(served), { audience: "cache" });
  assert.equal(payload.aud, ["db", "cache"]);
});

test("fetch jwt without -audience fails before calling the agent", async () => {
  const r = await wispAgent(["api", "fetch", "jwt", ...sock()], { asUser: 1000 });
  assert.is(r.code, 1);
  assert.is(r.stderr.trim(), "Error: audience must be specified");
});

test("a SPIFFE ID the workload is not entitled to gets PermissionDenied", async () => {
  const r = await wispAgent(["api", "fetch", "jwt", "-audience", "db", "-spiffeID", "spiffe://example.org/admin", ...sock()], { asUser: 1000 });
  assert.is(r.code, 1);
  assert.is(r.stderr.trim(), "Error: rpc error: code = PermissionDenied desc = no identity issued");
});

test('a workload with no entry (uid 1001) gets PermissionDenied "no identity issued"', async () => {
  const r = await wispAgent(["api", "fetch", "jwt", "-audience", "db", ...sock()], { asUser: 1001 });
  assert.is(r.code, 1);
  assert.is(r.stderr.trim(), "Error: rpc error: code = PermissionDenied desc = no identity issued");
});

const HEADER = { "workload.spiffe.io": "true" };

async function rpcFails(call: Promise<unknown>, cls: new (...args: never[]) => Error, message: string): Promise<void> {
  try {
    await call;
    assert.unreachable("call succeeded");
  } catch (err) {
    assert.instance(err, cls);
    assert.is((err as Error).message, message);
  }
}

test("the RPCs check the header, audience and svid before anything else", async () => {
  const conn = dialWorkloadAPI(c.agentSocket);
  try {
    const noAud = toBinary(JWTSVIDRequestSchema, create(JWTSVIDRequestSchema, {}));
    await rpcFails(conn.unary(FETCH_JWT_SVID, noAud, {}, 5000), InvalidArgumentError, "security header missing from request");
    await rpcFails(conn.unary(FETCH_JWT_SVID, noAud, HEADER, 5000), InvalidArgumentError, "audience must be specified");
    const badID = toBinary(JWTSVIDRequestSchema, create(JWTSVIDRequestSchema, { audience: ["db"], spiffeId: "web" }));
    await rpcFails(conn.unary(FETCH_JWT_SVID, badID, HEADER, 5000), InvalidArgumentError, "invalid requested SPIFFE ID: scheme is missing or invalid");
    const v = (audience: string, svid: string) => toBinary(ValidateJWTSVIDRequestSchema, create(ValidateJWTSVIDRequestSchema, { audience, svid }));
    await rpcFails(conn.unary(VALIDATE_JWT_SVID, v("", token), HEADER, 5000), InvalidArgumentError, "audience must be specified");
    await rpcFails(conn.unary(VALIDATE_JWT_SVID, v("db", ""), HEADER, 5000), InvalidArgumentError, "svid must be specified");
    // The test runs as root, which has no entry yet.
    const bundles = conn.serverStream(
      FETCH_JWT_BUNDLES,
      toBinary(JWTBundlesRequestSchema, create(JWTBundlesRequestSchema)),
      HEADER,
      () => {},
      new AbortController().signal,
    );
    await rpcFails(bundles, PermissionDeniedError, "no identity issued");
  } finally {
    conn.close();
  }
});

test("FetchJWTBundles sends the new key set after a CA rotation; old tokens stay valid", async () => {
  const e = await wispServer([
    "entry",
    "create",
    "-socketPath",
    c.serverSocket,
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/tester",
    "-selector",
    "unix:uid:0",
  ]);
  assert.is(e.code, 0, e.stderr);
  const conn = dialWorkloadAPI(c.agentSocket);
  const ac = new AbortController();
  try {
    const req = toBinary(JWTSVIDRequestSchema, create(JWTSVIDRequestSchema, { audience: ["db"] }));
    const first = await waitFor("JWT-SVID for uid 0", async () => fromBinary(JWTSVIDResponseSchema, await conn.unary(FETCH_JWT_SVID, req, HEADER, 5000)));
    assert.equal(first.svids.map((s) => s.spiffeId), ["spiffe://example.org/tester"]);
    const seen: string[][] = [];
    const stream = conn.serverStream(FETCH_JWT_BUNDLES, toBinary(JWTBundlesRequestSchema, create(JWTBundlesRequestSchema)), HEADER, (m) => {
      const jwks = JSON.parse(new TextDecoder().decode(fromBinary(JWTBundlesResponseSchema, m).bundles["spiffe://example.org"]!));
      seen.push(jwks.keys.map((k: { kid: string }) => k.kid));
    }, ac.signal).catch(() => {});
    await waitFor("first JWT bundles message", async () => (seen.length >= 1 ? true : undefined));
    assert.equal(seen[0], jwks.keys.map((k) => k.kid));
    const r = await wispServer(["ca", "rotate", "-socketPath", c.serverSocket]);
    assert.is(r.code, 0, r.stderr);
    await waitFor("JWT bundles message with the new key", async () => (seen.at(-1)!.length === 2 ? true : undefined));
    const newKid = seen.at(-1)!.find((k) => k !== jwks.keys[0]!.kid)!;
    // A new audience set is not cached, so it is signed with the newly active key.
    const fresh = fromBinary(
      JWTSVIDResponseSchema,
      await conn.unary(FETCH_JWT_SVID, toBinary(JWTSVIDRequestSchema, create(JWTSVIDRequestSchema, { audience: ["fresh"] })), HEADER, 5000),
    );
    assert.is(decodeProtectedHeader(fresh.svids[0]!.svid).kid, newKid);
    const old = await wispAgent(["api", "validate", "jwt", "-audience", "db", "-svid", token, ...sock()], { asUser: 1000 });
    assert.is(old.code, 0, old.stderr);
    ac.abort();
    await stream;
  } finally {
    ac.abort();
    conn.close();
  }
});

test.run();
