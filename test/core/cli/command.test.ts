import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { type CLIEnv, type Command, defineCommand, runCLI } from "../../../src/core/cli/command.ts";
import { OUTPUT_FLAG } from "../../../src/core/cli/printer.ts";
import { requiredFlag } from "../../../src/core/cli/usage_errors.ts";
import { NotFoundError } from "../../../src/core/errors.ts";

function captureEnv(vars: Record<string, string> = {}) {
  const out = { stdout: "", stderr: "" };
  const env: CLIEnv = {
    stdout: (s) => void (out.stdout += s),
    stderr: (s) => void (out.stderr += s),
    getenv: (k) => vars[k],
    cwd: "/",
    signal: new AbortController().signal,
  };
  return { env, out };
}

const calls: unknown[] = [];

const entryShow = defineCommand({
  name: "entry show",
  synopsis: "Displays configured registration entries",
  flags: [
    { name: "socketPath", kind: "string", default: "/tmp/wisp-server/private/api.sock", usage: "Path to the SPIRE Server API socket" },
    { name: "entryID", kind: "string", usage: "The Entry ID of the records to show" },
    { name: "selector", kind: "stringList", usage: "A colon-delimited type:value selector" },
    { name: "node", kind: "bool", usage: "If set, this entry will be applied to matching nodes" },
    { name: "x509SVIDTTL", kind: "duration", usage: "The lifetime of the X509-SVIDs", default: 3_600_000 },
    OUTPUT_FLAG,
  ],
  examples: ["wisp-server entry show -entryID 1234", "wisp-server entry show -output json"],
  async run(ctx, flags) {
    calls.push({ values: flags.values, positionals: flags.positionals });
    if (flags.values.entryID === "missing") throw new NotFoundError("failed to fetch entry", { cause: new Error(`entry "missing" not found`) });
    if (flags.values.entryID === "") throw requiredFlag("entryID");
    ctx.printer.result(`Found 1 entry\nEntry ID: ${flags.values.entryID}`, { entries: [{ id: flags.values.entryID }] });
    return 0;
  },
});

const fetchX509: Command = defineCommand({
  name: "api fetch x509",
  aliases: ["fetch x509", "fetch"],
  synopsis: "Fetches X509-SVIDs from the Workload API",
  flags: [{ name: "silent", kind: "bool", usage: "Suppress stdout" }],
  examples: [],
  async run(ctx, flags) {
    ctx.env.stdout(`fetched silent=${flags.values.silent} via ${ctx.command}\n`);
    return 0;
  },
});

const commands = [entryShow, fetchX509];
const run = (argv: string[], env: CLIEnv) => runCLI({ name: "wisp-server", commands, argv, env });

test("runCLI() runs the matching command with parsed flags and positionals", async () => {
  const { env, out } = captureEnv();
  calls.length = 0;
  const code = await run(["entry", "show", "-entryID=abc", "-selector", "unix:uid:0", "extra"], env);
  assert.is(code, 0);
  assert.is(out.stdout, "Found 1 entry\nEntry ID: abc\n");
  assert.is(out.stderr, "");
  const call = calls[0] as { values: Record<string, unknown>; positionals: string[] };
  assert.equal(call.values["selector"], ["unix:uid:0"]);
  assert.equal(call.positionals, ["extra"]);
});

test("runCLI() prints -h help on stdout in Go's listing format and exits 0", async () => {
  const { env, out } = captureEnv();
  const code = await run(["entry", "show", "-h"], env);
  assert.is(code, 0);
  assert.is(out.stderr, "");
  assert.is(
    out.stdout,
    [
      "Displays configured registration entries",
      "",
      "Usage of wisp-server entry show:",
      "  -entryID string",
      "    \tThe Entry ID of the records to show",
      "  -node",
      "    \tIf set, this entry will be applied to matching nodes",
      "  -output value",
      `    \tDesired output format (pretty, json) (default "pretty")`,
      "  -selector value",
      "    \tA colon-delimited type:value selector. Can be used more than once",
      "  -socketPath string",
      `    \tPath to the SPIRE Server API socket (default "/tmp/wisp-server/private/api.sock")`,
      "  -x509SVIDTTL duration",
      "    \tThe lifetime of the X509-SVIDs (default 1h0m0s)",
      "",
      "EXIT CODES",
      "  0 on success, 1 on any error",
      "",
      "EXAMPLES",
      "  wisp-server entry show -entryID 1234",
      "  wisp-server entry show -output json",
      "",
    ].join("\n"),
  );
});

test("runCLI() rejects an unknown flag with Go's text on stderr and exit 1", async () => {
  const { env, out } = captureEnv();
  const code = await run(["entry", "show", "-foo"], env);
  assert.is(code, 1);
  assert.is(out.stderr, "Error: flag provided but not defined: -foo\n");
  assert.is(out.stdout, "");
});

test("runCLI() prints a thrown error with its cause chain on stderr", async () => {
  const { env, out } = captureEnv();
  const code = await run(["entry", "show", "-entryID", "missing"], env);
  assert.is(code, 1);
  assert.is(out.stderr, `Error: failed to fetch entry: entry "missing" not found\n`);
});

test("runCLI() prints errors as one JSON document on stdout under -output json", async () => {
  const { env, out } = captureEnv();
  const code = await run(["entry", "show", "-output", "json", "-entryID", "missing"], env);
  assert.is(code, 1);
  assert.is(out.stderr, "");
  assert.equal(JSON.parse(out.stdout), { error: `failed to fetch entry: entry "missing" not found` });
  assert.is(out.stdout.trim().split("\n").length, 1);
});

test("runCLI() prints a flag error as JSON when -output json was given", async () => {
  const { env, out } = captureEnv();
  const code = await run(["entry", "show", "-output=json", "-bogus"], env);
  assert.is(code, 1);
  assert.equal(JSON.parse(out.stdout), { error: "flag provided but not defined: -bogus" });
});

test("runCLI() prints results as JSON under -output json", async () => {
  const { env, out } = captureEnv();
  const code = await run(["entry", "show", "-output", "json", "-entryID", "e1"], env);
  assert.is(code, 0);
  assert.equal(JSON.parse(out.stdout), { entries: [{ id: "e1" }] });
});

test("runCLI() rejects an invalid -output value", async () => {
  const { env, out } = captureEnv();
  const code = await run(["entry", "show", "-output", "yaml"], env);
  assert.is(code, 1);
  assert.is(out.stderr, `Error: invalid value "yaml" for flag -output: supported formats are pretty and json\n`);
});

test("runCLI() prints usage errors thrown by a command", async () => {
  const { env, out } = captureEnv();
  const code = await run(["entry", "show", "-entryID="], env);
  assert.is(code, 1);
  assert.is(out.stderr, "Error: -entryID flag is required\n");
});

for (const argv of [["api", "fetch", "x509"], ["fetch", "x509"], ["fetch"]]) {
  test(`runCLI() resolves "${argv.join(" ")}" to api fetch x509`, async () => {
    const { env, out } = captureEnv();
    const code = await runCLI({ name: "wisp-agent", commands, argv: [...argv, "-silent"], env });
    assert.is(code, 0);
    assert.is(out.stdout, "fetched silent=true via api fetch x509\n");
  });
}

test("runCLI() lists the commands of a known noun for an unknown verb and exits 1", async () => {
  const { env, out } = captureEnv();
  const code = await run(["entry", "frobnicate"], env);
  assert.is(code, 1);
  assert.is(out.stdout, "");
  assert.ok(out.stderr.startsWith(`Error: unknown command "entry frobnicate"\n\nUsage: wisp-server <command> [flags]\n`));
  assert.match(out.stderr, "    entry show    Displays configured registration entries");
  assert.not.match(out.stderr, "api fetch x509");
});

test("runCLI() lists every command for an unknown noun", async () => {
  const { env, out } = captureEnv();
  const code = await run(["bogus"], env);
  assert.is(code, 1);
  assert.match(out.stderr, `Error: unknown command "bogus"`);
  assert.match(out.stderr, "api fetch x509");
  assert.match(out.stderr, "entry show");
});

test("runCLI() prints the command list on stdout for -h and on stderr for no arguments", async () => {
  const a = captureEnv();
  assert.is(await run(["-h"], a.env), 0);
  assert.match(a.out.stdout, "Available commands are:");
  const b = captureEnv();
  assert.is(await run([], b.env), 1);
  assert.match(b.out.stderr, "Available commands are:");
  assert.is(b.out.stdout, "");
});

test.run();
