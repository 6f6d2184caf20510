/** Flags and helpers shared by the `wisp-agent api` commands (SPIRE cmd/spire-agent/cli/api/common.go). @module */
import type { CLIEnv } from "../../core/cli/command.ts";

export const DEFAULT_AGENT_SOCKET = "/tmp/wisp-agent/public/api.sock";

export const API_SOCKET_FLAG = {
  name: "socketPath",
  kind: "string",
  usage: `Path to the SPIRE Agent API Unix domain socket (default "${DEFAULT_AGENT_SOCKET}", or SPIFFE_ENDPOINT_SOCKET)`,
  placeholder: "string",
} as const;

export const TIMEOUT_FLAG = { name: "timeout", kind: "duration", default: 5000, usage: "Time to wait for a response", placeholder: "duration" } as const;

export const SECURITY_HEADER = { "workload.spiffe.io": "true" };

/** -socketPath wins, then SPIFFE_ENDPOINT_SOCKET, then SPIRE's default path. */
export function socketAddress(flag: string | undefined, env: CLIEnv): string {
  return flag || env.getenv("SPIFFE_ENDPOINT_SOCKET") || DEFAULT_AGENT_SOCKET;
}

/** Renders a gRPC failure as SPIRE's CLI shows it: `rpc error: code = PermissionDenied desc = no identity issued`. */
export { rpcError } from "../../core/cli/rpc_error.ts";
