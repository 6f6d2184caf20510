/** The CLI's client of the admin API on the server's Unix socket. @module */
import { create, type DescMessage, type DescMethodUnary, fromBinary, type MessageInitShape, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { errorFromJSON, formatError, ServiceError, type StatusName, UnavailableError } from "../../core/errors.ts";
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

/**
 * A unary gRPC call on the admin socket (`/spire.api.server.entry.v1.Entry/ListEntries`, protobuf bytes). Rejects with
 * the ServiceError of the call's status, whose cause is the transport's error.
 */
export type AdminUnary = (path: string, request: Uint8Array) => Promise<Uint8Array>;

export class AdminClient {
  #fetch: BoundFetch;
  #socketPath: string;
  #unary: AdminUnary | undefined;
  constructor(fetch: BoundFetch, socketPath = "", unary?: AdminUnary) {
    this.#fetch = fetch;
    this.#socketPath = socketPath;
    this.#unary = unary;
  }

  /**
   * Calls one of SPIRE's server RPCs over gRPC, as spire-server's CLI does. Failures are RPCErrors with grpc-go's
   * wording, including dial failures: `rpc error: code = Unavailable desc = connection error: desc = "transport: error
   * while dialing: dial unix /path: connect: no such file or directory"`.
   */
  async grpc<I extends DescMessage, O extends DescMessage>(m: DescMethodUnary<I, O>, req: MessageInitShape<I>): Promise<MessageShape<O>> {
    if (!this.#unary) throw new UnavailableError("this build has no gRPC client for the server API");
    let res: Uint8Array;
    try {
      res = await this.#unary(`/${m.parent.typeName}/${m.name}`, toBinary(m.input, create(m.input, req)));
    } catch (err) {
      if (!(err instanceof ServiceError)) throw err;
      // grpc-js reports a failed dial as Unavailable "No connection established. Last error: … connect ENOENT /path";
      // a server's own Unavailable (an upstream it could not reach) may name an errno too and is passed on as it is.
      const dialFailed = err.status === "UNAVAILABLE" && err.message.startsWith("No connection established");
      const errno = dialFailed ? /\bconnect (E[A-Z]+)\b/.exec(formatError(err))?.[1] : undefined;
      if (errno) {
        throw new RPCError(
          "UNAVAILABLE",
          `connection error: desc = "transport: error while dialing: dial unix ${this.#socketPath}: connect: ${ERRNO_TEXT[errno] ?? errno}"`,
          "ERR_UNAVAILABLE",
        );
      }
      // No cause: the CLI prints an error's cause chain, and grpc-go's line is the whole story.
      throw new RPCError(err.status, err.message, err.code);
    }
    return fromBinary(m.output, res);
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
