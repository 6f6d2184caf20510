/**
 * The upstream authority (ACM PCA in production) is unreachable for 7 simulated days, on an injected clock: the
 * active CA keeps signing for as long as it is valid, health and logs say how long is left, and one successful
 * mint follows once the upstream is back.
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportPKCS8, exportSPKI, generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../../src/core/crypto/signer.ts";
import { UnavailableError } from "../../../src/core/errors.ts";
import { type LogRecord, newLogger } from "../../../src/core/log/logger.ts";
import { createSelfSignedCA, toPEM, verifyX509SVID } from "../../../src/core/x509/mod.ts";
import { CAManager } from "../../../src/server/ca/ca_manager.ts";
import { ServerCA } from "../../../src/server/ca/server_ca.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import { DiskUpstreamAuthority } from "../../../src/server/upstreamauthority/disk/disk.ts";
import type { UpstreamAuthority } from "../../../src/server/upstreamauthority/upstream_authority.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";
import { HOUR, memoryStore, newClock, TD, tempDir } from "../_fixtures.ts";

const DAY = 24 * HOUR;

test("a 7-day upstream outage: SVIDs keep being signed while the CA is valid, health counts down, one mint on recovery", async () => {
  const { dir, cleanup } = tempDir();
  const clock = newClock();
  const ds = await memoryStore(clock);
  try {
    // A real disk upstream stands in for ACM PCA (whose emulator cannot follow an injected clock); "down" wraps it.
    const pair = await generateKeyPair(true);
    const root = await createSelfSignedCA({
      signer: await webCryptoSigner(pair),
      trustDomain: "upstream.test",
      notBefore: new Date(clock.now().getTime() - HOUR),
      notAfter: new Date(clock.now().getTime() + 365 * DAY),
    });
    writeFileSync(join(dir, "ca.pem"), toPEM(root, "CERTIFICATE"));
    writeFileSync(join(dir, "ca.key"), toPEM(await exportPKCS8(pair.privateKey), "PRIVATE KEY"));
    const records: LogRecord[] = [];
    const logger = newLogger({ level: "info", sink: (r) => records.push(r) });
    const disk = await DiskUpstreamAuthority.load({ certFilePath: join(dir, "ca.pem"), keyFilePath: join(dir, "ca.key"), fs: nodeFS, clock, logger });
    let down = false;
    let mints = 0;
    const pca: UpstreamAuthority = {
      name: "aws_pca",
      mintX509CA: async (csr, ttl, signal) => {
        if (down) throw new UnavailableError('failed submitting CSR: ACM PCA at "https://acm-pca.example" is unreachable');
        mints++;
        return disk.mintX509CA(csr, ttl, signal);
      },
    };

    const caTTL = 14 * DAY;
    const m = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger, caTTL, upstream: pca, rotateInterval: 10_000 });
    await m.initialize();
    assert.is(mints, 1);
    const first = m.currentX509CA();
    const ca = new ServerCA({ manager: m, clock, defaultX509SVIDTTL: HOUR });
    const spki = await exportSPKI((await generateKeyPair()).publicKey);
    const ac = new AbortController();
    const running = m.run(ac.signal);
    const settle = async () => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    };

    // Day 6.5: past half life the next CA is due; the upstream goes down just before.
    clock.advance(6.5 * DAY);
    down = true;
    let signed = 0;
    for (let hour = 0; hour < 7 * 24; hour++) {
      clock.advance(HOUR);
      await settle();
      const roots = (await ds.fetchBundle("example.org"))!.x509Authorities;
      const svid = await ca.signX509SVID({ spiffeID: "spiffe://example.org/web", publicKeySPKI: spki });
      await verifyX509SVID(svid.chain, roots, clock.now());
      assert.ok(svid.notAfter.getTime() <= first.notAfter.getTime(), "SVIDs never outlive the CA");
      signed++;
    }
    assert.is(m.currentX509CA().authorityID, first.authorityID, "the active CA was kept for the whole outage");
    const h = m.health();
    assert.ok(h.consecutiveFailures >= 7 * 24 / 2, `retried throughout (${h.consecutiveFailures} failures)`);
    assert.is(h.caNotAfter!.getTime(), first.notAfter.getTime());
    const warnings = records.filter((r) => r.msg.startsWith("X509 CA rotation failed"));
    assert.ok(warnings.length > 0, "rotation failures are logged");
    assert.match(JSON.stringify(warnings.at(-1)!.fields), /expires|remaining/);
    assert.ok(warnings.some((r) => r.level === "error"), "the log escalates to error as the CA's life runs out");
    assert.is(mints, 1, "no mint while down");

    down = false;
    // Preparing a CA runs real WebCrypto work (key, CSR, signature) off the event loop, so give each tick real time.
    for (let i = 0; i < 30 && mints === 1; i++) {
      clock.advance(60_000);
      for (let t = 0; t < 50 && mints === 1; t++) await new Promise((r) => setTimeout(r, 10));
    }
    assert.is(mints, 2, "exactly one successful mint once the upstream is back");
    clock.advance(60_000);
    await settle();
    assert.is(mints, 2);
    assert.ok(signed === 168);
    ac.abort();
    await running;
  } finally {
    await ds.close();
    cleanup();
  }
});

test.run();
