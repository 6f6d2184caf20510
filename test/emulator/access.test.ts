/** SigV4, STS, faults, stats, throttling and the IAM template condition, through the real SDK clients. @module */
import { DEFAULT_RATES } from "../../src/runtime/node/aws_emulator/throttler.ts";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ACMPCAClient, DescribeCertificateAuthorityCommand, GetCertificateCommand, IssueCertificateCommand } from "@aws-sdk/client-acm-pca";
import { KMSClient, ListKeysCommand } from "@aws-sdk/client-kms";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { x509 } from "../../src/core/x509/_peculiar.ts";
import { type RunningEmulator, startEmulator, tempDir } from "./emulator_process.ts";

const PATHLEN0 = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1";
const END_ENTITY = "arn:aws:acm-pca:::template/EndEntityCertificate/V1";
let emu: RunningEmulator;

type AwsErr = Error & { code?: string; $metadata?: { httpStatusCode?: number; attempts?: number } };

async function rejects(p: Promise<unknown>): Promise<AwsErr> {
  try {
    await p;
  } catch (err) {
    return err as AwsErr;
  }
  throw new Error("expected the call to fail");
}

let csrBytes: Uint8Array | undefined;
async function csr(): Promise<Uint8Array> {
  if (!csrBytes) {
    const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const req = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "CN=wisp",
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
    });
    csrBytes = new TextEncoder().encode(req.toString("pem"));
  }
  return csrBytes;
}

async function issue(client: ACMPCAClient, templateArn?: string, caArn = emu.info.subordinateCaArn) {
  return client.send(
    new IssueCertificateCommand({
      CertificateAuthorityArn: caArn,
      Csr: await csr(),
      SigningAlgorithm: "SHA256WITHECDSA",
      ...(templateArn === undefined ? {} : { TemplateArn: templateArn }),
      Validity: { Type: "DAYS", Value: 1 },
    }),
  );
}

test.before(async () => {
  emu = await startEmulator();
});

test.after(async () => {
  await emu?.stop();
  fs.rmSync(emu.dataDir, { recursive: true, force: true });
});

test("a wrong secret fails with InvalidSignatureException and an unknown key with UnrecognizedClientException", async () => {
  const wrongSecret = { ...emu.clientConfig(), credentials: { accessKeyId: emu.info.accessKeyId, secretAccessKey: "not-the-secret" }, maxAttempts: 1 };
  const kmsErr = await rejects(new KMSClient(wrongSecret).send(new ListKeysCommand({})));
  assert.is(kmsErr.name, "InvalidSignatureException");
  assert.is(
    kmsErr.message,
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
  );
  const pcaErr = await rejects(
    new ACMPCAClient(wrongSecret).send(new DescribeCertificateAuthorityCommand({ CertificateAuthorityArn: emu.info.subordinateCaArn })),
  );
  assert.is(pcaErr.name, "InvalidSignatureException");
  const stsErr = await rejects(new STSClient(wrongSecret).send(new GetCallerIdentityCommand({})));
  assert.is(stsErr.name, "SignatureDoesNotMatch");
  assert.is(stsErr.$metadata?.httpStatusCode, 403);

  const unknown = { ...emu.clientConfig(), credentials: { accessKeyId: "AKIAUNKNOWNUNKNOWN00", secretAccessKey: "x" }, maxAttempts: 1 };
  const unk = await rejects(new KMSClient(unknown).send(new ListKeysCommand({})));
  assert.is(unk.name, "UnrecognizedClientException");
  assert.is(unk.message, "The security token included in the request is invalid.");
  const wrongRegion = await rejects(new KMSClient({ ...emu.clientConfig(), region: "eu-west-1", maxAttempts: 1 }).send(new ListKeysCommand({})));
  assert.is(wrongRegion.name, "InvalidSignatureException");
  assert.is(wrongRegion.message, "Credential should be scoped to a valid region, not 'eu-west-1'. ");
});

test("AssumeRole() returns temporary credentials the emulator accepts with their session token", async () => {
  const sts = new STSClient(emu.clientConfig());
  const out = await sts.send(
    new AssumeRoleCommand({ RoleArn: "arn:aws:iam::123456789012:role/wisp-pca", RoleSessionName: "wisp-server", DurationSeconds: 900 }),
  );
  const c = out.Credentials!;
  assert.match(c.AccessKeyId!, /^ASIA[A-Z2-7]{16}$/);
  assert.ok(c.Expiration instanceof Date);
  assert.is(out.AssumedRoleUser!.Arn, "arn:aws:sts::123456789012:assumed-role/wisp-pca/wisp-server");
  const creds = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
  const who = await new STSClient({ ...emu.clientConfig(), credentials: creds }).send(new GetCallerIdentityCommand({}));
  assert.is(who.Arn, "arn:aws:sts::123456789012:assumed-role/wisp-pca/wisp-server");
  assert.is(who.Account, "123456789012");
  const desc = await new ACMPCAClient({ ...emu.clientConfig(), credentials: creds }).send(
    new DescribeCertificateAuthorityCommand({ CertificateAuthorityArn: emu.info.subordinateCaArn }),
  );
  assert.is(desc.CertificateAuthority!.Status, "ACTIVE");
  await new KMSClient({ ...emu.clientConfig(), credentials: creds }).send(new ListKeysCommand({}));
  const noToken = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey! };
  const err = await rejects(new KMSClient({ ...emu.clientConfig(), credentials: noToken, maxAttempts: 1 }).send(new ListKeysCommand({})));
  assert.is(err.name, "UnrecognizedClientException");
  const bad = await rejects(sts.send(new AssumeRoleCommand({ RoleArn: "arn:aws:iam::123456789012:role/wisp", RoleSessionName: "x" })));
  assert.is(bad.name, "ValidationError");
});

test("faults: down closes the connection, error answers InternalFailure, access_denied answers AccessDeniedException", async () => {
  const kms = new KMSClient({ ...emu.clientConfig(), maxAttempts: 2 });
  await fetch(emu.info.endpoint + "/_emulator/stats", { method: "DELETE" });
  await emu.control("/_emulator/faults", { service: "kms", mode: "down" });
  const down = await rejects(kms.send(new ListKeysCommand({})));
  assert.is(down.code, "ECONNRESET");
  assert.is(down.$metadata?.attempts, 2);
  assert.equal(await emu.stats(), { "kms:ListKeys": 2 }, "every SDK attempt reached the emulator");

  await emu.control("/_emulator/faults", { service: "kms", mode: "error" });
  const internal = await rejects(kms.send(new ListKeysCommand({})));
  assert.is(internal.name, "InternalFailure");
  assert.is(internal.$metadata?.httpStatusCode, 500);

  await emu.control("/_emulator/faults", { service: "acm-pca", mode: "access_denied" });
  await emu.control("/_emulator/faults", { service: "kms", mode: "ok" });
  await kms.send(new ListKeysCommand({}));
  const pca = new ACMPCAClient(emu.clientConfig());
  const denied = await rejects(issue(pca, PATHLEN0));
  assert.is(denied.name, "AccessDeniedException");
  assert.is(denied.$metadata?.httpStatusCode, 400);
  assert.match(
    denied.message,
    new RegExp(
      `^User: arn:aws:iam::\\d{12}:user/wisp-emulator is not authorized to perform: acm-pca:IssueCertificate on resource: ${emu.info.subordinateCaArn} because no identity-based policy allows the acm-pca:IssueCertificate action$`,
    ),
  );
  await emu.control("/_emulator/faults", { service: "acm-pca", mode: "ok" });
  assert.equal(await emu.stats(), { "acm-pca:IssueCertificate": 1, "kms:ListKeys": 5 });
});

test("the emulator's default quotas are AWS's: IssueCertificate 25 TPS, GetCertificate 75 TPS", () => {
  assert.is(DEFAULT_RATES["acm-pca:IssueCertificate"], 25);
  assert.is(DEFAULT_RATES["acm-pca:GetCertificate"], 75);
});

// The wire behaviour is checked at 1 TPS: whether a burst of calls exceeds 25 TPS depends on how fast this machine
// sends them, and a test must not depend on that.
test("IssueCertificate() and GetCertificate() beyond their quota answer ThrottlingException through the SDK", async () => {
  await emu.control("/_emulator/config", { throttle: { "acm-pca:IssueCertificate": 1, "acm-pca:GetCertificate": 1 } });
  try {
    const pca = new ACMPCAClient({ ...emu.clientConfig(), maxAttempts: 1 });
    const issued = await Promise.allSettled(Array.from({ length: 6 }, () => issue(pca, PATHLEN0)));
    const throttled = issued.filter((r) => r.status === "rejected");
    assert.ok(throttled.length > 0 && throttled.length < 6, `${throttled.length} of 6 IssueCertificate calls were throttled`);
    for (const r of throttled) assert.is((r as PromiseRejectedResult).reason.name, "ThrottlingException");
    const arn = issued.find((r) => r.status === "fulfilled") as PromiseFulfilledResult<{ CertificateArn?: string }>;
    const gets = await Promise.allSettled(
      Array.from(
        { length: 6 },
        () => pca.send(new GetCertificateCommand({ CertificateAuthorityArn: emu.info.subordinateCaArn, CertificateArn: arn.value.CertificateArn })),
      ),
    );
    const getThrottled = gets.filter((r) => r.status === "rejected");
    assert.ok(getThrottled.length > 0 && getThrottled.length < 6, `${getThrottled.length} of 6 GetCertificate calls were throttled`);
    for (const r of getThrottled) assert.is((r as PromiseRejectedResult).reason.name, "ThrottlingException");
  } finally {
    await emu.control("/_emulator/config", { throttle: { "acm-pca:IssueCertificate": 25, "acm-pca:GetCertificate": 75 } });
  }
});

test("a clock skew beyond 15 minutes answers RequestExpired, which the SDK corrects from the Date header", async () => {
  await emu.control("/_emulator/config", { clockOffsetMs: 20 * 60 * 1000 });
  try {
    const once = await rejects(new KMSClient({ ...emu.clientConfig(), maxAttempts: 1 }).send(new ListKeysCommand({})));
    assert.is(once.name, "RequestExpired");
    const retried = await new KMSClient(emu.clientConfig()).send(new ListKeysCommand({}));
    assert.is(retried.$metadata.attempts, 2);
  } finally {
    await emu.control("/_emulator/config", { clockOffsetMs: 0 });
  }
});

test("-policy with an acm-pca:TemplateArn condition denies other templates and a missing template", async () => {
  const dir = tempDir("wisp-aws-emu-policy-");
  const policyFile = path.join(dir, "policy.json");
  fs.writeFileSync(
    policyFile,
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Action: ["acm-pca:DescribeCertificateAuthority", "acm-pca:GetCertificate"],
          Resource: "arn:aws:acm-pca:*:*:certificate-authority/*",
        },
        { Effect: "Allow", Action: ["acm-pca:IssueCertificate"], Resource: "*", Condition: { StringEquals: { "acm-pca:TemplateArn": PATHLEN0 } } },
      ],
    }),
  );
  const guarded = await startEmulator({ dataDir: dir, args: ["-policy", policyFile] });
  try {
    const pca = new ACMPCAClient(guarded.clientConfig());
    const caArn = guarded.info.subordinateCaArn;
    const ok = await issue(pca, PATHLEN0, caArn);
    await pca.send(new GetCertificateCommand({ CertificateAuthorityArn: guarded.info.subordinateCaArn, CertificateArn: ok.CertificateArn }));
    for (const template of [END_ENTITY, undefined]) {
      const err = await rejects(issue(pca, template, caArn));
      assert.is(err.name, "AccessDeniedException");
      assert.match(
        err.message,
        / is not authorized to perform: acm-pca:IssueCertificate on resource: arn:aws:acm-pca:us-east-1:\d{12}:certificate-authority\/[0-9a-f-]{36} because no identity-based policy allows the acm-pca:IssueCertificate action$/,
      );
    }
    // The seed policy puts GetCertificate under the TemplateArn condition; GetCertificate carries no template, so IAM denies it.
    await guarded.control("/_emulator/config", {
      policy: {
        Statement: [{
          Effect: "Allow",
          Action: ["acm-pca:IssueCertificate", "acm-pca:GetCertificate"],
          Resource: "*",
          Condition: { StringEquals: { "acm-pca:TemplateArn": PATHLEN0 } },
        }],
      },
    });
    const noGetCa = await rejects(
      pca.send(new GetCertificateCommand({ CertificateAuthorityArn: guarded.info.subordinateCaArn, CertificateArn: ok.CertificateArn })),
    );
    assert.is(noGetCa.name, "AccessDeniedException");
  } finally {
    await guarded.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the launcher rejects unknown flags with exit code 2 and exits 0 on SIGTERM", async () => {
  const bin = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../bin/wisp-aws-emulator.mjs");
  const r = spawnSync(process.execPath, [bin, "-bogus", "x"], { encoding: "utf8" });
  assert.is(r.status, 2);
  assert.ok(r.stderr.startsWith('unknown flag "-bogus"\n'));
  const other = await startEmulator();
  assert.is(await other.stop(), 0);
  fs.rmSync(other.dataDir, { recursive: true, force: true });
});

test.run();
