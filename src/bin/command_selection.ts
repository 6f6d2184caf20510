/** Tells a bin whether a command line needs its daemon: a CLI call then skips loading the daemon's modules. @module */
import type { Command } from "../core/cli/command.ts";

/**
 * Whether runCLI would pick one of `commands` for argv: the same longest match of the leading non-flag words against
 * names and aliases. A bin loads its daemon (`run`) only when this is false, so help, listings and unknown commands
 * still see every command. Sound while no daemon command's name extends a client command's name.
 */
export function selectsOneOf(commands: readonly Command[], argv: readonly string[]): boolean {
  const keys = new Set(commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]));
  let words = 0;
  while (words < argv.length && !argv[words]!.startsWith("-")) words++;
  for (let n = words; n > 0; n--) if (keys.has(argv.slice(0, n).join(" "))) return true;
  return false;
}
