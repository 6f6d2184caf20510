/** JWTSVIDSigner: hand-built ES256 JWS from a DER-returning Signer, verified independently with jose. @module */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { toJWKS } from "../../../src/core/bundle/spiffe_bundle.ts";
import { generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../../src/core/crypto/signer.ts";
import { InvalidArgumentError, UnavailableError } from "../../../src/core/errors.ts";
import { JWTKeyStore, validateJWTSVID } from "../../../src/core/jwtsvid/mod.ts";
import { ManualClock } from "../../../src/core/ports/clock.ts";
import type { JWTSigningKey } from "../../../src/server/ca/jwt_key.ts";
import { JWTSVIDSigner } from "../../../src/server/ca/jwt_signer.ts";

const NOW = new Date("2026-03-01T12:00:00Z");
const clock = new ManualClock(NOW);
const signer = await webCryptoSigner(await generateKeyPair(false));
const key: JWTSigningKey = { slot: "A", kid: "Kid0123456789", signer, issuedAt: NOW, notAfter: new Date(NOW.getTime() + 24 * 3_600_000), authorityID: "x" };
const jwks = await toJWKS({
  trustDomain: "example.org",
  x509Authorities: [],
  jwtKeys: [{ kid: key.kid, publicKey: signer.publicKeySPKI, notAfter: 0 }],
  sequence: 1,
  refreshHint: 0,
});
const keySet = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
const FIVE_MIN = 5 * 60_000;

test("tokens verify with jose against the bundle's JWKS, with SPIRE's header and claims", async () => {
  const s = new JWTSVIDSigner({ keys: { currentJWTKey: () => key }, clock, defaultTTL: FIVE_MIN });
  const svid = await s.sign({ spiffeID: "spiffe://example.org/web", audience: ["db"] });
  assert.equal(decodeProtectedHeader(svid.token), { alg: "ES256", kid: key.kid, typ: "JWT" });
  const { payload } = await jwtVerify(svid.token, keySet, { audience: "db", currentDate: NOW, algorithms: ["ES256"] });
  const iat = Math.floor(NOW.getTime() / 1000);
  assert.equal(payload, { aud: ["db"], exp: iat + 300, iat, sub: "spiffe://example.org/web" });
  assert.is(svid.expiresAt.getTime(), (iat + 300) * 1000);
  assert.is(svid.issuedAt.getTime(), iat * 1000);
});

test("many signatures all verify (DER to r||s keeps leading zeros)", async () => {
  const s = new JWTSVIDSigner({ keys: { currentJWTKey: () => key }, clock, defaultTTL: FIVE_MIN });
  const store = await JWTKeyStore.fromBundles([{ trustDomain: "example.org", jwtKeys: [{ kid: key.kid, publicKey: signer.publicKeySPKI }] }]);
  for (let i = 0; i < 64; i++) {
    const { token } = await s.sign({ spiffeID: `spiffe://example.org/w${i}`, audience: ["a", "b"] });
    await jwtVerify(token, keySet, { audience: "b", currentDate: NOW });
    assert.is((await validateJWTSVID(token, store, ["a"], NOW)).spiffeID.toString(), `spiffe://example.org/w${i}`);
  }
});

test("iss is set from jwt_issuer and the entry TTL overrides the default", async () => {
  const s = new JWTSVIDSigner({ keys: { currentJWTKey: () => key }, clock, defaultTTL: FIVE_MIN, issuer: "https://oidc.example.org" });
  const svid = await s.sign({ spiffeID: "spiffe://example.org/web", audience: ["db"], ttl: 60 });
  const { payload } = await jwtVerify(svid.token, keySet, { audience: "db", issuer: "https://oidc.example.org", currentDate: NOW });
  assert.is(payload.exp! - payload.iat!, 60);
});

test("expiry is capped at the JWT key's NotAfter", async () => {
  const short = { ...key, notAfter: new Date(NOW.getTime() + 90_000) };
  const s = new JWTSVIDSigner({ keys: { currentJWTKey: () => short }, clock, defaultTTL: FIVE_MIN });
  const svid = await s.sign({ spiffeID: "spiffe://example.org/web", audience: ["db"] });
  assert.is(svid.expiresAt.getTime(), short.notAfter.getTime());
});

test("audience is required", async () => {
  const s = new JWTSVIDSigner({ keys: { currentJWTKey: () => key }, clock, defaultTTL: FIVE_MIN });
  try {
    await s.sign({ spiffeID: "spiffe://example.org/web", audience: [] });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.is((err as InvalidArgumentError).code, "ERR_INVALID_ARGUMENT");
    assert.is((err as Error).message, "audience must be specified");
  }
});

test("no active JWT key is Unavailable", async () => {
  const s = new JWTSVIDSigner({
    keys: {
      currentJWTKey: () => {
        throw new UnavailableError("no active JWT signing key");
      },
    },
    clock,
    defaultTTL: FIVE_MIN,
  });
  try {
    await s.sign({ spiffeID: "spiffe://example.org/web", audience: ["db"] });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, UnavailableError);
    assert.is((err as Error).message, "no active JWT signing key");
  }
});

test.run();
