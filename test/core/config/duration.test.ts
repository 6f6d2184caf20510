import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { durationFromConfig, formatDuration, parseDuration } from "../../../src/core/config/duration.ts";
import { ConfigStatus } from "../../../src/core/config/status.ts";
import { InvalidArgumentError } from "../../../src/core/errors.ts";

const accepts: [string, number][] = [
  ["1h", 3_600_000],
  ["30m", 1_800_000],
  ["1h30m", 5_400_000],
  ["500ms", 500],
  ["90s", 90_000],
  ["1.5h", 5_400_000],
  [".5s", 500],
  ["0", 0],
  ["-2s", -2000],
  ["+1m", 60_000],
  ["1500us", 1.5],
  ["2000000ns", 2],
];
for (const [s, ms] of accepts) {
  test(`parseDuration() accepts "${s}"`, () => assert.is(parseDuration(s), ms));
}

const rejects: [string, string][] = [
  ["", `invalid duration ""`],
  ["1", `missing unit in duration "1"`],
  ["1d", `unknown unit "d" in duration "1d"`],
  ["h", `invalid duration "h"`],
  [".s", `invalid duration ".s"`],
  ["1h x", `unknown unit "h x" in duration "1h x"`],
];
for (const [s, message] of rejects) {
  test(`parseDuration() rejects "${s}"`, () => {
    assert.throws(() => parseDuration(s), (e: unknown) => e instanceof InvalidArgumentError && e.message === message);
  });
}

test("formatDuration() matches Go's Duration.String", () => {
  assert.is(formatDuration(3_600_000), "1h0m0s");
  assert.is(formatDuration(300_000), "5m0s");
  assert.is(formatDuration(90_500), "1m30.5s");
  assert.is(formatDuration(5000), "5s");
  assert.is(formatDuration(500), "500ms");
  assert.is(formatDuration(0), "0s");
  assert.is(formatDuration(-4 * 3_600_000), "-4h0m0s");
});

test("durationFromConfig() reads bare numbers as seconds and names the key in errors", () => {
  const status = new ConfigStatus();
  assert.is(durationFromConfig("server.ca_ttl", 60, status), 60_000);
  assert.is(durationFromConfig("server.ca_ttl", "2h", status), 7_200_000);
  assert.is(durationFromConfig("server.ca_ttl", undefined, status), undefined);
  assert.is(durationFromConfig("server.ca_ttl", "2x", status), undefined);
  assert.is(durationFromConfig("server.agent_ttl", true, status), undefined);
  assert.equal(status.errors, [
    `server.ca_ttl: unknown unit "x" in duration "2x"`,
    `server.agent_ttl must be a duration such as "1h" or "30m"`,
  ]);
});

test.run();
