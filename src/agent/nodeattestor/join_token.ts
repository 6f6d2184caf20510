/** The agent's join_token attestor: sends the token, answers no challenge, cannot re-attest. @module */
import { FailedPreconditionError, InvalidArgumentError } from "../../core/errors.ts";
import type { AgentNodeAttestor } from "./node_attestor.ts";

export class JoinTokenNodeAttestor implements AgentNodeAttestor {
  readonly name = "join_token";
  #token: () => Promise<string | undefined>;

  /** `token` is asked at each attestation, so a join_token_file rewritten by a provisioning tool is read afresh. */
  constructor(token: () => Promise<string | undefined>) {
    this.#token = token;
  }

  async payload(): Promise<Uint8Array> {
    const token = (await this.#token())?.trim();
    if (!token) throw new FailedPreconditionError("agent is not attested: a join token is required (-joinToken or agent.join_token)");
    return new TextEncoder().encode(token);
  }

  challenge(): Promise<Uint8Array> {
    return Promise.reject(new InvalidArgumentError("join_token attestation does not take challenges"));
  }
}
