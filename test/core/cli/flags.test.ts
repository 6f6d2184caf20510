import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { type FlagSpec, parseFlags } from "../../../src/core/cli/flags.ts";
import { UsageError } from "../../../src/core/errors.ts";

const SPECS = [
  { name: "config", kind: "string", default: "conf/server.conf", usage: "Path to a config file" },
  { name: "node", kind: "bool", usage: "A node entry" },
  { name: "ttl", kind: "int", usage: "TTL in seconds" },
  { name: "timeout", kind: "duration", default: 5000, usage: "Time to wait" },
  { name: "selector", kind: "stringList", usage: "A type:value selector" },
  { name: "data", kind: "string", usage: "A file, or - for stdin" },
] as const satisfies readonly FlagSpec[];

const accepts: [string, string[], Record<string, unknown>, string[]][] = [
  ["accepts -f v", ["-config", "a.conf"], { config: "a.conf" }, []],
  ["accepts -f=v", ["-config=a.conf"], { config: "a.conf" }, []],
  ["accepts --f v", ["--config", "a.conf"], { config: "a.conf" }, []],
  ["accepts --f=v", ["--config=a.conf"], { config: "a.conf" }, []],
  ["accepts an empty value after =", ["-config="], { config: "" }, []],
  ["accepts a value containing =", ["-config=a=b"], { config: "a=b" }, []],
  ["accepts a bare boolean", ["-node"], { node: true }, []],
  ["accepts -bool=false", ["-node=false"], { node: false }, []],
  ["accepts -bool=true", ["--node=true"], { node: true }, []],
  ["accepts Go's boolean spellings", ["-node=T"], { node: true }, []],
  ["accepts an int", ["-ttl", "3600"], { ttl: 3600 }, []],
  ["accepts a negative int", ["-ttl=-1"], { ttl: -1 }, []],
  ["accepts a duration in ms", ["-timeout", "1m30s"], { timeout: 90_000 }, []],
  ["collects a repeated stringList", ["-selector", "unix:uid:0", "-selector=unix:gid:0"], {
    selector: ["unix:uid:0", "unix:gid:0"],
  }, []],
  ["takes the last value of a repeated string", ["-config", "a", "-config", "b"], { config: "b" }, []],
  ["takes a dash-led value as the argument", ["-data", "-"], { data: "-" }, []],
  ["stops at the first positional", ["-node", "file.json", "-ttl", "5"], { node: true, ttl: undefined }, [
    "file.json",
    "-ttl",
    "5",
  ]],
  ["stops after --", ["-node", "--", "-ttl", "5"], { node: true }, ["-ttl", "5"]],
  ["stops at a lone -", ["-", "-node"], { node: false }, ["-", "-node"]],
  ["keeps defaults", [], { config: "conf/server.conf", node: false, ttl: undefined, timeout: 5000, selector: [] }, []],
];
for (const [name, argv, want, positionals] of accepts) {
  test(`parseFlags() ${name}`, () => {
    const got = parseFlags(SPECS, argv);
    for (const [k, v] of Object.entries(want)) assert.equal((got.values as Record<string, unknown>)[k], v, k);
    assert.equal(got.positionals, positionals);
    assert.is(got.help, false);
  });
}

const rejects: [string, string[], string][] = [
  ["rejects an unknown flag", ["-foo"], "flag provided but not defined: -foo"],
  ["rejects an unknown double-dash flag", ["--foo=1"], "flag provided but not defined: -foo"],
  ["rejects a missing argument", ["-config"], "flag needs an argument: -config"],
  ["rejects a bad int", ["-ttl", "x"], `invalid value "x" for flag -ttl: parse error`],
  ["rejects an int out of range", ["-ttl", "99999999999999999999"], `invalid value "99999999999999999999" for flag -ttl: value out of range`],
  ["rejects a bad duration", ["-timeout", "5"], `invalid value "5" for flag -timeout: parse error`],
  ["rejects a bad boolean", ["-node=yes"], `invalid boolean value "yes" for -node: parse error`],
  ["rejects three dashes", ["---node"], "bad flag syntax: ---node"],
  ["rejects -=x", ["-=x"], "bad flag syntax: -=x"],
];
for (const [name, argv, message] of rejects) {
  test(`parseFlags() ${name}`, () => {
    try {
      parseFlags(SPECS, argv);
      assert.unreachable("should throw");
    } catch (err) {
      assert.instance(err, UsageError);
      assert.is((err as UsageError).code, "ERR_USAGE");
      assert.is((err as UsageError).message, message);
    }
  });
}

for (const h of ["-h", "-help", "--help", "--h"]) {
  test(`parseFlags() reports help for ${h}`, () => {
    const got = parseFlags(SPECS, ["-node", h]);
    assert.is(got.help, true);
    assert.is(got.values.node, true);
  });
}

test("parseFlags() records which flags were given", () => {
  const got = parseFlags(SPECS, ["-node=false", "-ttl", "1"]);
  assert.equal([...got.given].sort(), ["node", "ttl"]);
});

test.run();
