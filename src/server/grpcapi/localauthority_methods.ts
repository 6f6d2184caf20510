/**
 * SPIRE's LocalAuthority service (spire.api.server.localauthority.v1.LocalAuthority) over gRPC: state, prepare,
 * activate, taint and revoke of the X.509 and JWT authorities, taint/revoke of upstream authorities, on
 * localAuthorityAPI (src/server/api/localauthority_api.ts). The WIT RPCs answer Unimplemented, as SPIRE's do.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { UnimplementedError } from "../../core/errors.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import type { AuthorityState, AuthorityStates } from "../ca/ca_manager.ts";
import type { LocalAuthorityAPI } from "../api/localauthority_api.ts";
import {
  ActivateJWTAuthorityResponseSchema,
  ActivateX509AuthorityResponseSchema,
  type AuthorityState as PBAuthorityState,
  AuthorityStateSchema,
  GetJWTAuthorityStateResponseSchema,
  GetX509AuthorityStateResponseSchema,
  LocalAuthority,
  PrepareJWTAuthorityResponseSchema,
  PrepareX509AuthorityResponseSchema,
  RevokeJWTAuthorityResponseSchema,
  RevokeX509AuthorityResponseSchema,
  RevokeX509UpstreamAuthorityResponseSchema,
  TaintJWTAuthorityResponseSchema,
  TaintX509AuthorityResponseSchema,
  TaintX509UpstreamAuthorityResponseSchema,
} from "../../agent/workload/proto/spire/api/server/localauthority/v1/localauthority_pb.ts";

import { unary } from "./rpc.ts";

function state(s: AuthorityState | undefined): PBAuthorityState | undefined {
  if (!s) return undefined;
  return create(AuthorityStateSchema, {
    authorityId: s.authority_id,
    expiresAt: BigInt(s.expires_at),
    upstreamAuthoritySubjectKeyId: s.upstream_authority_subject_key_id,
  });
}

const states = (s: AuthorityStates) => ({
  ...(s.active ? { active: state(s.active) } : {}),
  ...(s.prepared ? { prepared: state(s.prepared) } : {}),
  ...(s.old ? { old: state(s.old) } : {}),
});

/** SPIRE's text for every WIT RPC of this service (pkg/server/api/localauthority/v1/service.go). */
const WIT = "WIT-SVID functionality is not yet implemented";

export function localAuthorityMethods(d: { api: LocalAuthorityAPI; logger: Logger }): GRPCMethod[] {
  const { api, logger: log } = d;
  const m = LocalAuthority.method;
  const wit = () => Promise.reject(new UnimplementedError(WIT));
  return [
    unary(m.getX509AuthorityState, log, () => create(GetX509AuthorityStateResponseSchema, states(api.getX509AuthorityState()))),
    unary(
      m.prepareX509Authority,
      log,
      async () => create(PrepareX509AuthorityResponseSchema, { preparedAuthority: state((await api.prepareX509Authority()).prepared_authority) }),
    ),
    unary(
      m.activateX509Authority,
      log,
      async (req) =>
        create(ActivateX509AuthorityResponseSchema, { activatedAuthority: state((await api.activateX509Authority(req.authorityId)).activated_authority) }),
    ),
    unary(
      m.taintX509Authority,
      log,
      async (req) => create(TaintX509AuthorityResponseSchema, { taintedAuthority: state((await api.taintX509Authority(req.authorityId)).tainted_authority) }),
    ),
    unary(
      m.revokeX509Authority,
      log,
      async (req) => create(RevokeX509AuthorityResponseSchema, { revokedAuthority: state((await api.revokeX509Authority(req.authorityId)).revoked_authority) }),
    ),
    unary(m.taintX509UpstreamAuthority, log, async (req) =>
      create(TaintX509UpstreamAuthorityResponseSchema, {
        upstreamAuthoritySubjectKeyId: (await api.taintX509UpstreamAuthority(req.subjectKeyId)).upstream_authority_subject_key_id,
      })),
    unary(m.revokeX509UpstreamAuthority, log, async (req) =>
      create(RevokeX509UpstreamAuthorityResponseSchema, {
        upstreamAuthoritySubjectKeyId: (await api.revokeX509UpstreamAuthority(req.subjectKeyId)).upstream_authority_subject_key_id,
      })),
    unary(m.getJWTAuthorityState, log, () => create(GetJWTAuthorityStateResponseSchema, states(api.getJWTAuthorityState()))),
    unary(
      m.prepareJWTAuthority,
      log,
      async () => create(PrepareJWTAuthorityResponseSchema, { preparedAuthority: state((await api.prepareJWTAuthority()).prepared_authority) }),
    ),
    unary(
      m.activateJWTAuthority,
      log,
      async (req) =>
        create(ActivateJWTAuthorityResponseSchema, { activatedAuthority: state((await api.activateJWTAuthority(req.authorityId)).activated_authority) }),
    ),
    unary(
      m.taintJWTAuthority,
      log,
      async (req) => create(TaintJWTAuthorityResponseSchema, { taintedAuthority: state((await api.taintJWTAuthority(req.authorityId)).tainted_authority) }),
    ),
    unary(
      m.revokeJWTAuthority,
      log,
      async (req) => create(RevokeJWTAuthorityResponseSchema, { revokedAuthority: state((await api.revokeJWTAuthority(req.authorityId)).revoked_authority) }),
    ),
    unary(m.getWITAuthorityState, log, wit),
    unary(m.prepareWITAuthority, log, wit),
    unary(m.activateWITAuthority, log, wit),
    unary(m.taintWITAuthority, log, wit),
    unary(m.revokeWITAuthority, log, wit),
  ];
}
