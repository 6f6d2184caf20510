import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { Registry } from "../../../src/core/metrics/registry.ts";
import { MINUTES, MinuteSeries } from "../../../src/server/console/minute_series.ts";
import { newClock } from "../_fixtures.ts";

test("MinuteSeries puts a counter's growth in the minute it was sampled and rolls the hour forward", () => {
  const clock = newClock();
  const c = new Registry().counter("svids_total", "SVIDs");
  const s = new MinuteSeries(() => c.sum(), clock);
  c.inc(undefined, 5);
  s.sample();
  clock.advance(30_000);
  c.inc(undefined, 2);
  assert.equal(s.values().slice(-1), [7], "two samples in the same minute add up");
  clock.advance(60_000);
  c.inc(undefined, 1);
  assert.equal(s.values().slice(-2), [7, 1]);
  clock.advance(3 * 60_000);
  assert.equal(s.values().slice(-5), [7, 1, 0, 0, 0], "quiet minutes are zero");
  assert.is(s.values().length, MINUTES);
  assert.is(s.newestMinute.getTime() % 60_000, 0);
});

test("MinuteSeries forgets counts older than an hour and survives gaps longer than the ring", () => {
  const clock = newClock();
  let total = 0;
  const s = new MinuteSeries(() => total, clock);
  total = 4;
  s.sample();
  clock.advance(59 * 60_000);
  assert.is(s.values()[0], 4, "59 minutes later the first minute is the oldest bucket");
  clock.advance(60_000);
  assert.is(s.values().reduce((a, b) => a + b, 0), 0, "an hour later it is gone");
  clock.advance(5 * 3_600_000);
  total = 6;
  assert.equal(s.values().slice(-1), [2]);
  assert.is(s.values().length, MINUTES);
});
test.run();
