/**
 * SPIRE's Delegated Identity API (spire.api.agent.delegatedidentity.v1) on the admin socket: a trusted delegate (a
 * workload whose entry's SPIFFE ID is in `authorized_delegates`) obtains the SVIDs and bundles of other workloads, named
 * by selectors or by a PID the agent attests. Checks, order, texts and lines follow
 * pkg/agent/api/delegatedidentity/v1/service.go.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { toJWKS } from "../../core/bundle/spiffe_bundle.ts";
import { toBase64 } from "../../core/encoding.ts";
import { formatError, InvalidArgumentError, PermissionDeniedError, UnavailableError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { CallContext, GRPCMethod } from "../../core/ports/grpc_server.ts";
import type { Selector } from "../../core/selector.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { concatDER } from "../../core/x509/pem.ts";
import type { AgentManager } from "../manager/manager.ts";
import type { Identity } from "../manager/svid_cache.ts";
import { serverStreamMethod, unaryMethod } from "../workload/codec.ts";
import { watchSerial } from "../workload/watch_serial.ts";
import { FETCH_JWT_SVIDS, SUBSCRIBE_TO_JWT_BUNDLES, SUBSCRIBE_TO_X509_BUNDLES, SUBSCRIBE_TO_X509_SVIDS } from "./paths.ts";
import {
  FetchJWTSVIDsRequestSchema,
  FetchJWTSVIDsResponseSchema,
  SubscribeToJWTBundlesRequestSchema,
  type SubscribeToJWTBundlesResponse,
  SubscribeToJWTBundlesResponseSchema,
  SubscribeToX509BundlesRequestSchema,
  type SubscribeToX509BundlesResponse,
  SubscribeToX509BundlesResponseSchema,
  SubscribeToX509SVIDsRequestSchema,
  type SubscribeToX509SVIDsResponse,
  SubscribeToX509SVIDsResponseSchema,
  X509SVIDWithKeySchema,
} from "../workload/proto/spire/api/agent/delegatedidentity/v1/delegatedidentity_pb.ts";
import { JWTSVIDSchema } from "../workload/proto/spire/api/types/jwtsvid_pb.ts";
import type { Selector as APISelector } from "../workload/proto/spire/api/types/selector_pb.ts";
import { SPIFFEIDSchema } from "../workload/proto/spire/api/types/spiffeid_pb.ts";
import { X509SVIDSchema } from "../workload/proto/spire/api/types/x509svid_pb.ts";

export interface DelegatedIdentityConfig {
  manager: AgentManager;
  /** Attests the caller of a call by its peer credentials, with the PID-reuse guard (the Workload API's attestation). */
  attestCaller(ctx: CallContext): Promise<Selector[]>;
  /** Attests an arbitrary process on the delegate's behalf. */
  attestPID(pid: number): Promise<Selector[]>;
  /** SPIFFE IDs allowed to call (`authorized_delegates`). */
  authorizedDelegates: readonly string[];
  clock: Clock;
  /** The agent's root logger; lines carry service, method and pid as SPIRE's middleware adds them. */
  logger: Logger;
}

const idProto = (id: string) => {
  const parsed = spiffeid.fromString(id);
  return create(SPIFFEIDSchema, { trustDomain: parsed.trustDomain.name, path: parsed.path });
};
const seconds = (d: Date) => BigInt(Math.floor(d.getTime() / 1000));

export class DelegatedIdentityService {
  readonly #c: DelegatedIdentityConfig;
  readonly #delegates: Set<string>;

  constructor(cfg: DelegatedIdentityConfig) {
    this.#c = cfg;
    this.#delegates = new Set(cfg.authorizedDelegates);
  }

  #log(ctx: CallContext, method: string): Logger {
    return this.#c.logger.with({ service: "DelegatedIdentity", method, [F.PID]: ctx.peer.pid });
  }

  /**
   * Attests the caller (unless its selectors are known from the start of the stream) and checks one of its entries is
   * an authorized delegate. @throws {PermissionDeniedError} "no identity issued" or "caller not configured as an
   * authorized delegate"; {UnavailableError} "workload attestation failed"
   */
  async #authorize(ctx: CallContext, log: Logger, known?: Selector[]): Promise<Selector[]> {
    const selectors = known ?? await this.#c.attestCaller(ctx);
    const entries = this.#c.manager.matchingEntries(selectors);
    const withSelectors = log.with({ delegate_selectors: selectors.map((s) => `${s.type}:${s.value}`) });
    if (entries.length === 0) {
      withSelectors.error("No identity issued");
      throw new PermissionDeniedError("no identity issued");
    }
    const delegate = entries.find((e) => this.#delegates.has(e.spiffeID));
    if (delegate) {
      withSelectors.debug("Caller authorized as delegate", { delegate_id: delegate.spiffeID });
      return selectors;
    }
    withSelectors.error("Permission denied; caller not configured as an authorized delegate.", {
      num_registered_entries: entries.length,
      default_id: entries[0]!.spiffeID,
    });
    throw new PermissionDeniedError("caller not configured as an authorized delegate");
  }

  /** The workload named by the request: its selectors as given, or its PID attested. */
  async #target(log: Logger, pid: number, selectors: APISelector[]): Promise<Selector[]> {
    // PID 0 is "not given" in proto3; SPIRE never attests it.
    if ((selectors.length !== 0 && pid !== 0) || (selectors.length === 0 && pid === 0)) {
      log.error("Invalid argument; must provide either selectors or non-zero PID, but not both");
      throw new InvalidArgumentError("must provide either selectors or non-zero PID, but not both");
    }
    if (selectors.length !== 0) {
      // The delegate vouches for these selectors; SPIRE only checks they are well formed.
      const bad = selectors.find((s) => s.type === "" || s.type.includes(":") || s.value === "");
      if (bad) {
        const why = bad.type === "" ? "missing selector type" : bad.type.includes(":") ? "selector type contains ':'" : "missing selector value";
        log.error("Invalid argument; could not parse provided selectors", { [F.ERROR]: why });
        throw new InvalidArgumentError("could not parse provided selectors");
      }
      return selectors.map((s) => ({ type: s.type, value: s.value }));
    }
    try {
      return await this.#c.attestPID(pid);
    } catch (err) {
      log.error("Workload attestation failed", { [F.ERROR]: formatError(err) });
      throw new UnavailableError("workload attestation failed", { cause: err });
    }
  }

  methods(): GRPCMethod[] {
    const m = this.#c.manager;
    return [
      serverStreamMethod(
        { req: SubscribeToX509SVIDsRequestSchema, res: SubscribeToX509SVIDsResponseSchema, path: SUBSCRIBE_TO_X509_SVIDS },
        async (req, ctx, send) => {
          const log = this.#log(ctx, "SubscribeToX509SVIDs");
          const caller = await this.#authorize(ctx, log);
          const selectors = await this.#target(log, req.pid, req.selectors);
          log.debug("Subscribing to cache changes", {
            delegate_selectors: caller.map((s) => `${s.type}:${s.value}`),
            request_selectors: selectors.map((s) => `${s.type}:${s.value}`),
          });
          let last: string | undefined;
          // As a FetchX509SVID stream: the target's SVIDs stay cached while the delegate listens, and those beyond the
          // agent's cache size are minted first.
          const release = m.hold(selectors);
          try {
            await m.ensure(selectors);
          } catch (cause) {
            release();
            throw new UnavailableError(`could not fetch X509-SVID: ${formatError(cause)}`, { cause });
          }
          try {
            await watchSerial(m, ctx, async () => {
              // A delegate whose entry was removed loses access at the next update, as in SPIRE.
              await this.#authorize(ctx, log, caller);
              const ids = m.identities(selectors);
              const federated = m.federatedBundlesFor(ids.map((i) => i.entry)).map((f) => f.trustDomain);
              const key = ids.map((i) => `${i.entry.id}:${i.entry.revisionNumber}:${i.svid.notAfter.getTime()}`).join("|") + `#${federated.join(",")}`;
              if (key === last) return;
              last = key;
              send(x509SVIDsResponse(ids, federated));
              const count = log.with({ [F.COUNT]: ids.length });
              const now = this.#c.clock.now().getTime();
              for (const i of ids) {
                count.debug("Fetched X.509 SVID for delegated identity", { [F.SPIFFE_ID]: i.entry.spiffeID, ttl: (i.svid.notAfter.getTime() - now) / 1000 });
              }
            });
          } finally {
            release();
          }
        },
      ),
      serverStreamMethod(
        { req: SubscribeToX509BundlesRequestSchema, res: SubscribeToX509BundlesResponseSchema, path: SUBSCRIBE_TO_X509_BUNDLES },
        async (_req, ctx, send) => {
          const log = this.#log(ctx, "SubscribeToX509Bundles");
          const caller = await this.#authorize(ctx, log);
          let last: string | undefined;
          let first = true;
          await watchSerial(m, ctx, async () => {
            if (!first) await this.#authorize(ctx, log, caller);
            first = false;
            const msg = x509BundlesResponse(m);
            const key = Object.entries(msg.caCertificates).map(([td, der]) => `${td}=${toBase64(der)}`).join("\n");
            if (key === last) return;
            last = key;
            send(msg);
          });
        },
      ),
      unaryMethod({ req: FetchJWTSVIDsRequestSchema, res: FetchJWTSVIDsResponseSchema, path: FETCH_JWT_SVIDS }, async (req, ctx) => {
        const log = this.#log(ctx, "FetchJWTSVIDs");
        if (req.audience.length === 0) {
          log.error("Missing required audience parameter");
          throw new InvalidArgumentError("audience must be specified");
        }
        await this.#authorize(ctx, log);
        const selectors = await this.#target(log, req.pid, req.selectors);
        const svids = [];
        for (const entry of m.matchingEntries(selectors)) {
          const entryLog = log.with({ [F.SPIFFE_ID]: entry.spiffeID });
          let svid;
          try {
            svid = await m.fetchJWTSVID(entry, req.audience);
          } catch (err) {
            entryLog.error("Could not fetch JWT-SVID", { [F.ERROR]: formatError(err) });
            throw new UnavailableError(`could not fetch JWT-SVID: ${formatError(err)}`, { cause: err });
          }
          svids.push(create(JWTSVIDSchema, {
            token: svid.token,
            id: idProto(entry.spiffeID),
            expiresAt: seconds(svid.expiresAt),
            issuedAt: seconds(svid.issuedAt),
            hint: entry.hint,
          }));
          entryLog.debug("Fetched JWT SVID", { ttl: (svid.expiresAt.getTime() - this.#c.clock.now().getTime()) / 1000 });
        }
        if (svids.length === 0) {
          log.error("No identity issued");
          throw new PermissionDeniedError("no identity issued");
        }
        return create(FetchJWTSVIDsResponseSchema, { svids });
      }),
      serverStreamMethod(
        { req: SubscribeToJWTBundlesRequestSchema, res: SubscribeToJWTBundlesResponseSchema, path: SUBSCRIBE_TO_JWT_BUNDLES },
        async (_req, ctx, send) => {
          const log = this.#log(ctx, "SubscribeToJWTBundles");
          const caller = await this.#authorize(ctx, log);
          let last: string | undefined;
          let first = true;
          await watchSerial(m, ctx, async () => {
            if (!first) await this.#authorize(ctx, log, caller);
            first = false;
            const msg = await jwtBundlesResponse(m);
            const key = Object.entries(msg.bundles).map(([td, v]) => `${td}=${new TextDecoder().decode(v)}`).join("\n");
            if (key === last) return;
            last = key;
            send(msg);
          });
        },
      ),
    ];
  }
}

/** The X.509-SVIDs with their keys, and the federated trust domains the identities' entries name (sorted). */
function x509SVIDsResponse(ids: Identity[], federatesWith: string[]): SubscribeToX509SVIDsResponse {
  return create(SubscribeToX509SVIDsResponseSchema, {
    x509Svids: ids.map((i) =>
      create(X509SVIDWithKeySchema, {
        x509Svid: create(X509SVIDSchema, { id: idProto(i.entry.spiffeID), certChain: i.svid.chain, expiresAt: seconds(i.svid.notAfter), hint: i.entry.hint }),
        x509SvidKey: i.svid.keyPKCS8,
      })
    ),
    federatesWith,
  });
}

/** Every bundle the agent holds (its own and each federated one), trust domain ID → concatenated DER roots. */
function x509BundlesResponse(m: AgentManager): SubscribeToX509BundlesResponse {
  const own = m.bundle();
  const caCertificates: Record<string, Uint8Array> = { [own.trustDomain]: concatDER(own.roots) };
  for (const f of m.allFederatedBundles()) caCertificates[f.trustDomain] = concatDER(f.roots);
  return create(SubscribeToX509BundlesResponseSchema, { caCertificates });
}

/** Every bundle the agent holds as a standard JWKS (JWT keys only), as SPIRE's bundleutil.Marshal(StandardJWKS). */
async function jwtBundlesResponse(m: AgentManager): Promise<SubscribeToJWTBundlesResponse> {
  const own = m.bundle();
  const enc = async (trustDomain: string, jwtKeys: typeof own.jwtKeys) =>
    new TextEncoder().encode(JSON.stringify(await toJWKS({ trustDomain, x509Authorities: [], jwtKeys, sequence: 0, refreshHint: 0 })));
  const bundles: Record<string, Uint8Array> = { [own.trustDomain]: await enc(own.trustDomain, own.jwtKeys) };
  for (const f of m.allFederatedBundles()) bundles[f.trustDomain] = await enc(f.trustDomain, f.jwtKeys);
  return create(SubscribeToJWTBundlesResponseSchema, { bundles });
}
