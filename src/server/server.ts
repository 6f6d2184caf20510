/** The wisp server: CA manager, agent API (HTTPS), admin API (Unix socket) and the sync hub, run together. @module */
import { formatError } from "../core/errors.ts";
import * as F from "../core/log/fields.ts";
import type { Logger, LogLevelControl } from "../core/log/logger.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { HTTPServe, HTTPServerHandle, TLSServerHandle } from "../core/ports/http_server.ts";
import type * as spiffeid from "../core/spiffeid/mod.ts";
import type { NameInput } from "../core/x509/mod.ts";
import { adminApp } from "./api/admin_app.ts";
import { agentApp } from "./api/agent_app.ts";
import { SyncHub } from "./api/sync_hub.ts";
import { CAManager } from "./ca/ca_manager.ts";
import { JWTSVIDSigner } from "./ca/jwt_signer.ts";
import { ServerCA } from "./ca/server_ca.ts";
import type { DataStore } from "./datastore/datastore.ts";
import type { KeyManager } from "./keymanager/key_manager.ts";
import { JoinTokenAttestor } from "./nodeattestor/join_token.ts";
import type { ServerNodeAttestor } from "./nodeattestor/node_attestor.ts";
import { issueServerSVID, type ServerSVID } from "./server_svid.ts";
import type { UpstreamAuthority } from "./upstreamauthority/upstream_authority.ts";
import { METRICS_CONTENT_TYPE, Registry } from "../core/metrics/registry.ts";
import { countingUpstream } from "./upstreamauthority/counting_upstream.ts";
import { hostPort, servePrometheus } from "../core/metrics/serve_prometheus.ts";
import { type AWSPCAFactory, ManagedUpstream } from "./upstreamauthority/managed_upstream.ts";
import { WISP_VERSION } from "../core/version.ts";
import type { ConsoleSource } from "./console/console_source.ts";
import { serveConsole } from "./console/serve_console.ts";
import { activitySeries, sampleActivity, upstreamCalls } from "./console/activity_series.ts";
import type { FederationConfig } from "./federation/federation_config.ts";
import { BundleRefresher } from "./federation/bundle_refresher.ts";
import { bundleEndpointApp } from "./federation/bundle_endpoint.ts";
import type { ServerConnector } from "../core/ports/server_connector.ts";
import type { HTTPGet } from "../core/ports/http_get.ts";
import { fromPEM } from "../core/x509/mod.ts";
import { agentFacingMethods } from "./grpcapi/agent_facing_methods.ts";
import { unimplementedMethods } from "./grpcapi/unimplemented_methods.ts";
import { authorizeMethods } from "./grpcapi/authorize_methods.ts";
import { statusDetails } from "./grpcapi/status_details.ts";
import { tlsCallerAuthenticator } from "./grpcapi/tls_caller.ts";
import type { ServeGRPC, ServeGRPCTLS } from "../core/ports/grpc_server.ts";
import { adminSocketMethods, serverAPIMethods } from "./grpcapi/server_api_methods.ts";

export interface ServerOptions {
  trustDomain: spiffeid.TrustDomain;
  bindAddress: string;
  bindPort: number;
  socketPath: string;
  /** ms */
  caTTL: number;
  /** `ca_subject`: subject of self-signed CAs and of CA CSRs sent upstream; default C=US, O=SPIFFE. */
  caSubject?: NameInput | undefined;
  /** ms */
  defaultX509SVIDTTL: number;
  /** ms */
  agentTTL: number;
  /** ms; default 5 min (SPIRE default_jwt_svid_ttl). */
  defaultJWTSVIDTTL?: number | undefined;
  /** `iss` claim of JWT-SVIDs (`jwt_issuer`); absent: no `iss`. */
  jwtIssuer?: string | undefined;
  healthChecks?: { bindAddress: string; bindPort: number; livePath: string; readyPath: string } | undefined;
  /** `telemetry { Prometheus { host port } }`: a listener of its own serving the metrics registry. */
  prometheus?: { host: string; port: number } | undefined;
  /** `disable_jwt_svids`: JWT-SVID requests fail with "JWT functionality is disabled". */
  disableJWTSVIDs?: boolean | undefined;
  /** `experimental.cache_reload_interval`: the poll for changes made by other servers, ms; default 500 ms. */
  cacheReloadInterval?: number | undefined;
  /** How often CA rotation and managed config are checked, ms; default 10 s (SPIRE's rotator). */
  caRotateInterval?: number | undefined;
  /** `console { bind_address bind_port }`: the read-only web console; absent: none. */
  console?: { bindAddress: string; bindPort: number } | undefined;
  /**
   * `admin_ids`: SPIFFE IDs that may call SPIRE's admin RPCs on the server port (mTLS), and enter the console over mTLS
   * when it is not on a loopback address.
   */
  adminIDs?: readonly string[] | undefined;
  /** How often the console's event stream looks for changes, ms; default 1 s. */
  consoleChangePollMs?: number | undefined;
  /** `federation`: bundle endpoint and federated trust domains. */
  federation?: FederationConfig | undefined;
}

export interface ServerDeps {
  options: ServerOptions;
  ds: DataStore;
  keyManager: KeyManager;
  upstream?: UpstreamAuthority | undefined;
  /** Node attestors by name; default: join_token only. */
  nodeAttestors?: ReadonlyMap<string, ServerNodeAttestor> | undefined;
  /** Builds aws_pca for a managed UpstreamAuthority document (`wisp-server config set`); absent: such documents are refused. */
  managedUpstream?: AWSPCAFactory | undefined;
  http: HTTPServe;
  /**
   * Serves SPIRE's gRPC API beside the agent API's HTTPS on the server port (ALPN h2 / http/1.1). Absent: the port serves
   * the HTTPS agent API only.
   */
  grpcTLS?: ServeGRPCTLS | undefined;
  /**
   * Serves SPIRE's server API (spire-api-sdk gRPC) on the admin socket, with the JSON API on the same socket for
   * HTTP/1.1 clients; absent: the admin socket serves the JSON API alone.
   */
  serveGRPC?: ServeGRPC | undefined;
  clock: Clock;
  logger: Logger;
  /** The logger's level, changeable at runtime through `logger set|reset`. */
  logLevel?: LogLevelControl | undefined;
  /** Where metrics go; served as Prometheus text at `/metrics` on the health listener. */
  metrics?: Registry;
  /** Fetches foreign bundles over https_spiffe (TLS checked against a stored bundle and the endpoint's SPIFFE ID). */
  connector?: ServerConnector | undefined;
  /** Fetches foreign bundles over https_web (the runtime's Web PKI roots). */
  httpGet?: HTTPGet | undefined;
  /** Reads the https_web bundle endpoint's certificate and key files. */
  readFile?: ((path: string) => Promise<Uint8Array>) | undefined;
  /** Called once every listener is up (tests and `run` use it to print readiness). */
  onReady?: (info: { agentAPIPort: number; consoleURL?: string | undefined; bundleEndpointPort?: number }) => void;
}

export class Server {
  #d: ServerDeps;
  #svid: ServerSVID | undefined;

  constructor(deps: ServerDeps) {
    this.#d = deps;
  }

  /** Runs until `signal` aborts. Rejects if the CA cannot be initialised or a listener cannot bind. */
  async run(signal: AbortSignal): Promise<void> {
    const { options: o, ds, clock, logger } = this.#d;
    const metrics = this.#d.metrics ?? new Registry();
    const td = o.trustDomain;
    const managed = new ManagedUpstream({
      ds,
      configured: this.#d.upstream,
      build: this.#d.managedUpstream,
      wrap: (u) => countingUpstream(u, { metrics, clock }),
      logger,
    });
    const rotateInterval = o.caRotateInterval ?? 10_000;
    const caManager = new CAManager({
      trustDomain: td,
      keyManager: this.#d.keyManager,
      ds,
      clock,
      logger,
      caTTL: o.caTTL,
      caSubject: o.caSubject,
      upstream: () => managed.current(),
      rotateInterval,
    });
    await caManager.initialize();
    const ca = new ServerCA({ manager: caManager, clock, defaultX509SVIDTTL: o.defaultX509SVIDTTL, metrics });
    const jwt = new JWTSVIDSigner({ keys: caManager, clock, defaultTTL: o.defaultJWTSVIDTTL ?? 5 * 60_000, issuer: o.jwtIssuer });
    const hub = new SyncHub({ ds, trustDomain: td.name, logger, clock, metrics });
    const startedAt = clock.now();
    const svidTTL = Math.floor(o.defaultX509SVIDTTL / 1000);
    this.#svid = await issueServerSVID(ca, td, clock.now(), svidTTL);

    const handles: HTTPServerHandle[] = [];
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const nodeAttestors = this.#d.nodeAttestors ?? new Map([["join_token", new JoinTokenAttestor({ ds, clock, trustDomain: td })]]);
      const agentAPI = agentApp({
        ds,
        ca,
        jwt,
        jwtDisabled: o.disableJWTSVIDs === true,
        hub,
        clock,
        logger,
        trustDomain: td,
        agentTTL: Math.floor(o.agentTTL / 1000),
        nodeAttestors,
        metrics,
      });
      const fed = o.federation;
      const refresher = fed && (fed.federatesWith.length > 0 || this.#d.connector)
        ? new BundleRefresher({
          ds,
          clock,
          logger,
          metrics,
          configured: fed.federatesWith,
          connector: this.#d.connector ?? {
            connect: () => {
              throw new Error("https_spiffe is not available in this build");
            },
          },
          httpGet: this.#d.httpGet ?? (() => Promise.reject(new Error("https_web is not available in this build"))),
          onChange: () => void hub.notify(),
        })
        : undefined;
      // SPIRE's server API (spire-api-sdk): the same services on the admin socket (every local caller) and on the port
      // (callers authorized by SPIRE's policy from their client certificate).
      const apiDeps = {
        ds,
        trustDomain: td,
        caManager,
        clock,
        logger,
        notify: () => void hub.notify(),
        disconnect: (id: string) => hub.disconnect(id),
        ca,
        jwt,
        logLevel: this.#d.logLevel,
        refresher,
        federatesWith: fed?.federatesWith,
        startedAt,
        serverSVIDChain: () => fromPEM(this.#svid!.credentials.certChainPEM, "CERTIFICATE"),
      };
      // On the port: the agent-facing RPCs plus the admin services; every other RPC of the port's services is refused
      // by the policy or answered Unimplemented. Debug, Logger and Health stay on the socket, as in SPIRE.
      const portMethods = [
        ...agentFacingMethods({
          ds,
          ca,
          jwt,
          jwtDisabled: o.disableJWTSVIDs === true,
          hub,
          log: logger.with({ subsystem_name: "api" }),
          agentTTL: Math.floor(o.agentTTL / 1000),
          metrics,
          nodeAttestors,
        }),
        ...serverAPIMethods(apiDeps),
      ];
      const serveGRPC = this.#d.grpcTLS;
      const tls: TLSServerHandle = serveGRPC
        ? await serveGRPC({
          hostname: o.bindAddress,
          port: o.bindPort,
          credentials: this.#svid.credentials,
          fetch: (req, env) => agentAPI.fetch(req, env),
          methods: authorizeMethods([...portMethods, ...unimplementedMethods(portMethods)], { ds, adminIDs: o.adminIDs ?? [], logger }),
          authenticate: tlsCallerAuthenticator({
            ds,
            clock,
            trustDomain: td,
            adminIDs: o.adminIDs ?? [],
            logger: logger.with({ subsystem_name: "endpoints" }),
          }),
          statusDetails,
          logger,
        })
        : await this.#d.http.https({
          hostname: o.bindAddress,
          port: o.bindPort,
          fetch: (req, env) => agentAPI.fetch(req, env),
          credentials: this.#svid.credentials,
        });
      handles.push(tls);
      const health = () => {
        const h = caManager.health();
        const federated = refresher?.status() ?? [];
        const fedFailing = federated.filter((f) => f.consecutiveFailures > 0);
        const caValid = h.caNotAfter !== undefined && h.caNotAfter.getTime() > clock.now().getTime();
        // The datastore as the sync hub's 500 ms poll last saw it: while it is down agents keep what they hold, but
        // this server can authenticate no agent and sign nothing new, so it is not ready (restarting would not help,
        // so it stays live).
        const dsHealth = hub.datastoreHealth();
        const ready = caValid && dsHealth.ok;
        // Degraded: the CA is valid, but the datastore is unreachable or the last rotation attempt failed.
        const status = !caValid ? "unhealthy" : !dsHealth.ok || h.consecutiveFailures > 0 || fedFailing.length > 0 ? "degraded" : "healthy";
        return {
          // SPIRE reports not-live after 10 failed rotations; a restart cannot bring an unreachable upstream back,
          // and this server still signs with a valid CA, so it stays live until that CA is gone.
          live: caValid || h.failedRotations <= 10,
          ready,
          details: {
            status,
            datastore: dsHealth.ok ? "ok" : "unavailable",
            ...(dsHealth.ok ? {} : { datastore_error: dsHealth.lastError, datastore_down_since: dsHealth.since?.toISOString() }),
            ca_expires_at: h.caNotAfter?.toISOString() ?? null,
            ca_upstream_authority: h.caUpstream ?? null,
            failed_rotations: h.failedRotations,
            consecutive_failures: h.consecutiveFailures,
            last_error: h.lastError ??
              (fedFailing.length > 0 ? `unable to refresh the bundle of ${fedFailing.map((f) => `${f.trustDomain} (${f.lastError})`).join(", ")}` : undefined),
            managed_config_version: managed.version,
            ...(federated.length > 0 ? { federated_bundles: federated } : {}),
          },
        };
      };
      const admin = adminApp({
        ds,
        caManager,
        hub,
        clock,
        logger,
        trustDomain: td,
        health,
        onManagedConfig: () => void managed.refresh(),
        ca,
        jwt,
        logLevel: this.#d.logLevel,
        refresher,
        federatesWith: fed?.federatesWith,
      });
      if (this.#d.serveGRPC) {
        const methods = adminSocketMethods(apiDeps);
        // SPIRE's socket mode; every local caller is served alike (no peer attestation on the admin socket).
        const grpcHandle = await this.#d.serveGRPC({
          socketPath: o.socketPath,
          methods,
          logger,
          socketMode: 0o770,
          http: (req) => admin.fetch(req),
          requirePeer: false,
          apiName: "Server API",
        });
        handles.push({ port: 0, close: () => grpcHandle.close() });
      } else {
        handles.push(await this.#d.http.unix({ socketPath: o.socketPath, mode: 0o770, fetch: (req) => admin.fetch(req) }));
      }
      metrics.gauge("wisp_server_ca_expiry_seconds", "Seconds until the active X509 CA expires").collect(() => {
        const at = caManager.health().caNotAfter;
        return at ? Math.round((at.getTime() - clock.now().getTime()) / 1000) : 0;
      });
      metrics.gauge("wisp_server_ca_rotation_failures", "Failed CA rotation attempts since start").collect(() => caManager.health().failedRotations);
      metrics.gauge("wisp_server_agent_sync_streams", "Open agent sync streams").collect(() => hub.subscribers);
      if (o.healthChecks) handles.push(await this.#healthListener(health, metrics));
      let bundleEndpoint: TLSServerHandle | undefined;
      let reloadWebCert: (() => Promise<void>) | undefined;
      if (fed?.bundleEndpoint) {
        const be = fed.bundleEndpoint;
        const app = bundleEndpointApp({ ds, trustDomain: td.name, refreshHintSeconds: Math.round(be.refreshHint / 1000), logger });
        let credentials = this.#svid.credentials;
        if (be.profile.type === "https_web") {
          const p = be.profile;
          const read = this.#d.readFile;
          if (!read) throw new Error("the https_web bundle endpoint profile needs file access");
          const load = async () => {
            const [cert, key] = await Promise.all([read(p.certFilePath), read(p.keyFilePath)]);
            const certPEM = new TextDecoder().decode(cert);
            if (fromPEM(certPEM, "CERTIFICATE").length === 0) throw new Error(`no certificate found in ${p.certFilePath}`);
            return { certChainPEM: certPEM, keyPEM: new TextDecoder().decode(key) };
          };
          credentials = await load();
          reloadWebCert = async () => {
            try {
              bundleEndpoint?.setCredentials(await load());
            } catch (err) {
              logger.warn("Failed to reload bundle endpoint serving certificate", { [F.ERROR]: formatError(err) });
            }
          };
        }
        bundleEndpoint = await this.#d.http.https({ hostname: be.address, port: be.port, fetch: (req) => app.fetch(req), credentials });
        handles.push(bundleEndpoint);
        logger.with({ subsystem_name: "endpoints" }).info("Serving bundle endpoint", {
          [F.ADDRESS]: hostPort(be.address, bundleEndpoint.port),
          profile: be.profile.type,
        });
      }
      if (o.prometheus) handles.push(await servePrometheus({ http: this.#d.http, metrics, logger, ...o.prometheus }));
      let consoleTLS: TLSServerHandle | undefined;
      let consoleURL: string | undefined;
      let activity: ConsoleSource["activity"] | undefined;
      if (o.console) {
        activity = activitySeries(metrics, clock);
        const source: ConsoleSource = {
          trustDomain: td,
          version: WISP_VERSION,
          startedAt,
          clock,
          ds,
          caTTL: o.caTTL,
          caView: () => caManager.view(),
          caHealth: () => caManager.health(),
          datastoreHealth: () => hub.datastoreHealth(),
          connectedAgents: () => hub.connectedAgents(),
          authorizedEntries: (id, sel) => hub.authorizedEntries(id, sel),
          upstreamCalls: () => upstreamCalls(metrics),
          activity,
        };
        const c = await serveConsole({
          http: this.#d.http,
          source,
          logger,
          ...o.console,
          adminIDs: o.adminIDs ?? [],
          credentials: this.#svid.credentials,
          changePollMs: o.consoleChangePollMs,
        });
        handles.push(c.handle);
        consoleTLS = c.tls;
        consoleURL = c.url;
      }

      const renewSVID = async () => {
        try {
          this.#svid = await issueServerSVID(ca, td, clock.now(), svidTTL);
          tls.setCredentials(this.#svid.credentials);
          consoleTLS?.setCredentials(this.#svid.credentials);
          if (bundleEndpoint && fed?.bundleEndpoint?.profile.type === "https_spiffe") bundleEndpoint.setCredentials(this.#svid.credentials);
          logger.debug("Server SVID rotated", { [F.EXPIRATION]: this.#svid.notAfter.toISOString() });
        } catch (err) {
          logger.warn("Failed to rotate server SVID", { [F.ERROR]: formatError(err) });
        }
      };
      caManager.onActivate(() => {
        void renewSVID();
        void hub.notify();
      });
      // SPIRE logs this once per listener (TCP and the local socket); its integration scripts count two.
      const endpoints = logger.with({ subsystem_name: "endpoints" });
      endpoints.info("Starting Server APIs", { [F.ADDRESS]: hostPort(o.bindAddress, tls.port), network: "tcp" });
      endpoints.info("Starting Server APIs", { [F.ADDRESS]: o.socketPath, network: "unix" });
      this.#d.onReady?.({ agentAPIPort: tls.port, consoleURL, ...(bundleEndpoint ? { bundleEndpointPort: bundleEndpoint.port } : {}) });
      await Promise.all([
        activity ? sampleActivity(activity, { clock, signal: stop.signal }) : undefined,
        caManager.run(stop.signal),
        this.#pollManaged(stop.signal, managed, rotateInterval),
        hub.run(stop.signal, o.cacheReloadInterval),
        this.#svidLoop(stop.signal, renewSVID),
        refresher?.run(stop.signal),
        reloadWebCert && fed?.bundleEndpoint?.profile.type === "https_web"
          ? this.#every(stop.signal, fed.bundleEndpoint.profile.fileSyncInterval, reloadWebCert)
          : undefined,
      ]);
    } finally {
      signal.removeEventListener("abort", onAbort);
      stop.abort();
      await Promise.all(handles.map((h) => h.close().catch(() => {})));
    }
  }

  /** Picks up managed-config changes made through any server sharing the datastore. */
  async #pollManaged(signal: AbortSignal, managed: ManagedUpstream, every: number): Promise<void> {
    while (!signal.aborted) {
      await managed.refresh();
      try {
        await this.#d.clock.sleep(every, signal);
      } catch {
        return;
      }
    }
  }

  async #every(signal: AbortSignal, ms: number, fn: () => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#d.clock.sleep(ms, signal);
      } catch {
        return;
      }
      await fn();
    }
  }

  async #svidLoop(signal: AbortSignal, renew: () => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      const s = this.#svid!;
      const half = (s.notAfter.getTime() - s.issuedAt.getTime()) / 2;
      const wait = Math.max(1000, s.issuedAt.getTime() + half - this.#d.clock.now().getTime());
      try {
        await this.#d.clock.sleep(Math.min(wait, 60_000), signal);
      } catch {
        return;
      }
      if (this.#d.clock.now().getTime() >= s.issuedAt.getTime() + half) await renew();
    }
  }

  async #healthListener(health: () => { live: boolean; ready: boolean }, metrics: Registry): Promise<HTTPServerHandle> {
    const hc = this.#d.options.healthChecks!;
    return this.#d.http.http({
      hostname: hc.bindAddress,
      port: hc.bindPort,
      fetch: (req) => {
        const p = new URL(req.url).pathname;
        const h = health();
        if (p === hc.livePath) return new Response(h.live ? "ok" : "not live", { status: h.live ? 200 : 503 });
        if (p === hc.readyPath) return new Response(h.ready ? "ok" : "not ready", { status: h.ready ? 200 : 503 });
        if (p === "/metrics") return new Response(metrics.render(), { headers: { "content-type": METRICS_CONTENT_TYPE } });
        return new Response("not found", { status: 404 });
      },
    });
  }
}
