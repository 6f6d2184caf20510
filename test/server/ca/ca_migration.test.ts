/**
 * Moving a running CA manager from self-signed to an upstream through the upstream provider (managed config), the
 * bundle during and after the move, and rotation failures: degraded start, warnings that escalate, backoff, recovery.
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../../src/core/crypto/signer.ts";
import { UnavailableError } from "../../../src/core/errors.ts";
import { type LogRecord, newLogger, nullLogger } from "../../../src/core/log/logger.ts";
import type { ManualClock } from "../../../src/core/ports/clock.ts";
import { createSelfSignedCA, parseAndVerifyCSR, parseCertificate, signIntermediateCA, verifyX509SVID } from "../../../src/core/x509/mod.ts";
import { BundlePruner } from "../../../src/server/ca/bundle_pruner.ts";
import { CAManager } from "../../../src/server/ca/ca_manager.ts";
import { formatRemaining } from "../../../src/server/ca/rotation_health.ts";
import { ServerCA } from "../../../src/server/ca/server_ca.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import type { UpstreamAuthority } from "../../../src/server/upstreamauthority/upstream_authority.ts";
import { HOUR, memoryStore, newClock, TD } from "../_fixtures.ts";

/** An upstream with a real P-256 root (as ACM PCA's root stands above the wisp intermediate); `down` makes it fail. */
async function testUpstream(clock: ManualClock) {
  const signer = await webCryptoSigner(await generateKeyPair(true));
  const now = clock.now().getTime();
  const root = await createSelfSignedCA({ signer, trustDomain: "pca.test", notBefore: new Date(now - HOUR), notAfter: new Date(now + 10 * 8760 * HOUR) });
  const state = { down: false, calls: 0 };
  const upstream: UpstreamAuthority = {
    name: "test_pca",
    async mintX509CA(csrDER, ttlSeconds) {
      state.calls++;
      if (state.down) throw new UnavailableError(`failed submitting CSR: ACM PCA at "http://pca.test" is unreachable`);
      const csr = await parseAndVerifyCSR(csrDER);
      const t = clock.now().getTime();
      const cert = await signIntermediateCA({
        issuerCertDER: root,
        issuerSigner: signer,
        publicKeySPKI: csr.publicKeySPKI,
        trustDomain: TD.name,
        notBefore: new Date(t - HOUR),
        notAfter: new Date(t + ttlSeconds * 1000),
        pathLen: 0,
      });
      return { x509CAChain: [cert], upstreamX509Roots: [root] };
    },
  };
  return { root, state, upstream };
}

function capture() {
  const records: LogRecord[] = [];
  return { records, logger: newLogger({ level: "debug", sink: (r) => records.push(r) }) };
}

const spki = async () => (await crypto.subtle.exportKey("spki", (await generateKeyPair(true)).publicKey)) as ArrayBuffer;

test("a provider that starts naming an upstream takes effect at the next rotation; both roots stay in the bundle", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const pca = await testUpstream(clock);
  // Set later in the test; the upstream callback reads it, so it cannot be a const.
  // deno-lint-ignore prefer-const
  let current: UpstreamAuthority | undefined;
  const m = new CAManager({
    trustDomain: TD,
    keyManager: new MemoryKeyManager(),
    ds,
    clock,
    logger: nullLogger,
    caTTL: 24 * HOUR,
    upstream: async () => current,
  });
  await m.initialize();
  const selfRoot = m.currentX509CA().certDER;
  assert.is(m.health().caUpstream, "self-signed");
  const ca = new ServerCA({ manager: m, clock, defaultX509SVIDTTL: HOUR });
  const oldSVID = await ca.signX509SVID({ spiffeID: "spiffe://example.org/web", publicKeySPKI: new Uint8Array(await spki()) });

  current = pca.upstream;
  clock.advance(HOUR);
  await m.rotate();
  assert.is(pca.state.calls, 0, "nothing is minted before the next rotation");

  await m.forceRotate();
  assert.is(pca.state.calls, 1);
  assert.is(m.health().caUpstream, "test_pca");
  const roots = (await ds.fetchBundle(TD.name))!.x509Authorities;
  assert.equal(roots, [selfRoot, pca.root], "the old self-signed root stays next to the upstream root");

  const newSVID = await ca.signX509SVID({ spiffeID: "spiffe://example.org/web", publicKeySPKI: new Uint8Array(await spki()) });
  assert.is(newSVID.chain.length, 2, "leaf and wisp intermediate; the upstream root is only in the bundle");
  assert.equal(parseCertificate(newSVID.chain[1]!).issuerDER, parseCertificate(pca.root).subjectDER);
  await verifyX509SVID(newSVID.chain, roots, clock.now());
  await verifyX509SVID(oldSVID.chain, roots, clock.now());
  await ds.close();
});

test("bundle pruning keeps the old root while it is valid and for 24 h after; then only the upstream root remains", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const pca = await testUpstream(clock);
  // Set later in the test; the upstream callback reads it, so it cannot be a const.
  // deno-lint-ignore prefer-const
  let current: UpstreamAuthority | undefined;
  const m = new CAManager({
    trustDomain: TD,
    keyManager: new MemoryKeyManager(),
    ds,
    clock,
    logger: nullLogger,
    caTTL: 24 * HOUR,
    upstream: async () => current,
  });
  await m.initialize();
  const selfRoot = m.currentX509CA().certDER;
  current = pca.upstream;
  await m.forceRotate();
  const pruner = new BundlePruner({ ds, trustDomain: TD, clock, logger: nullLogger });

  clock.advance(23 * HOUR);
  await pruner.maybePrune();
  assert.equal((await ds.fetchBundle(TD.name))!.x509Authorities, [selfRoot, pca.root], "unexpired: kept");
  clock.advance(24 * HOUR);
  await pruner.maybePrune();
  assert.equal((await ds.fetchBundle(TD.name))!.x509Authorities, [selfRoot, pca.root], "expired less than 24 h ago: kept");
  clock.advance(2 * HOUR);
  await pruner.maybePrune();
  assert.equal((await ds.fetchBundle(TD.name))!.x509Authorities, [selfRoot, pca.root], "pruned at most every 6 h");
  clock.advance(5 * HOUR);
  await pruner.maybePrune();
  assert.equal((await ds.fetchBundle(TD.name))!.x509Authorities, [pca.root]);
  await ds.close();
});

test("upstream down at start with a valid CA: initialize serves degraded; failures warn, then error below 1/6 of life; one success recovers", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const pca = await testUpstream(clock);
  const km = new MemoryKeyManager();
  const first = new CAManager({ trustDomain: TD, keyManager: km, ds, clock, logger: nullLogger, caTTL: 24 * HOUR, upstream: pca.upstream });
  await first.initialize();
  const active = first.currentX509CA().authorityID;

  pca.state.down = true;
  clock.advance(13 * HOUR);
  const log = capture();
  const m = new CAManager({ trustDomain: TD, keyManager: km, ds, clock, logger: log.logger, caTTL: 24 * HOUR, upstream: pca.upstream, rotateInterval: 10_000 });
  await m.initialize();
  assert.is(m.currentX509CA().authorityID, active, "the journal's CA serves");
  const h = m.health();
  assert.equal([h.consecutiveFailures, h.failedRotations], [1, 1]);
  assert.is(h.lastError, `failed submitting CSR: ACM PCA at "http://pca.test" is unreachable`);
  const warn = log.records.find((r) => r.msg.startsWith("X509 CA rotation failed"))!;
  assert.is(warn.level, "warn");
  assert.is(warn.msg, "X509 CA rotation failed; active CA expires in 11h0m");
  assert.equal([warn.fields["remaining_seconds"], warn.fields["consecutive_failures"], warn.fields["retry_in_seconds"]], [11 * 3600, 1, 10]);

  const ctl = new AbortController();
  const running = m.run(ctl.signal);
  // A tick's work includes WebCrypto key generation and signing on the thread pool: let it finish in real time.
  const tick = async () => {
    clock.advance(10_000);
    for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 3));
  };
  await tick();
  assert.is(pca.state.calls, 3, "first retry on the next tick");
  await tick();
  assert.is(pca.state.calls, 3, "backoff: the second retry waits 20 s");
  await tick();
  assert.is(pca.state.calls, 4);

  clock.advance(8 * HOUR);
  for (let i = 0; i < 6; i++) await tick();
  const last = log.records.filter((r) => r.msg.startsWith("X509 CA rotation failed")).at(-1)!;
  assert.is(last.level, "error", "below a sixth of its life the warning becomes an error");
  assert.match(last.msg, /^X509 CA rotation failed; active CA expires in 2h5\dm$/);
  assert.is(m.currentX509CA().authorityID, active, "the active CA keeps signing");

  pca.state.down = false;
  const before = pca.state.calls;
  for (let i = 0; i < 8 && m.currentX509CA().authorityID === active; i++) await tick();
  assert.is(pca.state.calls - before, 1, "exactly one successful mint");
  assert.not.equal(m.currentX509CA().authorityID, active, "past the activation threshold the new CA activates at once");
  assert.is(m.health().consecutiveFailures, 0);
  assert.ok(log.records.some((r) => r.msg === "X509 CA rotation recovered"));
  ctl.abort();
  await running;
  await ds.close();
});

test("upstream down at start with no usable CA: initialize rejects with the upstream's error", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const pca = await testUpstream(clock);
  pca.state.down = true;
  const m = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * HOUR, upstream: pca.upstream });
  const err = await m.initialize().then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof UnavailableError);
  assert.is(err.message, `failed submitting CSR: ACM PCA at "http://pca.test" is unreachable`);
  await ds.close();
});

test("formatRemaining() gives hours and minutes, then minutes, then seconds", () => {
  assert.is(formatRemaining(5 * HOUR + 12 * 60_000 + 5000), "5h12m");
  assert.is(formatRemaining(12 * 60_000 + 5000), "12m");
  assert.is(formatRemaining(40_000), "40s");
  assert.is(formatRemaining(-5), "0s");
});

test.run();
