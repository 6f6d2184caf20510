/** JWTSVIDCache: cache key, half-life renewal, stale fallback, LRU bound and key-set changes, with real signed tokens. @module */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../../src/core/crypto/signer.ts";
import { UnavailableError } from "../../../src/core/errors.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import { ManualClock } from "../../../src/core/ports/clock.ts";
import type { IssuedJWTSVID } from "../../../src/agent/client/server_client.ts";
import { jwtCacheKey, JWTSVIDCache } from "../../../src/agent/manager/jwt_cache.ts";
import { JWTSVIDSigner } from "../../../src/server/ca/jwt_signer.ts";

const NOW = new Date("2026-03-01T12:00:00Z");
const signer = await webCryptoSigner(await generateKeyPair(false));

/** A server stand-in that really signs, counts calls, and can be made to fail. */
function source(clock: ManualClock, kid = "kidA") {
  const key = { slot: "A" as const, kid, signer, issuedAt: NOW, notAfter: new Date(NOW.getTime() + 86_400_000), authorityID: "" };
  const jwt = new JWTSVIDSigner({ keys: { currentJWTKey: () => key }, clock, defaultTTL: 300_000 });
  const s = {
    calls: 0,
    fail: false,
    async newJWTSVID(entryID: string, audience: string[]): Promise<IssuedJWTSVID> {
      s.calls++;
      if (s.fail) throw new UnavailableError("failed to reach server");
      const r = await jwt.sign({ spiffeID: `spiffe://example.org/${entryID}`, audience });
      return { spiffeID: `spiffe://example.org/${entryID}`, ...r };
    },
  };
  return s;
}

const web = { id: "web", spiffeID: "spiffe://example.org/web" };

test("the key ignores audience order and duplicates", () => {
  assert.is(jwtCacheKey("spiffe://x/y", ["b", "a", "b"]), jwtCacheKey("spiffe://x/y", ["a", "b"]));
  assert.is.not(jwtCacheKey("spiffe://x/y", ["a"]), jwtCacheKey("spiffe://x/y", ["a", "b"]));
});

test("a token is reused until half its life, then renewed", async () => {
  const clock = new ManualClock(NOW);
  const src = source(clock);
  const cache = new JWTSVIDCache({ source: src, clock, logger: nullLogger });
  const a = await cache.fetch(web, ["db", "cache"]);
  const b = await cache.fetch(web, ["cache", "db"]);
  assert.is(b.token, a.token);
  assert.is(src.calls, 1);
  clock.advance(149_000);
  assert.is((await cache.fetch(web, ["db", "cache"])).token, a.token);
  clock.advance(2_000);
  const c = await cache.fetch(web, ["db", "cache"]);
  assert.is.not(c.token, a.token);
  assert.is(src.calls, 2);
});

test("concurrent requests for one key make one server call", async () => {
  const clock = new ManualClock(NOW);
  const src = source(clock);
  const cache = new JWTSVIDCache({ source: src, clock, logger: nullLogger });
  const got = await Promise.all([cache.fetch(web, ["db"]), cache.fetch(web, ["db"]), cache.fetch(web, ["db"])]);
  assert.is(src.calls, 1);
  assert.is(new Set(got.map((g) => g.token)).size, 1);
});

test("a renewal failure serves the cached token while it is unexpired, then fails", async () => {
  const clock = new ManualClock(NOW);
  const src = source(clock);
  const cache = new JWTSVIDCache({ source: src, clock, logger: nullLogger });
  const a = await cache.fetch(web, ["db"]);
  src.fail = true;
  clock.advance(200_000);
  assert.is((await cache.fetch(web, ["db"])).token, a.token);
  clock.advance(100_000);
  try {
    await cache.fetch(web, ["db"]);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, UnavailableError);
    assert.is((err as Error).message, `unable to renew JWT for "spiffe://example.org/web"`);
  }
});

test("without a cached token the server's error is returned as is", async () => {
  const clock = new ManualClock(NOW);
  const src = source(clock);
  src.fail = true;
  const cache = new JWTSVIDCache({ source: src, clock, logger: nullLogger });
  try {
    await cache.fetch(web, ["db"]);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, UnavailableError);
    assert.is((err as Error).message, "failed to reach server");
  }
});

test("the cache is bounded (jwt_svid_cache_max_size) and evicts the least recently used token", async () => {
  const clock = new ManualClock(NOW);
  const src = source(clock);
  const cache = new JWTSVIDCache({ source: src, clock, logger: nullLogger, maxSize: 2 });
  await cache.fetch(web, ["a"]);
  await cache.fetch(web, ["b"]);
  await cache.fetch(web, ["a"]); // "b" is now the least recently used
  await cache.fetch(web, ["c"]);
  assert.is(cache.size, 2);
  assert.is(src.calls, 3);
  await cache.fetch(web, ["a"]);
  assert.is(src.calls, 3);
  await cache.fetch(web, ["b"]);
  assert.is(src.calls, 4);
});

test("a token signed by a key no longer in the bundle is fetched again", async () => {
  const clock = new ManualClock(NOW);
  const src = source(clock, "kidA");
  let kids = ["kidA"];
  const cache = new JWTSVIDCache({ source: src, clock, logger: nullLogger, keyIDs: () => kids });
  await cache.fetch(web, ["db"]);
  await cache.fetch(web, ["db"]);
  assert.is(src.calls, 1);
  kids = ["kidB"];
  await cache.fetch(web, ["db"]);
  assert.is(src.calls, 2);
});

test.run();
