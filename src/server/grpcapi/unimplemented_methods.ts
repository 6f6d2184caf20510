/**
 * SPIRE's server port answers every RPC of its services: a caller its policy refuses gets PermissionDenied before
 * anything else, whether or not wisp serves the RPC. For the RPCs of the TCP port's services that are not among
 * `served` (downstream servers' NewDownstreamX509CA and PublishJWTAuthority, WIT-SVIDs, …), these methods let
 * authorizeMethods refuse as SPIRE would, and answer an authorized caller Unimplemented with grpc-go's text for a
 * method a server does not implement.
 * @module
 */
import { type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import { UnimplementedError } from "../../core/errors.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import { Agent } from "../../agent/workload/proto/spire/api/server/agent/v1/agent_pb.ts";
import { Bundle } from "../../agent/workload/proto/spire/api/server/bundle/v1/bundle_pb.ts";
import { Entry } from "../../agent/workload/proto/spire/api/server/entry/v1/entry_pb.ts";
import { LocalAuthority } from "../../agent/workload/proto/spire/api/server/localauthority/v1/localauthority_pb.ts";
import { SVID } from "../../agent/workload/proto/spire/api/server/svid/v1/svid_pb.ts";
import { TrustDomain } from "../../agent/workload/proto/spire/api/server/trustdomain/v1/trustdomain_pb.ts";
import { fullMethod } from "./descriptor_methods.ts";

/** The services SPIRE serves on its TCP port (pkg/server/endpoints/endpoints.go). */
export const TCP_SERVICES: readonly DescService[] = [Agent, Bundle, Entry, SVID, TrustDomain, LocalAuthority];

/** One method for every RPC of `services` whose path is not among `served`. */
export function unimplementedMethods(served: readonly GRPCMethod[], services: readonly DescService[] = TCP_SERVICES): GRPCMethod[] {
  const have = new Set(served.map((m) => m.path));
  const out: GRPCMethod[] = [];
  for (const svc of services) {
    for (const m of svc.methods) {
      const path = fullMethod(m);
      if (have.has(path)) continue;
      const decode = (b: Uint8Array) => fromBinary(m.input, b);
      const encode = (msg: unknown) => toBinary(m.output, msg as never);
      const refuse = () => Promise.reject(new UnimplementedError(`method ${m.name} not implemented`));
      if (m.methodKind === "unary") out.push({ kind: "unary", path, decode, encode, handle: refuse });
      else if (m.methodKind === "server_streaming") out.push({ kind: "server_stream", path, decode, encode, handle: refuse });
      else if (m.methodKind === "bidi_streaming") out.push({ kind: "bidi_stream", path, decode, encode, handle: refuse });
      // SPIRE's server API has no client-streaming RPC, and the port has no such method kind.
    }
  }
  return out;
}
