/** The `-config` file and the flags that win over it, as SPIRE's run/validate commands read them. @module */
import { ConfigError, NotFoundError } from "../errors.ts";
import type { FS } from "../ports/fs.ts";
import type { CommandContext } from "./command.ts";

/** What a config loader needs from the command line. */
export interface ConfigFileInput {
  text: string;
  /** Absolute path of the file, for messages. */
  filename: string;
  /** The flags among `overrideKeys` that were given, by flag name. */
  flags: Record<string, unknown>;
  expandEnv: boolean;
  getenv: (name: string) => string | undefined;
}

/**
 * Reads the `-config` file (relative to the working directory) and picks the given override flags.
 *
 * @throws {ConfigError} "could not find config file <abs>: please use the -config flag" (SPIRE's text)
 */
export async function readConfigFileFlags(
  ctx: CommandContext,
  fs: FS,
  flags: { values: Record<string, unknown>; given: ReadonlySet<string> },
  overrideKeys: readonly string[],
): Promise<ConfigFileInput> {
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
  for (const k of overrideKeys) if (flags.given.has(k)) overrides[k] = v[k];
  return { text, filename: path, flags: overrides, expandEnv: v["expandEnv"] === true, getenv: ctx.env.getenv };
}
