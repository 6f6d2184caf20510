/** Reading a JSON request body with a size cap and a clear error for anything that is not a JSON object. @module */
import type { Context } from "hono";
import { InvalidArgumentError } from "../../core/errors.ts";

/** 4 MiB: far above any legitimate admin or agent request, low enough that a hostile body cannot hurt. */
const MAX_BODY = 4 << 20;

export async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const len = Number(c.req.header("content-length") ?? "0");
  if (len > MAX_BODY) throw new InvalidArgumentError(`request body is larger than ${MAX_BODY} bytes`);
  const text = await c.req.text();
  if (text.length > MAX_BODY) throw new InvalidArgumentError(`request body is larger than ${MAX_BODY} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw new InvalidArgumentError("request body is not valid JSON", { cause });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new InvalidArgumentError("request body must be a JSON object");
  }
  return v as Record<string, unknown>;
}

export function str(o: Record<string, unknown>, key: string, required = true): string {
  const v = o[key];
  if (v === undefined || v === null || v === "") {
    if (required) throw new InvalidArgumentError(`"${key}" is required`);
    return "";
  }
  if (typeof v !== "string") throw new InvalidArgumentError(`"${key}" must be a string`);
  return v;
}

export function num(o: Record<string, unknown>, key: string, dflt: number): number {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || !Number.isInteger(v) || v < 0) {
    throw new InvalidArgumentError(`"${key}" must be a non-negative integer`);
  }
  return v;
}
