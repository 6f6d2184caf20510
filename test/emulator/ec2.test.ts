/** EC2 instances, their IMDS (v2 tokens, v1 fallback), signed identity documents, DescribeInstances and GetInstanceProfile through the real SDK clients. @module */
import { createPublicKey, verify } from "node:crypto";
import * as fs from "node:fs";
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { GetInstanceProfileCommand, IAMClient } from "@aws-sdk/client-iam";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { parsePKCS7, verifyPKCS7 } from "../../src/core/x509/pkcs7.ts";
import { fromPEM } from "../../src/core/x509/mod.ts";
import { type EmulatedInstance, type RunningEmulator, startEmulator } from "./emulator_process.ts";

let emu: RunningEmulator;
let inst: EmulatedInstance;
let setupError: unknown;
type AwsErr = Error & { $metadata?: { httpStatusCode?: number } };

async function rejects(p: Promise<unknown>): Promise<AwsErr> {
  try {
    await p;
  } catch (err) {
    return err as AwsErr;
  }
  throw new Error("expected the call to fail");
}

async function token(endpoint: string, ttl: string | null = "300"): Promise<Response> {
  return fetch(`${endpoint}/latest/api/token`, { method: "PUT", headers: ttl === null ? {} : { "x-aws-ec2-metadata-token-ttl-seconds": ttl } });
}

async function get(endpoint: string, path: string, tok?: string): Promise<Response> {
  return fetch(`${endpoint}/latest/dynamic/instance-identity/${path}`, { headers: tok === undefined ? {} : { "x-aws-ec2-metadata-token": tok } });
}

test.before(async () => {
  try {
    emu = await startEmulator();
    inst = await emu.defineInstance({
      tags: { env: "prod", team: "identity" },
      securityGroups: [{ id: "sg-0123456789abcdef0", name: "web" }],
      instanceProfile: { name: "web-profile", roles: ["web-role"] },
    });
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await emu?.stop();
  if (emu) fs.rmSync(emu.dataDir, { recursive: true, force: true });
});

test("the emulator writes its identity-signing certificate and names it in the ready line", () => {
  if (setupError) throw setupError;
  const pem = fs.readFileSync(emu.info.iidCertificatePath, "utf8");
  assert.match(pem, /^-----BEGIN CERTIFICATE-----/);
  assert.is(inst.imdsEndpoint.startsWith("http://127.0.0.1:"), true);
});

test("IMDSv2: PUT /latest/api/token echoes the TTL header; documents need the token", async () => {
  const res = await token(inst.imdsEndpoint, "21600");
  assert.is(res.status, 200);
  assert.is(res.headers.get("x-aws-ec2-metadata-token-ttl-seconds"), "21600");
  const tok = await res.text();
  const doc = await get(inst.imdsEndpoint, "document", tok);
  assert.is(doc.status, 200);
  const body = await doc.text();
  assert.is(body, inst.document);
  const parsed = JSON.parse(body) as Record<string, unknown>;
  assert.is(parsed["instanceId"], inst.instanceId);
  assert.is(parsed["accountId"], inst.account);
  assert.is(parsed["region"], "us-east-1");
  assert.match(body, /"region" : "us-east-1"/);
});

test("IMDSv2: missing or invalid TTL is 400; a tokenless GET on a tokens-required instance is 401, so is a bad token", async () => {
  assert.is((await token(inst.imdsEndpoint, null)).status, 400);
  assert.is((await token(inst.imdsEndpoint, "0")).status, 400);
  assert.is((await token(inst.imdsEndpoint, "21601")).status, 400);
  assert.is((await token(inst.imdsEndpoint, "abc")).status, 400);
  assert.is((await get(inst.imdsEndpoint, "document")).status, 401);
  assert.is((await get(inst.imdsEndpoint, "rsa2048", "not-a-token")).status, 401);
});

test("IMDSv2: an expired token gets 401", async () => {
  const tok = await (await token(inst.imdsEndpoint, "1")).text();
  assert.is((await get(inst.imdsEndpoint, "signature", tok)).status, 200);
  await emu.control("/_emulator/config", { clockOffsetMs: 2000 });
  try {
    assert.is((await get(inst.imdsEndpoint, "signature", tok)).status, 401);
  } finally {
    await emu.control("/_emulator/config", { clockOffsetMs: 0 });
  }
});

test("IMDSv1: with imdsTokens optional, a tokenless GET is answered", async () => {
  const v1 = await emu.defineInstance({ imdsTokens: "optional" });
  const res = await get(v1.imdsEndpoint, "document");
  assert.is(res.status, 200);
  assert.is(await res.text(), v1.document);
});

test("signature is PKCS#1 v1.5 SHA-256 and rsa2048 a PKCS#7 SignedData over the document, both by the emulator key", async () => {
  const tok = await (await token(inst.imdsEndpoint)).text();
  const sig = await (await get(inst.imdsEndpoint, "signature", tok)).text();
  const p7 = await (await get(inst.imdsEndpoint, "rsa2048", tok)).text();
  assert.not.match(p7, /BEGIN/);
  const certPem = fs.readFileSync(emu.info.iidCertificatePath, "utf8");
  const doc = Buffer.from(inst.document);
  assert.ok(verify("sha256", doc, createPublicKey(certPem), Buffer.from(sig.replace(/\n/g, ""), "base64")));
  const content = await verifyPKCS7(parsePKCS7(new Uint8Array(Buffer.from(p7, "base64"))), fromPEM(certPem, "CERTIFICATE"));
  assert.is(Buffer.from(content).toString(), inst.document);
});

test("DescribeInstances through @aws-sdk/client-ec2: the fields SPIRE reads, and the state filter", async () => {
  const ec2 = new EC2Client(emu.clientConfig());
  const filter = [{ Name: "instance-state-name", Values: ["pending", "running"] }];
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [inst.instanceId], Filters: filter }));
  assert.is(out.Reservations?.length, 1);
  const i = out.Reservations![0]!.Instances![0]!;
  assert.is(i.InstanceId, inst.instanceId);
  assert.is(i.State?.Name, "running");
  assert.equal(i.Tags?.map((t) => `${t.Key}=${t.Value}`).sort(), ["env=prod", "team=identity"]);
  assert.equal(i.SecurityGroups, [{ GroupId: "sg-0123456789abcdef0", GroupName: "web" }]);
  assert.is(i.IamInstanceProfile?.Arn, `arn:aws:iam::${inst.account}:instance-profile/web-profile`);
  assert.is(i.RootDeviceType, "ebs");
  assert.is(i.RootDeviceName, "/dev/xvda");
  assert.is(i.BlockDeviceMappings?.[0]?.DeviceName, "/dev/xvda");
  assert.instance(i.BlockDeviceMappings?.[0]?.Ebs?.AttachTime, Date);
  assert.is(i.NetworkInterfaces?.[0]?.Attachment?.DeviceIndex, 0);
  assert.instance(i.NetworkInterfaces?.[0]?.Attachment?.AttachTime, Date);

  await emu.updateInstance(inst.instanceId, { state: "stopped" });
  try {
    const stopped = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [inst.instanceId], Filters: filter }));
    assert.is(stopped.Reservations?.length ?? 0, 0);
  } finally {
    await emu.updateInstance(inst.instanceId, { state: "running" });
  }
  const unknown = await rejects(ec2.send(new DescribeInstancesCommand({ InstanceIds: ["i-0123456789abcdef0"] })));
  assert.is(unknown.name, "InvalidInstanceID.NotFound");
  assert.is(unknown.message, "The instance ID 'i-0123456789abcdef0' does not exist");
  const badFilter = await rejects(ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "colour", Values: ["x"] }] })));
  assert.is(badFilter.name, "InvalidParameterValue");
});

test("DescribeInstances shows only the signing region's instances", async () => {
  const west = await emu.defineInstance({ region: "us-west-2" });
  const east = await new EC2Client(emu.clientConfig()).send(new DescribeInstancesCommand({}));
  assert.not.ok(east.Reservations?.some((r) => r.Instances?.some((i) => i.InstanceId === west.instanceId)));
  const out = await new EC2Client({ ...emu.clientConfig(), region: "us-west-2" }).send(new DescribeInstancesCommand({ InstanceIds: [west.instanceId] }));
  assert.is(out.Reservations?.[0]?.Instances?.[0]?.Placement?.AvailabilityZone, "us-west-2a");
});

test("GetInstanceProfile through @aws-sdk/client-iam lists the profile's roles; an unknown profile is NoSuchEntity", async () => {
  const iam = new IAMClient(emu.clientConfig());
  const out = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: "web-profile" }));
  assert.is(out.InstanceProfile?.InstanceProfileName, "web-profile");
  assert.equal(out.InstanceProfile?.Roles?.map((r) => r.Arn), [`arn:aws:iam::${inst.account}:role/web-role`]);
  const err = await rejects(iam.send(new GetInstanceProfileCommand({ InstanceProfileName: "nope" })));
  assert.is(err.name, "NoSuchEntityException");
  assert.is(err.message, "Instance Profile nope cannot be found.");
});

test("EC2 and IAM refuse a wrong secret (SigV4) and obey fault injection", async () => {
  const wrong = { ...emu.clientConfig(), credentials: { accessKeyId: emu.info.accessKeyId, secretAccessKey: "wrong" }, maxAttempts: 1 };
  const e1 = await rejects(new EC2Client(wrong).send(new DescribeInstancesCommand({})));
  assert.is(e1.name, "SignatureDoesNotMatch");
  const e2 = await rejects(new IAMClient(wrong).send(new GetInstanceProfileCommand({ InstanceProfileName: "web-profile" })));
  assert.is(e2.name, "SignatureDoesNotMatch");
  await emu.control("/_emulator/faults", { service: "ec2", mode: "access_denied" });
  try {
    const e3 = await rejects(new EC2Client({ ...emu.clientConfig(), maxAttempts: 1 }).send(new DescribeInstancesCommand({})));
    assert.is(e3.name, "UnauthorizedOperation");
    assert.is(e3.$metadata?.httpStatusCode, 403);
  } finally {
    await emu.control("/_emulator/faults", { service: "ec2", mode: "ok" });
  }
  const stats = await emu.stats();
  assert.ok((stats["ec2:DescribeInstances"] ?? 0) > 0);
  assert.ok((stats["imds:PutToken"] ?? 0) > 0);
});

test("an instance definition with bad fields is refused with every problem", async () => {
  const res = await fetch(`${emu.info.endpoint}/_emulator/instances`, { method: "POST", body: JSON.stringify({ state: "sleeping", colour: "red" }) });
  assert.is(res.status, 400);
  const body = (await res.json()) as { error: string };
  assert.match(body.error, /unknown instance field "colour"/);
  assert.match(body.error, /state must be one of/);
  const patch = await fetch(`${emu.info.endpoint}/_emulator/instances/${inst.instanceId}`, { method: "PATCH", body: JSON.stringify({ region: "eu-west-1" }) });
  assert.is(patch.status, 400);
});

test.run();
