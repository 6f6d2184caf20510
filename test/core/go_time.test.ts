import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { InvalidArgumentError } from "../../src/core/errors.ts";
import { EXPIRES_BEFORE_LAYOUT as L, formatGoTime, parseGoTime } from "../../src/core/go_time.ts";

test("parseGoTime() reads SPIRE's -expiresBefore layout; the last zone element (-07) sets the offset, as in Go", () => {
  assert.is(parseGoTime(L, "2026-12-06 20:00:00 +0000 +00").toISOString(), "2026-12-06T20:00:00.000Z");
  assert.is(parseGoTime(L, "2000-01-01 15:04:05 -0700 -07").toISOString(), "2000-01-01T22:04:05.000Z");
  assert.is(parseGoTime(L, "2026-12-06 20:00:00 +0000 +02").toISOString(), "2026-12-06T18:00:00.000Z");
  // One-digit hours and a fractional second the layout does not have are accepted, as Go does.
  assert.is(parseGoTime(L, "2024-02-29 9:30:00.25 +0000 +00").toISOString(), "2024-02-29T09:30:00.250Z");
  assert.is(parseGoTime(L, "0099-03-01 00:00:00 +0000 +00").toISOString(), "0099-03-01T00:00:00.000Z");
});

test("parseGoTime() rejects with Go's exact texts", () => {
  const cases: [string, string][] = [
    ["2001-13-05", `parsing time "2001-13-05": month out of range`],
    ["2001-01-05", `parsing time "2001-01-05" as "${L}": cannot parse "" as "15"`],
    ["tomorrow", `parsing time "tomorrow" as "${L}": cannot parse "tomorrow" as "2006"`],
    ["", `parsing time "" as "${L}": cannot parse "" as "2006"`],
    ["2001-02-29 00:00:00 +0000 +00", `parsing time "2001-02-29 00:00:00 +0000 +00": day out of range`],
    ["2001-01-01 24:00:00 +0000 +00", `parsing time "2001-01-01 24:00:00 +0000 +00": hour out of range`],
    ["2001-01-01 00:60:00 +0000 +00", `parsing time "2001-01-01 00:60:00 +0000 +00": minute out of range`],
    ["2001-01-01 00:00:00 +0000 +00 x", `parsing time "2001-01-01 00:00:00 +0000 +00 x": extra text: " x"`],
    ["2001-01-01T00:00:00Z", `parsing time "2001-01-01T00:00:00Z" as "${L}": cannot parse "T00:00:00Z" as " "`],
    ["2026-12-06 20:19:41 +0000 UTC", `parsing time "2026-12-06 20:19:41 +0000 UTC" as "${L}": cannot parse "UTC" as "-07"`],
    ["2001-01-01 00:00:00 *0000 +00", `parsing time "2001-01-01 00:00:00 *0000 +00" as "${L}": cannot parse "*0000 +00" as "-0700"`],
    ["2001-1-01", `parsing time "2001-1-01" as "${L}": cannot parse "1-01" as "01"`],
    ["2001-01-01 00:00:00 +2500 +00", `parsing time "2001-01-01 00:00:00 +2500 +00": time zone offset hour out of range`],
    ['"2001"\n', `parsing time "\\"2001\\"\\x0a" as "${L}": cannot parse "\\"2001\\"\\x0a" as "2006"`],
  ];
  for (const [value, message] of cases) {
    const err = (() => {
      try {
        parseGoTime(L, value);
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof InvalidArgumentError, value);
    assert.is((err as InvalidArgumentError).message, message);
  }
});

test("formatGoTime() prints Go's Time.String() of a Unix time in the local zone", () => {
  const d = new Date(Date.UTC(2025, 11, 6, 20, 19, 41));
  const s = formatGoTime(d);
  assert.match(s, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \S+$/);
  if (d.getTimezoneOffset() === 0) assert.match(s, /^2025-12-06 20:19:41 \+0000 (UTC|GMT)$/);
});

test.run();
