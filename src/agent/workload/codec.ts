/** Builds gRPC port methods from the generated protobuf-es schemas, and names the Workload API method paths. @module */
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { BidiStreamMethod, CallContext, ServerStreamMethod, UnaryMethod } from "../../core/ports/grpc_server.ts";

// The Workload API proto has no package, so paths are "/<service>/<method>" (go-spiffe workload.proto).
export const FETCH_X509_SVID = "/SpiffeWorkloadAPI/FetchX509SVID";
export const FETCH_X509_BUNDLES = "/SpiffeWorkloadAPI/FetchX509Bundles";
export const FETCH_JWT_SVID = "/SpiffeWorkloadAPI/FetchJWTSVID";
export const FETCH_JWT_BUNDLES = "/SpiffeWorkloadAPI/FetchJWTBundles";
export const VALIDATE_JWT_SVID = "/SpiffeWorkloadAPI/ValidateJWTSVID";
export const FETCH_WIT_SVID = "/SpiffeWorkloadAPI/FetchWITSVID";
export const FETCH_WIT_BUNDLES = "/SpiffeWorkloadAPI/FetchWITBundles";
/** grpc.health.v1, which `spire-agent healthcheck` calls on the Workload API socket. */
export const HEALTH_CHECK = "/grpc.health.v1.Health/Check";

/** A unary method whose request and response are the given protobuf messages. */
export function unaryMethod<Req extends DescMessage, Res extends DescMessage>(
  schemas: { req: Req; res: Res; path: string },
  handle: (req: MessageShape<Req>, ctx: CallContext) => Promise<MessageShape<Res>>,
): UnaryMethod<MessageShape<Req>, MessageShape<Res>> {
  return {
    kind: "unary",
    path: schemas.path,
    decode: (b) => fromBinary(schemas.req, b),
    encode: (m) => toBinary(schemas.res, m),
    handle,
  };
}

/** A server-streaming method whose request and messages are the given protobuf messages. */
export function serverStreamMethod<Req extends DescMessage, Res extends DescMessage>(
  schemas: { req: Req; res: Res; path: string },
  handle: (req: MessageShape<Req>, ctx: CallContext, send: (m: MessageShape<Res>) => void) => Promise<void>,
): ServerStreamMethod<MessageShape<Req>, MessageShape<Res>> {
  // Streams may share one message object (SharedResponses): its bytes are computed once.
  const encoded = new WeakMap<MessageShape<Res>, Uint8Array>();
  return {
    kind: "server_stream",
    path: schemas.path,
    decode: (b) => fromBinary(schemas.req, b),
    encode: (m) => {
      let b = encoded.get(m);
      if (b === undefined) encoded.set(m, b = toBinary(schemas.res, m));
      return b;
    },
    handle,
  };
}

/** A bidirectional-streaming method whose requests and messages are the given protobuf messages. */
export function bidiStreamMethod<Req extends DescMessage, Res extends DescMessage>(
  schemas: { req: Req; res: Res; path: string },
  handle: (requests: AsyncIterable<MessageShape<Req>>, ctx: CallContext, send: (m: MessageShape<Res>) => void) => Promise<void>,
): BidiStreamMethod<MessageShape<Req>, MessageShape<Res>> {
  return {
    kind: "bidi_stream",
    path: schemas.path,
    decode: (b) => fromBinary(schemas.req, b),
    encode: (m) => toBinary(schemas.res, m),
    handle,
  };
}
