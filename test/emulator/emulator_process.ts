/** Test helper: spawns bin/wisp-aws-emulator.mjs, reads its ready line, and stops it again. @module */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../bin/wisp-aws-emulator.mjs");

/** The ready line the emulator prints. */
export interface EmulatorInfo {
  endpoint: string;
  region: string;
  rootCaArn: string;
  subordinateCaArn: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** PEM of the certificate that signs instance identity documents. */
  iidCertificatePath: string;
}

/** A running emulator process. */
export interface RunningEmulator {
  info: EmulatorInfo;
  dataDir: string;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM, then resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Credentials and endpoint for SDK clients. */
  clientConfig(): { region: string; endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  /** POSTs JSON to an /_emulator control endpoint and returns the parsed answer. */
  control(pathname: string, body: unknown): Promise<unknown>;
  stats(): Promise<Record<string, number>>;
  /** Defines an EC2 instance (POST /_emulator/instances) and returns the emulator's view of it. */
  defineInstance(def?: Record<string, unknown>): Promise<EmulatedInstance>;
  /** Changes an instance (PATCH /_emulator/instances/<id>). */
  updateInstance(id: string, patch: Record<string, unknown>): Promise<EmulatedInstance>;
}

/** An instance as the control API reports it. */
export interface EmulatedInstance {
  instanceId: string;
  account: string;
  region: string;
  availabilityZone: string;
  imageId: string;
  imdsEndpoint: string;
  document: string;
  [k: string]: unknown;
}

/** A fresh temp directory under os.tmpdir(). */
export function tempDir(prefix = "wisp-aws-emu-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Starts the emulator on a free loopback port with `extraArgs` and waits for its ready line. */
export async function startEmulator(opts: { dataDir?: string; args?: string[] } = {}): Promise<RunningEmulator> {
  const dataDir = opts.dataDir ?? tempDir();
  const child = spawn(process.execPath, [BIN, "-listen", "127.0.0.1:0", "-dataDir", dataDir, ...(opts.args ?? [])], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`emulator exited with code ${code}: ${stderr}`)));
  });
  const info = JSON.parse(line) as EmulatorInfo;
  const emu: RunningEmulator = {
    info,
    dataDir,
    child,
    stderr: () => stderr,
    stop: async () => {
      // process.kill, not child.kill: after child.kill() Deno's child_process reports (null, "SIGTERM") even for a
      // child that handled the signal and exited 0, which would hide the exit code this resolves with.
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, "SIGTERM");
      return exited;
    },
    clientConfig: () => ({
      region: info.region,
      endpoint: info.endpoint,
      credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    }),
    control: async (pathname, body) => {
      const res = await fetch(info.endpoint + pathname, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
      const out = (await res.json()) as unknown;
      if (!res.ok) throw new Error(`control ${pathname} failed: ${JSON.stringify(out)}`);
      return out;
    },
    defineInstance: async (def = {}) => (await emu.control("/_emulator/instances", def)) as EmulatedInstance,
    updateInstance: async (id, patch) => {
      const res = await fetch(`${info.endpoint}/_emulator/instances/${id}`, {
        method: "PATCH",
        body: JSON.stringify(patch),
        headers: { "content-type": "application/json" },
      });
      const out = (await res.json()) as unknown;
      if (!res.ok) throw new Error(`instance update failed: ${JSON.stringify(out)}`);
      return out as EmulatedInstance;
    },
    stats: async () => (await (await fetch(info.endpoint + "/_emulator/stats")).json()) as Record<string, number>,
  };
  return emu;
}
