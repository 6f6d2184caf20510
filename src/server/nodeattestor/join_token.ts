/** Node attestation with join tokens: single use, expiring, as SPIRE's AttestAgent handles them. @module */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/clock.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import type { DataStore } from "../datastore/datastore.ts";
import type { NodeAttestationResult, ServerNodeAttestor } from "./node_attestor.ts";

/** Consumes a token and returns the agent ID it attests to. @throws {InvalidArgumentError} */
export async function attestJoinToken(
  cfg: { ds: DataStore; clock: Clock; trustDomain: spiffeid.TrustDomain },
  token: string,
): Promise<spiffeid.ID> {
  if (token === "") throw new InvalidArgumentError("failed to attest: join token is required", { code: "ERR_JOIN_TOKEN_INVALID" });
  // Deleted before the expiry check, as SPIRE does, so even an expired token cannot be tried twice.
  const t = await cfg.ds.takeJoinToken(token);
  if (!t) {
    throw new InvalidArgumentError("failed to attest: join token does not exist or has already been used", {
      code: "ERR_JOIN_TOKEN_INVALID",
    });
  }
  if (t.expiresAt * 1000 <= cfg.clock.now().getTime()) {
    throw new InvalidArgumentError("join token expired", { code: "ERR_JOIN_TOKEN_INVALID" });
  }
  try {
    return spiffeid.agentIDForJoinToken(cfg.trustDomain, token);
  } catch (cause) {
    throw new InvalidArgumentError("failed to attest: join token cannot form an agent ID", { cause, code: "ERR_JOIN_TOKEN_INVALID" });
  }
}

/** SPIRE's built-in join_token attestor behind the common contract: the payload is the token (UTF-8), no challenge. */
export class JoinTokenAttestor implements ServerNodeAttestor {
  readonly name = "join_token";
  #cfg: { ds: DataStore; clock: Clock; trustDomain: spiffeid.TrustDomain };
  constructor(cfg: { ds: DataStore; clock: Clock; trustDomain: spiffeid.TrustDomain }) {
    this.#cfg = cfg;
  }
  async attest(payload: Uint8Array): Promise<NodeAttestationResult> {
    const agentID = await attestJoinToken(this.#cfg, new TextDecoder().decode(payload));
    return { agentID, selectors: [], canReattest: false };
  }
}
