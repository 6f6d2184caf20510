/**
 * Every RPC an unmodified SPIRE agent calls on the server port, unwrapped: AttestAgent, RenewAgent, PostStatus,
 * Get/SyncAuthorizedEntries, BatchNewX509SVID, NewJWTSVID, GetBundle and GetFederatedBundle. The server wraps them,
 * together with any other server API methods it serves on the port, in one authorizeMethods call.
 * @module
 */
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import type * as spiffeid from "../../core/spiffeid/mod.ts";
import { agentAttestService, type AgentAttestServiceDeps } from "./agent_attest_service.ts";
import { bundleGetService } from "./bundle_get_service.ts";
import { entrySyncService } from "./entry_sync_service.ts";
import { svidSignService } from "./svid_sign_service.ts";

export type AgentFacingDeps = AgentAttestServiceDeps & { trustDomain: spiffeid.TrustDomain; syncPageSize?: number };

export function agentFacingMethods(d: AgentFacingDeps): GRPCMethod[] {
  return [
    ...agentAttestService(d),
    ...entrySyncService({ hub: d.hub, ...(d.syncPageSize ? { pageSize: d.syncPageSize } : {}) }),
    ...svidSignService(d),
    ...bundleGetService({ ds: d.ds, trustDomain: d.trustDomain }),
  ];
}
