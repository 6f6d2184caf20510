/** The flags `wisp-server run` and `validate` share, and the config loading both do (SPIRE run.LoadConfig). @module */
import type { CommandContext } from "../../core/cli/command.ts";
import { readConfigFileFlags } from "../../core/cli/config_file_flags.ts";
import type { ConfigStatus } from "../../core/config/mod.ts";
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
  return loadServerConfig({ ...(await readConfigFileFlags(ctx, fs, flags, OVERRIDES)), status });
}
