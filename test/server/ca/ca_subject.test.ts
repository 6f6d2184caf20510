/**
 * server.ca_subject: the self-signed CA and every CA CSR sent upstream carry it, encoded as Go's pkix.Name (several
 * countries or organizations in one multi-valued RDN); the disk upstream copies the CSR's subject as SPIRE does.
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportPKCS8, generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../../src/core/crypto/signer.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import { createSelfSignedCA, parseAndVerifyCSR, parseCertificate, toPEM } from "../../../src/core/x509/mod.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";
import { mintX509CA } from "../../../src/server/ca/x509_ca.ts";
import { buildServerConfig } from "../../../src/server/config.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import { DiskUpstreamAuthority } from "../../../src/server/upstreamauthority/disk/disk.ts";
import type { UpstreamAuthority } from "../../../src/server/upstreamauthority/upstream_authority.ts";
import { HOUR, newClock, TD, tempDir } from "../_fixtures.ts";

const SUBJECT = { C: ["US", "FR"], O: ["Acme"], CN: "Acme wisp CA" };

function opensslSubject(pem: string, req = false): string {
  return execFileSync("openssl", [req ? "req" : "x509", "-noout", "-subject"], { input: pem, encoding: "utf8" }).trim();
}

test("mintX509CA() puts ca_subject on the self-signed CA, with SPIRE's serialNumber attribute", async () => {
  const ca = await mintX509CA({ slot: "A", trustDomain: TD, keyManager: new MemoryKeyManager(), clock: newClock(), caTTL: 24 * HOUR, caSubject: SUBJECT });
  const info = parseCertificate(ca.certDER);
  const serial = BigInt("0x" + info.serialHex).toString(10);
  // The two countries share one RDN, sorted as DER sorts a SET OF (Go's pkix.Name does the same).
  assert.is(opensslSubject(toPEM(ca.certDER, "CERTIFICATE")), `subject=C = FR + C = US, O = Acme, CN = Acme wisp CA, serialNumber = ${serial}`);
  assert.equal(info.issuerDER, info.subjectDER);
});

test("mintX509CA() sends ca_subject in the CSR to the upstream authority", async () => {
  let csr: Uint8Array | undefined;
  const capture: UpstreamAuthority = {
    name: "capture",
    mintX509CA(der) {
      csr = der;
      return Promise.reject(new Error("captured"));
    },
  };
  await mintX509CA({ slot: "A", trustDomain: TD, keyManager: new MemoryKeyManager(), clock: newClock(), caTTL: HOUR, caSubject: SUBJECT, upstream: capture })
    .then(() => assert.unreachable("the capturing upstream fails"), () => {});
  const parsed = await parseAndVerifyCSR(csr!);
  assert.match(opensslSubject(toPEM(csr!, "CERTIFICATE REQUEST"), true), /^subject=C = FR \+ C = US, O = Acme, CN = Acme wisp CA, serialNumber = \d+$/);
  assert.equal(parsed.uris, ["spiffe://example.org"]);
});

test("UpstreamAuthority \"disk\" signs the intermediate with the CSR's subject as sent (SPIRE's RawSubject)", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const clock = newClock();
    const pair = await generateKeyPair(true);
    const signer = await webCryptoSigner(pair);
    const now = clock.now().getTime();
    const up = await createSelfSignedCA({ signer, trustDomain: "upstream.test", notBefore: new Date(now - HOUR), notAfter: new Date(now + 100 * HOUR) });
    writeFileSync(join(dir, "ca.pem"), toPEM(up, "CERTIFICATE"));
    writeFileSync(join(dir, "ca.key"), toPEM(await exportPKCS8(pair.privateKey), "PRIVATE KEY"));
    const upstream = await DiskUpstreamAuthority.load({
      certFilePath: join(dir, "ca.pem"),
      keyFilePath: join(dir, "ca.key"),
      fs: nodeFS,
      clock,
      logger: nullLogger,
    });
    const ca = await mintX509CA({ slot: "A", trustDomain: TD, keyManager: new MemoryKeyManager(), clock, caTTL: 24 * HOUR, caSubject: SUBJECT, upstream });
    assert.match(opensslSubject(toPEM(ca.certDER, "CERTIFICATE")), /^subject=C = FR \+ C = US, O = Acme, CN = Acme wisp CA, serialNumber = \d+$/);
  } finally {
    cleanup();
  }
});

test("buildServerConfig() reads ca_subject as SPIRE does: a declared block replaces the default whole", () => {
  const base = { trust_domain: "example.org" };
  assert.equal(buildServerConfig({ server: base }).caSubject, { country: ["US"], organization: ["SPIFFE"], commonName: "" });
  assert.equal(buildServerConfig({ server: { ...base, ca_subject: { common_name: "only CN" } } }).caSubject, {
    country: [],
    organization: [],
    commonName: "only CN",
  });
  assert.equal(
    buildServerConfig({ server: { ...base, ca_subject: { country: ["US", "FR"], organization: ["Acme"], common_name: "Acme wisp CA" } } }).caSubject,
    { country: ["US", "FR"], organization: ["Acme"], commonName: "Acme wisp CA" },
  );
});

test.run();
