/**
 * uvu's `test` and `suite`, with hooks that cannot fail silently. Every test file imports them from here
 * (scripts/run_tests.mjs refuses a test file that imports "uvu" itself).
 *
 * Why: uvu runs `before`/`after` hooks inside a try whose `finally` ends in `return`, which discards the hook's
 * error: the file prints "(0 / 6)", no reason, and exits 0. Here a failing `before` hook makes every test of the
 * suite fail with the hook's error and stack, and a failing `after` hook prints its error with the HOOK_FAILED marker,
 * which the runner counts as a failure.
 * @module
 */
import { suite as uvuSuite } from "uvu";

/** Printed before an `after` hook's error; scripts/run_tests.mjs counts each occurrence as a failed test. */
export const HOOK_FAILED = "[hook failed]";

// deno-lint-ignore no-explicit-any
type Ctx = Record<string, any>;
type Fn<T> = (ctx: T) => unknown;
type Register<T> = (fn: Fn<T>) => void;

export interface Test<T = Ctx> {
  (name: string, fn: Fn<T>): void;
  only: (name: string, fn: Fn<T>) => void;
  skip: (name?: string, fn?: Fn<T>) => void;
  before: Register<T> & { each: Register<T> };
  after: Register<T> & { each: Register<T> };
  run: () => void;
}

const describe = (err: unknown): string => (err instanceof Error ? err.stack ?? err.message : String(err));

export function suite<T extends Ctx = Ctx>(name = "", state: T = {} as T): Test<T> {
  const inner = uvuSuite(name, state) as unknown as Test<T>;
  let beforeError: unknown;
  let beforeFailed = false;

  // A test of a suite whose `before` failed reports that failure instead of running against half-made fixtures.
  const guarded = (fn: Fn<T>): Fn<T> => (ctx) => {
    if (beforeFailed) {
      throw new Error(`before hook of suite "${name || "(default)"}" failed, so this test did not run:\n${describe(beforeError)}`, {
        cause: beforeError,
      });
    }
    return fn(ctx);
  };
  const onBefore = (fn: Fn<T>): Fn<T> => async (ctx) => {
    try {
      await fn(ctx);
    } catch (err) {
      beforeFailed = true;
      beforeError ??= err;
    }
  };
  const onAfter = (fn: Fn<T>): Fn<T> => async (ctx) => {
    try {
      await fn(ctx);
    } catch (err) {
      // console is the test's output channel; the runner reads this marker.
      // deno-lint-ignore no-console
      console.error(`\n${HOOK_FAILED} after hook of suite "${name || "(default)"}": ${describe(err)}\n`);
    }
  };

  const t = ((testName: string, fn: Fn<T>) => inner(testName, guarded(fn))) as Test<T>;
  t.only = (testName, fn) => inner.only(testName, guarded(fn));
  t.skip = (testName, fn) => inner.skip(testName, fn);
  const before = ((fn: Fn<T>) => inner.before(onBefore(fn))) as Test<T>["before"];
  before.each = (fn) => inner.before.each(guarded(fn));
  const after = ((fn: Fn<T>) => inner.after(onAfter(fn))) as Test<T>["after"];
  after.each = (fn) => inner.after.each(fn);
  t.before = before;
  t.after = after;
  t.run = () => inner.run();
  return t;
}

/** The default suite, as uvu's `test`. */
export const test: Test = suite();
