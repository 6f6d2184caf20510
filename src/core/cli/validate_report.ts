/** What `validate` prints for a configuration, in SPIRE's words (cmd/spire-{server,agent}/cli/validate). @module */
import type { CLIEnv } from "./command.ts";
import { ConfigError, formatError } from "../errors.ts";

// `plugins.<Type>.<name>: <note>` or `plugins.<Type>.<name>.plugin_data.<key> ...`: a plugin's own problem.
const PLUGIN_ISSUE = /^plugins\.([A-Za-z]+)\.([^.:\s]+)(?::\s(.*)|(\..*))$/s;

/**
 * Prints the outcome of validating a config and returns the exit code. Valid: `SPIRE <what> configuration file is
 * valid.` on stdout, 0. Problems only in plugin blocks: SPIRE's "Validation errors:" list grouped by plugin on stderr,
 * 1. Anything else: `SPIRE <what> configuration file is invalid: <every problem>` on stderr, 1.
 */
export function reportValidation(env: CLIEnv, what: "server" | "agent", err: unknown): number {
  if (err === undefined) {
    env.stdout(`SPIRE ${what} configuration file is valid.\n`);
    return 0;
  }
  const issues = err instanceof ConfigError ? err.issues : [];
  const grouped = new Map<string, string[]>();
  const plugin = issues.length > 0 && issues.every((i) => PLUGIN_ISSUE.test(i));
  if (what === "server" && plugin) {
    for (const issue of issues) {
      const m = PLUGIN_ISSUE.exec(issue)!;
      const key = `${m[1]} "${m[2]}"`;
      const note = m[3] ?? `plugin_data${m[4]!.replace(/^\.plugin_data/, "")}`;
      grouped.set(key, [...(grouped.get(key) ?? []), note]);
    }
    let out = `SPIRE ${what} configuration file is invalid.\nValidation errors:\n`;
    for (const [key, notes] of grouped) out += `\t${key}:\n` + notes.map((n) => `\t\t${n}\n`).join("");
    env.stderr(out);
    return 1;
  }
  env.stderr(`SPIRE ${what} configuration file is invalid: ${formatError(err)}\n`);
  return 1;
}
