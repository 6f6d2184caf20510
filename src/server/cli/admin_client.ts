/** The CLI's client of the admin API on the server's Unix socket. @module */
import { errorFromJSON, ServiceError, type StatusName, UnavailableError } from "../../core/errors.ts";
import type { BoundFetch } from "../../core/ports/http_server.ts";

/** SPIRE's default path, with our binary's name. */
export const DEFAULT_SERVER_SOCKET = "/tmp/wisp-server/private/api.sock";

export const SOCKET_FLAG = {
  name: "socketPath",
  kind: "string",
  default: DEFAULT_SERVER_SOCKET,
  usage: "Path to the SPIRE Server API socket",
  placeholder: "string",
} as const;

/** gRPC's code names, as grpc-go prints them in `rpc error: code = NotFound desc = …`. */
const GRPC_CODE: Record<StatusName, string> = {
  INVALID_ARGUMENT: "InvalidArgument",
  NOT_FOUND: "NotFound",
  ALREADY_EXISTS: "AlreadyExists",
  PERMISSION_DENIED: "PermissionDenied",
  UNAUTHENTICATED: "Unauthenticated",
  UNAVAILABLE: "Unavailable",
  FAILED_PRECONDITION: "FailedPrecondition",
  INTERNAL: "Internal",
  UNIMPLEMENTED: "Unimplemented",
};

/** strerror texts for the errno codes a Unix-socket dial meets (what Go's net package prints). */
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  ECONNREFUSED: "connection refused",
  ENOTSOCK: "socket operation on non-socket",
  ENOTDIR: "not a directory",
  EPERM: "operation not permitted",
};

function errnoOf(err: unknown): string | undefined {
  for (let cur = err, depth = 0; cur && depth < 10; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("E") && !code.startsWith("ERR_")) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * An error the server answered, printed the way SPIRE's CLI (grpc-go) prints it:
 * `rpc error: code = NotFound desc = entry not found`. `status` and `code` stay those of the server's error.
 */
export class RPCError extends ServiceError {
  readonly desc: string;
  constructor(status: StatusName, desc: string, code: ServiceError["code"], cause?: unknown) {
    super(`rpc error: code = ${GRPC_CODE[status]} desc = ${desc}`, { status, code, ...(cause === undefined ? {} : { cause }) });
    this.desc = desc;
  }
}

export class AdminClient {
  #fetch: BoundFetch;
  #socketPath: string;
  constructor(fetch: BoundFetch, socketPath = "") {
    this.#fetch = fetch;
    this.#socketPath = socketPath;
  }

  /**
   * Calls one of SPIRE's server RPCs on the admin socket (`entry.v1.Entry/ListEntries`, …). Failures are RPCErrors
   * with grpc-go's wording, including dial failures: `rpc error: code = Unavailable desc = connection error: desc =
   * "transport: error while dialing: dial unix /path: connect: no such file or directory"`.
   */
  async rpc<T>(method: string, body: unknown = {}): Promise<T> {
    let res: Response;
    try {
      res = await this.#fetch(`/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    } catch (err) {
      const errno = errnoOf(err);
      const why = errno ? ERRNO_TEXT[errno] ?? errno : err instanceof Error ? err.message : String(err);
      throw new RPCError(
        "UNAVAILABLE",
        `connection error: desc = "transport: error while dialing: dial unix ${this.#socketPath}: connect: ${why}"`,
        "ERR_UNAVAILABLE",
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new RPCError("INTERNAL", `server answered ${res.status} with a body that is not JSON`, "ERR_INTERNAL", cause);
    }
    if (!res.ok) {
      const e = errorFromJSON(json as { status?: string; code?: string; message?: string });
      throw new RPCError(e.status, e.message, e.code);
    }
    return json as T;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#fetch(path, {
      method,
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new UnavailableError(`server answered ${res.status} with a body that is not JSON`, { cause });
    }
    if (!res.ok && (json as { message?: unknown }).message !== undefined) throw errorFromJSON(json as { status?: string });
    return json as T;
  }
}

/** How commands reach the admin API; bins bind it to a runtime's Unix-socket fetch. */
export type AdminDialer = (socketPath: string) => AdminClient;
