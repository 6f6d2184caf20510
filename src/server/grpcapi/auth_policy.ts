/**
 * SPIRE's default authorization policy for its server API, method by method, as pkg/server/authpolicy/policy_data.json
 * (spiffe/spire ef8527ec) states it. A method missing here is refused to everyone.
 * @module
 */

/** Who may call a method; any true flag lets its callers in (SPIRE's allow_* fields). */
export interface MethodPolicy {
  /** Every caller, authenticated or not (`allow_any`). */
  any?: true;
  /** Callers on the Unix socket (`allow_local`). */
  local?: true;
  /** SPIFFE IDs in `admin_ids`, and SPIFFE IDs of entries marked admin (`allow_admin`). */
  admin?: true;
  /** SPIFFE IDs of entries marked downstream (`allow_downstream`). */
  downstream?: true;
  /** Attested, active, unbanned agents presenting their current SVID (`allow_agent`). */
  agent?: true;
}

const LA: MethodPolicy = { local: true, admin: true };
const L: MethodPolicy = { local: true };
const AG: MethodPolicy = { agent: true };
const D: MethodPolicy = { downstream: true };
const ANY: MethodPolicy = { any: true };

/** Full gRPC method → policy. */
export const AUTH_POLICY: Readonly<Record<string, MethodPolicy>> = Object.freeze({
  "/spire.api.server.svid.v1.SVID/MintX509SVID": LA,
  "/spire.api.server.svid.v1.SVID/MintJWTSVID": LA,
  "/spire.api.server.svid.v1.SVID/MintWITSVID": LA,
  "/spire.api.server.svid.v1.SVID/BatchNewX509SVID": AG,
  "/spire.api.server.svid.v1.SVID/NewJWTSVID": AG,
  "/spire.api.server.svid.v1.SVID/BatchNewWITSVID": AG,
  "/spire.api.server.svid.v1.SVID/NewDownstreamX509CA": D,
  "/spire.api.server.bundle.v1.Bundle/GetBundle": ANY,
  "/spire.api.server.bundle.v1.Bundle/AppendBundle": LA,
  "/spire.api.server.bundle.v1.Bundle/PublishJWTAuthority": D,
  "/spire.api.server.bundle.v1.Bundle/PublishWITAuthority": D,
  "/spire.api.server.bundle.v1.Bundle/CountBundles": LA,
  "/spire.api.server.bundle.v1.Bundle/ListFederatedBundles": LA,
  "/spire.api.server.bundle.v1.Bundle/GetFederatedBundle": { local: true, admin: true, agent: true },
  "/spire.api.server.bundle.v1.Bundle/BatchCreateFederatedBundle": LA,
  "/spire.api.server.bundle.v1.Bundle/BatchUpdateFederatedBundle": LA,
  "/spire.api.server.bundle.v1.Bundle/BatchSetFederatedBundle": LA,
  "/spire.api.server.bundle.v1.Bundle/BatchDeleteFederatedBundle": LA,
  "/spire.api.server.debug.v1.Debug/GetInfo": L,
  "/spire.api.server.entry.v1.Entry/CountEntries": LA,
  "/spire.api.server.entry.v1.Entry/ListEntries": LA,
  "/spire.api.server.entry.v1.Entry/GetEntry": LA,
  "/spire.api.server.entry.v1.Entry/BatchCreateEntry": LA,
  "/spire.api.server.entry.v1.Entry/BatchUpdateEntry": LA,
  "/spire.api.server.entry.v1.Entry/BatchDeleteEntry": LA,
  "/spire.api.server.entry.v1.Entry/GetAuthorizedEntries": AG,
  "/spire.api.server.entry.v1.Entry/SyncAuthorizedEntries": AG,
  "/spire.api.server.agent.v1.Agent/CountAgents": LA,
  "/spire.api.server.agent.v1.Agent/ListAgents": LA,
  "/spire.api.server.agent.v1.Agent/GetAgent": LA,
  "/spire.api.server.agent.v1.Agent/DeleteAgent": LA,
  "/spire.api.server.agent.v1.Agent/BanAgent": LA,
  "/spire.api.server.agent.v1.Agent/AttestAgent": ANY,
  "/spire.api.server.agent.v1.Agent/RenewAgent": AG,
  "/spire.api.server.agent.v1.Agent/CreateJoinToken": LA,
  "/spire.api.server.agent.v1.Agent/PostStatus": AG,
  "/spire.api.server.trustdomain.v1.TrustDomain/ListFederationRelationships": LA,
  "/spire.api.server.trustdomain.v1.TrustDomain/GetFederationRelationship": LA,
  "/spire.api.server.trustdomain.v1.TrustDomain/BatchCreateFederationRelationship": LA,
  "/spire.api.server.trustdomain.v1.TrustDomain/BatchUpdateFederationRelationship": LA,
  "/spire.api.server.trustdomain.v1.TrustDomain/BatchDeleteFederationRelationship": LA,
  "/spire.api.server.trustdomain.v1.TrustDomain/RefreshBundle": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/GetJWTAuthorityState": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/PrepareJWTAuthority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/ActivateJWTAuthority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/TaintJWTAuthority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/RevokeJWTAuthority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/GetX509AuthorityState": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/PrepareX509Authority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/ActivateX509Authority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/TaintX509Authority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/TaintX509UpstreamAuthority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/RevokeX509Authority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/RevokeX509UpstreamAuthority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/GetWITAuthorityState": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/PrepareWITAuthority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/ActivateWITAuthority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/TaintWITAuthority": LA,
  "/spire.api.server.localauthority.v1.LocalAuthority/RevokeWITAuthority": LA,
  "/spire.api.server.logger.v1.Logger/GetLogger": L,
  "/spire.api.server.logger.v1.Logger/SetLogLevel": L,
  "/spire.api.server.logger.v1.Logger/ResetLogLevel": L,
  "/grpc.health.v1.Health/Check": L,
  "/grpc.health.v1.Health/List": L,
  "/grpc.health.v1.Health/Watch": L,
});
