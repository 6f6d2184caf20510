import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { parseOutputFormat, Printer } from "../../../src/core/cli/printer.ts";
import { UnavailableError, UsageError } from "../../../src/core/errors.ts";

function sink() {
  const out = { stdout: "", stderr: "" };
  return { out, s: { stdout: (x: string) => void (out.stdout += x), stderr: (x: string) => void (out.stderr += x) } };
}

test("parseOutputFormat() accepts pretty, json and the empty default", () => {
  assert.is(parseOutputFormat("pretty"), "pretty");
  assert.is(parseOutputFormat("json"), "json");
  assert.is(parseOutputFormat(undefined), "pretty");
});

test("parseOutputFormat() rejects other formats with a UsageError", () => {
  assert.throws(() => parseOutputFormat("yaml"), (err: unknown) =>
    err instanceof UsageError && err.code === "ERR_USAGE" &&
    err.message === `invalid value "yaml" for flag -output: supported formats are pretty and json`);
});

test("Printer.result() writes pretty text with one trailing newline", () => {
  const { out, s } = sink();
  const p = new Printer(s, "pretty");
  p.result(() => "a\nb", { x: 1 });
  p.result("c\n", { x: 2 });
  assert.is(out.stdout, "a\nb\nc\n");
});

test("Printer.result() writes one JSON document per result in json mode", () => {
  const { out, s } = sink();
  new Printer(s, "json").result(() => {
    throw new Error("pretty text built in json mode");
  }, { id: "e1", n: [1] });
  assert.is(out.stdout, `{"id":"e1","n":[1]}\n`);
});

test("Printer.error() writes the cause chain to stderr, or as {error} on stdout in json mode", () => {
  const err = new UnavailableError("failed to dial server", { cause: new Error("connection refused") });
  const a = sink();
  new Printer(a.s, "pretty").error(err);
  assert.is(a.out.stderr, "Error: failed to dial server: connection refused\n");
  assert.is(a.out.stdout, "");
  const b = sink();
  new Printer(b.s, "json").error(err);
  assert.is(b.out.stdout, `{"error":"failed to dial server: connection refused"}\n`);
  assert.is(b.out.stderr, "");
});

test.run();
