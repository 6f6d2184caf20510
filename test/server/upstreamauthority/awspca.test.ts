/** UpstreamAuthority "aws_pca" with the real @aws-sdk/client-acm-pca against a spawned emulator process. */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportSPKI, generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../../src/core/crypto/signer.ts";
import { formatError, InternalError, InvalidArgumentError, UnavailableError } from "../../../src/core/errors.ts";
import { type LogRecord, newLogger } from "../../../src/core/log/logger.ts";
import { systemClock } from "../../../src/core/ports/clock.ts";
import { createCACSR, parseCertificate, toPEM } from "../../../src/core/x509/mod.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";
import { mintX509CA } from "../../../src/server/ca/x509_ca.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import { AWSPCAUpstreamAuthority, DEFAULT_CA_SIGNING_TEMPLATE_ARN, idempotencyToken } from "../../../src/server/upstreamauthority/awspca/awspca.ts";
import { newPCAClient, type PCAClientOptions } from "../../../src/server/upstreamauthority/awspca/pca_client.ts";
import type { PCAClient } from "../../../src/server/upstreamauthority/awspca/pca_port.ts";
import { type RunningEmulator, startEmulator, tempDir } from "../../emulator/emulator_process.ts";
import { TD } from "../_fixtures.ts";

let emu: RunningEmulator;
const clients: PCAClient[] = [];
const logs: LogRecord[] = [];
const logger = newLogger({ level: "debug", sink: (r) => logs.push(r) });

function client(emulator = emu, extra: Partial<PCAClientOptions> = {}): PCAClient {
  const c = newPCAClient({ ...emulator.clientConfig(), ...extra });
  clients.push(c);
  return c;
}

function plugin(o: Partial<Parameters<typeof AWSPCAUpstreamAuthority.create>[0]> = {}): Promise<AWSPCAUpstreamAuthority> {
  return AWSPCAUpstreamAuthority.create({
    client: client(),
    certificateAuthorityArn: emu.info.subordinateCaArn,
    fs: nodeFS,
    clock: systemClock,
    logger,
    pollInitialMs: 50,
    ...o,
  });
}

async function caCSR(): Promise<{ csr: Uint8Array; spki: Uint8Array }> {
  const signer = await webCryptoSigner(await generateKeyPair(false));
  return { csr: await createCACSR({ signer, trustDomain: "example.org" }), spki: signer.publicKeySPKI };
}

async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

const issuedCount = () => Object.keys(JSON.parse(readFileSync(join(emu.dataDir, "pca_certificates.json"), "utf8")) as object).length;
const setConfig = (body: unknown) => emu.control("/_emulator/config", body);

test.before(async () => {
  emu = await startEmulator();
});

test.after(async () => {
  for (const c of clients) c.destroy();
  await emu?.stop();
  rmSync(emu.dataDir, { recursive: true, force: true });
});

test("mintX509CA() returns the issued CA plus the PCA subordinate as chain and the PCA root as bundle root", async () => {
  const p = await plugin();
  const { csr, spki } = await caCSR();
  const before = Math.floor(Date.now() / 1000);
  const minted = await p.mintX509CA(csr, 3600);
  const after = Math.floor(Date.now() / 1000);
  assert.is(minted.x509CAChain.length, 2);
  assert.is(minted.upstreamX509Roots.length, 1);
  const [ca, sub] = minted.x509CAChain.map(parseCertificate);
  const root = parseCertificate(minted.upstreamX509Roots[0]!);
  assert.ok(ca!.isCA);
  assert.is(ca!.pathLen, 0);
  assert.equal(ca!.uris, ["spiffe://example.org"]);
  assert.equal(ca!.spki, spki);
  assert.equal(ca!.issuerDER, sub!.subjectDER);
  assert.equal(sub!.issuerDER, root.subjectDER);
  assert.equal(root.subjectDER, root.issuerDER, "the bundle root is self-signed");
  const notAfter = ca!.notAfter.getTime() / 1000;
  assert.ok(notAfter >= before + 3600 && notAfter <= after + 3600, "Validity is ABSOLUTE now + ttl");
});

test("an aws_pca CA verifies with openssl over four levels: PCA root → PCA subordinate → wisp CA → leaf", async () => {
  const clock = systemClock;
  const ca = await mintX509CA({ slot: "A", trustDomain: TD, keyManager: new MemoryKeyManager(), clock, caTTL: 3_600_000, upstream: await plugin() });
  const leafKey = await generateKeyPair();
  const now = Date.now();
  const leaf = await ca.minter.mint({
    spiffeID: "spiffe://example.org/web",
    publicKeySPKI: await exportSPKI(leafKey.publicKey),
    notBefore: new Date(now - 10_000),
    notAfter: new Date(now + 600_000),
  });
  const dir = tempDir("wisp-awspca-");
  try {
    writeFileSync(join(dir, "bundle.pem"), ca.bundleRoots.map((d) => toPEM(d, "CERTIFICATE")).join(""));
    writeFileSync(join(dir, "svid.pem"), [leaf, ...ca.chain].map((d) => toPEM(d, "CERTIFICATE")).join(""));
    const out = execFileSync("openssl", ["verify", "-CAfile", "bundle.pem", "-untrusted", "svid.pem", "svid.pem"], { cwd: dir }).toString();
    assert.is(out.trim(), "svid.pem: OK");
    const chainText = execFileSync("openssl", ["crl2pkcs7", "-nocrl", "-certfile", "svid.pem"], { cwd: dir });
    const subjects = execFileSync("openssl", ["pkcs7", "-print_certs", "-noout"], { cwd: dir, input: chainText }).toString();
    assert.is((subjects.match(/^subject=/gm) ?? []).length, 3, "leaf + wisp CA + PCA subordinate; the root stays in the bundle");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("mintX509CA() sends an IdempotencyToken derived from the CSR: the same CSR twice mints one certificate", async () => {
  // The second mint comes 1.5 s later by the plugin's clock: it must still send the first request's Validity, or PCA
  // (which dedupes on the whole request) would issue a second certificate.
  let shiftMs = 0;
  const p = await plugin({ clock: { ...systemClock, now: () => new Date(Date.now() + shiftMs) } });
  const { csr } = await caCSR();
  assert.match(await idempotencyToken(csr), /^[0-9a-f]{36}$/);
  const statsBefore = await emu.stats();
  const countBefore = issuedCount();
  const first = await p.mintX509CA(csr, 3600);
  shiftMs = 1500;
  const second = await p.mintX509CA(csr, 3600);
  assert.equal(second.x509CAChain[0], first.x509CAChain[0], "the same certificate comes back");
  assert.is(issuedCount(), countBefore + 1, "PCA minted once");
  const stats = await emu.stats();
  assert.is(stats["acm-pca:IssueCertificate"]! - (statsBefore["acm-pca:IssueCertificate"] ?? 0), 2);
});

test("mintX509CA() waits through RequestInProgressException while PCA issues", async () => {
  await setConfig({ issuanceDelayMs: 500 });
  try {
    const p = await plugin();
    const before = (await emu.stats())["acm-pca:GetCertificate"] ?? 0;
    const minted = await p.mintX509CA((await caCSR()).csr, 3600);
    assert.is(minted.x509CAChain.length, 2);
    assert.ok((await emu.stats())["acm-pca:GetCertificate"]! - before > 1, "polled more than once");
  } finally {
    await setConfig({ issuanceDelayMs: 0 });
  }
});

test("mintX509CA() gives up at its deadline and when aborted", async () => {
  await setConfig({ issuanceDelayMs: 60_000 });
  try {
    const p = await plugin({ issuanceTimeoutMs: 300 });
    const err = await rejects(p.mintX509CA((await caCSR()).csr, 3600));
    assert.instance(err, UnavailableError);
    assert.is((err as UnavailableError).code, "ERR_UNAVAILABLE");
    assert.match(err.message, /^failed waiting for issuance: certificate "arn:aws:acm-pca:[^"]+\/certificate\/[0-9a-f]{32}" was not issued within 300ms$/);

    const ac = new AbortController();
    const pending = (await plugin()).mintX509CA((await caCSR()).csr, 3600, ac.signal);
    setTimeout(() => ac.abort(), 200);
    const aborted = await rejects(pending);
    assert.instance(aborted, UnavailableError);
    assert.is(aborted.message, "failed waiting for issuance: aborted");
  } finally {
    await setConfig({ issuanceDelayMs: 0 });
  }
});

test("mintX509CA() caps the validity at the PCA CA's NotAfter and warns", async () => {
  const p = await plugin();
  const caNotAfter = (await p.describe()).notAfter!;
  logs.length = 0;
  const minted = await p.mintX509CA((await caCSR()).csr, 20 * 365 * 86_400);
  assert.is(parseCertificate(minted.x509CAChain[0]!).notAfter.getTime(), caNotAfter.getTime());
  assert.ok(logs.some((r) => r.level === "warn" && r.msg === "Requested CA lifetime exceeds the upstream CA lifetime; capping it"));
});

test("a PCA that is down gives an Unavailable error naming the endpoint, with the network error as cause", async () => {
  await emu.control("/_emulator/faults", { service: "acm-pca", mode: "down" });
  try {
    const err = await rejects((await plugin()).mintX509CA((await caCSR()).csr, 3600));
    assert.instance(err, UnavailableError);
    assert.is(err.message, `failed to describe CertificateAuthority: ACM PCA at "${emu.info.endpoint}" is unreachable`);
    assert.ok(err.cause instanceof Error);
  } finally {
    await emu.control("/_emulator/faults", { service: "acm-pca", mode: "ok" });
  }
});

test("a CA that is not ACTIVE is logged as a warning and its issuance error is reported", async () => {
  await setConfig({ caStatus: { [emu.info.subordinateCaArn]: "DISABLED" } });
  try {
    logs.length = 0;
    const err = await rejects((await plugin()).mintX509CA((await caCSR()).csr, 3600));
    assert.ok(logs.some((r) => r.level === "warn" && r.msg === "Certificate is in an invalid state for issuance" && r.fields["status"] === "DISABLED"));
    assert.instance(err, InternalError);
    assert.is(err.message, `failed submitting CSR: ACM PCA at "${emu.info.endpoint}" answered InvalidStateException`);
    assert.is(formatError(err), `${err.message}: The certificate authority is not in a valid state for issuing certificates.`);
  } finally {
    await setConfig({ caStatus: { [emu.info.subordinateCaArn]: "ACTIVE" } });
  }
});

test("throttled IssueCertificate calls are retried by the SDK and succeed", async () => {
  await setConfig({ throttle: { "acm-pca:IssueCertificate": 1 } });
  try {
    const p = await plugin({ client: client(emu, { maxAttempts: 10 }) });
    const before = (await emu.stats())["acm-pca:IssueCertificate"] ?? 0;
    await p.mintX509CA((await caCSR()).csr, 3600);
    const minted = await p.mintX509CA((await caCSR()).csr, 3600);
    assert.is(minted.x509CAChain.length, 2);
    assert.ok((await emu.stats())["acm-pca:IssueCertificate"]! - before > 2, "at least one call was throttled and retried");
  } finally {
    await setConfig({ throttle: { "acm-pca:IssueCertificate": 25 } });
  }
});

test("assume_role_arn: PCA is called with AssumeRole credentials, cached across calls", async () => {
  const account = emu.info.subordinateCaArn.split(":")[4];
  const before = (await emu.stats())["sts:AssumeRole"] ?? 0;
  const p = await plugin({ client: client(emu, { assumeRoleArn: `arn:aws:iam::${account}:role/wisp-pca`, stsEndpoint: emu.info.endpoint }) });
  await p.mintX509CA((await caCSR()).csr, 3600);
  await p.mintX509CA((await caCSR()).csr, 3600);
  assert.is((await emu.stats())["sts:AssumeRole"]! - before, 1);
});

test("a supplemental bundle is added to the roots; a bad one is an InvalidArgument error", async () => {
  const dir = tempDir("wisp-awspca-bundle-");
  try {
    const extra = (await caCSR()).csr; // any DER: the file is only parsed as PEM blocks here
    const other = await mintX509CA({ slot: "A", trustDomain: TD, keyManager: new MemoryKeyManager(), clock: systemClock, caTTL: 3_600_000 });
    writeFileSync(join(dir, "extra.pem"), toPEM(other.certDER, "CERTIFICATE"));
    const p = await plugin({ supplementalBundlePath: join(dir, "extra.pem") });
    const minted = await p.mintX509CA((await caCSR()).csr, 3600);
    assert.is(minted.upstreamX509Roots.length, 2);
    assert.equal(minted.upstreamX509Roots[1], other.certDER);

    writeFileSync(join(dir, "bad.pem"), toPEM(extra, "CERTIFICATE REQUEST"));
    const err = await rejects(plugin({ supplementalBundlePath: join(dir, "bad.pem") }));
    assert.instance(err, InvalidArgumentError);
    assert.is(err.message, `failed to load supplemental bundle: expected PEM block type "CERTIFICATE", got "CERTIFICATE REQUEST"`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an IAM policy pinning the PathLen0 template denies another template with AccessDeniedException", async () => {
  const dir = tempDir("wisp-awspca-policy-");
  writeFileSync(
    join(dir, "policy.json"),
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Action: ["acm-pca:DescribeCertificateAuthority", "acm-pca:GetCertificate"], Resource: "*" },
        {
          Effect: "Allow",
          Action: "acm-pca:IssueCertificate",
          Resource: "*",
          Condition: { StringEquals: { "acm-pca:TemplateArn": DEFAULT_CA_SIGNING_TEMPLATE_ARN } },
        },
      ],
    }),
  );
  const strict = await startEmulator({ args: ["-policy", join(dir, "policy.json")] });
  try {
    const make = (template?: string) =>
      AWSPCAUpstreamAuthority.create({
        client: client(strict),
        certificateAuthorityArn: strict.info.subordinateCaArn,
        ...(template ? { caSigningTemplateArn: template } : {}),
        fs: nodeFS,
        clock: systemClock,
        logger,
        pollInitialMs: 50,
      });
    const ok = await (await make()).mintX509CA((await caCSR()).csr, 3600);
    assert.is(ok.x509CAChain.length, 2, "the default template is sent explicitly and matches the condition");

    const err = await rejects((await make("arn:aws:acm-pca:::template/EndEntityCertificate/V1")).mintX509CA((await caCSR()).csr, 3600));
    assert.instance(err, InternalError);
    assert.is((err as InternalError).code, "ERR_INTERNAL");
    assert.is(err.message, `failed submitting CSR: ACM PCA at "${strict.info.endpoint}" answered AccessDeniedException`);
    assert.match(formatError(err), /is not authorized to perform: acm-pca:IssueCertificate on resource: arn:aws:acm-pca:/);
  } finally {
    await strict.stop();
    rmSync(strict.dataDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
