/**
 * The agent-facing RPCs of SPIRE's `spire.api.server.agent.v1.Agent` service on the server port: AttestAgent (the
 * bidirectional stream with the node attestor's challenges), RenewAgent and PostStatus. The logic is the HTTP agent
 * API's (../api/agent_signing.ts); texts are SPIRE's (pkg/server/api/agent/v1/service.go).
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { FailedPreconditionError, InternalError, InvalidArgumentError, ServiceError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import { bidiOf, unaryOf } from "./descriptor_methods.ts";
import {
  Agent,
  type AttestAgentRequest,
  type AttestAgentRequest_Params,
  AttestAgentResponse_ResultSchema,
  AttestAgentResponseSchema,
  PostStatusResponseSchema,
  RenewAgentResponseSchema,
} from "../../agent/workload/proto/spire/api/server/agent/v1/agent_pb.ts";
import { type AgentSigningDeps, attestAgent, checkRenewable, csrPublicKey, renewAgent } from "../api/agent_signing.ts";
import type { ServerNodeAttestor } from "../nodeattestor/node_attestor.ts";
import { callerAgent } from "./authorize_methods.ts";
import { x509SVIDToProto } from "./proto_types.ts";

export interface AgentAttestServiceDeps extends AgentSigningDeps {
  /** Node attestors by attestation data type; join_token is among them. */
  nodeAttestors: ReadonlyMap<string, ServerNodeAttestor>;
}

/** SPIRE's agent_version limit in PostStatus. */
const MAX_AGENT_VERSION = 255;

function validateParams(p: AttestAgentRequest_Params | undefined): { type: string; payload: Uint8Array; csr: Uint8Array } {
  const malformed = (why: string) => new InvalidArgumentError(`malformed param: ${why}`);
  if (p === undefined) throw malformed("missing params");
  if (p.data === undefined) throw malformed("missing attestation data");
  if (p.params === undefined) throw malformed("missing X509-SVID parameters");
  if (p.params.csr.length === 0) throw malformed("missing CSR");
  if (p.data.type === "") throw malformed("missing attestation data type");
  if (p.data.payload.length === 0) throw malformed("missing attestation data payload");
  return { type: p.data.type, payload: p.data.payload, csr: p.params.csr };
}

/** AttestAgent, RenewAgent and PostStatus; wrap them with authorizeMethods (RenewAgent and PostStatus need callerAgent). */
export function agentAttestService(d: AgentAttestServiceDeps): GRPCMethod[] {
  const log = d.log;
  // SPIRE logs the failure with its message capitalised (pkg/server/api/agent/v1/service.go).
  const logFailure = (type: string | undefined, err: unknown) => {
    if (err instanceof ServiceError) log.error(err.message.charAt(0).toUpperCase() + err.message.slice(1), type ? { node_attestor_type: type } : {});
  };

  const attest = bidiOf(
    Agent.method.attestAgent,
    async (requests, ctx, send) => {
      const it = requests[Symbol.asyncIterator]();
      const next = async (): Promise<AttestAgentRequest | undefined> => {
        const r = await it.next();
        return r.done ? undefined : r.value;
      };
      const first = await next();
      if (first === undefined) throw new InvalidArgumentError("malformed param: missing params");
      const p = validateParams(first.step.case === "params" ? first.step.value : undefined);
      const attestor = d.nodeAttestors.get(p.type);
      try {
        if (!attestor) throw new FailedPreconditionError(`failed to attest: could not find node attestor type "${p.type}"`);
        const publicKey = await csrPublicKey(p.csr);
        const out = await attestAgent(d, {
          attestor,
          payload: p.payload,
          publicKey,
          clientIP: ctx.caller?.address,
          challenge: async (challenge) => {
            send(create(AttestAgentResponseSchema, { step: { case: "challenge", value: challenge } }));
            const resp = await next();
            if (resp === undefined || resp.step.case !== "challengeResponse") {
              throw new InternalError("failed to receive challenge from agent");
            }
            return resp.step.value;
          },
        });
        send(create(AttestAgentResponseSchema, {
          step: {
            case: "result",
            value: create(AttestAgentResponse_ResultSchema, { svid: x509SVIDToProto(out.agentID, out.svid), reattestable: out.reattestable }),
          },
        }));
      } catch (err) {
        logFailure(p.type, err);
        throw err;
      }
    },
  );

  const renew = unaryOf(
    Agent.method.renewAgent,
    async (req, ctx) => {
      const agent = callerAgent(ctx);
      checkRenewable(agent);
      if (req.params === undefined) throw new InvalidArgumentError("params cannot be nil");
      if (req.params.csr.length === 0) throw new InvalidArgumentError("missing CSR");
      const svid = await renewAgent(d, agent, req.params.csr);
      return create(RenewAgentResponseSchema, { svid: x509SVIDToProto(agent.id, svid) });
    },
  );

  const postStatus = unaryOf(
    Agent.method.postStatus,
    async (req, ctx) => {
      const agent = callerAgent(ctx);
      if (req.agentVersion.length > MAX_AGENT_VERSION) {
        throw new InvalidArgumentError(`agent version is too long; must be at most ${MAX_AGENT_VERSION} characters`);
      }
      // wisp's datastore keeps no agent version (ListAgents answers ""); the status is logged, not stored.
      log.debug("Agent status posted", { [F.AGENT_ID]: agent.id, agent_version: req.agentVersion });
      return create(PostStatusResponseSchema, {});
    },
  );

  return [attest, renew, postStatus];
}
