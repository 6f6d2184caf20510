import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { nullLogger } from "../../../src/core/log/logger.ts";
import { CAManager } from "../../../src/server/ca/ca_manager.ts";
import { ServerCA } from "../../../src/server/ca/server_ca.ts";
import { DiskKeyManager } from "../../../src/server/keymanager/disk.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import type { UpstreamAuthority } from "../../../src/server/upstreamauthority/upstream_authority.ts";
import { UnavailableError } from "../../../src/core/errors.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";
import { exportSPKI, generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { parseCertificate, verifyX509SVID } from "../../../src/core/x509/mod.ts";
import { HOUR, memoryStore, newClock, TD, tempDir } from "../_fixtures.ts";

test("initialize() mints a self-signed CA, publishes it and its JWT key in the bundle", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const m = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * HOUR });
  await m.initialize();
  const ca = m.currentX509CA();
  const info = parseCertificate(ca.certDER);
  assert.ok(info.isCA);
  assert.equal(info.uris, ["spiffe://example.org"]);
  assert.is(ca.notAfter.getTime(), clock.now().getTime() + 24 * HOUR);
  const b = (await ds.fetchBundle("example.org"))!;
  assert.is(b.x509Authorities.length, 1);
  assert.equal(b.jwtKeys.map((k) => k.kid), [m.currentJWTKey().kid]);
  assert.is(m.currentJWTKey().kid.length, 32);
  await ds.close();
});

test("rotate() prepares the next CA past half life and activates it past 5/6 of life (SPIRE thresholds)", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const m = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * HOUR });
  await m.initialize();
  const first = m.currentX509CA().authorityID;
  let activations = 0;
  m.onActivate(() => activations++);

  clock.advance(11 * HOUR);
  await m.rotate();
  assert.is((await ds.fetchBundle("example.org"))!.x509Authorities.length, 1, "nothing prepared before half life");

  clock.advance(1 * HOUR + 1000);
  await m.rotate();
  assert.is((await ds.fetchBundle("example.org"))!.x509Authorities.length, 2, "next CA prepared and published");
  assert.is(m.currentX509CA().authorityID, first, "still signing with the first CA");

  clock.advance(8 * HOUR);
  await m.rotate();
  assert.is.not(m.currentX509CA().authorityID, first, "next CA activated after 20 h");
  assert.is(activations, 1);
  assert.is(m.currentX509CA().slot, "B");
  await ds.close();
});

test("a restart with the disk KeyManager reuses the journaled CA and mints nothing", async () => {
  const clock = newClock();
  const tmp = tempDir();
  const ds = await memoryStore(clock);
  let calls = 0;
  const keysPath = join(tmp.dir, "keys.json");
  const m1 = new CAManager({ trustDomain: TD, keyManager: new DiskKeyManager({ fs: nodeFS, keysPath }), ds, clock, logger: nullLogger, caTTL: 24 * HOUR });
  await m1.initialize();
  const before = m1.currentX509CA();
  assert.is(await nodeFS.mode(keysPath), 0o600);

  const counting: UpstreamAuthority = {
    name: "counting",
    mintX509CA: async () => {
      calls++;
      throw new UnavailableError("must not be called");
    },
  };
  clock.advance(HOUR);
  const m2 = new CAManager({
    trustDomain: TD,
    keyManager: new DiskKeyManager({ fs: nodeFS, keysPath }),
    ds,
    clock,
    logger: nullLogger,
    caTTL: 24 * HOUR,
    upstream: counting,
  });
  await m2.initialize();
  assert.is(m2.currentX509CA().authorityID, before.authorityID);
  assert.equal([...m2.currentX509CA().certDER], [...before.certDER]);
  assert.is(m2.currentJWTKey().kid, m1.currentJWTKey().kid);
  assert.is((await ds.fetchBundle("example.org"))!.x509Authorities.length, 1);
  assert.is(calls, 0, "a restart with a valid CA makes no upstream call");
  await ds.close();
  tmp.cleanup();
});

test("a restart with the memory KeyManager cannot reuse the CA and mints a new one", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const m1 = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * HOUR });
  await m1.initialize();
  const m2 = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * HOUR });
  await m2.initialize();
  assert.is.not(m2.currentX509CA().authorityID, m1.currentX509CA().authorityID);
  assert.is((await ds.fetchBundle("example.org"))!.x509Authorities.length, 2, "both roots stay trusted");
  await ds.close();
});

test("initialize() fails with the upstream's error when no CA can be had", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const down: UpstreamAuthority = {
    name: "down",
    mintX509CA: async () => {
      throw new UnavailableError("upstream is down");
    },
  };
  const m = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * HOUR, upstream: down });
  try {
    await m.initialize();
    assert.unreachable();
  } catch (err) {
    assert.instance(err, UnavailableError);
    assert.is((err as Error).message, "upstream is down");
  }
  assert.throws(() => m.currentX509CA(), (e: Error) => e.message === "no active X509 CA");
  await ds.close();
});

test("ServerCA caps SVID lifetimes at the CA's NotAfter and chains to the bundle", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const m = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 2 * HOUR });
  await m.initialize();
  const ca = new ServerCA({ manager: m, clock, defaultX509SVIDTTL: HOUR });
  const spki = await exportSPKI((await generateKeyPair()).publicKey);
  clock.advance(90 * 60_000);
  const s = await ca.signX509SVID({ spiffeID: "spiffe://example.org/web", publicKeySPKI: spki });
  assert.is(s.notAfter.getTime(), m.currentX509CA().notAfter.getTime(), "capped at the CA's expiry");
  const roots = (await ds.fetchBundle("example.org"))!.x509Authorities;
  const v = await verifyX509SVID(s.chain, roots, clock.now());
  assert.is(v.spiffeID, "spiffe://example.org/web");
  const batch = await ca.signX509SVIDs([1, 2, 3].map((i) => ({ spiffeID: `spiffe://example.org/w${i}`, publicKeySPKI: spki, ttl: 60 })));
  assert.equal(batch.map((b) => parseCertificate(b.chain[0]!).uris[0]), ["spiffe://example.org/w1", "spiffe://example.org/w2", "spiffe://example.org/w3"]);
  assert.is(new Set(batch.map((b) => b.serialHex)).size, 3);
  await ds.close();
});

test("forceRotate() activates a fresh CA at once and keeps the old root in the bundle", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const m = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * HOUR });
  await m.initialize();
  const a = m.currentX509CA();
  await m.forceRotate();
  const b = m.currentX509CA();
  assert.is.not(b.authorityID, a.authorityID);
  const roots = (await ds.fetchBundle("example.org"))!.x509Authorities;
  assert.is(roots.length, 2);
  await ds.close();
});

test("view() shows the console active, prepared and old authorities with their chains and the journal, never a key", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const m = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * HOUR });
  await m.initialize();
  const first = m.currentX509CA();
  const prepared = await m.prepareX509Authority();
  let v = m.view();
  assert.equal(v.x509.map((a) => [a.status, a.slot, a.upstream]), [["active", "A", "self-signed"], ["prepared", "B", "self-signed"]]);
  assert.is(v.x509[1]!.authorityID, prepared.authority_id);
  assert.equal(v.x509[0]!.chain, [first.certDER]);
  assert.equal(v.jwt.map((k) => [k.status, k.kid]), [["active", m.currentJWTKey().kid]]);
  assert.is(v.x509[0]!.keyLocation, undefined, "memory keys live in this process");
  for (const a of [...v.x509, ...v.jwt]) assert.not.ok("signer" in a || "privateKey" in a, "no key material in the view");
  await m.activateX509Authority(prepared.authority_id);
  v = m.view();
  assert.equal(v.x509.map((a) => a.status), ["active", "old"]);
  assert.equal(v.history.filter((h) => h.kind === "x509").map((h) => h.status).sort(), ["ACTIVE", "OLD"]);
  assert.is(v.lastErrorAt, undefined);
  await ds.close();
});

test.run();
