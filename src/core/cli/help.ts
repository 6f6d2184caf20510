/** Help texts in Go `flag`'s PrintDefaults layout, plus EXIT CODES and EXAMPLES sections. @module */
import { formatDuration } from "../config/duration.ts";
import type { FlagSpec } from "./flags.ts";

const GO_TYPE_WORD: Record<FlagSpec["kind"], string> = {
  string: "string",
  bool: "",
  int: "int",
  duration: "duration",
  stringList: "value",
};

const REPEATABLE_NOTE = "Can be used more than once";

/** One flag as Go prints it: `  -name type\n    \tusage (default …)`. */
function flagLine(spec: FlagSpec): string {
  let line = `  -${spec.name}`;
  const word = spec.placeholder ?? GO_TYPE_WORD[spec.kind];
  if (word !== "") line += ` ${word}`;
  // Go keeps one-letter flags without a type word on one line.
  line += line.length <= 4 ? "\t" : "\n    \t";
  let usage = spec.usage;
  if (spec.kind === "stringList" && !usage.includes(REPEATABLE_NOTE)) usage += `. ${REPEATABLE_NOTE}`;
  line += usage.replaceAll("\n", "\n    \t");
  const d = spec.default;
  // Go omits zero-value defaults ("", 0, false, 0s).
  if (d !== undefined && d !== "" && d !== 0 && d !== false) {
    if (spec.kind === "string") line += ` (default ${JSON.stringify(d)})`;
    else if (spec.kind === "duration" && typeof d === "number") line += ` (default ${formatDuration(d)})`;
    else line += ` (default ${String(d)})`;
  }
  return line;
}

/** The flag listing, sorted by name as Go prints it. */
export function formatFlagDefaults(specs: readonly FlagSpec[]): string {
  return [...specs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map(flagLine).join("\n");
}

/** What formatHelp needs to know about a command. */
export interface HelpInput {
  bin: string;
  name: string;
  synopsis: string;
  flags: readonly FlagSpec[];
  examples: readonly string[];
}

/** The full `-h` text of one command. */
export function formatHelp(c: HelpInput): string {
  const parts = [c.synopsis, "", `Usage of ${c.bin} ${c.name}:`];
  if (c.flags.length > 0) parts.push(formatFlagDefaults(c.flags));
  parts.push("", "EXIT CODES", "  0 on success, 1 on any error");
  if (c.examples.length > 0) parts.push("", "EXAMPLES", ...c.examples.map((e) => `  ${e}`));
  return parts.join("\n") + "\n";
}

/** The listing printed for a bare or unknown command: every command with its synopsis. */
export function formatCommandList(bin: string, commands: readonly { name: string; synopsis: string }[]): string {
  const width = Math.max(0, ...commands.map((c) => c.name.length));
  const sorted = [...commands].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const lines = sorted.map((c) => `    ${c.name.padEnd(width)}    ${c.synopsis}`);
  return [`Usage: ${bin} <command> [flags]`, "", "Available commands are:", ...lines, ""].join("\n") +
    `\nRun "${bin} <command> -h" for the flags of a command.\n`;
}
