/** The wisp agent: node attestation, the manager's sync and rotation, the Workload API and the admin API, run together. @module */
import { formatError } from "../core/errors.ts";
import * as F from "../core/log/fields.ts";
import { type Logger, LogLevelControl } from "../core/log/logger.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { FS } from "../core/ports/fs.ts";
import type { GRPCServerHandle, ServeGRPC } from "../core/ports/grpc_server.ts";
import type { HTTPServe, HTTPServerHandle } from "../core/ports/http_server.ts";
import type { ServerConnector } from "../core/ports/server_connector.ts";
import type * as spiffeid from "../core/spiffeid/mod.ts";
import { METRICS_CONTENT_TYPE, Registry } from "../core/metrics/registry.ts";
import { servePrometheus } from "../core/metrics/serve_prometheus.ts";
import { ServerClient } from "./client/server_client.ts";
import type { AgentNodeAttestor } from "./nodeattestor/node_attestor.ts";
import { AgentManager } from "./manager/manager.ts";
import type { ServerEndpoint } from "./server_addresses.ts";
import { type WorkloadAttestor, WorkloadHandler } from "./workload/handler.ts";
import { lazyMethods } from "./workload/lazy_methods.ts";
import { DEFAULT_SDS_CONFIG, type SDSConfig } from "./sds/sds_config.ts";
import { SDS_METHODS } from "./sds/paths.ts";

export interface AgentOptions {
  trustDomain: spiffeid.TrustDomain;
  serverAddress: string;
  serverPort: number;
  /** Every server sharing the datastore, in preference order; absent: only serverAddress:serverPort. */
  servers?: ServerEndpoint[] | undefined;
  socketPath: string;
  /** KeyManager "disk" directory for the agent key and SVID; absent: KeyManager "memory". */
  keyDirectory?: string | undefined;
  /** The bootstrap bundle, loaded at each attestation attempt; absent with insecure_bootstrap. */
  bootstrapBundle?: (() => Promise<Uint8Array[]>) | undefined;
  /** SPIRE's rebootstrap_mode; default "never". Other modes let attestation retry for 24 h instead of 1 min. */
  rebootstrapMode?: "never" | "auto" | "always" | undefined;
  /** ms; default 10 min. */
  rebootstrapDelay?: number | undefined;
  insecureBootstrap: boolean;
  /** How long to wait for the first sync before giving up, ms (SPIRE retries for about a minute). */
  initialSyncTimeout?: number;
  healthChecks?: { bindAddress: string; bindPort: number; livePath: string; readyPath: string } | undefined;
  /** `telemetry { Prometheus { host port } }`: a listener of its own serving the metrics registry. */
  prometheus?: { host: string; port: number } | undefined;
  /** Workloads without an identity may fetch X.509 and JWT bundles (`allow_unauthenticated_verifiers`). */
  allowUnauthenticatedVerifiers?: boolean | undefined;
  /** `experimental.sync_interval`: first delay before reconnecting the sync stream, ms; absent: 500 ms. */
  syncInterval?: number | undefined;
  /** Envoy SDS names and validator choice (the `sds` block); absent: SPIRE's defaults. */
  sds?: SDSConfig | undefined;
  /** `disable_sds_api`: serve only the Workload API on the socket. */
  disableSDSAPI?: boolean | undefined;
  /** `admin_socket_path`: serve SPIRE's agent admin API (Debug, Logger, Delegated Identity) there; absent: not served. */
  adminSocketPath?: string | undefined;
  /** `authorized_delegates`: SPIFFE IDs that may call the Delegated Identity API. */
  authorizedDelegates?: readonly string[] | undefined;
  /** `x509_svid_cache_max_size`; absent: 1,000. */
  svidCacheMaxSize?: number | undefined;
  /** `jwt_svid_cache_max_size`; absent: 1,000. */
  jwtSVIDCacheMaxSize?: number | undefined;
}

export interface AgentDeps {
  options: AgentOptions;
  connector: ServerConnector;
  serveGRPC: ServeGRPC;
  http?: HTTPServe;
  attestor: WorkloadAttestor;
  /** The node attestor (join_token, x509pop …). */
  nodeAttestor: AgentNodeAttestor;
  fs: FS;
  clock: Clock;
  logger: Logger;
  onReady?: () => void;
  /** Served as Prometheus text at `/metrics` on the health listener. */
  metrics?: Registry;
  /** The level `logger` filters by, which the admin API's Logger service reads and changes; absent: "info". */
  logLevel?: LogLevelControl;
}

export class Agent {
  #d: AgentDeps;
  constructor(deps: AgentDeps) {
    this.#d = deps;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { options: o, clock, logger } = this.#d;
    const startedAt = clock.now();
    const client = new ServerClient({
      connector: this.#d.connector,
      address: o.serverAddress,
      port: o.serverPort,
      servers: o.servers,
      trustDomain: o.trustDomain,
      logger: logger.with({ subsystem_name: "server_client" }),
    });
    const manager = new AgentManager({
      trustDomain: o.trustDomain,
      client,
      fs: this.#d.fs,
      keyDirectory: o.keyDirectory,
      attestor: this.#d.nodeAttestor,
      rebootstrapMode: o.rebootstrapMode,
      rebootstrapDelay: o.rebootstrapDelay,
      bootstrapBundle: o.bootstrapBundle,
      insecureBootstrap: o.insecureBootstrap,
      syncInterval: o.syncInterval,
      svidCacheMaxSize: o.svidCacheMaxSize,
      jwtSVIDCacheMaxSize: o.jwtSVIDCacheMaxSize,
      clock,
      logger,
    });
    await this.#retry("attest", () => manager.initialize(), signal);
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    const running = manager.run(stop.signal);
    // A fatal manager error (the agent SVID expired) must also end the wait for the first sync, and win over the abort.
    let fatal: unknown;
    running.catch((err: unknown) => {
      fatal = err;
      stop.abort();
    });
    let grpc: GRPCServerHandle | undefined;
    let admin: GRPCServerHandle | undefined;
    let health: HTTPServerHandle | undefined;
    let prometheus: HTTPServerHandle | undefined;
    try {
      await this.#waitForSync(manager, stop.signal);
      const handler = new WorkloadHandler({
        manager,
        attestor: this.#d.attestor,
        logger,
        clock,
        allowUnauthenticatedVerifiers: o.allowUnauthenticatedVerifiers === true,
      });
      const methods = handler.methods();
      if (o.disableSDSAPI !== true) {
        // Envoy's schemas cost about 10 MB: loaded when the first SDS call arrives, not by every agent.
        methods.push(...lazyMethods(SDS_METHODS, async () => {
          const { SDSHandler } = await import("./sds/sds_handler.ts");
          return new SDSHandler({ manager, attest: (ctx) => handler.attestPeer(ctx), config: o.sds ?? DEFAULT_SDS_CONFIG, logger }).methods();
        }));
      }
      grpc = await this.#d.serveGRPC({ socketPath: o.socketPath, methods, logger, socketMode: 0o777 });
      const metrics = this.#d.metrics ?? new Registry();
      const server = grpc;
      metrics.gauge("wisp_agent_workload_api_streams", "Open Workload API streams").collect(() => server.openStreams());
      metrics.gauge("wisp_agent_entries", "Registration entries the agent holds").collect(() => manager.stats().entries);
      metrics.gauge("wisp_agent_x509_svids_cached", "Workload X509-SVIDs in the cache").collect(() => manager.stats().svids);
      metrics.gauge("wisp_agent_x509_svids_minted", "Workload X509-SVIDs obtained since start").collect(() => manager.stats().minted);
      metrics.gauge("wisp_agent_sync_snapshots", "Sync messages (snapshots and deltas) applied since start").collect(() => manager.stats().snapshots);
      metrics.gauge("wisp_agent_sync_apply_seconds", "Time the last sync message took to apply (SVIDs are minted afterwards)").collect(() =>
        manager.stats().lastApplyMs / 1000
      );
      if (o.healthChecks && this.#d.http) {
        const hc = o.healthChecks;
        health = await this.#d.http.http({
          hostname: hc.bindAddress,
          port: hc.bindPort,
          fetch: (req) => {
            const p = new URL(req.url).pathname;
            if (p === hc.livePath) return new Response("ok");
            if (p === hc.readyPath) return new Response(manager.synced ? "ok" : "not ready", { status: manager.synced ? 200 : 503 });
            if (p === "/metrics") return new Response(metrics.render(), { headers: { "content-type": METRICS_CONTENT_TYPE } });
            return new Response("not found", { status: 404 });
          },
        });
      }
      if (o.prometheus && this.#d.http) prometheus = await servePrometheus({ http: this.#d.http, metrics, logger, ...o.prometheus });
      logger.with({ subsystem_name: "endpoints" }).info("Starting Workload and SDS APIs", {
        [F.ADDRESS]: o.socketPath,
        network: "unix",
        // SPIRE's later releases name what the socket serves; wisp keeps the v1.15 message that scripts grep for.
        apis: o.disableSDSAPI === true ? "Workload API" : "Workload and SDS APIs",
        [F.SPIFFE_ID]: manager.agentID,
      });
      if (o.adminSocketPath !== undefined) {
        const { serveAdminAPI } = await import("./admin/serve_admin_api.ts");
        admin = await serveAdminAPI({
          serveGRPC: this.#d.serveGRPC,
          socketPath: o.adminSocketPath,
          manager,
          attestCaller: (ctx) => handler.attestPeer(ctx),
          attestPID: (pid) => this.#d.attestor.attest({ pid, uid: -1, gid: -1 }),
          authorizedDelegates: o.authorizedDelegates ?? [],
          logLevel: this.#d.logLevel ?? new LogLevelControl("info"),
          startedAt,
          clock,
          logger,
        });
      }
      this.#d.onReady?.();
      await running;
    } catch (err) {
      throw fatal ?? err;
    } finally {
      signal.removeEventListener("abort", onAbort);
      stop.abort();
      await grpc?.close();
      if (admin) {
        const log = logger.with({ network: "unix", [F.ADDRESS]: o.adminSocketPath });
        log.info("Stopping Admin APIs");
        await admin.close();
        log.info("Admin APIs have stopped");
      }
      await health?.close();
      await prometheus?.close();
      await client.close();
      await running.catch(() => {});
    }
  }

  async #waitForSync(manager: AgentManager, signal: AbortSignal): Promise<void> {
    const deadline = this.#d.clock.now().getTime() + (this.#d.options.initialSyncTimeout ?? 60_000);
    while (!manager.synced) {
      if (signal.aborted) throw signal.reason;
      if (this.#d.clock.now().getTime() > deadline) throw new Error("timed out waiting for the first sync with the server");
      await new Promise<void>((resolve) => {
        const off = manager.subscribe(() => {
          off();
          resolve();
        });
        void this.#d.clock.sleep(200, signal).then(() => {
          off();
          resolve();
        }, () => resolve());
      });
    }
  }

  /**
   * SPIRE retries attestation with backoff for about a minute (24 h with rebootstrapping on) before giving up;
   * permanent errors stop at once.
   */
  async #retry(what: string, fn: () => Promise<void>, signal: AbortSignal): Promise<void> {
    let delay = 500;
    const limit = (this.#d.options.rebootstrapMode ?? "never") === "never" ? 60_000 : 24 * 3_600_000;
    const deadline = this.#d.clock.now().getTime() + limit;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        const status = (err as { status?: string }).status;
        if (status !== "UNAVAILABLE" || this.#d.clock.now().getTime() + delay > deadline || signal.aborted) throw err;
        // SPIRE's line for a failed attempt (bundle download, unreachable or untrusted server).
        this.#d.logger.warn("Failed to retrieve attestation result", { step: what, [F.ERROR]: formatError(err), retry_interval: `${delay / 1000}s` });
        await this.#d.clock.sleep(delay, signal);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }
}
