/**
 * `agent list|show|count|ban|evict|purge` with SPIRE's flags, texts and output (cmd/spire-server/cli/agent/).
 * @module
 */
import { type Command, defineCommand } from "../../core/cli/command.ts";
import type { FlagSpec } from "../../core/cli/flags.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { UnavailableError, UsageError } from "../../core/errors.ts";
import { EXPIRES_BEFORE_LAYOUT, parseGoTime } from "../../core/go_time.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { parseSelector } from "../../core/selector.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import type { AgentJSON } from "../api/agent_service.ts";
import { type AdminDialer, SOCKET_FLAG } from "./admin_client.ts";
import { Agent } from "../../agent/workload/proto/spire/api/server/agent/v1/agent_pb.ts";
import type { SelectorMatch_MatchBehavior } from "../../agent/workload/proto/spire/api/types/selector_pb.ts";
import { agentJSONFromProto } from "../grpcapi/agent_methods.ts";
import { type ExpiredAgent, formatAgentList, formatAgentShow, formatPurge, plural } from "./agent_format.ts";

const SPIFFE_ID_FLAG = (verb: string) => ({ name: "spiffeID", kind: "string", usage: `The SPIFFE ID of the agent to ${verb} (agent identity)` }) as const;

/** The filter flags `agent list` and `agent count` share, as SPIRE declares them. */
const FILTER_FLAGS = [
  { name: "selector", kind: "stringList", usage: "A colon-delimited type:value selector. Can be used more than once" },
  { name: "attestationType", kind: "string", usage: "Filter by attestation type, like join_token or x509pop." },
  {
    name: "canReattest",
    kind: "string",
    placeholder: "value",
    usage: "Filter based on string received, 'true': agents that can reattest, 'false': agents that can't reattest, other value will return all.",
  },
  {
    name: "banned",
    kind: "string",
    placeholder: "value",
    usage: "Filter based on string received, 'true': banned agents, 'false': not banned agents, other value will return all.",
  },
  { name: "expiresBefore", kind: "string", usage: `Filter by expiration time (format: "${EXPIRES_BEFORE_LAYOUT}")` },
  {
    name: "matchSelectorsOn",
    kind: "string",
    default: "superset",
    usage: "The match mode used when filtering by selectors. Options: exact, any, superset and subset",
  },
] as const satisfies readonly FlagSpec[];

interface FilterValues {
  selector: string[];
  attestationType?: string | undefined;
  canReattest?: string | undefined;
  banned?: string | undefined;
  expiresBefore?: string | undefined;
  matchSelectorsOn: string;
}

/** ListAgents/CountAgents filter fields. */
interface AgentFilterInit {
  byAttestationType?: string;
  bySelectorMatch?: { selectors: { type: string; value: string }[]; match: SelectorMatch_MatchBehavior };
  byBanned?: boolean;
  byCanReattest?: boolean;
  byExpiresBefore?: string;
}

const MATCH: Record<string, SelectorMatch_MatchBehavior> = { exact: 0, subset: 1, superset: 2, any: 3 };

/**
 * The filter of a ListAgents/CountAgents call, checked as SPIRE's CLI checks it before calling the server.
 * @throws {UsageError} "unsupported match behavior", `error parsing selector "x": …`, "date is not valid: …"
 */
function filterOf(v: FilterValues): AgentFilterInit {
  const f: AgentFilterInit = {};
  if (v.selector.length > 0) {
    const match = MATCH[v.matchSelectorsOn];
    if (match === undefined) throw new UsageError("unsupported match behavior");
    const selectors = v.selector.map((s) => {
      try {
        return parseSelector(s);
      } catch (err) {
        throw new UsageError(`error parsing selector "${s}": ${(err as Error).message}`);
      }
    });
    f.bySelectorMatch = { selectors, match };
  }
  if (v.expiresBefore) {
    try {
      parseGoTime(EXPIRES_BEFORE_LAYOUT, v.expiresBefore);
    } catch (err) {
      throw new UsageError(`date is not valid: ${(err as Error).message}`);
    }
    f.byExpiresBefore = v.expiresBefore;
  }
  if (v.attestationType) f.byAttestationType = v.attestationType;
  // SPIRE's BoolFlag: exactly "true" or "false" filters; any other value means all.
  if (v.canReattest === "true" || v.canReattest === "false") f.byCanReattest = v.canReattest === "true";
  if (v.banned === "true" || v.banned === "false") f.byBanned = v.banned === "true";
  return f;
}

/** An agent's SPIFFE ID as `types.SPIFFEID`. */
function idOf(id: string): { trustDomain: string; path: string } {
  const sid = spiffeid.fromString(id);
  return { trustDomain: sid.trustDomain.name, path: sid.path };
}

/** The agent ID a command was given: required, and a valid SPIFFE ID (SPIRE checks both before dialling). */
function requiredID(raw: string | undefined): string {
  if (!raw) throw new UsageError("a SPIFFE ID is required");
  return spiffeid.fromString(raw).toString();
}

/** The agent commands; `clock` tells `agent purge` how long ago an SVID expired. */
export function agentCommands(dial: AdminDialer, clock: Clock): Command[] {
  const list = defineCommand({
    name: "agent list",
    synopsis: "Lists attested agents and their SPIFFE IDs",
    flags: [SOCKET_FLAG, ...FILTER_FLAGS, OUTPUT_FLAG] as const,
    examples: [
      "agent list",
      "agent list -attestationType join_token -banned false",
      "agent list -selector aws_iid:region:us-east-1 -selector aws_iid:az:us-east-1a -matchSelectorsOn any",
      `agent list -expiresBefore "2026-12-31 00:00:00 +0000 +00" -output json`,
    ],
    async run(ctx, { values: v }) {
      const res = await dial(v.socketPath).grpc(Agent.method.listAgents, { filter: filterOf(v) });
      const r = { agents: res.agents.map(agentJSONFromProto), next_page_token: res.nextPageToken };
      ctx.printer.result(() => formatAgentList(r.agents), { agents: r.agents, next_page_token: r.next_page_token });
      return 0;
    },
  });

  const count = defineCommand({
    name: "agent count",
    synopsis: "Count attested agents",
    flags: [SOCKET_FLAG, ...FILTER_FLAGS, OUTPUT_FLAG] as const,
    examples: ["agent count", "agent count -banned true", "agent count -selector x509pop:subject:cn:edge-1 -output json"],
    async run(ctx, { values: v }) {
      const r = await dial(v.socketPath).grpc(Agent.method.countAgents, { filter: filterOf(v) });
      ctx.printer.result(`${r.count} attested ${plural(r.count, "agent", "agents")}`, { count: r.count });
      return 0;
    },
  });

  const show = defineCommand({
    name: "agent show",
    synopsis: "Shows the details of an attested agent given its SPIFFE ID",
    flags: [SOCKET_FLAG, SPIFFE_ID_FLAG("show"), OUTPUT_FLAG] as const,
    examples: [
      "agent show -spiffeID spiffe://example.org/spire/agent/join_token/…",
      "agent show -spiffeID spiffe://example.org/spire/agent/x509pop/… -output json",
    ],
    async run(ctx, { values: v }) {
      const id = requiredID(v.spiffeID);
      const a = agentJSONFromProto(await dial(v.socketPath).grpc(Agent.method.getAgent, { id: idOf(id) }));
      ctx.printer.result(() => formatAgentShow(a), a);
      return 0;
    },
  });

  const ban = defineCommand({
    name: "agent ban",
    synopsis: "Ban an attested agent given its SPIFFE ID",
    flags: [SOCKET_FLAG, SPIFFE_ID_FLAG("ban"), OUTPUT_FLAG] as const,
    examples: ["agent ban -spiffeID spiffe://example.org/spire/agent/join_token/…"],
    async run(ctx, { values: v }) {
      const id = requiredID(v.spiffeID);
      await dial(v.socketPath).grpc(Agent.method.banAgent, { id: idOf(id) });
      ctx.printer.result("Agent banned successfully", {});
      return 0;
    },
  });

  const evict = defineCommand({
    name: "agent evict",
    synopsis: "Evicts an attested agent given its SPIFFE ID",
    flags: [SOCKET_FLAG, SPIFFE_ID_FLAG("evict"), OUTPUT_FLAG] as const,
    examples: ["agent evict -spiffeID spiffe://example.org/spire/agent/join_token/…"],
    async run(ctx, { values: v }) {
      const id = requiredID(v.spiffeID);
      await dial(v.socketPath).grpc(Agent.method.deleteAgent, { id: idOf(id) });
      ctx.printer.result("Agent evicted successfully", {});
      return 0;
    },
  });

  const purge = defineCommand({
    name: "agent purge",
    synopsis: "Purge expired agents that were attested using a non-TOFU security model based on a given time",
    flags: [
      SOCKET_FLAG,
      {
        name: "expiredFor",
        kind: "duration",
        default: 720 * 3_600_000,
        usage: "Amount of time that has passed since the agent's SVID has expired. It is used to determine which agents to purge.",
      },
      { name: "dryRun", kind: "bool", usage: "Indicates that the command will not perform any action, but will print the agents that would be purged." },
      OUTPUT_FLAG,
    ] as const,
    examples: ["agent purge -dryRun", "agent purge -expiredFor 24h", "agent purge -expiredFor 168h -output json"],
    async run(ctx, { values: v }) {
      const client = dial(v.socketPath);
      // As SPIRE: only agents that can re-attest; the others (join_token, aws_iid) would be refused if they came back.
      let agents: AgentJSON[];
      try {
        // As SPIRE's: only the expiry is needed.
        const res = await client.grpc(Agent.method.listAgents, { filter: { byCanReattest: true }, outputMask: { x509svidExpiresAt: true } });
        agents = res.agents.map(agentJSONFromProto);
      } catch (err) {
        throw new UnavailableError("failed to list agents", { cause: err });
      }
      const now = clock.now().getTime();
      const expired: ExpiredAgent[] = [];
      for (const a of agents) {
        if (now - Number(a.x509svid_expires_at) * 1000 <= v.expiredFor) continue;
        const result: ExpiredAgent = { agent_id: `spiffe://${a.id.trust_domain}${a.id.path}`, deleted: false };
        if (!v.dryRun) {
          try {
            await client.grpc(Agent.method.deleteAgent, { id: idOf(result.agent_id) });
            result.deleted = true;
          } catch (err) {
            result.error = (err as Error).message;
          }
        }
        expired.push(result);
      }
      ctx.printer.result(() => formatPurge(expired, v.dryRun), { expired_agents: expired });
      return 0;
    },
  });

  return [list, show, count, ban, evict, purge];
}
