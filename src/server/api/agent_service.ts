/**
 * SPIRE's agent.v1.Agent admin RPCs (ListAgents, CountAgents, GetAgent, BanAgent, DeleteAgent) as plain functions
 * and CreateJoinToken, with SPIRE's texts and log lines, shared by the admin JSON routes and the gRPC service
 * (src/server/grpcapi/agent_methods.ts).
 * @module
 */
import { InvalidArgumentError, NotFoundError } from "../../core/errors.ts";
import { EXPIRES_BEFORE_LAYOUT, parseGoTime } from "../../core/go_time.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import { parseSelector } from "../../core/selector.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { AttestedNode, DataStore, ListAttestedNodesFilter, NewRegistrationEntry, SelectorMatchBehavior } from "../datastore/datastore.ts";

/** What the functions need; `disconnect` ends the agent's open sync streams on this server. */
export interface AgentServiceDeps {
  ds: DataStore;
  logger: Logger;
  trustDomain: spiffeid.TrustDomain;
  disconnect: (agentID: string) => void;
}

/**
 * SPIRE's `types.Agent` as `spire-server agent … -output json` prints it: protojson field names, int64 as a string,
 * keys in Go's (sorted) order, the serial in decimal.
 */
export interface AgentJSON {
  agent_version: string;
  attestation_type: string;
  banned: boolean;
  can_reattest: boolean;
  id: { path: string; trust_domain: string };
  selectors: { type: string; value: string }[];
  x509svid_expires_at: string;
  x509svid_serial_number: string;
}

/** SPIRE's ListAgents/CountAgents filter, as the admin API receives it (protojson names). */
export interface AgentFilterJSON {
  by_attestation_type?: string;
  by_banned?: boolean;
  by_can_reattest?: boolean;
  /** In SPIRE's layout "2006-01-02 15:04:05 -0700 -07". */
  by_expires_before?: string;
  by_selector_match?: { selectors: string[]; match: string };
}

const MATCH: Record<string, SelectorMatchBehavior> = {
  exact: "exact",
  any: "any",
  superset: "superset",
  subset: "subset",
  MATCH_EXACT: "exact",
  MATCH_ANY: "any",
  MATCH_SUPERSET: "superset",
  MATCH_SUBSET: "subset",
};

/** The serial as SPIRE stores and prints it (big.Int decimal); wisp keeps hex. Banned nodes have "". */
function decimalSerial(hex: string): string {
  return hex === "" ? "" : BigInt(`0x${hex}`).toString(10);
}

export function agentToJSON(n: AttestedNode): AgentJSON {
  const id = spiffeid.fromString(n.spiffeID);
  return {
    // wisp agents do not report a version (SPIRE's PostStatus); SPIRE prints "" for such agents too.
    agent_version: "",
    attestation_type: n.attestationType,
    banned: n.banned,
    can_reattest: n.canReattest,
    id: { path: id.path, trust_domain: id.trustDomain.name },
    selectors: n.selectors.map((s) => ({ type: s.type, value: s.value })),
    x509svid_expires_at: String(n.certNotAfter),
    x509svid_serial_number: decimalSerial(n.certSerial),
  };
}

/**
 * Parses the agent ID of a Get/Ban/DeleteAgent request (SPIRE's TrustDomainAgentIDFromProto).
 * @throws {InvalidArgumentError} `invalid agent ID: "spiffe://…" is not an agent in trust domain "…"; path is not in the agent namespace`
 */
export function agentIDFromRequest(td: spiffeid.TrustDomain, raw: string): string {
  const bad = (why: string, cause?: unknown) => new InvalidArgumentError(`invalid agent ID: ${why}`, cause === undefined ? undefined : { cause });
  if (raw === "") throw bad("request must specify SPIFFE ID");
  let id: spiffeid.ID;
  try {
    id = spiffeid.fromString(raw);
  } catch (cause) {
    throw bad((cause as Error).message, cause);
  }
  if (!id.memberOf(td)) throw bad(`"${id}" is not a member of trust domain "${td.name}"`);
  if (id.path === "") throw bad(`"${id}" is not an agent in trust domain "${td.name}"; path is empty`);
  if (!id.path.startsWith("/spire/agent/")) {
    throw bad(`"${id}" is not an agent in trust domain "${td.name}"; path is not in the agent namespace`);
  }
  return id.toString();
}

/**
 * Turns a request filter into a datastore filter.
 * @throws {InvalidArgumentError} "failed to parse selectors: …", "unsupported match behavior", "date is not valid: …"
 */
export function filterFromRequest(f: AgentFilterJSON): ListAttestedNodesFilter {
  const out: ListAttestedNodesFilter = {};
  if (f.by_attestation_type) out.attestationType = f.by_attestation_type;
  if (f.by_banned !== undefined) out.banned = f.by_banned;
  if (f.by_can_reattest !== undefined) out.canReattest = f.by_can_reattest;
  // SPIRE's server ignores a date it cannot parse and lists everything; refusing it keeps a typo from widening a purge.
  if (f.by_expires_before) {
    let t: Date;
    try {
      t = parseGoTime(EXPIRES_BEFORE_LAYOUT, f.by_expires_before);
    } catch (cause) {
      throw new InvalidArgumentError(`date is not valid: ${(cause as Error).message}`, { cause });
    }
    // Stored expiries are whole seconds: "< t" for a fractional t is "< ceil(t)".
    out.expiresBefore = Math.ceil(t.getTime() / 1000);
  }
  if (f.by_selector_match) {
    const match = MATCH[f.by_selector_match.match];
    if (match === undefined) throw new InvalidArgumentError("unsupported match behavior");
    let selectors;
    try {
      selectors = f.by_selector_match.selectors.map(parseSelector);
    } catch (cause) {
      throw new InvalidArgumentError(`failed to parse selectors: ${(cause as Error).message}`, { cause });
    }
    out.selectorMatch = { selectors, match };
  }
  return out;
}

/** ListAgents without paging (SPIRE's page_size 0): every matching agent, ordered by SPIFFE ID. */
export async function listAgents(deps: AgentServiceDeps, filter: ListAttestedNodesFilter): Promise<{ agents: AgentJSON[]; next_page_token: string }> {
  const nodes = await deps.ds.listAttestedNodes(filter);
  return { agents: nodes.map(agentToJSON), next_page_token: "" };
}

export async function countAgents(deps: AgentServiceDeps, filter: ListAttestedNodesFilter): Promise<{ count: number }> {
  return { count: await deps.ds.countAttestedNodes(filter) };
}

/** @throws {NotFoundError} "agent not found" */
export async function getAgent(deps: AgentServiceDeps, rawID: string): Promise<AgentJSON> {
  const id = agentIDFromRequest(deps.trustDomain, rawID);
  const node = await deps.ds.fetchAttestedNode(id);
  if (!node) throw new NotFoundError("agent not found");
  return agentToJSON(node);
}

/**
 * Bans the agent until it is deleted: its SVIDs are refused from now on, and its open sync streams on this server end
 * at once, which the agent answers by deleting its SVID and shutting down.
 * @throws {NotFoundError} "agent not found"
 */
export async function banAgent(deps: AgentServiceDeps, rawID: string): Promise<Record<string, never>> {
  const id = agentIDFromRequest(deps.trustDomain, rawID);
  try {
    await deps.ds.banAttestedNode(id);
  } catch (err) {
    if (err instanceof NotFoundError) throw new NotFoundError("agent not found", { cause: err });
    throw err;
  }
  deps.logger.info("Agent banned", { [F.SPIFFE_ID]: id });
  deps.disconnect(id);
  return {};
}

/**
 * Deletes (evicts) the agent: it may attest again, a banned one included.
 * @throws {NotFoundError} "agent not found"
 */
export async function deleteAgent(deps: AgentServiceDeps, rawID: string): Promise<Record<string, never>> {
  const id = agentIDFromRequest(deps.trustDomain, rawID);
  try {
    await deps.ds.deleteAttestedNode(id);
  } catch (err) {
    if (err instanceof NotFoundError) throw new NotFoundError("agent not found", { cause: err });
    throw err;
  }
  deps.logger.info("Agent deleted", { [F.SPIFFE_ID]: id });
  deps.disconnect(id);
  return {};
}

/** SPIRE's CreateJoinTokenRequest: `agent_id` is a SPIFFE ID string (either form of the request's ID, joined). */
export interface JoinTokenRequest {
  ttl: number;
  token?: string | undefined;
  agent_id?: string | undefined;
}

/**
 * CreateJoinToken: stores a single-use token (a fresh UUID unless the caller chose one) and, with `agent_id`, the
 * entry making the join-token agent the parent of that friendly node ID; both or neither.
 * @throws {InvalidArgumentError} "ttl is required, you must provide one", "invalid agent ID: …"
 */
export async function createJoinToken(
  deps: AgentServiceDeps & { clock: Clock; notify: () => void },
  req: JoinTokenRequest,
): Promise<{ value: string; expires_at: number }> {
  const td = deps.trustDomain;
  if (!Number.isInteger(req.ttl) || req.ttl < 1) throw new InvalidArgumentError("ttl is required, you must provide one");
  let alias: NewRegistrationEntry | undefined;
  // Checked before anything is stored, so a refused request leaves no token behind.
  let aliasID: spiffeid.ID | undefined;
  if (req.agent_id) {
    try {
      aliasID = spiffeid.fromString(req.agent_id);
    } catch (cause) {
      throw new InvalidArgumentError(`invalid agent ID: ${(cause as Error).message}`, { cause });
    }
    if (!aliasID.memberOf(td)) throw new InvalidArgumentError(`invalid agent ID: "${aliasID}" is not a member of trust domain "${td.name}"`);
  }
  const token = req.token ? req.token : crypto.randomUUID();
  const expiresAt = Math.floor(deps.clock.now().getTime() / 1000) + req.ttl;
  if (aliasID) {
    const agentID = spiffeid.agentIDForJoinToken(td, token).toString();
    alias = {
      spiffeID: aliasID.toString(),
      parentID: agentID,
      selectors: [{ type: "spiffe_id", value: agentID }],
      x509SVIDTTL: 0,
      jwtSVIDTTL: 0,
      dnsNames: [],
      hint: "",
      admin: false,
      downstream: false,
    };
  }
  await deps.ds.createJoinToken({ token, expiresAt }, alias);
  deps.notify();
  deps.logger.info("Join token created", { [F.EXPIRATION]: new Date(expiresAt * 1000).toISOString() });
  return { value: token, expires_at: expiresAt };
}
