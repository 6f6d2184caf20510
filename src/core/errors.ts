/** The one error hierarchy of wisp: stable codes, gRPC-shaped classes and cause chains. @module */

/** Stable, machine-readable error codes. Users and tests match on these, never on class names alone. */
export type ErrorCode =
  | "ERR_INVALID_ARGUMENT"
  | "ERR_SPIFFEID_INVALID"
  | "ERR_SELECTOR_INVALID"
  | "ERR_CSR_INVALID"
  | "ERR_JOIN_TOKEN_INVALID"
  | "ERR_ATTEST_SESSION"
  | "ERR_NOT_FOUND"
  | "ERR_ALREADY_EXISTS"
  | "ERR_PERMISSION_DENIED"
  | "ERR_UNAUTHENTICATED"
  | "ERR_UNAVAILABLE"
  | "ERR_UNKNOWN_AUTHORITY"
  | "ERR_FAILED_PRECONDITION"
  | "ERR_INTERNAL"
  | "ERR_UNIMPLEMENTED"
  | "ERR_CONFIG_INVALID"
  | "ERR_USAGE"
  | "ERR_DATASTORE_LOCKED"
  | "ERR_SCHEMA_TOO_NEW";

/** gRPC status names; every ServiceError maps to exactly one. */
export type StatusName =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "PERMISSION_DENIED"
  | "UNAUTHENTICATED"
  | "UNAVAILABLE"
  | "FAILED_PRECONDITION"
  | "INTERNAL"
  | "UNIMPLEMENTED";

/** Base class of every error a caller is expected to handle. */
export class ServiceError extends Error {
  readonly code: ErrorCode;
  readonly status: StatusName;
  /**
   * SPIRE's PermissionDeniedDetails reason for agent authorization failures ("AGENT_EXPIRED", "AGENT_NOT_ATTESTED",
   * "AGENT_BANNED", "AGENT_NOT_ACTIVE", "AGENT_MUST_REATTEST"); agents act on it, so it travels in the JSON error.
   */
  readonly reason: string | undefined;
  constructor(message: string, options: { code: ErrorCode; status: StatusName; cause?: unknown; reason?: string | undefined }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.status = options.status;
    this.reason = options.reason;
  }
}

type Opts<C extends ErrorCode = ErrorCode> = { cause?: unknown; code?: C; reason?: string };

function opts(o: Opts | undefined, code: ErrorCode, status: StatusName) {
  return {
    code: o?.code ?? code,
    status,
    ...(o?.cause === undefined ? {} : { cause: o.cause }),
    ...(o?.reason === undefined ? {} : { reason: o.reason }),
  };
}

/** The request is malformed; retrying it unchanged will fail again. */
export class InvalidArgumentError extends ServiceError {
  constructor(message: string, o?: Opts) {
    super(message, opts(o, "ERR_INVALID_ARGUMENT", "INVALID_ARGUMENT"));
  }
}
/** A SPIFFE ID or trust domain that the SPIFFE-ID spec rejects. */
export class SPIFFEIDError extends InvalidArgumentError {
  constructor(message: string, o?: { cause?: unknown }) {
    super(message, { ...o, code: "ERR_SPIFFEID_INVALID" });
  }
}
export class NotFoundError extends ServiceError {
  constructor(message: string, o?: Opts) {
    super(message, opts(o, "ERR_NOT_FOUND", "NOT_FOUND"));
  }
}
export class AlreadyExistsError extends ServiceError {
  constructor(message: string, o?: Opts) {
    super(message, opts(o, "ERR_ALREADY_EXISTS", "ALREADY_EXISTS"));
  }
}
export class PermissionDeniedError extends ServiceError {
  constructor(message: string, o?: Opts) {
    super(message, opts(o, "ERR_PERMISSION_DENIED", "PERMISSION_DENIED"));
  }
}
export class UnauthenticatedError extends ServiceError {
  constructor(message: string, o?: Opts) {
    super(message, opts(o, "ERR_UNAUTHENTICATED", "UNAUTHENTICATED"));
  }
}
export class UnavailableError extends ServiceError {
  constructor(message: string, o?: Opts) {
    super(message, opts(o, "ERR_UNAVAILABLE", "UNAVAILABLE"));
  }
}
/**
 * The server's certificate does not chain to the trust bundle. The message is SPIRE's (go-spiffe x509svid + Go's
 * crypto/x509), which SPIRE's agent matches to tell a bundle that disagrees with the server from an outage.
 */
export class UnknownAuthorityError extends UnavailableError {
  constructor(o?: { cause?: unknown }) {
    super("x509svid: could not verify leaf certificate: x509: certificate signed by unknown authority", { ...o, code: "ERR_UNKNOWN_AUTHORITY" });
  }
}

/** True when `err` or one of its causes is an UnknownAuthorityError. */
export function isUnknownAuthority(err: unknown): boolean {
  for (let cur = err, depth = 0; cur instanceof Error && depth < 10; cur = cur.cause, depth++) {
    if (cur instanceof ServiceError && cur.code === "ERR_UNKNOWN_AUTHORITY") return true;
  }
  return false;
}

export class FailedPreconditionError extends ServiceError {
  constructor(message: string, o?: Opts) {
    super(message, opts(o, "ERR_FAILED_PRECONDITION", "FAILED_PRECONDITION"));
  }
}
export class InternalError extends ServiceError {
  constructor(message: string, o?: Opts) {
    super(message, opts(o, "ERR_INTERNAL", "INTERNAL"));
  }
}
/** The method exists in the protocol but this server does not serve it (Envoy's DeltaSecrets on the agent's SDS). */
export class UnimplementedError extends ServiceError {
  constructor(message: string, o?: Opts) {
    super(message, opts(o, "ERR_UNIMPLEMENTED", "UNIMPLEMENTED"));
  }
}
/** A configuration with one or more problems; `issues` lists every one of them. */
export class ConfigError extends ServiceError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[], o?: { cause?: unknown }) {
    super(issues.length === 1 ? issues[0]! : `configuration has ${issues.length} problems: ${issues.join("; ")}`, {
      code: "ERR_CONFIG_INVALID",
      status: "INVALID_ARGUMENT",
      ...o,
    });
    this.issues = issues;
  }
}
/** A command line that cannot be run: unknown flag, missing value, bad value. */
export class UsageError extends ServiceError {
  constructor(message: string) {
    super(message, { code: "ERR_USAGE", status: "INVALID_ARGUMENT" });
  }
}

/** Maps an HTTP status back to an error class, for clients of our own JSON APIs. */
const BY_STATUS: Record<StatusName, new (m: string, o?: Opts) => ServiceError> = {
  INVALID_ARGUMENT: InvalidArgumentError,
  NOT_FOUND: NotFoundError,
  ALREADY_EXISTS: AlreadyExistsError,
  PERMISSION_DENIED: PermissionDeniedError,
  UNAUTHENTICATED: UnauthenticatedError,
  UNAVAILABLE: UnavailableError,
  FAILED_PRECONDITION: FailedPreconditionError,
  INTERNAL: InternalError,
  UNIMPLEMENTED: UnimplementedError,
};

/** Rebuilds a ServiceError from the `{status, code, message}` JSON our APIs answer with. */
export function errorFromJSON(body: { status?: string; code?: string; message?: string; reason?: string }): ServiceError {
  const Cls = BY_STATUS[(body.status ?? "INTERNAL") as StatusName] ?? InternalError;
  const err = new Cls(body.message ?? "unknown error", typeof body.reason === "string" ? { reason: body.reason } : undefined);
  if (body.code) (err as { code: string }).code = body.code;
  return err;
}

/** Joins an error's message with its cause chain, SPIRE style: "failed to x: because y". */
export function formatError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 10; depth++) {
    const msg = cur instanceof Error ? cur.message : String(cur);
    if (msg && !parts.includes(msg)) parts.push(msg);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join(": ");
}
