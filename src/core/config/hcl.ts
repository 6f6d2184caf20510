/** HCL v1 config files (SPIRE's server.conf / agent.conf format) and their JSON form. @module */
import hcl from "js-hcl-parser";
import { ConfigError } from "../errors.ts";
import { expandEnv } from "./expand_env.ts";
import { normalizeConfigTree } from "./normalize.ts";

// js-hcl-parser reports failures in its return value: "unable to parse JSON: At 3:2: ..." (its Go wrapper's text).
const FAILURE_PREFIX = /^unable to (?:parse|print) JSON: /;

/**
 * Parses HCL v1 text into a normalised plain object (blocks unwrapped, plugins grouped by type).
 *
 * @throws {ConfigError} `failed to parse "<filename>": At <line>:<col>: <reason>`
 */
export function parseHCL(text: string, filename: string): Record<string, unknown> {
  let out: string;
  try {
    out = hcl.parse(text);
  } catch (cause) {
    throw new ConfigError([`failed to parse "${filename}": ${cause instanceof Error ? cause.message : String(cause)}`]);
  }
  if (FAILURE_PREFIX.test(out)) throw new ConfigError([`failed to parse "${filename}": ${out.replace(FAILURE_PREFIX, "")}`]);
  return normalizeConfigTree(JSON.parse(out));
}

/** Options of parseConfigFile. */
export interface ParseConfigFileOptions {
  /** Name shown in errors; a ".json" ending selects JSON instead of HCL. */
  filename: string;
  /** Expand `$VAR` / `${VAR}` before parsing (the `-expandEnv` flag). Default false. */
  expandEnv?: boolean;
  /** Environment lookup used by expandEnv; required when expandEnv is true. */
  getenv?: (name: string) => string | undefined;
}

/**
 * Parses a config file's text, HCL or JSON by extension, optionally expanding environment variables first.
 *
 * @throws {ConfigError} on a syntax error
 */
export function parseConfigFile(text: string, options: ParseConfigFileOptions): Record<string, unknown> {
  const { filename } = options;
  if (options.expandEnv) {
    if (!options.getenv) throw new TypeError("parseConfigFile: expandEnv needs getenv");
    text = expandEnv(text, options.getenv);
  }
  if (!filename.toLowerCase().endsWith(".json")) return parseHCL(text, filename);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError([`failed to parse "${filename}": ${(cause as Error).message}`]);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new ConfigError([`failed to parse "${filename}": the top level must be an object`]);
  }
  return normalizeConfigTree(doc);
}
