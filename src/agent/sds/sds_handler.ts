/**
 * Envoy's Secret Discovery Service (v3) on the Workload API socket, with SPIRE's stream state machine
 * (pkg/agent/endpoints/sdsv3): version per cache update, a fresh nonce per response, stale nonces ignored, NACKs
 * logged and not answered, and every cache update pushed for the last requested names.
 * @module
 */
import { formatError, UnavailableError, UnimplementedError } from "../../core/errors.ts";
import { toHex } from "../../core/encoding.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { CallContext, GRPCMethod } from "../../core/ports/grpc_server.ts";
import type { Selector } from "../../core/selector.ts";
import type { AgentManager } from "../manager/manager.ts";
import { bidiStreamMethod, unaryMethod } from "../workload/codec.ts";
import type { Node } from "../workload/proto/envoy/config/core/v3/base_pb.ts";
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "../workload/proto/envoy/service/discovery/v3/discovery_pb.ts";
import { buildSDSResponse, type SDSConfig, type SDSSnapshot } from "./sds_response.ts";

import { DELTA_SECRETS, FETCH_SECRETS, STREAM_SECRETS } from "./paths.ts";

export { DELTA_SECRETS, FETCH_SECRETS, STREAM_SECRETS };

type Event = { req: DiscoveryRequest } | { update: true } | { end: unknown };

export class SDSHandler {
  readonly #manager: AgentManager;
  readonly #attest: (ctx: CallContext) => Promise<Selector[]>;
  readonly #cfg: SDSConfig;
  readonly #log: Logger;
  readonly #nonce: () => string;

  /** `attest`: the Workload API's caller attestation without its security header (SDS needs none, as in SPIRE). */
  constructor(o: {
    manager: AgentManager;
    attest: (ctx: CallContext) => Promise<Selector[]>;
    config: SDSConfig;
    logger: Logger;
    /** Default: 4 random bytes as 8 lowercase hex characters (SPIRE's nextNonce). */
    nonce?: () => string;
  }) {
    this.#manager = o.manager;
    this.#attest = o.attest;
    this.#cfg = o.config;
    this.#log = o.logger.with({ subsystem_name: "endpoints", service: "SDS.v3" });
    this.#nonce = o.nonce ?? (() => toHex(crypto.getRandomValues(new Uint8Array(4))));
  }

  methods(): GRPCMethod[] {
    return [
      bidiStreamMethod({ req: DiscoveryRequestSchema, res: DiscoveryResponseSchema, path: STREAM_SECRETS }, (reqs, ctx, send) => this.#stream(reqs, ctx, send)),
      unaryMethod({ req: DiscoveryRequestSchema, res: DiscoveryResponseSchema, path: FETCH_SECRETS }, async (req, ctx) => {
        const selectors = await this.#attest(ctx);
        await this.#ensure(selectors);
        const resp = buildSDSResponse(this.#cfg, "", "", req, this.#snapshot(selectors));
        this.#log.debug("Sending FetchSecrets response", { [F.METHOD]: "FetchSecrets", [F.PID]: ctx.peer.pid, [F.COUNT]: resp.resources.length });
        return resp;
      }),
      bidiStreamMethod({ req: DeltaDiscoveryRequestSchema, res: DeltaDiscoveryResponseSchema, path: DELTA_SECRETS }, () => {
        return Promise.reject(new UnimplementedError("Method is not implemented"));
      }),
    ];
  }

  /**
   * Mints the workload's SVIDs that are not in the agent's cache (entries beyond x509_svid_cache_max_size), so a
   * name beyond the cache is served rather than refused. @throws {UnavailableError} when the server cannot sign
   */
  async #ensure(selectors: Selector[]): Promise<void> {
    try {
      await this.#manager.ensure(selectors);
    } catch (cause) {
      throw new UnavailableError(`could not fetch X509-SVID: ${formatError(cause)}`, { cause });
    }
  }

  #snapshot(selectors: Selector[]): SDSSnapshot {
    const b = this.#manager.bundle();
    const identities = this.#manager.identities(selectors);
    // The own trust domain plus the foreign ones the workload's entries federate with (SPIRE's ALL and spiffe://<td>).
    const bundles = new Map<string, Uint8Array[]>([[b.trustDomain, b.roots]]);
    for (const f of this.#manager.federatedBundlesFor(this.#manager.entriesFor(selectors))) bundles.set(f.trustDomain, f.roots);
    return { identities, trustDomainID: b.trustDomain, bundles };
  }

  /** What a cache notification changed for this workload; SPIRE notifies only the subscribers an update concerns. */
  #stateKey(selectors: Selector[]): string {
    const b = this.#manager.bundle();
    const ids = this.#manager.identities(selectors);
    return `${b.trustDomain}#${b.rootsVersion}#${this.#manager.federatedVersion}|` +
      ids.map((i) =>
        `${i.entry.id}:${i.entry.revisionNumber}:${i.svid.issuedAt.getTime()}:${i.svid.notAfter.getTime()}:${toHex(i.svid.chain[0] ?? new Uint8Array())}`
      ).join(",");
  }

  async #stream(requests: AsyncIterable<DiscoveryRequest>, ctx: CallContext, send: (m: DiscoveryResponse) => void): Promise<void> {
    const log = this.#log.with({ [F.METHOD]: "StreamSecrets", [F.PID]: ctx.peer.pid });
    const selectors = await this.#attest(ctx);
    // As a FetchX509SVID stream: the workload's SVIDs stay minted (and out of LRU eviction) while the stream is open.
    const release = this.#manager.hold(selectors);
    try {
      await this.#ensure(selectors);
      await this.#serve(selectors, requests, ctx, send, log);
    } finally {
      release();
    }
  }

  async #serve(
    selectors: Selector[],
    requests: AsyncIterable<DiscoveryRequest>,
    ctx: CallContext,
    send: (m: DiscoveryResponse) => void,
    log: Logger,
  ): Promise<void> {
    const events: Event[] = [];
    let wake: (() => void) | undefined;
    let updateQueued = false;
    const post = (e: Event) => {
      // Like SPIRE's one-slot update channel, a burst of cache changes becomes one update.
      if ("update" in e) {
        if (updateQueued) return;
        updateQueued = true;
      }
      events.push(e);
      const w = wake;
      wake = undefined;
      w?.();
    };
    let lastKey = this.#stateKey(selectors);
    // The agent serves only after its first sync, so the current cache is the subscription's first update.
    post({ update: true });
    const unsubscribe = this.#manager.subscribe(() => {
      const key = this.#stateKey(selectors);
      if (key === lastKey) return;
      lastKey = key;
      post({ update: true });
    });
    const onAbort = () => post({ end: undefined });
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    if (ctx.signal.aborted) post({ end: undefined });
    void (async () => {
      try {
        for await (const req of requests) post({ req });
        post({ end: undefined }); // client EOF ends the stream OK, as SPIRE
      } catch (err) {
        post({ end: err });
      }
    })();

    let version = 0;
    let versionInfo = "0";
    let lastNonce = "";
    let lastNode: Node | undefined;
    let haveUpdate = false;
    let lastReq: DiscoveryRequest | undefined;
    try {
      for (;;) {
        while (events.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        const e = events.shift()!;
        if ("end" in e) {
          if (e.end !== undefined) throw e.end;
          return;
        }
        if ("req" in e) {
          const req = e.req;
          log.debug("Received StreamSecrets request", { resource_names: req.resourceNames, version_info: req.versionInfo, nonce: req.responseNonce });
          if (req.errorDetail !== undefined) {
            log.error("Envoy reported errors applying secrets", { resource_names: req.resourceNames, [F.ERROR]: req.errorDetail.message });
          }
          if (lastNonce !== "") {
            if (lastNonce !== req.responseNonce) {
              log.warn("Received unexpected nonce; ignoring request", { nonce: req.responseNonce, expect: lastNonce });
              continue;
            }
            if (req.versionInfo === "" || req.versionInfo !== versionInfo) {
              // A NACK may also change the names, so processing carries on.
              log.error("Client rejected expected version and rolled back", { version_info: req.versionInfo, expect: versionInfo });
            }
            if (req.node === undefined) req.node = lastNode;
          }
          const changed = lastReq === undefined || namesChanged(lastReq.resourceNames, req.resourceNames);
          lastReq = req;
          if (!changed || !haveUpdate) continue;
        } else {
          updateQueued = false;
          version++;
          versionInfo = String(version);
          haveUpdate = true;
          if (lastReq === undefined) continue;
        }
        let resp: DiscoveryResponse;
        try {
          resp = buildSDSResponse(this.#cfg, versionInfo, this.#nonce(), lastReq, this.#snapshot(selectors));
        } catch (err) {
          log.error("Error building stream secrets response", { [F.ERROR]: err instanceof Error ? err.message : String(err) });
          throw err;
        }
        log.debug("Sending StreamSecrets response", { version_info: resp.versionInfo, nonce: resp.nonce, [F.COUNT]: resp.resources.length });
        send(resp);
        lastNonce = resp.nonce;
        if (lastReq.node !== undefined) lastNode = lastReq.node;
      }
    } finally {
      unsubscribe();
      ctx.signal.removeEventListener("abort", onAbort);
    }
  }
}

/** Whether the requested name set changed (SPIRE subListChanged: same length and every new name was asked before). */
function namesChanged(before: string[], after: string[]): boolean {
  if (before.length !== after.length) return true;
  const old = new Set(before);
  return after.some((n) => !old.has(n));
}
