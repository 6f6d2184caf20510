/**
 * The contract every server-side node attestor implements (SPIRE's server NodeAttestor plugin): it reads the agent's
 * payload, may exchange challenges with the agent, and answers with the agent ID, its node selectors and whether the
 * agent may re-attest. The agent API bridges `challenge` onto its HTTP round trips.
 * @module
 */
import type { Selector } from "../../core/selector.ts";
import type * as spiffeid from "../../core/spiffeid/mod.ts";

export interface NodeAttestationResult {
  agentID: spiffeid.ID;
  /** Node selectors, type included (e.g. {type: "aws_iid", value: "region:us-east-1"}), sorted and deduplicated. */
  selectors: Selector[];
  /** SPIRE's CanReattest: the agent renews by attesting again (x509pop), instead of RenewAgent (join_token, aws_iid). */
  canReattest: boolean;
}

/** Sends a challenge to the agent and resolves with its response. Rejects when the agent gives up or times out. */
export type ChallengeFn = (challenge: Uint8Array) => Promise<Uint8Array>;

/** What only the transport knows about the attesting agent. */
export interface AttestContext {
  /** The agent's IP address as the server saw the connection (IPv4-mapped IPv6 unwrapped); absent when unknown. */
  clientIP?: string | undefined;
}

export interface ServerNodeAttestor {
  /** The plugin name, which is also the attestation data type ("join_token", "aws_iid", "x509pop"). */
  readonly name: string;
  /**
   * Attests one agent. Errors are wisp errors with SPIRE's texts (InvalidArgument, PermissionDenied, Internal …);
   * the agent API prefixes nothing, the agent's side shows them after `nodeattestor(<name>): `.
   */
  attest(payload: Uint8Array, challenge: ChallengeFn, context?: AttestContext): Promise<NodeAttestationResult>;
}
