/** Command-line flags of wisp-aws-emulator (SPIRE-style single-dash camelCase flags). @module */
import { UsageError } from "../../../core/errors.ts";
import type { LogLevel } from "../../../core/log/logger.ts";

export interface EmulatorArgs {
  host: string;
  /** 0 picks a free port. */
  port: number;
  dataDir: string;
  region: string;
  issuanceDelayMs: number;
  policyFile?: string;
  logLevel: LogLevel;
}

export const USAGE = `Usage: wisp-aws-emulator -dataDir <dir> [options]

Serves ACM PCA, KMS, STS, EC2 (DescribeInstances) and IAM (GetInstanceProfile) on one loopback HTTP endpoint for
the real AWS SDK clients, and an instance metadata service (IMDS) per emulated instance on a port of its own.
Prints one JSON line with the endpoint, region, CA ARNs, credentials and the path of the certificate that signs
instance identity documents once ready.

Instances are defined with POST /_emulator/instances (JSON: instanceId, account, region, availabilityZone, imageId,
instanceType, tags, securityGroups [{id,name}], instanceProfile {name, roles}, rootDeviceType, rootDeviceName,
blockDeviceMappings [{deviceName, attachTime}], networkInterfaces [{deviceIndex, attachTime}], state,
imdsTokens "required"|"optional"); the answer carries the instance's imdsEndpoint. PATCH and DELETE
/_emulator/instances/<id> change or remove one.

Options:
  -listen <host:port>      address to listen on; port 0 picks a free one (default "127.0.0.1:0")
  -dataDir <dir>           directory for persisted state (required)
  -region <region>         region of the emulated services (default "us-east-1")
  -issuanceDelay <dur>     time GetCertificate answers RequestInProgressException, e.g. "2s", "300ms" (default "0s")
  -policy <file.json>      IAM identity policy evaluated for acm-pca actions (default: allow all)
  -logLevel <level>        debug, info, warn or error (default "info")`;

/** Parses "300ms", "2s", "1.5m", "1h" or "0" into milliseconds. */
export function parseDuration(text: string): number | undefined {
  if (text === "0") return 0;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
  return Math.round(Number(m[1]) * unit);
}

/**
 * Parses argv (without node and script).
 * @throws {UsageError} for unknown flags, missing values or bad values
 */
export function parseArgs(argv: readonly string[]): EmulatorArgs {
  const values = new Map<string, string>();
  const flags = ["listen", "dataDir", "region", "issuanceDelay", "policy", "logLevel"];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf("=");
    const name = (eq > 0 ? a.slice(0, eq) : a).replace(/^--?/, "");
    if (!a.startsWith("-") || !flags.includes(name)) throw new UsageError(`unknown flag "${a}"`);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`flag "-${name}" needs a value`);
    values.set(name, value);
  }
  const listen = values.get("listen") ?? "127.0.0.1:0";
  const lm = /^(.*):(\d{1,5})$/.exec(listen);
  if (!lm || Number(lm[2]) > 65535) throw new UsageError(`-listen must be host:port, got "${listen}"`);
  const dataDir = values.get("dataDir");
  if (!dataDir) throw new UsageError("-dataDir must be set");
  const delayText = values.get("issuanceDelay") ?? "0";
  const issuanceDelayMs = parseDuration(delayText);
  if (issuanceDelayMs === undefined) throw new UsageError(`-issuanceDelay must be a duration such as "2s" or "300ms", got "${delayText}"`);
  const region = values.get("region") ?? "us-east-1";
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw new UsageError(`-region must be an AWS region name, got "${region}"`);
  const logLevel = values.get("logLevel") ?? "info";
  if (!["debug", "info", "warn", "error"].includes(logLevel)) throw new UsageError(`-logLevel must be one of debug, info, warn, error, got "${logLevel}"`);
  const policyFile = values.get("policy");
  return {
    host: lm[1]!.replace(/^\[(.*)\]$/, "$1"),
    port: Number(lm[2]),
    dataDir,
    region,
    issuanceDelayMs,
    logLevel: logLevel as LogLevel,
    ...(policyFile === undefined ? {} : { policyFile }),
  };
}
