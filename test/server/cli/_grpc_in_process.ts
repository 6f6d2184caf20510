/** The CLI's gRPC transport in process: calls the server's method handlers directly (bytes in, bytes out). @module */
import { NotFoundError, UnauthenticatedError } from "../../../src/core/errors.ts";
import type { CallContext, GRPCMethod } from "../../../src/core/ports/grpc_server.ts";
import type { AdminUnary } from "../../../src/server/cli/admin_client.ts";

export function inProcessUnary(methods: GRPCMethod[]): AdminUnary {
  const byPath = new Map(methods.map((m) => [m.path, m]));
  const ctx: CallContext = {
    peer: { pid: 0, uid: 0, gid: 0 },
    metadata: () => [],
    signal: new AbortController().signal,
    verifyPeerAlive: () => Promise.reject(new UnauthenticatedError("no peer in process")),
  };
  return async (path, request) => {
    const m = byPath.get(path);
    if (!m || m.kind !== "unary") throw new NotFoundError(`no unary method ${path}`);
    return m.encode(await m.handle(m.decode(request), ctx));
  };
}
