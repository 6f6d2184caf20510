/**
 * gRPC methods whose code is loaded at their first call. The SDS service's Envoy schemas add about 10 MB to an
 * agent that no Envoy ever calls, so its methods are registered by path and kind, and the module is imported once a
 * call arrives. @module
 */
import { formatError, InternalError, InvalidArgumentError } from "../../core/errors.ts";
import type { CallContext, GRPCMethod } from "../../core/ports/grpc_server.ts";

/** What the server must know before the code is loaded: the path and how the method streams. */
export interface MethodShape {
  path: string;
  kind: GRPCMethod["kind"];
}

const raw = (b: Uint8Array): Uint8Array => b;

/**
 * Methods for `shapes` that load their implementation with `load` at the first call (once, shared by all). Requests
 * are decoded and messages encoded by the loaded methods, with the transport's errors: a request that does not
 * decode answers INVALID_ARGUMENT "failed to decode request: …".
 */
export function lazyMethods(shapes: MethodShape[], load: () => Promise<GRPCMethod[]>): GRPCMethod[] {
  let loaded: Promise<Map<string, GRPCMethod>> | undefined;
  const real = async (path: string): Promise<GRPCMethod> => {
    loaded ??= load().then((ms) => new Map(ms.map((m) => [m.path, m])));
    const m = (await loaded).get(path);
    if (m === undefined) throw new InternalError(`method "${path}" was not loaded`);
    return m;
  };
  return shapes.map((s): GRPCMethod => {
    if (s.kind === "unary") {
      return {
        kind: "unary",
        path: s.path,
        decode: raw,
        encode: raw,
        handle: async (req: Uint8Array, ctx: CallContext) => {
          const m = (await real(s.path)) as Extract<GRPCMethod, { kind: "unary" }>;
          return m.encode(await m.handle(decodeWith(m, req), ctx));
        },
      };
    }
    if (s.kind === "server_stream") {
      return {
        kind: "server_stream",
        path: s.path,
        decode: raw,
        encode: raw,
        handle: async (req: Uint8Array, ctx: CallContext, send: (b: Uint8Array) => void) => {
          const m = (await real(s.path)) as Extract<GRPCMethod, { kind: "server_stream" }>;
          await m.handle(decodeWith(m, req), ctx, (msg) => send(m.encode(msg)));
        },
      };
    }
    return {
      kind: "bidi_stream",
      path: s.path,
      decode: raw,
      encode: raw,
      handle: async (requests: AsyncIterable<Uint8Array>, ctx: CallContext, send: (b: Uint8Array) => void) => {
        const m = (await real(s.path)) as Extract<GRPCMethod, { kind: "bidi_stream" }>;
        await m.handle(decodeEach(m, requests), ctx, (msg) => send(m.encode(msg)));
      },
    };
  });
}

function decodeWith(m: GRPCMethod, b: Uint8Array): unknown {
  try {
    return m.decode(b);
  } catch (err) {
    throw new InvalidArgumentError(`failed to decode request: ${formatError(err)}`);
  }
}

async function* decodeEach(m: GRPCMethod, requests: AsyncIterable<Uint8Array>): AsyncIterable<unknown> {
  for await (const b of requests) yield decodeWith(m, b);
}
