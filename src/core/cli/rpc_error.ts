/** gRPC failures as SPIRE's CLIs print them: `rpc error: code = NotFound desc = agent not found`. @module */
import { ServiceError } from "../errors.ts";

const GRPC_CODE: Record<string, string> = {
  INVALID_ARGUMENT: "InvalidArgument",
  NOT_FOUND: "NotFound",
  ALREADY_EXISTS: "AlreadyExists",
  PERMISSION_DENIED: "PermissionDenied",
  UNAUTHENTICATED: "Unauthenticated",
  UNAVAILABLE: "Unavailable",
  FAILED_PRECONDITION: "FailedPrecondition",
  INTERNAL: "Internal",
};

/** Renders a failure a server answered as grpc-go's status error text; other errors pass through unchanged. */
export function rpcError(err: unknown): Error {
  if (err instanceof ServiceError && GRPC_CODE[err.status]) {
    const e = new Error(`rpc error: code = ${GRPC_CODE[err.status]} desc = ${err.message}`);
    Object.assign(e, { status: err.status });
    return e;
  }
  return err instanceof Error ? err : new Error(String(err));
}
