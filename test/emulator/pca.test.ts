/** ACM PCA emulation through the real @aws-sdk/client-acm-pca against a spawned emulator. @module */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  ACMPCAClient,
  DescribeCertificateAuthorityCommand,
  GetCertificateAuthorityCertificateCommand,
  GetCertificateCommand,
  InvalidArgsException,
  InvalidStateException,
  IssueCertificateCommand,
  type IssueCertificateCommandInput,
  MalformedCSRException,
  RequestInProgressException,
  ResourceNotFoundException,
} from "@aws-sdk/client-acm-pca";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { x509 } from "../../src/core/x509/_peculiar.ts";
import { type RunningEmulator, startEmulator, tempDir } from "./emulator_process.ts";

const PATHLEN0 = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1";
let emu: RunningEmulator;
let pca: ACMPCAClient;

async function makeCsr(name = "CN=wisp intermediate, O=wisp", uri = "spiffe://example.org"): Promise<string> {
  const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: uri }])],
  });
  return csr.toString("pem");
}

function issueInput(csrPem: string, extra: Partial<IssueCertificateCommandInput> = {}): IssueCertificateCommandInput {
  return {
    CertificateAuthorityArn: emu.info.subordinateCaArn,
    Csr: new TextEncoder().encode(csrPem),
    SigningAlgorithm: "SHA256WITHECDSA",
    TemplateArn: PATHLEN0,
    Validity: { Type: "DAYS", Value: 7 },
    ...extra,
  };
}

async function rejects(p: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the call to fail");
}

test.before(async () => {
  emu = await startEmulator();
  pca = new ACMPCAClient(emu.clientConfig());
});

test.after(async () => {
  pca?.destroy();
  await emu?.stop();
  fs.rmSync(emu.dataDir, { recursive: true, force: true });
});

test("DescribeCertificateAuthority() reports an ACTIVE EC P-256 subordinate and root", async () => {
  const sub = (await pca.send(new DescribeCertificateAuthorityCommand({ CertificateAuthorityArn: emu.info.subordinateCaArn }))).CertificateAuthority!;
  assert.is(sub.Status, "ACTIVE");
  assert.is(sub.Type, "SUBORDINATE");
  assert.is(sub.CertificateAuthorityConfiguration?.KeyAlgorithm, "EC_prime256v1");
  assert.is(sub.CertificateAuthorityConfiguration?.SigningAlgorithm, "SHA256WITHECDSA");
  assert.ok(sub.NotBefore instanceof Date && sub.NotAfter instanceof Date && sub.NotBefore < sub.NotAfter);
  assert.match(sub.Arn!, /^arn:aws:acm-pca:us-east-1:\d{12}:certificate-authority\/[0-9a-f-]{36}$/);
  const root = (await pca.send(new DescribeCertificateAuthorityCommand({ CertificateAuthorityArn: emu.info.rootCaArn }))).CertificateAuthority!;
  assert.is(root.Type, "ROOT");
});

test("IssueCertificate() with PathLen0 issues a CA certificate that openssl verifies root → sub → issued", async () => {
  const csrPem = await makeCsr();
  const { CertificateArn } = await pca.send(new IssueCertificateCommand(issueInput(csrPem)));
  assert.match(CertificateArn!, new RegExp(`^${emu.info.subordinateCaArn}/certificate/[0-9a-f]{32}$`));
  const got = await pca.send(new GetCertificateCommand({ CertificateAuthorityArn: emu.info.subordinateCaArn, CertificateArn }));
  assert.not.ok(got.Certificate!.endsWith("\n"));
  const chain = got.CertificateChain!.split(/(?<=-----END CERTIFICATE-----)\n/);
  assert.is(chain.length, 2);
  const subPem = await pca.send(new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: emu.info.subordinateCaArn }));
  assert.is(chain[0], subPem.Certificate);
  assert.is(chain[1], subPem.CertificateChain);
  const rootPem = await pca.send(new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: emu.info.rootCaArn }));
  assert.is(chain[1], rootPem.Certificate);
  assert.is(rootPem.CertificateChain, undefined);

  const cert = new x509.X509Certificate(got.Certificate!);
  assert.is(CertificateArn!.split("/").pop(), cert.serialNumber.toLowerCase());
  assert.is(cert.subject, "CN=wisp intermediate, O=wisp");
  const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
  assert.equal([bc.ca, bc.pathLength, bc.critical], [true, 0, true]);
  const ku = cert.getExtension(x509.KeyUsagesExtension)!;
  assert.is(ku.critical, true);
  assert.is(ku.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  assert.is(cert.getExtension(x509.ExtendedKeyUsageExtension), null);
  assert.equal(cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON(), [{ type: "url", value: "spiffe://example.org" }]);
  assert.ok(cert.notBefore.getTime() < Date.now() - 59 * 60 * 1000, "NotBefore is backdated by 60 minutes");

  const dir = tempDir("wisp-aws-emu-chain-");
  try {
    fs.writeFileSync(path.join(dir, "root.pem"), chain[1] + "\n");
    fs.writeFileSync(path.join(dir, "sub.pem"), chain[0] + "\n");
    fs.writeFileSync(path.join(dir, "issued.pem"), got.Certificate + "\n");
    const out = execFileSync("openssl", ["verify", "-CAfile", "root.pem", "-untrusted", "sub.pem", "issued.pem"], { cwd: dir }).toString();
    assert.is(out.trim(), "issued.pem: OK");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("IssueCertificate() without TemplateArn issues an EndEntityCertificate/V1 certificate", async () => {
  const { TemplateArn: _, ...input } = issueInput(await makeCsr("CN=leaf"));
  const { CertificateArn } = await pca.send(new IssueCertificateCommand(input));
  const got = await pca.send(new GetCertificateCommand({ CertificateAuthorityArn: emu.info.subordinateCaArn, CertificateArn }));
  const cert = new x509.X509Certificate(got.Certificate!);
  assert.is(cert.getExtension(x509.BasicConstraintsExtension)!.ca, false);
  assert.equal(Array.from(cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages, String), ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
});

test("GetCertificate() answers RequestInProgressException during the issuance delay, then the certificate", async () => {
  // Long enough that the first GetCertificate lands inside it even on a loaded machine.
  await emu.control("/_emulator/config", { issuanceDelayMs: 3000 });
  try {
    const { CertificateArn } = await pca.send(new IssueCertificateCommand(issueInput(await makeCsr())));
    const input = { CertificateAuthorityArn: emu.info.subordinateCaArn, CertificateArn };
    const err = await rejects(pca.send(new GetCertificateCommand(input)));
    assert.instance(err, RequestInProgressException);
    assert.is(err.message, `The request to issue certificate ${CertificateArn} is still in progress.`);
    let pem: string | undefined;
    for (let i = 0; i < 300 && !pem; i++) {
      await new Promise((r) => setTimeout(r, 50));
      pem = await pca.send(new GetCertificateCommand(input)).then((r) => r.Certificate, (e: Error) => {
        if (!(e instanceof RequestInProgressException)) throw e;
        return undefined;
      });
    }
    assert.ok(pem?.startsWith("-----BEGIN CERTIFICATE-----"));
  } finally {
    await emu.control("/_emulator/config", { issuanceDelayMs: 0 });
  }
});

test("IssueCertificate() with the same IdempotencyToken and arguments returns the same CertificateArn", async () => {
  const csrPem = await makeCsr();
  const first = await pca.send(new IssueCertificateCommand(issueInput(csrPem, { IdempotencyToken: "token-1" })));
  const again = await pca.send(new IssueCertificateCommand(issueInput(csrPem, { IdempotencyToken: "token-1" })));
  const other = await pca.send(new IssueCertificateCommand(issueInput(csrPem, { IdempotencyToken: "token-2" })));
  const changed = await pca.send(new IssueCertificateCommand(issueInput(await makeCsr(), { IdempotencyToken: "token-1" })));
  assert.is(again.CertificateArn, first.CertificateArn);
  assert.is.not(other.CertificateArn, first.CertificateArn);
  assert.is.not(changed.CertificateArn, first.CertificateArn);
  const tooLong = await rejects(pca.send(new IssueCertificateCommand(issueInput(csrPem, { IdempotencyToken: "x".repeat(37) }))));
  assert.is(tooLong.name, "ValidationException");
});

test("IssueCertificate() rejects a CSR whose signature does not verify with MalformedCSRException", async () => {
  const pem = await makeCsr();
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
  der[der.length - 5]! ^= 0xff;
  const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END CERTIFICATE REQUEST-----`;
  const err = await rejects(pca.send(new IssueCertificateCommand(issueInput(bad))));
  assert.instance(err, MalformedCSRException);
  assert.is(err.message, "The certificate signing request is malformed: the signature does not verify.");
  const garbage = await rejects(pca.send(new IssueCertificateCommand(issueInput("not a csr"))));
  assert.instance(garbage, MalformedCSRException);
  assert.is(garbage.message, "The certificate signing request is malformed: expected one PEM-encoded CERTIFICATE REQUEST block.");
});

test("IssueCertificate() enforces validity, signing algorithm family and template path length", async () => {
  const csrPem = await makeCsr();
  const tooLong = await rejects(pca.send(new IssueCertificateCommand(issueInput(csrPem, { Validity: { Type: "YEARS", Value: 20 } }))));
  assert.is(tooLong.name, "ValidationException");
  assert.match(tooLong.message, /^The validity period of the certificate authority certificate ends before the validity period of the requested certificate/);
  const hours = await rejects(pca.send(new IssueCertificateCommand(issueInput(csrPem, { Validity: { Type: "HOURS" as "DAYS", Value: 1 } }))));
  assert.is(hours.name, "ValidationException");
  const abs = await pca.send(new IssueCertificateCommand(issueInput(csrPem, { Validity: { Type: "ABSOLUTE", Value: Math.floor(Date.now() / 1000) + 7200 } })));
  assert.ok(abs.CertificateArn);
  const rsa = await rejects(pca.send(new IssueCertificateCommand(issueInput(csrPem, { SigningAlgorithm: "SHA256WITHRSA" }))));
  assert.instance(rsa, InvalidArgsException);
  const pathLen1 = await rejects(
    pca.send(new IssueCertificateCommand(issueInput(csrPem, { TemplateArn: "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen1/V1" }))),
  );
  assert.instance(pathLen1, InvalidArgsException);
  assert.is(
    pathLen1.message,
    "The path length 1 of template SubordinateCACertificate_PathLen1/V1 must be less than the path length 1 of the issuing certificate authority.",
  );
});

test("GetCertificate() answers ResourceNotFoundException for an unknown certificate", async () => {
  const arn = `${emu.info.subordinateCaArn}/certificate/00000000000000000000000000000000`;
  const err = await rejects(pca.send(new GetCertificateCommand({ CertificateAuthorityArn: emu.info.subordinateCaArn, CertificateArn: arn })));
  assert.instance(err, ResourceNotFoundException);
  assert.is(err.message, `Could not find certificate ${arn}.`);
});

test("IssueCertificate() answers InvalidStateException while the CA is DISABLED", async () => {
  await emu.control("/_emulator/faults", { service: "acm-pca", mode: "invalid_state" });
  try {
    const sub = await pca.send(new DescribeCertificateAuthorityCommand({ CertificateAuthorityArn: emu.info.subordinateCaArn }));
    assert.is(sub.CertificateAuthority!.Status, "DISABLED");
    const err = await rejects(pca.send(new IssueCertificateCommand(issueInput(await makeCsr()))));
    assert.instance(err, InvalidStateException);
    assert.is(err.message, "The certificate authority is not in a valid state for issuing certificates.");
  } finally {
    await emu.control("/_emulator/faults", { service: "acm-pca", mode: "ok" });
  }
  await emu.control("/_emulator/config", { caStatus: { [emu.info.subordinateCaArn]: "DISABLED" } });
  const err = await rejects(pca.send(new IssueCertificateCommand(issueInput(await makeCsr()))));
  assert.instance(err, InvalidStateException);
  await emu.control("/_emulator/config", { caStatus: { [emu.info.subordinateCaArn]: "ACTIVE" } });
});

test("a restart on the same data directory keeps CA ARNs, credentials and issued certificates", async () => {
  const { CertificateArn } = await pca.send(new IssueCertificateCommand(issueInput(await makeCsr())));
  const before = emu.info;
  assert.is(await emu.stop(), 0);
  pca.destroy();
  emu = await startEmulator({ dataDir: emu.dataDir });
  pca = new ACMPCAClient(emu.clientConfig());
  assert.is(emu.info.rootCaArn, before.rootCaArn);
  assert.is(emu.info.subordinateCaArn, before.subordinateCaArn);
  assert.is(emu.info.accessKeyId, before.accessKeyId);
  assert.is.not(emu.info.endpoint, "");
  const got = await pca.send(new GetCertificateCommand({ CertificateAuthorityArn: emu.info.subordinateCaArn, CertificateArn }));
  assert.ok(got.Certificate);
  const mode = fs.statSync(path.join(emu.dataDir, "pca_authorities.json")).mode & 0o777;
  assert.is(mode, 0o600);
});

test.run();
