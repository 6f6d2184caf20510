import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { UnimplementedError } from "../../../src/core/errors.ts";
import { type CallContext, type GRPCMethod, NO_PEER_CREDENTIALS } from "../../../src/core/ports/grpc_server.ts";
import { unimplementedMethods } from "../../../src/server/grpcapi/unimplemented_methods.ts";

const ctx: CallContext = { peer: NO_PEER_CREDENTIALS, metadata: () => [], signal: new AbortController().signal, verifyPeerAlive: async () => {} };

test("unimplementedMethods() covers every RPC of the port's services but the served ones, each of its own kind", async () => {
  const served: GRPCMethod = {
    kind: "unary",
    path: "/spire.api.server.entry.v1.Entry/CountEntries",
    decode: (b) => b,
    encode: (m) => m as Uint8Array,
    handle: async () => new Uint8Array(),
  };
  const methods = unimplementedMethods([served]);
  const byPath = new Map(methods.map((m) => [m.path, m]));
  assert.not.ok(byPath.has(served.path));
  assert.is(byPath.get("/spire.api.server.entry.v1.Entry/SyncAuthorizedEntries")?.kind, "bidi_stream");
  assert.is(byPath.get("/spire.api.server.agent.v1.Agent/AttestAgent")?.kind, "bidi_stream");
  const downstream = byPath.get("/spire.api.server.svid.v1.SVID/NewDownstreamX509CA");
  if (downstream?.kind !== "unary") throw new Error("expected a unary NewDownstreamX509CA");
  try {
    await downstream.handle(downstream.decode(new Uint8Array()), ctx);
    assert.unreachable("expected Unimplemented");
  } catch (err) {
    assert.instance(err, UnimplementedError);
    assert.is((err as Error).message, "method NewDownstreamX509CA not implemented");
  }
  // Agent, Bundle, Entry, SVID, TrustDomain and LocalAuthority; Debug, Logger and Health stay on the admin socket.
  assert.ok(methods.every((m) => /^\/spire\.api\.server\.(agent|bundle|entry|svid|trustdomain|localauthority)\.v1\./.test(m.path)));
});

test.run();
