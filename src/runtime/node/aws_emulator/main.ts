/** Entry point of wisp-aws-emulator: flags, state, HTTP server, the ready line on stdout, clean shutdown. @module */
import * as fs from "node:fs";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { formatError } from "../../../core/errors.ts";
import { formatRecord, newLogger } from "../../../core/log/logger.ts";
import { createApp } from "./app.ts";
import { type EmulatorArgs, parseArgs, USAGE } from "./args.ts";
import { Emulator } from "./emulator.ts";
import { type IamPolicy, parsePolicy } from "./iam_policy.ts";

function loadPolicy(file: string): IamPolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (cause) {
    throw new Error(`failed to read policy file "${file}"`, { cause });
  }
  return parsePolicy(doc);
}

/** Runs the emulator until SIGTERM or SIGINT; resolves with the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.some((a) => ["-h", "-help", "--help"].includes(a))) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let args: EmulatorArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const logger = newLogger({ level: args.logLevel, sink: (r) => process.stderr.write(formatRecord(r, "text") + "\n") });
  const emu = await Emulator.open({
    dataDir: args.dataDir,
    region: args.region,
    issuanceDelayMs: args.issuanceDelayMs,
    logger,
    imdsHost: args.host,
    ...(args.policyFile === undefined ? {} : { policy: loadPolicy(args.policyFile) }),
  });
  const app = createApp(emu);
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: args.host, port: args.port }, () => resolve(s));
    s.once("error", reject);
  });
  // Handlers go in before the ready line: a supervisor may send SIGTERM the moment it reads it.
  const stopped = new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info("Emulator stopping", { signal });
      server.close(() => void emu.close().then(() => resolve(0)));
      // Keep-alive SDK connections would hold close() open indefinitely.
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const info = emu.info(`http://${host}:${addr.port}`);
  process.stdout.write(JSON.stringify(info) + "\n");
  logger.info("Emulator listening", { endpoint: info.endpoint, data_dir: args.dataDir, region: args.region });
  return await stopped;
}

/** Runs main and exits; failures before the ready line exit 1 with the error on stderr. */
export function run(): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`wisp-aws-emulator: ${formatError(err)}\n`);
      process.exit(1);
    },
  );
}
