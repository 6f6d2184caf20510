/** `wisp-server run`: load and validate the config, compose the plugins, run until a signal. @module */
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { ConfigStatus } from "../../core/config/mod.ts";
import { formatError, InvalidArgumentError } from "../../core/errors.ts";
import { type LevelName, type Logger, LogLevelControl } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { FS } from "../../core/ports/fs.ts";
import type { HTTPServe } from "../../core/ports/http_server.ts";
import type { HTTPGet } from "../../core/ports/http_get.ts";
import type { ServerConnector } from "../../core/ports/server_connector.ts";
import type { DataStoreConfig, ServerConfig } from "../config.ts";
import { loadServerConfigFromFlags, SERVER_RUN_FLAGS } from "./run_flags.ts";
import type { DataStore } from "../datastore/datastore.ts";
import { DiskKeyManager } from "../keymanager/disk.ts";
import type { KeyManager } from "../keymanager/key_manager.ts";
import { MemoryKeyManager } from "../keymanager/memory.ts";
import { Server } from "../server.ts";
import type { ServeGRPCTLS } from "../../core/ports/grpc_server.ts";
import type { ServeGRPC } from "../../core/ports/grpc_server.ts";
import { buildNodeAttestors, type NodeAttestorFactories, PORTABLE_NODE_ATTESTORS } from "../nodeattestor/registry.ts";
import type { UpstreamAuthority } from "../upstreamauthority/upstream_authority.ts";
import type { AWSPCAFactory } from "../upstreamauthority/managed_upstream.ts";

export interface ServerRuntime {
  fs: FS;
  http: HTTPServe;
  /** SPIRE's gRPC API on the server port beside the HTTPS agent API. */
  grpcTLS?: ServeGRPCTLS;
  /** Serves SPIRE's gRPC API (and the JSON API beside it) on the admin socket; absent: the JSON API alone. */
  serveGRPC?: ServeGRPC;
  clock: Clock;
  /** Builds the process logger from the validated config (sink, format, file) at the level `level` holds. */
  logger(cfg: ServerConfig, level: LogLevelControl): Logger;
  openDataStore(cfg: DataStoreConfig, logger: Logger): Promise<DataStore>;
  /** Builds the configured upstream authority, if any (aws_pca, disk). */
  upstream?(cfg: ServerConfig, logger: Logger): Promise<UpstreamAuthority | undefined>;
  /** Builds a KeyManager that lives outside portable code (aws_kms); undefined leaves memory/disk to `run`. */
  keyManager?(cfg: ServerConfig, logger: Logger): Promise<KeyManager | undefined>;
  /** Builds aws_pca for a managed UpstreamAuthority document (`wisp-server config set`). */
  managedUpstream?: AWSPCAFactory;
  /** https_spiffe client for federated bundle endpoints. */
  connector?: ServerConnector;
  /** https_web client for federated bundle endpoints. */
  httpGet?: HTTPGet;
  /** Node attestor factories beyond the portable ones (join_token, x509pop), e.g. aws_iid; merged over them. */
  nodeAttestorFactories?: NodeAttestorFactories;
}

export function runCommand(rt: ServerRuntime): Command {
  return defineCommand({
    name: "run",
    synopsis: "Runs the server",
    flags: SERVER_RUN_FLAGS,
    examples: ["run -config conf/server.conf", "run -config conf/server.conf -logLevel DEBUG"],
    async run(ctx, flags) {
      const status = new ConfigStatus();
      const cfg = await loadServerConfigFromFlags(ctx, rt.fs, flags, status);
      const logLevel = new LogLevelControl(cfg.logLevel as LevelName);
      const logger = rt.logger(cfg, logLevel);
      for (const note of status.infos) logger.info("Configuration note", { note });
      try {
        await rt.fs.mkdir(cfg.dataDir, 0o700);
        const ds = await rt.openDataStore(cfg.dataStore, logger);
        try {
          const km = cfg.keyManager;
          const keyManager: KeyManager | undefined = (rt.keyManager ? await rt.keyManager(cfg, logger) : undefined) ??
            (km.name === "disk" ? new DiskKeyManager({ fs: rt.fs, keysPath: km.keysPath }) : km.name === "memory" ? new MemoryKeyManager() : undefined);
          if (!keyManager) throw new InvalidArgumentError(`KeyManager "${km.name}" is not supported by this build`);
          const upstream = rt.upstream ? await rt.upstream(cfg, logger) : undefined;
          const nodeAttestors = await buildNodeAttestors(cfg.nodeAttestors, { ...PORTABLE_NODE_ATTESTORS, ...rt.nodeAttestorFactories }, {
            ds,
            fs: rt.fs,
            clock: rt.clock,
            logger,
            trustDomain: cfg.trustDomain,
          });
          const server = new Server({
            options: {
              trustDomain: cfg.trustDomain,
              bindAddress: cfg.bindAddress,
              bindPort: cfg.bindPort,
              socketPath: cfg.socketPath,
              caTTL: cfg.caTTL,
              caSubject: { C: cfg.caSubject.country, O: cfg.caSubject.organization, CN: cfg.caSubject.commonName },
              defaultX509SVIDTTL: cfg.defaultX509SVIDTTL,
              agentTTL: cfg.agentTTL,
              defaultJWTSVIDTTL: cfg.defaultJWTSVIDTTL,
              jwtIssuer: cfg.jwtIssuer,
              healthChecks: cfg.healthChecks.listenerEnabled ? cfg.healthChecks : undefined,
              prometheus: cfg.telemetry.prometheus,
              disableJWTSVIDs: cfg.disableJWTSVIDs,
              cacheReloadInterval: cfg.cacheReloadInterval,
              console: cfg.console,
              adminIDs: cfg.adminIDs,
              federation: cfg.federation,
            },
            connector: rt.connector,
            httpGet: rt.httpGet,
            readFile: (p) => rt.fs.readFile(p),
            ds,
            keyManager,
            upstream,
            nodeAttestors,
            managedUpstream: rt.managedUpstream,
            http: rt.http,
            grpcTLS: rt.grpcTLS,
            serveGRPC: rt.serveGRPC,
            clock: rt.clock,
            logger,
            logLevel,
          });
          logger.info("Server starting", { trust_domain_id: cfg.trustDomain.idString(), data_dir: cfg.dataDir });
          await server.run(ctx.env.signal);
        } finally {
          await ds.close();
        }
      } catch (err) {
        logger.error("Server crashed", { error: formatError(err) });
        throw err;
      }
      logger.info("Server stopped gracefully");
      return 0;
    },
  });
}
