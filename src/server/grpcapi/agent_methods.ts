/**
 * SPIRE's Agent service (spire.api.server.agent.v1.Agent) admin RPCs over gRPC: count, list (filters, paging,
 * output mask), get, delete (evict), ban and create join token, on the plain functions of
 * src/server/api/agent_service.ts.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import {
  type AgentFilterJSON,
  type AgentJSON,
  type AgentServiceDeps,
  banAgent,
  countAgents,
  createJoinToken,
  deleteAgent,
  filterFromRequest,
  getAgent,
  listAgents,
} from "../api/agent_service.ts";
import {
  Agent,
  CountAgentsResponseSchema,
  type ListAgentsRequest_Filter,
  ListAgentsResponseSchema,
} from "../../agent/workload/proto/spire/api/server/agent/v1/agent_pb.ts";
import { type Agent as PBAgent, type AgentMask, AgentMaskSchema, AgentSchema } from "../../agent/workload/proto/spire/api/types/agent_pb.ts";
import { JoinTokenSchema } from "../../agent/workload/proto/spire/api/types/jointoken_pb.ts";
import type { SPIFFEID } from "../../agent/workload/proto/spire/api/types/spiffeid_pb.ts";
import { applyMask, paginate, unary } from "./rpc.ts";

export interface AgentMethodsDeps extends AgentServiceDeps {
  clock: Clock;
  /** Pushes entry changes (a join token's alias entry) to agents. */
  notify: () => void;
}

const MATCH = ["MATCH_EXACT", "MATCH_SUBSET", "MATCH_SUPERSET", "MATCH_ANY"];

function filterFromProto(f: ListAgentsRequest_Filter | undefined): AgentFilterJSON {
  if (!f) return {};
  const out: AgentFilterJSON = {};
  if (f.byAttestationType) out.by_attestation_type = f.byAttestationType;
  if (f.byBanned !== undefined) out.by_banned = f.byBanned;
  if (f.byCanReattest !== undefined) out.by_can_reattest = f.byCanReattest;
  if (f.byExpiresBefore) out.by_expires_before = f.byExpiresBefore;
  if (f.bySelectorMatch) {
    out.by_selector_match = {
      selectors: f.bySelectorMatch.selectors.map((s) => `${s.type}:${s.value}`),
      match: MATCH[f.bySelectorMatch.match] ?? String(f.bySelectorMatch.match),
    };
  }
  return out;
}

/** A request's `types.SPIFFEID` as a string for the plain functions ("" when absent); the trust domain may be either form. */
export function idString(id: SPIFFEID | undefined, what: string): string {
  if (!id) return "";
  try {
    return spiffeid.ID.fromPath(spiffeid.trustDomainFromString(id.trustDomain), id.path).toString();
  } catch (cause) {
    throw new InvalidArgumentError(`invalid ${what}: ${(cause as Error).message}`, { cause });
  }
}

function agentToProto(a: AgentJSON): PBAgent {
  return create(AgentSchema, {
    id: { trustDomain: a.id.trust_domain, path: a.id.path },
    attestationType: a.attestation_type,
    x509svidSerialNumber: a.x509svid_serial_number,
    x509svidExpiresAt: BigInt(a.x509svid_expires_at),
    selectors: a.selectors,
    banned: a.banned,
    canReattest: a.can_reattest,
    agentVersion: a.agent_version,
  });
}

/** `types.Agent` in the JSON shape `spire-server agent … -output json` prints. */
export function agentJSONFromProto(a: PBAgent): AgentJSON {
  return {
    agent_version: a.agentVersion,
    attestation_type: a.attestationType,
    banned: a.banned,
    can_reattest: a.canReattest,
    id: { path: a.id?.path ?? "", trust_domain: a.id?.trustDomain ?? "" },
    selectors: a.selectors.map((s) => ({ type: s.type, value: s.value })),
    x509svid_expires_at: String(a.x509svidExpiresAt),
    x509svid_serial_number: a.x509svidSerialNumber,
  };
}

const masked = (a: AgentJSON, mask: AgentMask | undefined) => applyMask(AgentSchema, agentToProto(a), AgentMaskSchema, mask);

export function agentMethods(d: AgentMethodsDeps): GRPCMethod[] {
  const m = Agent.method;
  const log = d.logger;
  return [
    unary(m.countAgents, log, async (req) => {
      const { count } = await countAgents(d, filterFromRequest(filterFromProto(req.filter as ListAgentsRequest_Filter | undefined)));
      return create(CountAgentsResponseSchema, { count });
    }),
    unary(m.listAgents, log, async (req) => {
      const { agents } = await listAgents(d, filterFromRequest(filterFromProto(req.filter)));
      const page = paginate(agents, req.pageSize, req.pageToken, (a) => `spiffe://${a.id.trust_domain}${a.id.path}`);
      return create(ListAgentsResponseSchema, { agents: page.items.map((a) => masked(a, req.outputMask)), nextPageToken: page.next });
    }),
    unary(m.getAgent, log, async (req) => masked(await getAgent(d, idString(req.id, "agent ID")), req.outputMask)),
    unary(m.deleteAgent, log, async (req, _ctx, rpcLog) => {
      await deleteAgent({ ...d, logger: rpcLog }, idString(req.id, "agent ID"));
      return create(EmptySchema);
    }),
    unary(m.banAgent, log, async (req, _ctx, rpcLog) => {
      await banAgent({ ...d, logger: rpcLog }, idString(req.id, "agent ID"));
      return create(EmptySchema);
    }),
    unary(m.createJoinToken, log, async (req) => {
      const t = await createJoinToken(d, { ttl: req.ttl, token: req.token, agent_id: idString(req.agentId, "agent ID") });
      return create(JoinTokenSchema, { value: t.value, expiresAt: BigInt(t.expires_at) });
    }),
  ];
}
