/** `wisp-agent run`: load and validate the config, attest, sync and serve the Workload API until a signal. @module */
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { ConfigStatus } from "../../core/config/mod.ts";
import { formatError } from "../../core/errors.ts";
import { type Logger, LogLevelControl } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { FS } from "../../core/ports/fs.ts";
import type { ServeGRPC } from "../../core/ports/grpc_server.ts";
import type { HTTPServe } from "../../core/ports/http_server.ts";
import type { HTTPGet } from "../../core/ports/http_get.ts";
import type { ServerConnector } from "../../core/ports/server_connector.ts";
import { Agent } from "../agent.ts";
import type { AgentConfig } from "../config.ts";
import { TrustBundleSource } from "../trust_bundle_source.ts";
import { AGENT_RUN_FLAGS, loadAgentConfigFromFlags } from "./run_flags.ts";
import type { WorkloadAttestor } from "../workload/handler.ts";
import { AWSIIDAgentAttestor } from "../nodeattestor/aws_iid.ts";
import { JoinTokenNodeAttestor } from "../nodeattestor/join_token.ts";
import type { AgentNodeAttestor } from "../nodeattestor/node_attestor.ts";
import { X509PoPNodeAttestor } from "../nodeattestor/x509pop.ts";

/**
 * The agent's node attestor: a join token (flag, agent block or join_token_file) wins over the configured plugin, as
 * in SPIRE; otherwise the NodeAttestor block. Adding a plugin is one line here, its config reader and its class.
 */
async function nodeAttestorFor(cfg: AgentConfig, fs: FS, getenv: (name: string) => string | undefined): Promise<AgentNodeAttestor> {
  const tokenFile = cfg.joinTokenFile;
  if (cfg.joinToken || tokenFile || cfg.nodeAttestor.name === "join_token") {
    return new JoinTokenNodeAttestor(async () => cfg.joinToken ?? (tokenFile ? new TextDecoder().decode(await fs.readFile(tokenFile)) : undefined));
  }
  if (cfg.nodeAttestor.name === "aws_iid") return new AWSIIDAgentAttestor({ endpoint: cfg.nodeAttestor.ec2MetadataEndpoint, env: getenv });
  const x509pop = new X509PoPNodeAttestor(fs, cfg.nodeAttestor);
  // A bad key pair fails at start (SPIRE's Configure), not at the first attestation.
  await x509pop.load();
  return x509pop;
}

export interface AgentRuntime {
  fs: FS;
  clock: Clock;
  connector: ServerConnector;
  /** Downloads `trust_bundle_url`. */
  httpGet: HTTPGet;
  serveGRPC: ServeGRPC;
  http: HTTPServe;
  /** The process logger, filtering by `level` (which the admin API's Logger service can change). */
  logger(cfg: AgentConfig, level: LogLevelControl): Logger;
  attestor(cfg: AgentConfig): WorkloadAttestor;
}

export function runCommand(rt: AgentRuntime): Command {
  return defineCommand({
    name: "run",
    synopsis: "Runs the agent",
    flags: AGENT_RUN_FLAGS,
    examples: ["run -config conf/agent.conf -joinToken <token>", "run -config conf/agent.conf -joinTokenFile /run/wisp/join_token"],
    async run(ctx, flags) {
      const status = new ConfigStatus();
      const cfg = await loadAgentConfigFromFlags(ctx, rt.fs, flags, status);
      const logLevel = new LogLevelControl(cfg.logLevel);
      const logger = rt.logger(cfg, logLevel);
      if (cfg.sds.defaultAllBundlesName === cfg.sds.defaultBundleName) {
        logger.warn(
          `The "default_bundle_name" and "default_all_bundles_name" configurables have the same value. "default_all_bundles_name" will be ignored. Please configure distinct values or use the defaults. This will be a configuration error in a future release.`,
        );
      }
      try {
        const source = cfg.trustBundlePath || cfg.trustBundleURL
          ? new TrustBundleSource({
            path: cfg.trustBundlePath,
            url: cfg.trustBundleURL,
            unixSocket: cfg.trustBundleUnixSocket,
            format: cfg.trustBundleFormat,
            trustDomain: cfg.trustDomain.name,
            serverAddress: cfg.serverAddress,
            serverPort: cfg.serverPort,
            fs: rt.fs,
            httpGet: rt.httpGet,
            clock: rt.clock,
            logger: logger.with({ subsystem_name: "attestor" }),
          })
          : undefined;
        const agent = new Agent({
          options: {
            trustDomain: cfg.trustDomain,
            serverAddress: cfg.serverAddress,
            serverPort: cfg.serverPort,
            servers: cfg.servers,
            socketPath: cfg.socketPath,
            keyDirectory: cfg.keyManager.name === "disk" ? cfg.keyManager.directory : undefined,
            rebootstrapMode: cfg.rebootstrapMode,
            rebootstrapDelay: cfg.rebootstrapDelay,
            bootstrapBundle: source ? () => source.get() : undefined,
            insecureBootstrap: cfg.insecureBootstrap,
            healthChecks: cfg.healthChecks.listenerEnabled ? cfg.healthChecks : undefined,
            prometheus: cfg.telemetry.prometheus,
            allowUnauthenticatedVerifiers: cfg.allowUnauthenticatedVerifiers,
            syncInterval: cfg.syncInterval,
            sds: cfg.sds,
            disableSDSAPI: cfg.disableSDSAPI,
            adminSocketPath: cfg.adminSocketPath,
            authorizedDelegates: cfg.authorizedDelegates,
            svidCacheMaxSize: cfg.svidCacheMaxSize,
            jwtSVIDCacheMaxSize: cfg.jwtSVIDCacheMaxSize,
          },
          logLevel,
          connector: rt.connector,
          serveGRPC: rt.serveGRPC,
          http: rt.http,
          attestor: rt.attestor(cfg),
          nodeAttestor: await nodeAttestorFor(cfg, rt.fs, ctx.env.getenv),
          fs: rt.fs,
          clock: rt.clock,
          logger,
        });
        await agent.run(ctx.env.signal);
      } catch (err) {
        logger.error("Agent crashed", { error: formatError(err) });
        throw err;
      }
      logger.info("Agent stopped gracefully");
      return 0;
    },
  });
}
