/** What every SPIRE-compatible server command shares: error output and wrapping as SPIRE's CLI does them. @module */
import type { CommandContext } from "../../core/cli/command.ts";
import { formatError, ServiceError, UsageError } from "../../core/errors.ts";

/**
 * Runs a command body the way SPIRE's AdaptCommand does: any error prints `Error: <message>` on stderr and exits 1,
 * whatever `-output` says (SPIRE's server commands never print errors as JSON).
 */
export async function spireAction(ctx: CommandContext, body: () => Promise<number | void>): Promise<number> {
  try {
    return (await body()) ?? 0;
  } catch (err) {
    ctx.env.stderr(`Error: ${formatError(err)}\n`);
    return 1;
  }
}

/** `fmt.Errorf("<prefix>: %w", err)`, keeping the class, status and code of a ServiceError. */
export function wrapError(prefix: string, err: unknown): Error {
  if (err instanceof ServiceError) {
    const e = new ServiceError(`${prefix}: ${err.message}`, { code: err.code, status: err.status });
    Object.defineProperty(e, "name", { value: err.name });
    return e;
  }
  return new Error(`${prefix}: ${err instanceof Error ? err.message : String(err)}`);
}

/** A plain validation failure of the command line (SPIRE's `errors.New(...)` in validate()). */
export const fail = (message: string) => new UsageError(message);

/** Writes the JSON text under `-output json`, else the pretty text. */
export function emit(ctx: CommandContext, pretty: () => string, json: () => string): void {
  ctx.env.stdout(ctx.output === "json" ? json() : pretty());
}
