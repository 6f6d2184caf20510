/** Pretty vs JSON output of command results and errors (SPIRE cliprinter, `-output pretty|json`). @module */
import { formatError } from "../errors.ts";
import type { FlagSpec } from "./flags.ts";
import { invalidFlagValue } from "./usage_errors.ts";

export type OutputFormat = "pretty" | "json";

/** The `-output` flag every read command declares (SPIRE pkg/common/cliprinter/flag.go). */
export const OUTPUT_FLAG = {
  name: "output",
  kind: "string",
  default: "pretty",
  usage: "Desired output format (pretty, json)",
  placeholder: "value",
} as const satisfies FlagSpec;

/**
 * Parses an `-output` value.
 *
 * @throws {UsageError} `invalid value "yaml" for flag -output: supported formats are pretty and json`
 */
export function parseOutputFormat(value: unknown): OutputFormat {
  if (value === undefined || value === "" || value === "pretty") return "pretty";
  if (value === "json") return "json";
  throw invalidFlagValue("output", String(value), "supported formats are pretty and json");
}

/** Where a Printer writes. */
export interface PrinterSink {
  stdout(s: string): void;
  stderr(s: string): void;
}

/**
 * Writes results to stdout and errors to stderr in pretty mode; in JSON mode stdout gets exactly one JSON document
 * per result, and errors become `{"error":"…"}` on stdout.
 *
 * @example
 * new Printer(env, "json").result(() => `Entry ID: ${id}`, { id });
 */
export class Printer {
  readonly format: OutputFormat;
  readonly #sink: PrinterSink;

  constructor(sink: PrinterSink, format: OutputFormat) {
    this.#sink = sink;
    this.format = format;
  }

  /** Prints a result: the pretty text (built lazily) or the JSON value. */
  result(pretty: string | (() => string), json: unknown): void {
    if (this.format === "json") {
      this.#sink.stdout(JSON.stringify(json) + "\n");
      return;
    }
    const text = typeof pretty === "function" ? pretty() : pretty;
    this.#sink.stdout(text.endsWith("\n") || text === "" ? text : text + "\n");
  }

  /** Prints an error with its cause chain: `Error: <chain>` on stderr, or `{"error":"<chain>"}` on stdout. */
  error(err: unknown): void {
    if (this.format === "json") this.#sink.stdout(JSON.stringify({ error: formatError(err) }) + "\n");
    else this.#sink.stderr(`Error: ${formatError(err)}\n`);
  }
}
