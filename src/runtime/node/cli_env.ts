/** The CLI port on Node: stdio, environment, cwd, and an AbortSignal fired by SIGINT/SIGTERM. @module */
import type { CLIEnv } from "../../core/cli/command.ts";

export function nodeCLIEnv(): CLIEnv {
  const ac = new AbortController();
  const stop = () => ac.abort(new Error("signal received"));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    getenv: (k) => process.env[k],
    cwd: process.cwd(),
    signal: ac.signal,
  };
}

/** Exits once stdout and stderr have drained, so piped output is never cut off. */
export function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
}
