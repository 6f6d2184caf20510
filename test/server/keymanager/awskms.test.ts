/** KeyManager "aws_kms" specifics (aliases, key deletion, server ID, start-up loading) with the real SDK and emulator. */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  KMSClient as SDKKMSClient,
  ListAliasesCommand,
} from "@aws-sdk/client-kms";
import { FailedPreconditionError, formatError, UnavailableError } from "../../../src/core/errors.ts";
import { newLogger } from "../../../src/core/log/logger.ts";
import { systemClock } from "../../../src/core/ports/clock.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";
import { type AWSKMSConfig, AWSKMSKeyManager } from "../../../src/server/keymanager/awskms/awskms.ts";
import { newKMSClient } from "../../../src/server/keymanager/awskms/kms_client.ts";
import { verifies } from "../../conformance/key_manager.ts";
import { type RunningEmulator, startEmulator, tempDir } from "../../emulator/emulator_process.ts";

let emu: RunningEmulator;
let sdk: SDKKMSClient;
const opened: AWSKMSKeyManager[] = [];
const logger = newLogger({ level: "error", sink: () => {} });

async function open(o: Partial<AWSKMSConfig> = {}): Promise<AWSKMSKeyManager> {
  const km = await AWSKMSKeyManager.open({
    client: newKMSClient({ ...emu.clientConfig(), stsEndpoint: emu.info.endpoint }),
    trustDomain: "example.org",
    ...(o.keyIdentifierFile ? {} : { keyIdentifierValue: crypto.randomUUID() }),
    fs: nodeFS,
    clock: systemClock,
    logger,
    ...o,
  });
  opened.push(km);
  return km;
}

async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

async function aliases(prefix: string) {
  const out: Array<{ AliasName?: string | undefined; TargetKeyId?: string | undefined }> = [];
  let marker: string | undefined;
  do {
    const page = await sdk.send(new ListAliasesCommand({ Limit: 100, ...(marker ? { Marker: marker } : {}) }));
    out.push(...(page.Aliases ?? []));
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker);
  return out.filter((a) => a.AliasName?.startsWith(prefix));
}

test.before(async () => {
  emu = await startEmulator();
  sdk = new SDKKMSClient(emu.clientConfig());
  // Creating many aliases and keys would otherwise hit the emulated 5/s CreateKey and CreateAlias quotas.
  await emu.control("/_emulator/config", { throttle: { "kms:CreateKey": 0, "kms:CreateAlias": 0 } });
});

test.after(async () => {
  for (const km of opened) km.close();
  sdk?.destroy();
  await emu?.stop();
  rmSync(emu.dataDir, { recursive: true, force: true });
});

test("generateKey() creates a KMS key with SPIRE's description and alias", async () => {
  const km = await open({ keyIdentifierValue: "server-1" });
  assert.is(km.aliasPrefix, "alias/SPIRE_SERVER/example_org/server-1/");
  const key = await km.generateKey("x509-CA-A", "ec-p256");
  const found = await aliases(km.aliasPrefix);
  assert.equal(found.map((a) => a.AliasName), ["alias/SPIRE_SERVER/example_org/server-1/x509-CA-A"]);
  const meta = (await sdk.send(new DescribeKeyCommand({ KeyId: found[0]!.AliasName! }))).KeyMetadata!;
  assert.is(meta.Description, "SPIRE_SERVER_KEY/example_org/x509-CA-A");
  assert.is(meta.KeySpec, "ECC_NIST_P256");
  assert.is(meta.KeyUsage, "SIGN_VERIFY");
  const data = new TextEncoder().encode("signed in KMS");
  assert.ok(await verifies(key.signer.publicKeySPKI, await key.signer.sign(data), data));
  // What the console shows beside the CA: where the key lives, never the key.
  assert.equal(key.signer.location, { kind: "aws_kms", keyID: meta.Arn, alias: "alias/SPIRE_SERVER/example_org/server-1/x509-CA-A" });
});

test("regenerating a key moves the alias (UpdateAlias) and schedules the old key's deletion in 7 days", async () => {
  const km = await open();
  await km.generateKey("x509-CA-A", "ec-p256");
  const oldTarget = (await aliases(km.aliasPrefix))[0]!.TargetKeyId!;
  const before = await emu.stats();
  await km.generateKey("x509-CA-A", "ec-p256");
  await km.idle();
  const after = await emu.stats();
  assert.is(after["kms:UpdateAlias"]! - (before["kms:UpdateAlias"] ?? 0), 1);
  assert.is(after["kms:ScheduleKeyDeletion"]! - (before["kms:ScheduleKeyDeletion"] ?? 0), 1);
  assert.is((after["kms:CreateAlias"] ?? 0) - (before["kms:CreateAlias"] ?? 0), 0);
  const now = (await aliases(km.aliasPrefix))[0]!.TargetKeyId!;
  assert.is.not(now, oldTarget);
  const old = (await sdk.send(new DescribeKeyCommand({ KeyId: oldTarget }))).KeyMetadata!;
  assert.is(old.KeyState, "PendingDeletion");
  assert.is(old.PendingDeletionWindowInDays, 7);
});

test("key_identifier_file: a UUID server ID is created with mode 0600 and reused by the next start", async () => {
  const dir = tempDir("wisp-kms-id-");
  try {
    const file = join(dir, "sub", "server_id");
    const km = await open({ keyIdentifierFile: file });
    assert.match(km.serverID, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.is(readFileSync(file, "utf8"), km.serverID);
    assert.is(statSync(file).mode & 0o777, 0o600);
    const key = await km.generateKey("JWT-Signer-A", "ec-p256");
    const again = await open({ keyIdentifierFile: file });
    assert.is(again.serverID, km.serverID);
    assert.equal((await again.getKey("JWT-Signer-A"))!.signer.publicKeySPKI, key.signer.publicKeySPKI);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("open() pages through ListAliases and ignores other servers' aliases; key ids with dots round-trip", async () => {
  const filler = (await sdk.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }))).KeyMetadata!.KeyId!;
  for (let i = 0; i < 120; i++) {
    await sdk.send(new CreateAliasCommand({ AliasName: `alias/SPIRE_SERVER/example_org/other-server/k${i}`, TargetKeyId: filler }));
  }
  const km = await open();
  await km.generateKey("svid.v1+x", "ec-p256");
  assert.equal((await aliases(km.aliasPrefix)).map((a) => a.AliasName), [`${km.aliasPrefix}svid_2ev1_2bx`]);
  const again = await open({ keyIdentifierValue: km.serverID });
  assert.equal((await again.getKeys()).map((k) => k.id), ["svid.v1+x"]);
});

test("open() refuses an alias that points at a disabled key", async () => {
  const km = await open();
  await km.generateKey("x509-CA-A", "ec-p256");
  const target = (await aliases(km.aliasPrefix))[0]!.TargetKeyId!;
  await sdk.send(new DisableKeyCommand({ KeyId: target }));
  try {
    const err = await rejects(open({ keyIdentifierValue: km.serverID }));
    assert.instance(err, FailedPreconditionError);
    assert.match(
      err.message,
      /^failed to fetch keys: key "arn:aws:kms:us-east-1:\d{12}:key\/[0-9a-f-]{36}" behind alias "alias\/SPIRE_SERVER\/example_org\/[0-9a-f-]{36}\/x509-CA-A" is Disabled, not enabled$/,
    );
  } finally {
    await sdk.send(new EnableKeyCommand({ KeyId: target }));
  }
});

test("open() with KMS down fails with an Unavailable error naming the endpoint", async () => {
  await emu.control("/_emulator/faults", { service: "kms", mode: "down" });
  try {
    const err = await rejects(open());
    assert.instance(err, UnavailableError);
    assert.is(err.message, `failed to fetch keys: AWS KMS at "${emu.info.endpoint}" is unreachable`);
    assert.ok(formatError(err).length > err.message.length, "the network error is kept as cause");
  } finally {
    await emu.control("/_emulator/faults", { service: "kms", mode: "ok" });
  }
});

test.run();
