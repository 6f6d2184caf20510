/** The test set-up never lets a hook fail silently: the runner reports the hook's error and counts a failure. */
import { spawnSync } from "node:child_process";
import * as assert from "uvu/assert";
import { test } from "../_uvu.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

function runner(file: string) {
  const r = spawnSync("node", ["scripts/run_tests.mjs", "--runtime", "node", file], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

test("a before hook that throws fails every test of the suite, with the hook's error and stack", () => {
  const r = runner("test/scripts/fixtures/before_hook_fails.ts");
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /before hook of suite "\(default\)" failed, so this test did not run/);
  assert.match(r.out, /fixture database could not be opened/);
  assert.match(r.out, /before_hook_fails\.ts:\d+/); // the stack points at the hook
  assert.match(r.out, /^0 passed, 1 failed$/m);
});

test("an after hook that throws is counted as a failure and printed", () => {
  const r = runner("test/scripts/fixtures/after_hook_fails.ts");
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /\[hook failed\] after hook of suite "\(default\)": Error: fixture server did not stop/);
  assert.match(r.out, /^1 passed, 1 failed$/m);
});

test("the runner refuses a test file that takes uvu directly, naming it", () => {
  const r = runner("test/scripts/fixtures/imports_uvu_directly.ts");
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /import "uvu" directly; import \{ test, suite \} from test\/_uvu\.ts instead:\n\s+test\/scripts\/fixtures\/imports_uvu_directly\.ts/);
});

test.run();
