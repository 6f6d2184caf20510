/**
 * The agent-facing RPCs of SPIRE's `spire.api.server.svid.v1.SVID` service: BatchNewX509SVID and NewJWTSVID
 * (pkg/server/api/svid/v1/service.go), over the HTTP agent API's signing logic (../api/agent_signing.ts).
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { InvalidArgumentError, ServiceError } from "../../core/errors.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import { unaryOf } from "./descriptor_methods.ts";
import {
  BatchNewX509SVIDResponse_ResultSchema,
  BatchNewX509SVIDResponseSchema,
  NewJWTSVIDResponseSchema,
  SVID,
} from "../../agent/workload/proto/spire/api/server/svid/v1/svid_pb.ts";
import { JWTSVIDSchema } from "../../agent/workload/proto/spire/api/types/jwtsvid_pb.ts";
import { StatusSchema } from "../../agent/workload/proto/spire/api/types/status_pb.ts";
import { type AgentSigningDeps, signWorkloadJWTSVID, signWorkloadX509SVIDs } from "../api/agent_signing.ts";
import { callerAgent } from "./authorize_methods.ts";
import { spiffeIDToProto, x509SVIDToProto } from "./proto_types.ts";
import { GRPC_CODE } from "./status_details.ts";

/** SPIRE's `types.Status` of one batch item: {0, "OK"} or the item's error ("internal error" for unexpected ones). */
function itemStatus(err?: unknown) {
  if (err === undefined) return create(StatusSchema, { code: 0, message: "OK" });
  if (err instanceof ServiceError) return create(StatusSchema, { code: GRPC_CODE[err.status], message: err.message });
  return create(StatusSchema, { code: GRPC_CODE.INTERNAL, message: "internal error" });
}

/** BatchNewX509SVID and NewJWTSVID; wrap them with authorizeMethods (both need callerAgent). */
export function svidSignService(d: AgentSigningDeps): GRPCMethod[] {
  const batch = unaryOf(
    SVID.method.batchNewX509SVID,
    async (req, ctx) => {
      const agent = callerAgent(ctx);
      if (req.params.length === 0) throw new InvalidArgumentError("missing parameters");
      // Items without an entry ID or CSR keep their own error, as the ones the signer refuses.
      const results = req.params.map(() => create(BatchNewX509SVIDResponse_ResultSchema, {}));
      const valid: number[] = [];
      req.params.forEach((p, i) => {
        if (p.entryId === "") results[i]!.status = itemStatus(new InvalidArgumentError("missing entry ID"));
        else if (p.csr.length === 0) results[i]!.status = itemStatus(new InvalidArgumentError("missing CSR"));
        else valid.push(i);
      });
      const signed = await signWorkloadX509SVIDs(d, agent, valid.map((i) => ({ entryID: req.params[i]!.entryId, csr: req.params[i]!.csr })));
      signed.forEach((r, k) => {
        const res = results[valid[k]!]!;
        if ("error" in r) res.status = itemStatus(r.error);
        else {
          res.status = itemStatus();
          res.svid = x509SVIDToProto(r.spiffeID, r.svid);
        }
      });
      return create(BatchNewX509SVIDResponseSchema, { results });
    },
  );

  const jwt = unaryOf(
    SVID.method.newJWTSVID,
    async (req, ctx) => {
      const agent = callerAgent(ctx);
      if (req.entryId === "") throw new InvalidArgumentError("missing entry ID");
      const s = await signWorkloadJWTSVID(d, agent, { entryID: req.entryId, audience: req.audience });
      return create(NewJWTSVIDResponseSchema, {
        svid: create(JWTSVIDSchema, {
          token: s.token,
          id: spiffeIDToProto(s.spiffeID),
          expiresAt: BigInt(Math.floor(s.expiresAt.getTime() / 1000)),
          issuedAt: BigInt(Math.floor(s.issuedAt.getTime() / 1000)),
        }),
      });
    },
  );

  return [batch, jwt];
}
