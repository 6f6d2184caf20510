import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { Registry } from "../../../src/core/metrics/registry.ts";

test("render() writes Prometheus text: HELP, TYPE, labelled series, escaped label values", () => {
  const r = new Registry();
  const c = r.counter("x_total", "Things");
  c.inc();
  c.inc({ kind: 'a"b\\c' }, 2);
  r.gauge("g", "A gauge").collect(() => 42);
  assert.is(r.render(), '# HELP x_total Things\n# TYPE x_total counter\nx_total 1\nx_total{kind="a\\"b\\\\c"} 2\n# HELP g A gauge\n# TYPE g gauge\ng 42\n');
});

test("histogram buckets are cumulative and end with +Inf, sum and count", () => {
  const r = new Registry();
  const h = r.histogram("h_seconds", "Latency", [0.1, 1]);
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  assert.match(r.render(), 'h_seconds_bucket{le="0.1"} 1\nh_seconds_bucket{le="1"} 2\nh_seconds_bucket{le="+Inf"} 3\nh_seconds_sum 5.55\nh_seconds_count 3\n');
});

test("registering a name twice returns the same metric; a different type is a programmer error", () => {
  const r = new Registry();
  const a = r.counter("n", "x");
  a.inc();
  assert.is(r.counter("n", "x").get(), 1);
  assert.throws(() => r.gauge("n", "x"), TypeError);
});

test("Counter.sum() adds every series whose labels include the match; no match sums all", () => {
  const c = new Registry().counter("calls_total", "Calls");
  c.inc({ upstream: "aws_pca", result: "ok" }, 3);
  c.inc({ upstream: "aws_pca", result: "error" });
  c.inc({ upstream: "disk", result: "ok" }, 2);
  assert.is(c.sum(), 6);
  assert.is(c.sum({ result: "ok" }), 5);
  assert.is(c.sum({ upstream: "aws_pca", result: "error" }), 1);
  assert.is(c.sum({ upstream: "none" }), 0);
});

test.run();
