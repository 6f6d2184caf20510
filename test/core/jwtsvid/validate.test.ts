/** validateJWTSVID: tokens signed with real WebCrypto keys through jose, and SPIRE's rejection table. @module */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { base64url, SignJWT } from "jose";
import { exportSPKI, generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { InvalidArgumentError } from "../../../src/core/errors.ts";
import { JWTKeyStore, validateJWTSVID } from "../../../src/core/jwtsvid/mod.ts";

const NOW = new Date("2026-01-01T00:00:00Z");
const now = Math.floor(NOW.getTime() / 1000);
const keys = await generateKeyPair();
const otherKeys = await generateKeyPair();
const store = await JWTKeyStore.fromBundles([{ trustDomain: "spiffe://example.org", jwtKeys: [{ kid: "kid1", publicKey: await exportSPKI(keys.publicKey) }] }]);

const enc = (o: unknown) => base64url.encode(new TextEncoder().encode(JSON.stringify(o)));
const baseClaims = { sub: "spiffe://example.org/web", aud: ["db"], exp: now + 300, iat: now };

function sign(
  claims: Record<string, unknown> = baseClaims,
  header: Record<string, unknown> = { alg: "ES256", kid: "kid1", typ: "JWT" },
  key = keys.privateKey,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key);
}

test("a token signed by a bundle key validates and keeps every claim", async () => {
  const v = await validateJWTSVID(await sign({ ...baseClaims, iss: "https://issuer" }), store, ["db"], NOW);
  assert.is(v.spiffeID.toString(), "spiffe://example.org/web");
  assert.equal(v.audience, ["db"]);
  assert.is(v.claims.iss, "https://issuer");
  assert.is(v.expiresAt.getTime(), (now + 300) * 1000);
});

test("a single-string aud is accepted and reported as a list", async () => {
  const v = await validateJWTSVID(await sign({ ...baseClaims, aud: "db" }), store, ["db"], NOW);
  assert.equal(v.audience, ["db"]);
});

test("a token expired less than go-jose's one-minute leeway ago still validates", async () => {
  const v = await validateJWTSVID(await sign({ ...baseClaims, exp: now - 30 }), store, ["db"], NOW);
  assert.is(v.spiffeID.toString(), "spiffe://example.org/web");
});

const ALGS = `["ES256" "ES384" "ES512" "RS256" "RS384" "RS512" "PS256" "PS384" "PS512"]`;
const cases: [string, () => Promise<string>, string, string[]?][] = [
  [
    "alg none",
    async () => `${enc({ alg: "none", typ: "JWT" })}.${enc(baseClaims)}.`,
    `unable to parse JWT token: unexpected signature algorithm "none"; expected ${ALGS}`,
  ],
  [
    "alg HS256",
    async () => `${enc({ alg: "HS256", kid: "kid1" })}.${enc(baseClaims)}.c2ln`,
    `unable to parse JWT token: unexpected signature algorithm "HS256"; expected ${ALGS}`,
  ],
  ["two-segment garbage", async () => "abc.def", "unable to parse JWT token: compact JWS format must have three parts"],
  ["header that is not JSON", async () => "bm90LWpzb24.e30.c2ln", "unable to parse JWT token: malformed header"],
  ["typ other than JWT or JOSE", () => sign(baseClaims, { alg: "ES256", kid: "kid1", typ: "at+jwt" }), "token header type not equal to either JWT or JOSE"],
  ["missing kid", () => sign(baseClaims, { alg: "ES256", typ: "JWT" }), "token header missing key id"],
  ["unknown kid", () => sign(baseClaims, { alg: "ES256", kid: "nope", typ: "JWT" }), `public key "nope" not found in trust domain "example.org"`],
  ["foreign trust domain", () => sign({ ...baseClaims, sub: "spiffe://other.org/web" }), `no keys found for trust domain "other.org"`],
  ["missing sub", () => sign({ aud: ["db"], exp: now + 300 }), "token missing subject claim"],
  ["missing exp", () => sign({ sub: "spiffe://example.org/web", aud: ["db"] }), "token missing exp claim"],
  ["sub that is not a SPIFFE ID", () => sign({ ...baseClaims, sub: "web" }), "token has an invalid subject claim: scheme is missing or invalid"],
  ["expired exp", () => sign({ ...baseClaims, exp: now - 61 }), "token has expired"],
  ["wrong aud", () => sign(baseClaims), `expected audience in ["other"] (audience=["db"])`, ["other"]],
  ["no aud", () => sign({ sub: "spiffe://example.org/web", exp: now + 300 }), `expected audience in ["db"] (audience=[])`],
  ["nbf in the future", () => sign({ ...baseClaims, nbf: now + 120 }), "validation failed, token not valid yet (nbf)"],
  ["signed by another key", () => sign(baseClaims, undefined, otherKeys.privateKey), "unable to get claims from token: error in cryptographic primitive"],
  ["tampered payload", async () => {
    const [h, , s] = (await sign()).split(".");
    return `${h}.${enc({ ...baseClaims, sub: "spiffe://example.org/admin" })}.${s}`;
  }, "unable to get claims from token: error in cryptographic primitive"],
  ["ES384 header on a P-256 key", async () => {
    const [, p, s] = (await sign()).split(".");
    return `${enc({ alg: "ES384", kid: "kid1", typ: "JWT" })}.${p}.${s}`;
  }, "unable to get claims from token: error in cryptographic primitive"],
];

for (const [name, make, message, audience] of cases) {
  test(`rejects ${name}`, async () => {
    const token = await make();
    try {
      await validateJWTSVID(token, store, audience ?? ["db"], NOW);
      assert.unreachable("validated");
    } catch (err) {
      assert.instance(err, InvalidArgumentError);
      assert.is((err as InvalidArgumentError).code, "ERR_INVALID_ARGUMENT");
      assert.is((err as Error).message, message);
    }
  });
}

test.run();
