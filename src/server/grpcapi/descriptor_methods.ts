/**
 * gRPC port methods built from the generated descriptors of SPIRE's services (`Agent.method.attestAgent`, …): the path,
 * the request decoder and the response encoder all come from the descriptor, so they cannot disagree.
 * @module
 */
import { type DescMessage, type DescMethodBiDiStreaming, type DescMethodUnary, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { BidiStreamMethod, CallContext, UnaryMethod } from "../../core/ports/grpc_server.ts";

/** "/<package>.<Service>/<Method>", the method's full gRPC path. */
export function fullMethod(m: { name: string; parent: { typeName: string } }): string {
  return `/${m.parent.typeName}/${m.name}`;
}

/** A unary method for a generated descriptor. */
export function unaryOf<I extends DescMessage, O extends DescMessage>(
  m: DescMethodUnary<I, O>,
  handle: (req: MessageShape<I>, ctx: CallContext) => Promise<MessageShape<O>>,
): UnaryMethod<MessageShape<I>, MessageShape<O>> {
  return { kind: "unary", path: fullMethod(m), decode: (b) => fromBinary(m.input, b), encode: (msg) => toBinary(m.output, msg), handle };
}

/** A bidirectional-streaming method for a generated descriptor. */
export function bidiOf<I extends DescMessage, O extends DescMessage>(
  m: DescMethodBiDiStreaming<I, O>,
  handle: (requests: AsyncIterable<MessageShape<I>>, ctx: CallContext, send: (msg: MessageShape<O>) => void) => Promise<void>,
): BidiStreamMethod<MessageShape<I>, MessageShape<O>> {
  return { kind: "bidi_stream", path: fullMethod(m), decode: (b) => fromBinary(m.input, b), encode: (msg) => toBinary(m.output, msg), handle };
}
