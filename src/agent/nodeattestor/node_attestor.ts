/**
 * The contract every agent-side node attestor implements (SPIRE's agent NodeAttestor plugin): the first payload, then
 * an answer to each challenge the server sends.
 * @module
 */

export interface AgentNodeAttestor {
  /** The plugin name, sent as the attestation data type ("join_token", "aws_iid", "x509pop"). */
  readonly name: string;
  /** The first payload. Errors are wisp errors; a transient one (IMDS unreachable) is Unavailable, so callers retry. */
  payload(signal?: AbortSignal): Promise<Uint8Array>;
  /** Answers one server challenge. */
  challenge(challenge: Uint8Array, signal?: AbortSignal): Promise<Uint8Array>;
}
