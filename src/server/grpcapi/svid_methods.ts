/**
 * SPIRE's SVID service (spire.api.server.svid.v1.SVID) admin RPCs over gRPC: MintX509SVID and MintJWTSVID on svidAPI
 * (src/server/api/svid_api.ts), and MintWITSVID as SPIRE answers it with WIT disabled. The agent-facing and downstream RPCs of the service are not here.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { fromBase64, toBase64 } from "../../core/encoding.ts";
import { UnavailableError, UnimplementedError } from "../../core/errors.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import type { svidAPI } from "../api/svid_api.ts";
import { MintJWTSVIDResponseSchema, MintX509SVIDResponseSchema, SVID } from "../../agent/workload/proto/spire/api/server/svid/v1/svid_pb.ts";
import { spiffeIDFromProto, spiffeIDToProto, unary } from "./rpc.ts";

export function svidMethods(d: { api: ReturnType<typeof svidAPI> | undefined; logger: Logger }): GRPCMethod[] {
  const m = SVID.method;
  const api = () => {
    if (!d.api) throw new UnavailableError("SVID minting is not available on this server");
    return d.api;
  };
  return [
    unary(m.mintX509SVID, d.logger, async (req) => {
      const { svid } = await api().mintX509SVID({ ...(req.csr.length > 0 ? { csr: toBase64(req.csr) } : {}), ttl: req.ttl });
      return create(MintX509SVIDResponseSchema, {
        svid: { id: spiffeIDToProto(svid.id), certChain: svid.cert_chain.map(fromBase64), expiresAt: BigInt(svid.expires_at) },
      });
    }),
    unary(m.mintJWTSVID, d.logger, async (req) => {
      const id = spiffeIDFromProto(req.id);
      const { svid } = await api().mintJWTSVID({ ...(id ? { id } : {}), audience: req.audience, ttl: req.ttl });
      return create(MintJWTSVIDResponseSchema, {
        svid: { token: svid.token, id: spiffeIDToProto(svid.id), expiresAt: BigInt(svid.expires_at), issuedAt: BigInt(svid.issued_at) },
      });
    }),
    // Flag-gated in SPIRE and off by default; wisp has no WIT-SVIDs.
    unary(m.mintWITSVID, d.logger, () => Promise.reject(new UnimplementedError("WIT functionality is disabled"))),
  ];
}
