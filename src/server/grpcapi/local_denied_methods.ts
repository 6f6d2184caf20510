/**
 * The agent-facing and downstream RPCs as SPIRE answers them to a local caller on its admin socket: its authorization
 * policy (pkg/server/authpolicy/policy_data.json) lets only agents and downstream servers call them, so a local
 * caller gets PermissionDenied "authorization denied for method <full method>" and the server logs
 * "Failed to authenticate caller" (pkg/server/api/middleware/authorization.go). The TCP port serves the real ones.
 * @module
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { PermissionDeniedError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import { Agent } from "../../agent/workload/proto/spire/api/server/agent/v1/agent_pb.ts";
import { Bundle } from "../../agent/workload/proto/spire/api/server/bundle/v1/bundle_pb.ts";
import { Entry } from "../../agent/workload/proto/spire/api/server/entry/v1/entry_pb.ts";
import { SVID } from "../../agent/workload/proto/spire/api/server/svid/v1/svid_pb.ts";
import { pathOf } from "./rpc.ts";

/** Paths of every RPC SPIRE's policy refuses to local callers (agent-only and downstream-only). */
export const AGENT_AND_DOWNSTREAM_METHODS: readonly string[] = [
  Agent.method.renewAgent,
  Agent.method.postStatus,
  Entry.method.getAuthorizedEntries,
  Entry.method.syncAuthorizedEntries,
  SVID.method.batchNewX509SVID,
  SVID.method.newJWTSVID,
  SVID.method.batchNewWITSVID,
  SVID.method.newDownstreamX509CA,
  Bundle.method.publishJWTAuthority,
  Bundle.method.publishWITAuthority,
].map(pathOf);

export function localDeniedMethods(d: { logger: Logger }): GRPCMethod[] {
  const log = d.logger.with({ subsystem_name: "api" });
  const deny = (path: string, method: string) => {
    const err = new PermissionDeniedError(`authorization denied for method ${path}`);
    log.error("Failed to authenticate caller", {
      [F.METHOD]: method,
      authorized_as: "nobody",
      authorized_via: "",
      [F.ERROR]: `rpc error: code = PermissionDenied desc = ${err.message}`,
    });
    return err;
  };
  const unaries = [
    Agent.method.renewAgent,
    Agent.method.postStatus,
    Entry.method.getAuthorizedEntries,
    SVID.method.batchNewX509SVID,
    SVID.method.newJWTSVID,
    SVID.method.batchNewWITSVID,
    SVID.method.newDownstreamX509CA,
    Bundle.method.publishJWTAuthority,
    Bundle.method.publishWITAuthority,
  ] as const;
  const sync = Entry.method.syncAuthorizedEntries;
  return [
    ...unaries.map((m): GRPCMethod => ({
      kind: "unary",
      path: pathOf(m),
      decode: (b) => fromBinary(m.input, b),
      encode: (x) => toBinary(m.output, x),
      handle: () => Promise.reject(deny(pathOf(m), m.name)),
    })),
    {
      kind: "bidi_stream",
      path: pathOf(sync),
      decode: (b) => fromBinary(sync.input, b),
      encode: (x) => toBinary(sync.output, x),
      handle: () => Promise.reject(deny(pathOf(sync), sync.name)),
    },
  ];
}
