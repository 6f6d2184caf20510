/** The one table from error classes to HTTP statuses for every hono app of the server. @module */
import type { Context } from "hono";
import { formatError, ServiceError, type StatusName } from "../../core/errors.ts";
import type { Logger } from "../../core/log/logger.ts";

const HTTP: Record<StatusName, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 412,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  UNIMPLEMENTED: 501,
};

/** JSON body of every error answer. */
export interface ErrorBody {
  status: StatusName;
  code: string;
  message: string;
  /** SPIRE's PermissionDeniedDetails reason, on agent authorization failures only. */
  reason?: string;
}

/** hono `onError` handler: ServiceErrors keep their text; anything else is logged and becomes "internal error". */
export function errorHandler(logger: Logger) {
  return (err: Error, c: Context) => {
    if (err instanceof ServiceError) {
      // Causes can carry AWS or driver details; only the top message goes to the caller.
      const body: ErrorBody = { status: err.status, code: err.code, message: err.message, ...(err.reason ? { reason: err.reason } : {}) };
      if (err.status === "INTERNAL" || err.status === "UNAVAILABLE") {
        logger.warn("Request failed", { error: formatError(err), path: c.req.path });
      }
      return c.json(body, HTTP[err.status] as 400);
    }
    logger.error("Unexpected error in request handler", { error: formatError(err), path: c.req.path });
    return c.json({ status: "INTERNAL", code: "ERR_INTERNAL", message: "internal error" } satisfies ErrorBody, 500);
  };
}

/** Status for a ServiceError, for per-item results in batch answers. */
export function statusOf(err: unknown): { status: StatusName; code: string; message: string } {
  if (err instanceof ServiceError) return { status: err.status, code: err.code, message: err.message };
  return { status: "INTERNAL", code: "ERR_INTERNAL", message: "internal error" };
}
