/**
 * The RPCs only agents call on the server port, unwrapped: AttestAgent, RenewAgent, PostStatus,
 * Get/SyncAuthorizedEntries, BatchNewX509SVID and NewJWTSVID. An agent also reads GetBundle and GetFederatedBundle,
 * which belong to the Bundle service the port serves beside them (bundle_methods.ts). The server wraps every
 * method of the port in one authorizeMethods call.
 * @module
 */
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import { agentAttestService, type AgentAttestServiceDeps } from "./agent_attest_service.ts";
import { entrySyncService } from "./entry_sync_service.ts";
import { svidSignService } from "./svid_sign_service.ts";

export type AgentFacingDeps = AgentAttestServiceDeps;

export function agentFacingMethods(d: AgentFacingDeps): GRPCMethod[] {
  return [
    ...agentAttestService(d),
    ...entrySyncService({ hub: d.hub }),
    ...svidSignService(d),
  ];
}
