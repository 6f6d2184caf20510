/** A small gRPC client for the Workload API socket (used by the CLI), over grpc-js with raw-bytes messages. @module */
import * as grpc from "@grpc/grpc-js";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ServiceError,
  UnauthenticatedError,
  UnavailableError,
} from "../../core/errors.ts";
import { grpcTarget, parseAddress } from "../../core/workloadapi/address.ts";

/** Request metadata; a list sends the key once per value. */
export type Metadata = Record<string, string | string[]>;

/** A connection to a Workload API server. Messages are protobuf bytes; encode and decode them with the schemas. */
export interface WorkloadAPIClient {
  /**
   * One request, one response, failing after `timeoutMs`.
   * @throws {ServiceError} the class matching the gRPC status, with the server's message
   */
  unary(path: string, req: Uint8Array, metadata: Metadata, timeoutMs: number): Promise<Uint8Array>;
  /**
   * Calls `onMessage` for each streamed message; resolves when the server ends the stream OK.
   * Rejects with a ServiceError for a failed status, or with `signal.reason` once `signal` aborts.
   */
  serverStream(
    path: string,
    req: Uint8Array,
    metadata: Metadata,
    onMessage: (m: Uint8Array) => void,
    signal: AbortSignal,
  ): Promise<void>;
  close(): void;
}

const BY_CODE: Partial<Record<grpc.status, new (m: string, o?: { cause?: unknown }) => ServiceError>> = {
  [grpc.status.INVALID_ARGUMENT]: InvalidArgumentError,
  [grpc.status.OUT_OF_RANGE]: InvalidArgumentError,
  [grpc.status.NOT_FOUND]: NotFoundError,
  [grpc.status.ALREADY_EXISTS]: AlreadyExistsError,
  [grpc.status.PERMISSION_DENIED]: PermissionDeniedError,
  [grpc.status.UNAUTHENTICATED]: UnauthenticatedError,
  [grpc.status.FAILED_PRECONDITION]: FailedPreconditionError,
  [grpc.status.UNIMPLEMENTED]: FailedPreconditionError,
  // Transient: a retry may succeed, which is what UnavailableError tells callers.
  [grpc.status.UNAVAILABLE]: UnavailableError,
  [grpc.status.DEADLINE_EXCEEDED]: UnavailableError,
  [grpc.status.CANCELLED]: UnavailableError,
  [grpc.status.RESOURCE_EXHAUSTED]: UnavailableError,
  [grpc.status.ABORTED]: UnavailableError,
};

/** Turns a grpc-js error into the ServiceError class of its status, keeping the server's message; cause = original. */
export function fromGRPCError(err: unknown): ServiceError {
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e?.code !== "number") return new InternalError("workload API call failed", { cause: err });
  const Cls = BY_CODE[e.code as grpc.status] ?? InternalError;
  return new Cls(e.details || e.message || `status ${e.code}`, { cause: err });
}

/**
 * Connects (lazily) to a Workload API server at a socket path or a `unix:///path` / `tcp://IP:port` URI.
 * @throws {InvalidArgumentError} when the address is malformed (see parseAddress)
 */
export function dialWorkloadAPI(socketAddr: string): WorkloadAPIClient {
  const target = grpcTarget(parseAddress(socketAddr, { allowPath: true }));
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const ser = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const de = (b: Buffer): Uint8Array => b;
  return {
    unary(path, req, metadata, timeoutMs) {
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(path, ser, de, req, toMetadata(metadata), { deadline: Date.now() + timeoutMs }, (err, res) => {
          if (err) reject(fromGRPCError(err));
          else resolve(res ?? new Uint8Array());
        });
      });
    },
    serverStream(path, req, metadata, onMessage, signal) {
      return new Promise((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        const call = client.makeServerStreamRequest(path, ser, de, req, toMetadata(metadata));
        const onAbort = () => call.cancel();
        signal.addEventListener("abort", onAbort, { once: true });
        call.on("data", (m: Uint8Array) => {
          try {
            onMessage(m);
          } catch (err) {
            call.cancel();
            reject(err);
          }
        });
        call.on("error", (err) => reject(signal.aborted ? signal.reason : fromGRPCError(err)));
        call.on("status", (s: grpc.StatusObject) => {
          signal.removeEventListener("abort", onAbort);
          if (s.code === grpc.status.OK) resolve();
        });
      });
    },
    close: () => client.close(),
  };
}

function toMetadata(m: Metadata): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(m)) for (const one of Array.isArray(v) ? v : [v]) md.add(k, one);
  return md;
}
