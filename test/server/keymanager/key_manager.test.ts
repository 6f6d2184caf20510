/** The KeyManager conformance suite over memory, disk and aws_kms (real @aws-sdk/client-kms against the emulator). */
import { test } from "../../_uvu.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newLogger } from "../../../src/core/log/logger.ts";
import { systemClock } from "../../../src/core/ports/clock.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";
import { AWSKMSKeyManager } from "../../../src/server/keymanager/awskms/awskms.ts";
import { newKMSClient } from "../../../src/server/keymanager/awskms/kms_client.ts";
import { DiskKeyManager } from "../../../src/server/keymanager/disk.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import { keyManagerSuite } from "../../conformance/key_manager.ts";
import { type RunningEmulator, startEmulator } from "../../emulator/emulator_process.ts";

const logger = newLogger({ level: "error", sink: () => {} });
let emu: RunningEmulator | undefined;
const emulator = async () => (emu ??= await startEmulator());

keyManagerSuite("memory", async () => ({ km: new MemoryKeyManager(), cleanup: async () => {} }));

keyManagerSuite("disk", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wisp-km-disk-"));
  const make = () => new DiskKeyManager({ fs: nodeFS, keysPath: join(dir, "keys.json") });
  return { km: make(), reopen: async () => make(), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

keyManagerSuite("aws_kms", async () => {
  const e = await emulator();
  const client = newKMSClient({ ...e.clientConfig(), stsEndpoint: e.info.endpoint });
  const serverID = crypto.randomUUID();
  const made: AWSKMSKeyManager[] = [];
  const make = async () => {
    const km = await AWSKMSKeyManager.open({ client, trustDomain: "example.org", keyIdentifierValue: serverID, fs: nodeFS, clock: systemClock, logger });
    made.push(km);
    return km;
  };
  return {
    km: await make(),
    reopen: make,
    cleanup: async () => {
      for (const km of made) {
        await km.idle();
        km.close();
      }
    },
  };
});

test.after(async () => {
  if (emu) {
    await emu.stop();
    rmSync(emu.dataDir, { recursive: true, force: true });
  }
});

test.run();
