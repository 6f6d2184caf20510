/** Commands keyed by "noun verb", and runCLI: the one adapter that parses, prints and sets exit codes. @module */
import { UsageError } from "../errors.ts";
import { type FlagSpec, type ParsedFlags, parseFlags } from "./flags.ts";
import { formatCommandList, formatHelp } from "./help.ts";
import { type OutputFormat, parseOutputFormat, Printer } from "./printer.ts";

/** The process as a command sees it: a port that bins provide and tests capture (SPIRE pkg/common/cli/env.go). */
export interface CLIEnv {
  stdout(s: string): void;
  stderr(s: string): void;
  getenv(name: string): string | undefined;
  /** Working directory relative paths resolve against. */
  cwd: string;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}

/** What a command's run() receives besides its flags. */
export interface CommandContext {
  env: CLIEnv;
  /** Binary name, e.g. "wisp-server". */
  bin: string;
  /** The command's canonical name, e.g. "entry create". */
  command: string;
  /** `-output` value; "pretty" for commands without that flag. */
  output: OutputFormat;
  printer: Printer;
}

/** One command of a binary. */
export interface Command<S extends readonly FlagSpec[] = readonly FlagSpec[]> {
  /** "noun verb" key, e.g. "entry create". */
  name: string;
  /** Other keys that run this command, e.g. "fetch x509" and "fetch" for "api fetch x509". */
  aliases?: readonly string[];
  /** One line shown in listings and at the top of help. */
  synopsis: string;
  flags: S;
  /** Command lines shown under EXAMPLES, without the binary name. */
  examples: readonly string[];
  /** Runs the command and returns its exit code; throwing prints `Error: …` and exits 1. */
  run(ctx: CommandContext, flags: ParsedFlags<S>): Promise<number>;
}

/** Declares a command whose `run` sees precisely typed flag values. */
export function defineCommand<const S extends readonly FlagSpec[]>(command: Command<S>): Command {
  return command as unknown as Command;
}

/** Options of runCLI. */
export interface RunCLIOptions {
  /** Binary name used in help, e.g. "wisp-server". */
  name: string;
  commands: readonly Command[];
  /** Arguments after the binary name. */
  argv: readonly string[];
  env: CLIEnv;
}

const HELP_ARGS = new Set(["-h", "-help", "--help", "help"]);

/** Finds the command whose name or alias matches the most leading words of argv. */
function findCommand(commands: readonly Command[], argv: readonly string[]) {
  const keys = new Map<string, Command>();
  for (const c of commands) for (const k of [c.name, ...(c.aliases ?? [])]) keys.set(k, c);
  let words = 0;
  while (words < argv.length && !argv[words]!.startsWith("-")) words++;
  for (let n = words; n > 0; n--) {
    const command = keys.get(argv.slice(0, n).join(" "));
    if (command) return { command, rest: argv.slice(n) };
  }
  return { command: undefined, rest: argv, words: argv.slice(0, words).join(" ") };
}

/** Reads `-output json` from raw argv, for errors raised before flags are parsed. */
function outputFromArgv(argv: readonly string[]): OutputFormat {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") break;
    if (a === "-output=json" || a === "--output=json") return "json";
    if ((a === "-output" || a === "--output") && argv[i + 1] === "json") return "json";
  }
  return "pretty";
}

/**
 * Runs one command line of a binary: `<bin> <noun> <verb> [flags] [args]`. `-h` prints help on stdout and gives 0;
 * any error prints `Error: <chain>` on stderr (or `{"error":"…"}` on stdout under `-output json`) and gives 1;
 * an unknown command prints the command listing on stderr and gives 1.
 */
export async function runCLI(options: RunCLIOptions): Promise<number> {
  const { name: bin, commands, argv, env } = options;
  const first = argv[0];
  if (first === undefined || HELP_ARGS.has(first)) {
    const listing = formatCommandList(bin, commands);
    if (first === undefined) env.stderr(listing);
    else env.stdout(listing);
    return first === undefined ? 1 : 0;
  }
  const found = findCommand(commands, argv);
  if (!found.command) {
    const pretty = new Printer(env, "pretty");
    pretty.error(new UsageError(`unknown command "${found.words || first}"`));
    const prefix = found.words ? `${found.words.split(" ")[0]} ` : undefined;
    const related = prefix ? commands.filter((c) => c.name.startsWith(prefix)) : [];
    env.stderr("\n" + formatCommandList(bin, related.length > 0 ? related : commands));
    return 1;
  }
  const { command, rest } = found;
  const hasOutput = command.flags.some((f) => f.name === "output");
  let printer = new Printer(env, hasOutput ? outputFromArgv(rest) : "pretty");
  try {
    const parsed = parseFlags(command.flags, rest);
    if (parsed.help) {
      env.stdout(formatHelp({ bin, ...command }));
      return 0;
    }
    const output = hasOutput ? parseOutputFormat((parsed.values as Record<string, unknown>)["output"]) : "pretty";
    printer = new Printer(env, output);
    return await command.run({ env, bin, command: command.name, output, printer }, parsed);
  } catch (err) {
    printer.error(err);
    return 1;
  }
}
