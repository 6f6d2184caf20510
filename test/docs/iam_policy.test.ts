/**
 * docs/iam-policy.json, the least-privilege policy the docs recommend, through the emulator's IAM evaluator and then
 * on the wire: the wisp intermediate template is allowed, any other template is not, and GetCertificate works.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { nullLogger } from "../../src/core/log/logger.ts";
import { systemClock } from "../../src/core/ports/clock.ts";
import { createCACSR } from "../../src/core/x509/mod.ts";
import { generateKeyPair } from "../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../src/core/crypto/signer.ts";
import { nodeFS } from "../../src/runtime/node/fs.ts";
import { AWSPCAUpstreamAuthority, DEFAULT_CA_SIGNING_TEMPLATE_ARN } from "../../src/server/upstreamauthority/awspca/awspca.ts";
import { newPCAClient } from "../../src/server/upstreamauthority/awspca/pca_client.ts";
import { evaluatePolicy, parsePolicy } from "../../src/runtime/node/aws_emulator/iam_policy.ts";
import { startEmulator } from "../emulator/emulator_process.ts";
import { ROOT } from "../integration/_harness.ts";

const text = readFileSync(join(ROOT, "docs/iam-policy.json"), "utf8");
const CA = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
const policy = parsePolicy(JSON.parse(text));
const ask = (action: string, context: Record<string, string> = {}, resource = CA) => evaluatePolicy(policy, { action, resource, context });

test("IssueCertificate is allowed only with the PathLen0 subordinate template, only on the configured CA", () => {
  assert.is(ask("acm-pca:IssueCertificate", { "acm-pca:TemplateArn": DEFAULT_CA_SIGNING_TEMPLATE_ARN }), "allow");
  assert.is(ask("acm-pca:IssueCertificate", { "acm-pca:TemplateArn": "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen1/V1" }), "implicit_deny");
  assert.is(ask("acm-pca:IssueCertificate", { "acm-pca:TemplateArn": "arn:aws:acm-pca:::template/EndEntityCertificate/V1" }), "implicit_deny");
  assert.is(ask("acm-pca:IssueCertificate"), "implicit_deny", "a request without TemplateArn does not match StringEquals");
  const other = CA.replace("0b1c2d3e", "ffffffff");
  assert.is(ask("acm-pca:IssueCertificate", { "acm-pca:TemplateArn": DEFAULT_CA_SIGNING_TEMPLATE_ARN }, other), "implicit_deny");
});

test("GetCertificate and DescribeCertificateAuthority are allowed without a template condition; nothing else is", () => {
  assert.is(ask("acm-pca:GetCertificate"), "allow");
  assert.is(ask("acm-pca:DescribeCertificateAuthority"), "allow");
  assert.is(ask("acm-pca:RevokeCertificate"), "implicit_deny");
  assert.is(ask("acm-pca:CreateCertificateAuthority", {}, "*"), "implicit_deny");
});

test('aws_iid: DescribeInstances (resource "*", as EC2 requires), GetInstanceProfile and the assume_role role are allowed; other IAM reads are not', () => {
  assert.is(ask("ec2:DescribeInstances", {}, "*"), "allow");
  assert.is(ask("iam:GetInstanceProfile", {}, "arn:aws:iam::111122223333:instance-profile/web"), "allow");
  assert.is(ask("iam:GetRole", {}, "arn:aws:iam::111122223333:role/web"), "implicit_deny");
  assert.is(ask("sts:AssumeRole", {}, "arn:aws:iam::444455556666:role/spire-server-delegate"), "allow");
  assert.is(ask("sts:AssumeRole", {}, "arn:aws:iam::444455556666:role/admin"), "implicit_deny");
  assert.is(ask("ec2:TerminateInstances", {}, "*"), "implicit_deny");
});

test("the seed's single statement (template condition on GetCertificate too) denies GetCertificate: why the docs split it", () => {
  const seed = parsePolicy({
    Version: "2012-10-17",
    Statement: [{
      Effect: "Allow",
      Action: ["acm-pca:IssueCertificate", "acm-pca:GetCertificate"],
      Resource: CA,
      Condition: { StringEquals: { "acm-pca:TemplateArn": DEFAULT_CA_SIGNING_TEMPLATE_ARN } },
    }],
  });
  assert.is(evaluatePolicy(seed, { action: "acm-pca:GetCertificate", resource: CA, context: {} }), "implicit_deny");
});

test("on the wire: with the policy in force the emulator issues wisp's intermediate; a different template is AccessDenied", async () => {
  const emu = await startEmulator();
  try {
    const doc = JSON.parse(text.replaceAll(CA, emu.info.subordinateCaArn)) as unknown;
    await emu.control("/_emulator/config", { policy: doc });
    const signer = await webCryptoSigner(await generateKeyPair(false));
    const csr = await createCACSR({ signer, trustDomain: "example.org" });
    const mk = (template: string) =>
      AWSPCAUpstreamAuthority.create({
        client: newPCAClient({ ...emu.clientConfig(), maxAttempts: 1 }),
        certificateAuthorityArn: emu.info.subordinateCaArn,
        caSigningTemplateArn: template,
        fs: nodeFS,
        clock: systemClock,
        logger: nullLogger,
        pollInitialMs: 50,
      });
    const minted = await (await mk(DEFAULT_CA_SIGNING_TEMPLATE_ARN)).mintX509CA(csr, 3600);
    assert.is(minted.x509CAChain.length, 2);
    const stats = await emu.stats();
    assert.ok((stats["acm-pca:GetCertificate"] ?? 0) >= 1, "GetCertificate was called and allowed");
    const err = await (await mk("arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen1/V1")).mintX509CA(csr, 3600).catch((e: Error) => e);
    assert.instance(err, Error);
    assert.is((err as Error).message, `failed submitting CSR: ACM PCA at "${emu.info.endpoint}" answered AccessDeniedException`);
  } finally {
    await emu.stop();
    rmSync(emu.dataDir, { recursive: true, force: true });
  }
});

test.run();
