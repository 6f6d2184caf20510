/**
 * The Go `flag` package's command-line grammar, written by hand: neither Node's util.parseArgs nor std's `parseArgs`
 * reads `-config` as one flag (both treat a single dash plus a word as a group of one-letter flags).
 * @module
 */
import { UsageError } from "../errors.ts";
import { parseDuration } from "../config/duration.ts";

export type FlagKind = "string" | "bool" | "int" | "duration" | "stringList";

/** One flag of a command. Names are camelCase without dashes, as SPIRE spells them (`socketPath`). */
export interface FlagSpec {
  name: string;
  kind: FlagKind;
  /** string → string; bool → boolean (default false); int → number; duration → ms; stringList has none (always []). */
  default?: string | number | boolean;
  /** One line of help, no final period. */
  usage: string;
  /** Type word shown in help instead of Go's (string, int, duration, value), e.g. "path". */
  placeholder?: string;
}

type KindValue<K extends FlagKind> = K extends "string" ? string
  : K extends "bool" ? boolean
  : K extends "int" | "duration" ? number
  : string[];

/** The parsed type of one flag: bool and stringList are always set; others only when given or defaulted. */
export type FlagValue<F extends FlagSpec> = F["kind"] extends "bool" | "stringList" ? KindValue<F["kind"]>
  : F extends { default: string | number | boolean } ? KindValue<F["kind"]>
  : KindValue<F["kind"]> | undefined;

/** Parsed values keyed by flag name; precise when specs are declared `as const`. */
export type FlagValues<S extends readonly FlagSpec[]> = { [F in S[number] as F["name"]]: FlagValue<F> };

/** The result of parseFlags. */
export interface ParsedFlags<S extends readonly FlagSpec[] = readonly FlagSpec[]> {
  values: FlagValues<S>;
  /** Arguments after the first positional (or after `--`). */
  positionals: string[];
  /** `-h`, `-help` or `--help` was given (and is not a declared flag). */
  help: boolean;
  /** Names of the flags the user actually gave. */
  given: ReadonlySet<string>;
}

// strconv.ParseBool's accepted spellings.
const BOOL_TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const BOOL_FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** The value a flag has when not given. */
export function flagDefault(spec: FlagSpec): string | number | boolean | string[] | undefined {
  if (spec.kind === "stringList") return [];
  if (spec.kind === "bool") return spec.default ?? false;
  return spec.default;
}

function convert(spec: FlagSpec, value: string): string | number {
  const bad = (why: string) => new UsageError(`invalid value "${value}" for flag -${spec.name}: ${why}`);
  switch (spec.kind) {
    case "int": {
      // Go's strconv.ParseInt(s, 0, 64) also takes 0x/0o/0b prefixes; decimal covers every flag wisp has.
      if (!/^[-+]?\d+$/.test(value)) throw bad("parse error");
      const n = Number(value);
      if (!Number.isSafeInteger(n)) throw bad("value out of range");
      return n;
    }
    case "duration":
      try {
        return parseDuration(value);
      } catch {
        throw bad("parse error");
      }
    default:
      return value;
  }
}

/**
 * Parses `argv` with Go's `flag` rules: `-f v`, `-f=v`, `--f v`, `--f=v`; booleans as `-f` or `-f=false`; the
 * last value wins except for stringList flags, which collect every value; parsing stops at the first positional
 * argument, at a lone "-", or after `--`.
 *
 * @throws {UsageError} `flag provided but not defined: -foo`, `flag needs an argument: -config`,
 *   `invalid value "x" for flag -ttl: parse error`, `invalid boolean value "x" for -node: parse error`
 */
export function parseFlags<const S extends readonly FlagSpec[]>(specs: S, argv: readonly string[]): ParsedFlags<S> {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values: Record<string, unknown> = {};
  for (const s of specs) values[s.name] = flagDefault(s);
  const given = new Set<string>();
  let help = false;
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (arg.length < 2 || arg[0] !== "-") break;
    i++;
    if (arg === "--") break;
    const name0 = arg.slice(arg[1] === "-" ? 2 : 1);
    if (name0 === "" || name0[0] === "-" || name0[0] === "=") throw new UsageError(`bad flag syntax: ${arg}`);
    const eq = name0.indexOf("=");
    const name = eq === -1 ? name0 : name0.slice(0, eq);
    const inline = eq === -1 ? undefined : name0.slice(eq + 1);
    const spec = byName.get(name);
    if (!spec) {
      if (name === "h" || name === "help") {
        help = true;
        continue;
      }
      throw new UsageError(`flag provided but not defined: -${name}`);
    }
    given.add(name);
    if (spec.kind === "bool") {
      if (inline === undefined || BOOL_TRUE.has(inline)) values[name] = true;
      else if (BOOL_FALSE.has(inline)) values[name] = false;
      else throw new UsageError(`invalid boolean value "${inline}" for -${name}: parse error`);
      continue;
    }
    let value = inline;
    // Like Go, the next argument is the value even when it starts with a dash (`-data -` reads stdin).
    if (value === undefined && i < argv.length) value = argv[i++]!;
    if (value === undefined) throw new UsageError(`flag needs an argument: -${name}`);
    if (spec.kind === "stringList") (values[name] as string[]).push(value);
    else values[name] = convert(spec, value);
  }
  return { values: values as FlagValues<S>, positionals: argv.slice(i), help, given };
}
