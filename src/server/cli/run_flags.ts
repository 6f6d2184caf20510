/** The flags `wisp-server run` and `validate` share, and the config loading both do (SPIRE run.LoadConfig). @module */
import type { CommandContext } from "../../core/cli/command.ts";
import type { ConfigStatus } from "../../core/config/mod.ts";
import { ConfigError, NotFoundError } from "../../core/errors.ts";
import type { FS } from "../../core/ports/fs.ts";
import { loadServerConfig, type ServerConfig } from "../config.ts";

/** SPIRE's server run flags (cmd/spire-server/cli/run/run.go parseFlags), with its usage texts. */
export const SERVER_RUN_FLAGS = [
  { name: "config", kind: "string", default: "conf/server/server.conf", usage: "Path to a SPIRE config file", placeholder: "string" },
  { name: "expandEnv", kind: "bool", usage: "Expand environment variables in SPIRE config file" },
  { name: "bindAddress", kind: "string", usage: "IP address or DNS name of the SPIRE server" },
  { name: "serverPort", kind: "int", usage: "Port number of the SPIRE server" },
  { name: "socketPath", kind: "string", usage: "Path to bind the SPIRE Server API socket to" },
  { name: "trustDomain", kind: "string", usage: "The trust domain that this server belongs to" },
  { name: "dataDir", kind: "string", usage: "Directory to store runtime data to" },
  { name: "logLevel", kind: "string", usage: "'debug', 'info', 'warn', or 'error'" },
  { name: "logFormat", kind: "string", usage: "'text' or 'json'" },
  { name: "logFile", kind: "string", usage: "File to write logs to" },
] as const;

const OVERRIDES = ["bindAddress", "serverPort", "socketPath", "trustDomain", "dataDir", "logLevel", "logFormat", "logFile"] as const;

/**
 * Reads the `-config` file and builds the config with the given flags winning over it.
 *
 * @throws {ConfigError} "could not find config file <abs>: please use the -config flag" (SPIRE's text), a syntax
 * error, or every validation problem
 */
export async function loadServerConfigFromFlags(
  ctx: CommandContext,
  fs: FS,
  flags: { values: Record<string, unknown>; given: ReadonlySet<string> },
  status: ConfigStatus,
): Promise<ServerConfig> {
  const v = flags.values;
  const config = String(v["config"]);
  const path = config.startsWith("/") ? config : fs.join(ctx.env.cwd, config);
  let text: string;
  try {
    text = new TextDecoder().decode(await fs.readFile(path));
  } catch (err) {
    if (err instanceof NotFoundError) throw new ConfigError([`could not find config file ${path}: please use the -config flag`]);
    throw err;
  }
  const overrides: Record<string, unknown> = {};
  for (const k of OVERRIDES) if (flags.given.has(k)) overrides[k] = v[k];
  return loadServerConfig({ text, filename: path, flags: overrides, expandEnv: v["expandEnv"] === true, getenv: ctx.env.getenv, status });
}
