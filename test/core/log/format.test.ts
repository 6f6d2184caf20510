/** formatRecord() writes lines as logrus does for SPIRE (text and JSON), so SPIRE's log greps match wisp's logs. */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { formatRecord, type LogRecord } from "../../../src/core/log/logger.ts";

const rec = (over: Partial<LogRecord>): LogRecord => ({
  time: new Date("2026-08-22T19:28:37.120Z"),
  level: "info",
  msg: "Starting Server APIs",
  fields: {},
  ...over,
});

test("text: time, level, msg, then fields sorted by key, quoted only when logrus would", () => {
  const line = formatRecord(rec({ fields: { subsystem_name: "endpoints", network: "tcp", address: "127.0.0.1:8081" } }), "text");
  assert.is(line, `time="2026-08-22T19:28:37.12Z" level=info msg="Starting Server APIs" address="127.0.0.1:8081" network=tcp subsystem_name=endpoints`);
  const unix = formatRecord(rec({ fields: { address: "/tmp/spire-server/private/api.sock", network: "unix", count: 3, ok: true, empty: "" } }), "text");
  assert.is(
    unix,
    `time="2026-08-22T19:28:37.12Z" level=info msg="Starting Server APIs" address=/tmp/spire-server/private/api.sock count=3 empty= network=unix ok=true`,
  );
});

test("text: SPIFFE IDs are quoted, one-word messages are bare, warn prints as warning", () => {
  const line = formatRecord(rec({ level: "warn", msg: "Configured", fields: { spiffe_id: "spiffe://example.org/web", entry: "9b2c-1" } }), "text");
  assert.is(line, `time="2026-08-22T19:28:37.12Z" level=warning msg=Configured entry=9b2c-1 spiffe_id="spiffe://example.org/web"`);
});

test("json: every key sorted, typed values, RFC 3339 time with sub-seconds, clashing fields renamed", () => {
  const line = formatRecord(rec({ level: "warn", fields: { network: "tcp", count: 2, self_signed: true, msg: "x", time: "t" } }), "json");
  assert.is(
    line,
    `{"count":2,"fields.msg":"x","fields.time":"t","level":"warning","msg":"Starting Server APIs","network":"tcp","self_signed":true,"time":"2026-08-22T19:28:37.12Z"}`,
  );
  assert.is(JSON.parse(formatRecord(rec({ time: new Date("2026-08-22T19:28:37.000Z") }), "json")).time, "2026-08-22T19:28:37Z");
});

test.run();
