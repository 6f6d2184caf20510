import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { LogLevelControl, type LogRecord, newLogger } from "../../../src/core/log/logger.ts";

test("LogLevelControl changes the level of a logger and of every logger derived with with()", () => {
  const seen: LogRecord[] = [];
  const control = new LogLevelControl("info");
  const log = newLogger({ level: control, sink: (r) => seen.push(r) });
  const child = log.with({ subsystem_name: "api" });
  child.debug("hidden");
  control.set("debug");
  child.debug("shown");
  control.set("fatal");
  log.error("silenced at fatal, as logrus does");
  control.reset();
  assert.is(control.current, "info");
  log.info("back");
  assert.equal(seen.map((r) => r.msg), ["shown", "back"]);
  control.set("trace");
  log.debug("trace shows debug");
  assert.is(seen.at(-1)!.msg, "trace shows debug");
});

test("newLogger() still takes a fixed level", () => {
  const seen: string[] = [];
  const log = newLogger({ level: "warn", sink: (r) => seen.push(r.msg) });
  log.info("no");
  log.warn("yes");
  assert.equal(seen, ["yes"]);
});

test.run();
