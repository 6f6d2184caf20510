/** The agent's one decision on server refusals that end it (SPIRE pkg/common/nodeutil ShouldAgentShutdown). @module */
import { ServiceError } from "../../core/errors.ts";

/**
 * True when the server refused a call because this agent is banned (PermissionDenied with reason AGENT_BANNED, on
 * the error or one it wraps): the agent must delete its SVID and shut down, as SPIRE's agent does.
 */
export function shouldAgentShutdown(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof ServiceError && e.status === "PERMISSION_DENIED" && e.reason === "AGENT_BANNED") return true;
  }
  return false;
}
