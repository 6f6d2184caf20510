/** KMS emulation through the real @aws-sdk/client-kms against a spawned emulator. @module */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import {
  AlreadyExistsException,
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisabledException,
  GetPublicKeyCommand,
  KMSClient,
  KMSInvalidSignatureException,
  KMSInvalidStateException,
  ListAliasesCommand,
  ListKeysCommand,
  NotFoundException,
  ScheduleKeyDeletionCommand,
  SignCommand,
  UnsupportedOperationException,
  UpdateAliasCommand,
  VerifyCommand,
} from "@aws-sdk/client-kms";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { derToRaw } from "../../src/core/crypto/mod.ts";
import { type RunningEmulator, startEmulator } from "./emulator_process.ts";

let emu: RunningEmulator;
let kms: KMSClient;

async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the call to fail");
}

async function createKey(description = "wisp test key"): Promise<{ keyId: string; arn: string }> {
  const out = await kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY", Description: description }));
  return { keyId: out.KeyMetadata!.KeyId!, arn: out.KeyMetadata!.Arn! };
}

async function webCryptoVerify(spki: Uint8Array, derSig: Uint8Array, message: Uint8Array): Promise<boolean> {
  const key = await crypto.subtle.importKey("spki", spki as BufferSource, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  const raw = derToRaw(derSig);
  assert.ok(raw, "signature is DER ECDSA-Sig-Value");
  return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw! as BufferSource, message as BufferSource);
}

test.before(async () => {
  emu = await startEmulator();
  kms = new KMSClient(emu.clientConfig());
});

test.after(async () => {
  kms?.destroy();
  await emu?.stop();
  fs.rmSync(emu.dataDir, { recursive: true, force: true });
});

test("Sign() with MessageType DIGEST signs the given SHA-256 digest as is", async () => {
  const { keyId, arn } = await createKey();
  assert.match(arn, new RegExp(`^arn:aws:kms:us-east-1:\\d{12}:key/${keyId}$`));
  const pub = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  assert.is(pub.KeyId, arn);
  assert.is(pub.KeySpec, "ECC_NIST_P256");
  assert.equal(pub.SigningAlgorithms, ["ECDSA_SHA_256"]);
  assert.is(pub.PublicKey!.length, 91);
  assert.is(Buffer.from(pub.PublicKey!.subarray(0, 26)).toString("hex"), "3059301306072a8648ce3d020106082a8648ce3d030107034200");

  const message = new TextEncoder().encode("to be signed by a CA key");
  const digest = createHash("sha256").update(message).digest();
  const signed = await kms.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256" }));
  assert.is(signed.KeyId, arn);
  assert.ok(await webCryptoVerify(pub.PublicKey!, signed.Signature!, message));
  const verified = await kms.send(
    new VerifyCommand({ KeyId: keyId, Message: digest, MessageType: "DIGEST", Signature: signed.Signature!, SigningAlgorithm: "ECDSA_SHA_256" }),
  );
  assert.is(verified.SignatureValid, true);

  const other = createHash("sha256").update("something else").digest();
  const bad = await rejects(
    kms.send(new VerifyCommand({ KeyId: keyId, Message: other, MessageType: "DIGEST", Signature: signed.Signature!, SigningAlgorithm: "ECDSA_SHA_256" })),
  );
  assert.instance(bad, KMSInvalidSignatureException);
  const short = await rejects(
    kms.send(new SignCommand({ KeyId: keyId, Message: digest.subarray(0, 20), MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256" })),
  );
  assert.is(short.name, "ValidationException");
  assert.is(short.message, "Digest is invalid length for algorithm ECDSA_SHA_256.");
});

test("Sign() with MessageType RAW signs SHA-256 of the message", async () => {
  const { keyId } = await createKey();
  const pub = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  const message = new TextEncoder().encode("raw message");
  const signed = await kms.send(new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: "ECDSA_SHA_256" }));
  assert.ok(await webCryptoVerify(pub.PublicKey!, signed.Signature!, message));
  const v = await kms.send(new VerifyCommand({ KeyId: keyId, Message: message, Signature: signed.Signature!, SigningAlgorithm: "ECDSA_SHA_256" }));
  assert.is(v.SignatureValid, true);
});

test("CreateKey() rejects key specs other than ECC_NIST_P256 and usages other than SIGN_VERIFY", async () => {
  const rsa = await rejects(kms.send(new CreateKeyCommand({ KeySpec: "RSA_2048", KeyUsage: "SIGN_VERIFY" })));
  assert.instance(rsa, UnsupportedOperationException);
  assert.is(rsa.message, "KeySpec RSA_2048 is not supported by the wisp emulator, which models ECC_NIST_P256 signing keys only.");
  const usage = await rejects(kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "ENCRYPT_DECRYPT" })));
  assert.is(usage.name, "ValidationException");
  assert.is(usage.message, "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ECC_NIST_P256. Specify KeyUsage SIGN_VERIFY.");
});

test("aliases can be created, resolved, listed with paging, updated and deleted", async () => {
  const a = await createKey("a");
  const b = await createKey("b");
  await kms.send(new CreateAliasCommand({ AliasName: "alias/wisp/one", TargetKeyId: a.keyId }));
  await kms.send(new CreateAliasCommand({ AliasName: "alias/wisp/two", TargetKeyId: a.arn }));
  const dup = await rejects(kms.send(new CreateAliasCommand({ AliasName: "alias/wisp/one", TargetKeyId: b.keyId })));
  assert.instance(dup, AlreadyExistsException);
  const byName = await kms.send(new DescribeKeyCommand({ KeyId: "alias/wisp/one" }));
  assert.is(byName.KeyMetadata!.KeyId, a.keyId);
  assert.is(byName.KeyMetadata!.Description, "a");
  const aliasArn = a.arn.replace(/key\/.*$/, "alias/wisp/one");
  assert.is((await kms.send(new DescribeKeyCommand({ KeyId: aliasArn }))).KeyMetadata!.KeyId, a.keyId);
  assert.is((await kms.send(new DescribeKeyCommand({ KeyId: a.arn }))).KeyMetadata!.KeyId, a.keyId);

  const forA = await kms.send(new ListAliasesCommand({ KeyId: a.keyId }));
  assert.equal(forA.Aliases!.map((x) => x.AliasName), ["alias/wisp/one", "alias/wisp/two"]);
  assert.is(forA.Truncated, false);
  const names: string[] = [];
  let marker: string | undefined;
  do {
    const page = await kms.send(new ListAliasesCommand({ Limit: 2, ...(marker ? { Marker: marker } : {}) }));
    assert.ok(page.Aliases!.length <= 2);
    names.push(...page.Aliases!.map((x) => x.AliasName!));
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker);
  assert.ok(names.includes("alias/wisp/one") && names.includes("alias/wisp/two") && names.includes("alias/aws/acm"));

  await kms.send(new UpdateAliasCommand({ AliasName: "alias/wisp/one", TargetKeyId: b.keyId }));
  assert.is((await kms.send(new DescribeKeyCommand({ KeyId: "alias/wisp/one" }))).KeyMetadata!.KeyId, b.keyId);
  await kms.send(new DeleteAliasCommand({ AliasName: "alias/wisp/one" }));
  const gone = await rejects(kms.send(new DescribeKeyCommand({ KeyId: "alias/wisp/one" })));
  assert.instance(gone, NotFoundException);
  assert.is(gone.message, `Alias ${aliasArn} is not found.`);
  const badName = await rejects(kms.send(new CreateAliasCommand({ AliasName: "alias/aws/mine", TargetKeyId: b.keyId })));
  assert.is(badName.name, "InvalidAliasNameException");
});

test("ScheduleKeyDeletion() puts the key in PendingDeletion and Sign then fails with KMSInvalidStateException", async () => {
  const { keyId, arn } = await createKey();
  const early = await rejects(kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 3 })));
  assert.is(early.name, "ValidationException");
  const out = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
  assert.is(out.KeyState, "PendingDeletion");
  assert.is(out.PendingWindowInDays, 7);
  assert.ok(out.DeletionDate!.getTime() > Date.now() + 6 * 24 * 3600 * 1000);
  const desc = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
  assert.is(desc.KeyMetadata!.KeyState, "PendingDeletion");
  assert.is(desc.KeyMetadata!.Enabled, false);
  const sign = await rejects(
    kms.send(new SignCommand({ KeyId: keyId, Message: new Uint8Array(32), MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256" })),
  );
  assert.instance(sign, KMSInvalidStateException);
  assert.is(sign.message, `${arn} is pending deletion.`);
  const keys = await kms.send(new ListKeysCommand({}));
  assert.ok(keys.Keys!.some((k) => k.KeyId === keyId));
  await kms.send(new CancelKeyDeletionCommand({ KeyId: keyId }));
  const disabled = await rejects(
    kms.send(new SignCommand({ KeyId: keyId, Message: new Uint8Array(32), MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256" })),
  );
  assert.instance(disabled, DisabledException);
});

test("DescribeKey() answers NotFoundException for an unknown key", async () => {
  const id = "11111111-2222-3333-4444-555555555555";
  const err = await rejects(kms.send(new DescribeKeyCommand({ KeyId: id })));
  assert.instance(err, NotFoundException);
  assert.match(err.message, new RegExp(`^Key 'arn:aws:kms:us-east-1:\\d{12}:key/${id}' does not exist$`));
});

test("a restart on the same data directory keeps keys and aliases", async () => {
  const { keyId } = await createKey("persisted");
  await kms.send(new CreateAliasCommand({ AliasName: "alias/wisp/persisted", TargetKeyId: keyId }));
  const pub = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  assert.is(await emu.stop(), 0);
  kms.destroy();
  emu = await startEmulator({ dataDir: emu.dataDir });
  kms = new KMSClient(emu.clientConfig());
  const again = await kms.send(new GetPublicKeyCommand({ KeyId: "alias/wisp/persisted" }));
  assert.equal(again.PublicKey, pub.PublicKey);
  const digest = createHash("sha256").update("after restart").digest();
  const signed = await kms.send(new SignCommand({ KeyId: "alias/wisp/persisted", Message: digest, MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256" }));
  assert.ok(await webCryptoVerify(again.PublicKey!, signed.Signature!, new TextEncoder().encode("after restart")));
  assert.is(fs.statSync(`${emu.dataDir}/kms.json`).mode & 0o777, 0o600);
});

test.run();
