/** The Workload API handler: security header, workload attestation, then the RPCs (transport-free). @module */
import { create } from "@bufbuild/protobuf";
import { formatError, InvalidArgumentError, UnavailableError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import { type Clock, systemClock } from "../../core/ports/clock.ts";
import type { CallContext, GRPCMethod, PeerCredentials } from "../../core/ports/grpc_server.ts";
import type { Selector } from "../../core/selector.ts";
import type { AgentManager } from "../manager/manager.ts";
import {
  FETCH_JWT_BUNDLES,
  FETCH_JWT_SVID,
  FETCH_X509_BUNDLES,
  FETCH_X509_SVID,
  HEALTH_CHECK,
  serverStreamMethod,
  unaryMethod,
  VALIDATE_JWT_SVID,
} from "./codec.ts";
import { checkJWTSVIDRequest, checkValidateRequest, fetchJWTBundles, fetchJWTSVID, validateJWTSVID } from "./jwt_handlers.ts";
import { HealthCheckRequestSchema, HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from "./proto/health_pb.ts";
import {
  JWTBundlesRequestSchema,
  JWTBundlesResponseSchema,
  JWTSVIDRequestSchema,
  JWTSVIDResponseSchema,
  ValidateJWTSVIDRequestSchema,
  ValidateJWTSVIDResponseSchema,
  X509BundlesRequestSchema,
  X509BundlesResponseSchema,
  X509SVIDRequestSchema,
  type X509SVIDResponse,
  X509SVIDResponseSchema,
} from "./proto/workload_pb.ts";
import { fetchX509Bundles, fetchX509SVID } from "./x509_handlers.ts";
import { SharedResponses } from "./shared_responses.ts";

export interface WorkloadAttestor {
  attest(peer: PeerCredentials): Promise<Selector[]>;
}

export class WorkloadHandler {
  #manager: AgentManager;
  #attestor: WorkloadAttestor;
  #log: Logger;
  #clock: Clock;
  #allowUnauthenticatedVerifiers: boolean;
  /** FetchX509SVID messages shared by streams with the same selectors. */
  #sharedX509 = new SharedResponses<X509SVIDResponse>();

  /** `allowUnauthenticatedVerifiers`: callers with no identity may still fetch bundles (SPIRE's agent option). */
  constructor(cfg: { manager: AgentManager; attestor: WorkloadAttestor; logger: Logger; clock?: Clock; allowUnauthenticatedVerifiers?: boolean }) {
    this.#allowUnauthenticatedVerifiers = cfg.allowUnauthenticatedVerifiers ?? false;
    this.#manager = cfg.manager;
    this.#clock = cfg.clock ?? systemClock;
    this.#attestor = cfg.attestor;
    this.#log = cfg.logger.with({ subsystem_name: "workload_api" });
  }

  /** SPIRE requires exactly one value, "true" (pkg/agent/endpoints/middleware.go). */
  #checkHeader(ctx: CallContext): void {
    const v = ctx.metadata("workload.spiffe.io");
    if (v.length !== 1 || v[0] !== "true") throw new InvalidArgumentError("security header missing from request");
  }

  async #attest(ctx: CallContext): Promise<Selector[]> {
    this.#checkHeader(ctx);
    return this.attestPeer(ctx);
  }

  /**
   * Attests the caller without the security header (Envoy's SDS on the same socket needs none, as in SPIRE).
   * @throws {UnavailableError} "workload attestation failed"
   */
  async attestPeer(ctx: CallContext): Promise<Selector[]> {
    let selectors: Selector[];
    try {
      selectors = await this.#attestor.attest(ctx.peer);
    } catch (err) {
      this.#log.warn("Workload attestation failed", { [F.PID]: ctx.peer.pid, [F.ERROR]: formatError(err) });
      throw new UnavailableError("workload attestation failed", { cause: err });
    }
    // The PID could have died and been reused while we read /proc; SPIRE re-checks after attesting.
    await ctx.verifyPeerAlive();
    this.#log.debug("Workload attested", { [F.PID]: ctx.peer.pid, [F.SELECTORS]: selectors.map((s) => `${s.type}:${s.value}`) });
    return selectors;
  }

  methods(): GRPCMethod[] {
    return [
      serverStreamMethod({ req: X509SVIDRequestSchema, res: X509SVIDResponseSchema, path: FETCH_X509_SVID }, async (_req, ctx, send) => {
        const selectors = await this.#attest(ctx);
        await fetchX509SVID(this.#manager, selectors, ctx, send, this.#sharedX509);
      }),
      serverStreamMethod({ req: X509BundlesRequestSchema, res: X509BundlesResponseSchema, path: FETCH_X509_BUNDLES }, async (_req, ctx, send) => {
        const selectors = await this.#attest(ctx);
        await fetchX509Bundles(this.#manager, selectors, ctx, send, this.#allowUnauthenticatedVerifiers);
      }),
      // SPIRE checks the request before attesting; the security header still comes first (middleware).
      unaryMethod({ req: JWTSVIDRequestSchema, res: JWTSVIDResponseSchema, path: FETCH_JWT_SVID }, async (req, ctx) => {
        this.#checkHeader(ctx);
        checkJWTSVIDRequest(req);
        return fetchJWTSVID(this.#manager, await this.#attest(ctx), req, this.#log);
      }),
      serverStreamMethod({ req: JWTBundlesRequestSchema, res: JWTBundlesResponseSchema, path: FETCH_JWT_BUNDLES }, async (_req, ctx, send) => {
        const selectors = await this.#attest(ctx);
        await fetchJWTBundles(this.#manager, selectors, ctx, send, this.#allowUnauthenticatedVerifiers);
      }),
      unaryMethod({ req: ValidateJWTSVIDRequestSchema, res: ValidateJWTSVIDResponseSchema, path: VALIDATE_JWT_SVID }, async (req, ctx) => {
        this.#checkHeader(ctx);
        checkValidateRequest(req);
        const selectors = await this.#attest(ctx);
        return validateJWTSVID(this.#manager, req, this.#clock.now(), this.#log, selectors);
      }),
      // spire-agent healthcheck: SERVING when the agent has synced, as SPIRE answers after its own fetch.
      unaryMethod({ req: HealthCheckRequestSchema, res: HealthCheckResponseSchema, path: HEALTH_CHECK }, async () =>
        create(HealthCheckResponseSchema, {
          status: this.#manager.synced ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING,
        })),
    ];
  }
}
