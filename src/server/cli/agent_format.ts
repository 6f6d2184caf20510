/** SPIRE's pretty output of agents (cmd/spire-server/cli/agent/{list,show,count,purge}.go), byte for byte. @module */
import { formatGoTime } from "../../core/go_time.ts";
import type { AgentJSON } from "../api/agent_service.ts";

/** SPIRE's util.Pluralizer. */
export const plural = (n: number, one: string, many: string) => (n === 1 ? one : many);

const agentID = (a: AgentJSON) => `spiffe://${a.id.trust_domain}${a.id.path}`;

/** One agent block (SPIRE printAgents), ending with an empty line. Banned agents show "Banned" instead of a serial. */
export function formatAgent(a: AgentJSON): string {
  let out = `SPIFFE ID         : ${agentID(a)}\n`;
  out += `Attestation type  : ${a.attestation_type}\n`;
  out += `Expiration time   : ${formatGoTime(new Date(Number(a.x509svid_expires_at) * 1000))}\n`;
  out += a.banned ? `Banned            : true\n` : `Serial number     : ${a.x509svid_serial_number}\n`;
  out += `Can re-attest     : ${a.can_reattest}\n`;
  if (a.agent_version !== "") out += `Agent version     : ${a.agent_version}\n`;
  return out + "\n";
}

/** `agent list`. */
export function formatAgentList(agents: AgentJSON[]): string {
  if (agents.length === 0) return "No attested agents found\n";
  return `Found ${agents.length} attested ${plural(agents.length, "agent", "agents")}:\n\n` + agents.map(formatAgent).join("");
}

/** `agent show`: the block, then the node selectors. */
export function formatAgentShow(a: AgentJSON): string {
  return "Found an attested agent given its SPIFFE ID\n\n" + formatAgent(a) +
    a.selectors.map((s) => `Selectors         : ${s.type}:${s.value}\n`).join("");
}

/** One agent of `agent purge`, in SPIRE's JSON field order. */
export interface ExpiredAgent {
  agent_id: string;
  deleted: boolean;
  error?: string;
}

/** `agent purge` (SPIRE prettyPrintPurgeResult). */
export function formatPurge(expired: ExpiredAgent[], dryRun: boolean): string {
  if (expired.length === 0) return "No agents to purge.\n";
  let out = `Found ${expired.length} expired ${plural(expired.length, "agent", "agents")}\n\n`;
  const line = (a: ExpiredAgent) => `SPIFFE ID         : ${a.agent_id}\n`;
  if (dryRun) return out + "\nAgents that can be purged:\n" + expired.map(line).join("");
  const purged = expired.filter((a) => a.deleted);
  const failed = expired.filter((a) => !a.deleted);
  if (purged.length > 0) out += "Agents purged:\n" + purged.map(line).join("");
  if (failed.length > 0) out += "Agents not purged:\n" + failed.map((a) => line(a) + `Error             : ${a.error ?? ""}\n`).join("");
  return out;
}
