/**
 * The aws_iid server attestor with the real EC2, IAM and STS SDK clients against the emulator, fed by the real agent
 * attestor reading the emulator's IMDS: every refusal with SPIRE's text, the selectors, TOFU and evict.
 * @module
 */
import * as fs from "node:fs";
import { Certificate } from "@peculiar/asn1-x509";
import { AsnConvert } from "@peculiar/asn1-schema";
import { test } from "../../../_uvu.ts";
import * as assert from "uvu/assert";
import { AWSIIDAgentAttestor } from "../../../../src/agent/nodeattestor/aws_iid.ts";
import { ConfigSection, ConfigStatus } from "../../../../src/core/config/mod.ts";
import { InternalError, InvalidArgumentError, PermissionDeniedError, type ServiceError } from "../../../../src/core/errors.ts";
import { nullLogger } from "../../../../src/core/log/logger.ts";
import { fromPEM } from "../../../../src/core/x509/mod.ts";
import { x509 } from "../../../../src/core/x509/_peculiar.ts";
import { serverPlugins } from "../../../../src/bin/server_plugins.ts";
import { nodeFS } from "../../../../src/runtime/node/fs.ts";
import { signPKCS7 } from "../../../../src/runtime/node/aws_emulator/ec2/iid_signer.ts";
import { AWSIIDAttestor } from "../../../../src/server/nodeattestor/aws_iid/aws_iid.ts";
import { type AWSIIDServerConfig, buildAWSIIDServerConfig } from "../../../../src/server/nodeattestor/aws_iid/aws_iid_config.ts";
import { newAWSIIDClientFactory } from "../../../../src/server/nodeattestor/aws_iid/aws_iid_client.ts";
import type { SQLStore } from "../../../../src/server/datastore/sql/sql_store.ts";
import { type EmulatedInstance, type RunningEmulator, startEmulator } from "../../../emulator/emulator_process.ts";
import { memoryStore, newClock, TD } from "../../_fixtures.ts";

let emu: RunningEmulator;
let ds: SQLStore;
let trusted: Uint8Array[];
let setupError: unknown;
const noChallenge = async (): Promise<Uint8Array> => {
  throw new Error("aws_iid sends no challenge");
};

function config(data: Record<string, unknown> = {}): AWSIIDServerConfig {
  const status = new ConfigStatus();
  const cfg = buildAWSIIDServerConfig(new ConfigSection('plugins.NodeAttestor "aws_iid".plugin_data', data, status), status);
  status.throwIfErrors();
  return cfg;
}

function attestor(data: Record<string, unknown> = {}, o: { trust?: Uint8Array[] } = {}): AWSIIDAttestor {
  const cfg = config(data);
  const c = emu.clientConfig();
  return new AWSIIDAttestor({
    config: cfg,
    trustDomain: TD,
    ds,
    clients: newAWSIIDClientFactory({
      credentials: c.credentials,
      assumeRole: cfg.assumeRole,
      partition: cfg.partition,
      ec2Endpoint: c.endpoint,
      iamEndpoint: c.endpoint,
      stsEndpoint: c.endpoint,
      maxAttempts: 1,
    }),
    trustedCertificates: o.trust ?? trusted,
    logger: nullLogger,
  });
}

async function payloadOf(i: EmulatedInstance): Promise<Uint8Array> {
  return new AWSIIDAgentAttestor({ endpoint: i.imdsEndpoint }).payload();
}

function edit(payload: Uint8Array, f: (p: { document: string; signature: string; rsa2048: string }) => void): Uint8Array {
  const p = JSON.parse(new TextDecoder().decode(payload)) as { document: string; signature: string; rsa2048: string };
  f(p);
  return new TextEncoder().encode(JSON.stringify(p));
}

async function refused(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("expected attestation to be refused");
}

async function expectRefusal(p: Promise<unknown>, cls: new (...a: never[]) => ServiceError, message: string): Promise<void> {
  const err = await refused(p);
  assert.instance(err, cls, `${err.name}: ${err.message}`);
  assert.is(err.message, message);
  assert.equal(await ds.listAttestedNodes(), [], "a refused attestation stores nothing");
}

/** What the attestation framework does after a successful attest: store the node. */
async function store(agentID: string): Promise<void> {
  await ds.createAttestedNode({
    spiffeID: agentID,
    attestationType: "aws_iid",
    certSerial: "01",
    certNotAfter: 2_000_000_000,
    newCertSerial: "",
    newCertNotAfter: 0,
    canReattest: false,
    banned: false,
    selectors: [],
  });
}

test.before(async () => {
  try {
    emu = await startEmulator();
    ds = await memoryStore(newClock());
    trusted = fromPEM(fs.readFileSync(emu.info.iidCertificatePath, "utf8"), "CERTIFICATE");
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await emu?.stop();
  if (emu) fs.rmSync(emu.dataDir, { recursive: true, force: true });
});

test("attest() accepts an emulated instance: SPIRE's agent ID, sorted selectors with tags, sg and iamrole", async () => {
  if (setupError) throw setupError;
  const i = await emu.defineInstance({
    tags: { env: "prod", team: "id" },
    securityGroups: [{ id: "sg-0aaaaaaaaaaaaaaa1", name: "web" }],
    instanceProfile: { name: "web-profile", roles: ["web-role", "audit-role"] },
  });
  const r = await attestor().attest(await payloadOf(i), noChallenge);
  assert.is(r.agentID.toString(), `spiffe://example.org/spire/agent/aws_iid/${i.account}/us-east-1/${i.instanceId}`);
  assert.is(r.canReattest, false);
  assert.equal(r.selectors.map((s) => `${s.type}:${s.value}`), [
    `aws_iid:account_id:${i.account}`,
    "aws_iid:az:us-east-1a",
    `aws_iid:iamrole:arn:aws:iam::${i.account}:role/audit-role`,
    `aws_iid:iamrole:arn:aws:iam::${i.account}:role/web-role`,
    `aws_iid:image:id:${i.imageId}`,
    `aws_iid:instance:id:${i.instanceId}`,
    "aws_iid:region:us-east-1",
    "aws_iid:sg:id:sg-0aaaaaaaaaaaaaaa1",
    "aws_iid:sg:name:web",
    "aws_iid:tag:env:prod",
    "aws_iid:tag:team:id",
  ]);
  const noRoles = await attestor({ disable_instance_profile_selectors: true }).attest(await payloadOf(i), noChallenge);
  assert.not.ok(noRoles.selectors.some((s) => s.value.startsWith("iamrole:")));
});

test("attest() refuses a second attestation of the same instance (and a replayed document) until the agent is evicted", async () => {
  const i = await emu.defineInstance();
  const payload = await payloadOf(i);
  const a = attestor();
  const first = await a.attest(payload, noChallenge);
  await store(first.agentID.toString());
  const err = await refused(a.attest(payload, noChallenge));
  assert.instance(err, PermissionDeniedError);
  assert.is(err.message, "attestation data has already been used to attest an agent");
  // A fresh read from IMDS is the same document: the instance itself cannot attest twice either.
  const again = await refused(a.attest(await payloadOf(i), noChallenge));
  assert.is(again.message, "attestation data has already been used to attest an agent");
  await ds.deleteAttestedNode(first.agentID.toString());
  const afterEvict = await a.attest(payload, noChallenge);
  assert.is(afterEvict.agentID.toString(), first.agentID.toString());
});

test("attest() refuses a replayed document once its instance is stopped or gone, even after evict", async () => {
  const i = await emu.defineInstance();
  const captured = await payloadOf(i);
  await emu.updateInstance(i.instanceId, { state: "stopped" });
  await expectRefusal(attestor().attest(captured, noChallenge), InternalError, "failed to query AWS via describe-instances: returned no reservations");
  await fetch(`${emu.info.endpoint}/_emulator/instances/${i.instanceId}`, { method: "DELETE" });
  const gone = await refused(attestor().attest(captured, noChallenge));
  assert.instance(gone, InternalError);
  assert.is(gone.message, `failed to describe instance: The instance ID '${i.instanceId}' does not exist`);
});

test("attest() refuses a tampered document, a signature by an untrusted key and a forged signer certificate", async () => {
  const i = await emu.defineInstance();
  const payload = await payloadOf(i);
  const other = await emu.defineInstance();
  // Another instance's document under this instance's signature.
  await expectRefusal(
    attestor().attest(edit(payload, (p) => (p.document = other.document)), noChallenge),
    InvalidArgumentError,
    "instance identity document does not match the verified PKCS7 content",
  );
  // The same swap in the signature-only form.
  await expectRefusal(
    attestor().attest(
      edit(payload, (p) => {
        p.rsa2048 = "";
        p.document = other.document;
      }),
      noChallenge,
    ),
    InvalidArgumentError,
    "failed to verify the cryptographic signature: crypto/rsa: verification error",
  );
  // The emulator's signature, but the server does not trust the emulator.
  await expectRefusal(
    attestor({}, { trust: [] }).attest(payload, noChallenge),
    InvalidArgumentError,
    "failed verification of instance identity cryptographic signature: pkcs7: No certificate for signer",
  );
  // An attacker's key with a certificate copying the trusted one's issuer and serial.
  const keys =
    (await crypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
  const real = new x509.X509Certificate(trusted[0] as Uint8Array<ArrayBuffer>);
  const forged = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: real.serialNumber,
    name: real.subject,
    keys,
    signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  });
  const forgedSig = await signPKCS7(new TextEncoder().encode(i.document), {
    key: keys.privateKey,
    cert: AsnConvert.parse(forged.rawData, Certificate),
    signingTime: new Date(),
  });
  await expectRefusal(
    attestor().attest(edit(payload, (p) => (p.rsa2048 = Buffer.from(forgedSig).toString("base64"))), noChallenge),
    InvalidArgumentError,
    "failed verification of instance identity cryptographic signature: crypto/rsa: verification error",
  );
  await expectRefusal(
    attestor().attest(edit(payload, (p) => (p.rsa2048 = "!!!")), noChallenge),
    InvalidArgumentError,
    "failed to decode the instance identity cryptographic signature",
  );
  await expectRefusal(
    attestor().attest(
      edit(payload, (p) => {
        p.rsa2048 = "";
        p.signature = "";
      }),
      noChallenge,
    ),
    InvalidArgumentError,
    "instance identity cryptographic signature is required",
  );
});

test("attest() accepts the signature-only form when a trusted certificate signed it", async () => {
  const i = await emu.defineInstance();
  const r = await attestor().attest(edit(await payloadOf(i), (p) => (p.rsa2048 = "")), noChallenge);
  assert.is(r.agentID.toString(), `spiffe://example.org/spire/agent/aws_iid/${i.account}/us-east-1/${i.instanceId}`);
});

test("attest() refuses bad payloads with SPIRE's texts", async () => {
  await expectRefusal(attestor().attest(new Uint8Array(), noChallenge), InvalidArgumentError, "missing attestation payload");
  const bad = await refused(attestor().attest(new TextEncoder().encode("{"), noChallenge));
  assert.instance(bad, InvalidArgumentError);
  assert.match(bad.message, /^failed to unmarshal the attestation data: /);
  const badDoc = await refused(attestor().attest(new TextEncoder().encode(JSON.stringify({ document: "[", rsa2048: "x" })), noChallenge));
  assert.match(badDoc.message, /^failed to unmarshal the IID: /);
  const badTime = await refused(
    attestor().attest(new TextEncoder().encode(JSON.stringify({ document: '{"pendingTime":"yesterday"}', rsa2048: "x" })), noChallenge),
  );
  assert.match(badTime.message, /^failed to unmarshal the IID: parsing time "yesterday"/);
});

test("attest() refuses a region without an AWS certificate", async () => {
  const i = await emu.defineInstance({ region: "xx-nowhere-1" });
  await expectRefusal(
    attestor().attest(await payloadOf(i), noChallenge),
    InternalError,
    'failed to load the AWS CA certificate for region "xx-nowhere-1": unsupported region "xx-nowhere-1"',
  );
});

test("attest() checks ENI 0 and the root volume attach times, unless skipped", async () => {
  const launch = new Date(Date.now() - 3600_000);
  const at = (s: number) => new Date(launch.getTime() + s * 1000).toISOString();
  const noEni0 = await emu.defineInstance({ launchTime: launch.toISOString(), networkInterfaces: [{ deviceIndex: 1 }] });
  await expectRefusal(
    attestor().attest(await payloadOf(noEni0), noChallenge),
    InternalError,
    "failed aws ec2 attestation: the EC2 instance network interface with device index 0 is inaccessible",
  );
  const late = await emu.defineInstance({ launchTime: launch.toISOString(), networkInterfaces: [{ deviceIndex: 0, attachTime: at(61) }] });
  await expectRefusal(
    attestor().attest(await payloadOf(late), noChallenge),
    InternalError,
    "failed aws ec2 attestation: failed checking the disparity device attach times, root BlockDeviceMapping and NetworkInterface[0] attach times differ by 61 seconds",
  );
  const noRoot = await emu.defineInstance({ blockDeviceMappings: [{ deviceName: "/dev/sdf" }] });
  await expectRefusal(
    attestor().attest(await payloadOf(noRoot), noChallenge),
    InternalError,
    'failed aws ec2 attestation: failed to locate the root device block mapping with name "/dev/xvda"',
  );
  const atLimit = await emu.defineInstance({ launchTime: launch.toISOString(), networkInterfaces: [{ deviceIndex: 0, attachTime: at(60) }] });
  await attestor().attest(await payloadOf(atLimit), noChallenge);
  const store = await emu.defineInstance({ rootDeviceType: "instance-store", blockDeviceMappings: [] });
  await attestor().attest(await payloadOf(store), noChallenge);
  await attestor({ skip_block_device: true }).attest(await payloadOf(noEni0), noChallenge);
  await attestor({ account_ids_for_local_validation: [late.account] }).attest(await payloadOf(late), noChallenge);
});

test("attest() renders agent_path_template with tags; a missing tag fails the agent ID", async () => {
  const i = await emu.defineInstance({ tags: { env: "prod" } });
  const r = await attestor({ agent_path_template: "/{{ .PluginName }}/{{ .Tags.env }}/{{ .InstanceID }}" }).attest(await payloadOf(i), noChallenge);
  assert.is(r.agentID.toString(), `spiffe://example.org/spire/agent/aws_iid/prod/${i.instanceId}`);
  const err = await refused(attestor({ agent_path_template: "/{{ .Tags.owner }}" }).attest(await payloadOf(i), noChallenge));
  assert.instance(err, InternalError);
  assert.match(err.message, /^failed to create spiffe ID: .*owner/);
});

test("attest() assumes arn:<partition>:iam::<account>:role/<assume_role> before calling EC2 and IAM", async () => {
  const i = await emu.defineInstance({ instanceProfile: { name: "p", roles: ["r"] } });
  const before = (await emu.stats())["sts:AssumeRole"] ?? 0;
  const r = await attestor({ assume_role: "spire-attestor" }).attest(await payloadOf(i), noChallenge);
  assert.ok(r.selectors.some((s) => s.value === `iamrole:arn:aws:iam::${i.account}:role/r`));
  assert.is((await emu.stats())["sts:AssumeRole"], before + 1);
});

test("attest() of an instance in another account needs assume_role: without it EC2 does not know the instance", async () => {
  const i = await emu.defineInstance({ account: "123456789012" });
  const err = await refused(attestor().attest(await payloadOf(i), noChallenge));
  assert.instance(err, InternalError);
  assert.is(err.message, `failed to describe instance: The instance ID '${i.instanceId}' does not exist`);
  const r = await attestor({ assume_role: "spire-server-delegate" }).attest(await payloadOf(i), noChallenge);
  assert.is(r.agentID.toString(), `spiffe://example.org/spire/agent/aws_iid/123456789012/us-east-1/${i.instanceId}`);
});

test("server_plugins builds aws_iid with the EC2, IAM and STS endpoints from AWS_ENDPOINT_URL_*", async () => {
  const c = emu.clientConfig();
  const plugins = serverPlugins({
    fs: nodeFS,
    clock: newClock(),
    env: { AWS_ENDPOINT_URL_EC2: c.endpoint, AWS_ENDPOINT_URL: c.endpoint },
  });
  const i = await emu.defineInstance({ instanceProfile: { name: "q", roles: ["r"] } });
  const a = await plugins.nodeAttestorFactories.aws_iid!(
    {
      ...config({ access_key_id: c.credentials.accessKeyId, secret_access_key: c.credentials.secretAccessKey }),
      trustedIIDCertificates: [emu.info.iidCertificatePath],
    },
    { ds, fs: nodeFS, clock: newClock(), logger: nullLogger, trustDomain: TD },
  );
  const before = await emu.stats();
  const r = await a.attest(await payloadOf(i), noChallenge);
  assert.ok(r.selectors.some((s) => s.value.startsWith("iamrole:")));
  const after = await emu.stats();
  assert.is(after["ec2:DescribeInstances"], (before["ec2:DescribeInstances"] ?? 0) + 1);
  assert.is(after["iam:GetInstanceProfile"], (before["iam:GetInstanceProfile"] ?? 0) + 1);
  const missing = await refused(
    plugins.nodeAttestorFactories.aws_iid!({ ...config(), trustedIIDCertificates: ["/nonexistent.pem"] }, {
      ds,
      fs: nodeFS,
      clock: newClock(),
      logger: nullLogger,
      trustDomain: TD,
    }),
  );
  assert.match(missing.message, /^aws_iid: unable to load trusted_iid_certificates "\/nonexistent.pem"/);
});

test.run();
