/** UpstreamAuthority "disk": a CA certificate and PKCS#8 key on disk sign the server's intermediate CA. */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportPKCS8, exportSPKI, generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../../src/core/crypto/signer.ts";
import { InvalidArgumentError } from "../../../src/core/errors.ts";
import { type LogRecord, newLogger } from "../../../src/core/log/logger.ts";
import { createSelfSignedCA, parseCertificate, signIntermediateCA, toPEM } from "../../../src/core/x509/mod.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";
import { mintX509CA } from "../../../src/server/ca/x509_ca.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import { DiskUpstreamAuthority } from "../../../src/server/upstreamauthority/disk/disk.ts";
import { HOUR, newClock, TD, tempDir } from "../_fixtures.ts";

const pem = (ders: Uint8Array[]) => ders.map((d) => toPEM(d, "CERTIFICATE")).join("");

async function upstreamCA(clock = newClock(), lifetime = 365 * 24 * HOUR) {
  const pair = await generateKeyPair(true);
  const signer = await webCryptoSigner(pair);
  const now = clock.now().getTime();
  const cert = await createSelfSignedCA({ signer, trustDomain: "upstream.test", notBefore: new Date(now - HOUR), notAfter: new Date(now + lifetime) });
  return { cert, signer, keyPEM: toPEM(await exportPKCS8(pair.privateKey), "PRIVATE KEY") };
}

async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

test("mintX509CA() signs a pathLen 0 CA under a self-signed upstream, which becomes the bundle root", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const clock = newClock();
    const up = await upstreamCA(clock);
    writeFileSync(join(dir, "ca.pem"), pem([up.cert]));
    writeFileSync(join(dir, "ca.key"), up.keyPEM);
    const upstream = await DiskUpstreamAuthority.load({
      certFilePath: join(dir, "ca.pem"),
      keyFilePath: join(dir, "ca.key"),
      fs: nodeFS,
      clock,
      logger: newLogger({ level: "error", sink: () => {} }),
    });
    const ca = await mintX509CA({ slot: "A", trustDomain: TD, keyManager: new MemoryKeyManager(), clock, caTTL: 24 * HOUR, upstream });
    assert.is(ca.chain.length, 1);
    assert.equal(ca.bundleRoots, [up.cert]);
    const info = parseCertificate(ca.certDER);
    assert.is(info.pathLen, 0);
    assert.equal(info.uris, ["spiffe://example.org"]);
    assert.is(info.notAfter.getTime(), clock.now().getTime() + 24 * HOUR);
    assert.equal(info.issuerDER, parseCertificate(up.cert).subjectDER);
  } finally {
    cleanup();
  }
});

test("mintX509CA() caps the lifetime at the upstream certificate's NotAfter with a warning", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const clock = newClock();
    const up = await upstreamCA(clock, 2 * HOUR);
    writeFileSync(join(dir, "ca.pem"), pem([up.cert]));
    writeFileSync(join(dir, "ca.key"), up.keyPEM);
    const logs: LogRecord[] = [];
    const upstream = await DiskUpstreamAuthority.load({
      certFilePath: join(dir, "ca.pem"),
      keyFilePath: join(dir, "ca.key"),
      fs: nodeFS,
      clock,
      logger: newLogger({ level: "debug", sink: (r) => logs.push(r) }),
    });
    const ca = await mintX509CA({ slot: "A", trustDomain: TD, keyManager: new MemoryKeyManager(), clock, caTTL: 24 * HOUR, upstream });
    assert.is(ca.notAfter.getTime(), parseCertificate(up.cert).notAfter.getTime());
    assert.ok(logs.some((r) => r.level === "warn" && r.msg === "Requested CA lifetime exceeds the upstream CA lifetime; capping it"));
  } finally {
    cleanup();
  }
});

test("an intermediate upstream with a bundle: the chain carries the upstream certificate and openssl verifies a leaf", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const clock = newClock();
    const root = await upstreamCA(clock);
    const midPair = await generateKeyPair(true);
    const now = clock.now().getTime();
    const mid = await signIntermediateCA({
      issuerCertDER: root.cert,
      issuerSigner: root.signer,
      publicKeySPKI: await exportSPKI(midPair.publicKey),
      trustDomain: "upstream.test",
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + 100 * 24 * HOUR),
      pathLen: 1,
    });
    writeFileSync(join(dir, "mid.pem"), pem([mid]));
    writeFileSync(join(dir, "mid.key"), toPEM(await exportPKCS8(midPair.privateKey), "PRIVATE KEY"));
    writeFileSync(join(dir, "root.pem"), pem([root.cert]));
    const logger = newLogger({ level: "error", sink: () => {} });
    const load = (bundle?: string) =>
      DiskUpstreamAuthority.load({
        certFilePath: join(dir, "mid.pem"),
        keyFilePath: join(dir, "mid.key"),
        ...(bundle ? { bundleFilePath: bundle } : {}),
        fs: nodeFS,
        clock,
        logger,
      });

    const err = await rejects(load());
    assert.instance(err, InvalidArgumentError);
    assert.is(err.message, `upstream CA certificate "${join(dir, "mid.pem")}" is not self-signed: bundle_file_path must name its roots`);

    const ca = await mintX509CA({
      slot: "A",
      trustDomain: TD,
      keyManager: new MemoryKeyManager(),
      clock,
      caTTL: 24 * HOUR,
      upstream: await load(join(dir, "root.pem")),
    });
    assert.is(ca.chain.length, 2);
    assert.equal(ca.chain[1], mid);
    assert.equal(ca.bundleRoots, [root.cert]);
    const leafKey = await generateKeyPair();
    const leaf = await ca.minter.mint({
      spiffeID: "spiffe://example.org/w",
      publicKeySPKI: await exportSPKI(leafKey.publicKey),
      notBefore: new Date(now),
      notAfter: new Date(now + HOUR),
    });
    writeFileSync(join(dir, "svid.pem"), pem([leaf, ...ca.chain]));
    const at = String(Math.floor(now / 1000) + 60);
    const out = execFileSync("openssl", ["verify", "-attime", at, "-CAfile", "root.pem", "-untrusted", "svid.pem", "svid.pem"], { cwd: dir }).toString();
    assert.is(out.trim(), "svid.pem: OK");
  } finally {
    cleanup();
  }
});

test("load() rejects a key that does not match the certificate", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const a = await upstreamCA();
    const b = await upstreamCA();
    writeFileSync(join(dir, "ca.pem"), pem([a.cert]));
    writeFileSync(join(dir, "ca.key"), b.keyPEM);
    const err = await rejects(
      DiskUpstreamAuthority.load({
        certFilePath: join(dir, "ca.pem"),
        keyFilePath: join(dir, "ca.key"),
        fs: nodeFS,
        clock: newClock(),
        logger: newLogger({ level: "error", sink: () => {} }),
      }),
    );
    assert.instance(err, InvalidArgumentError);
    assert.is(err.message, `upstream CA key "${join(dir, "ca.key")}" does not match certificate "${join(dir, "ca.pem")}"`);
    const missing = await rejects(
      DiskUpstreamAuthority.load({
        certFilePath: join(dir, "nope.pem"),
        keyFilePath: join(dir, "ca.key"),
        fs: nodeFS,
        clock: newClock(),
        logger: newLogger({ level: "error", sink: () => {} }),
      }),
    );
    assert.instance(missing, InvalidArgumentError);
    assert.is(missing.message, `unable to load upstream CA certificate "${join(dir, "nope.pem")}"`);
  } finally {
    cleanup();
  }
});

test.run();
