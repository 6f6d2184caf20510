/** `wisp-agent run`: load and validate the config, attest, sync and serve the Workload API until a signal. @module */
import { defineCommand, type Command } from "../../core/cli/command.ts";
import { ConfigStatus } from "../../core/config/mod.ts";
import { formatError } from "../../core/errors.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { FS } from "../../core/ports/fs.ts";
import type { ServeGRPC } from "../../core/ports/grpc_server.ts";
import type { HTTPServe } from "../../core/ports/http_server.ts";
import type { ServerConnector } from "../../core/ports/server_connector.ts";
import { Agent } from "../agent.ts";
import type { AgentConfig } from "../config.ts";
import { loadBootstrapBundle } from "../bootstrap_bundle.ts";
import { AGENT_RUN_FLAGS, loadAgentConfigFromFlags } from "./run_flags.ts";
import type { WorkloadAttestor } from "../workload/handler.ts";

export interface AgentRuntime {
  fs: FS;
  clock: Clock;
  connector: ServerConnector;
  serveGRPC: ServeGRPC;
  http: HTTPServe;
  logger(cfg: AgentConfig): Logger;
  attestor(cfg: AgentConfig): WorkloadAttestor;
}

export function runCommand(rt: AgentRuntime): Command {
  return defineCommand({
    name: "run",
    synopsis: "Runs the agent",
    flags: AGENT_RUN_FLAGS,
    examples: ["run -config conf/agent.conf -joinToken <token>"],
    async run(ctx, flags) {
      const status = new ConfigStatus();
      const cfg = await loadAgentConfigFromFlags(ctx, rt.fs, flags, status);
      const logger = rt.logger(cfg);
      try {
        const agent = new Agent({
          options: {
            trustDomain: cfg.trustDomain,
            serverAddress: cfg.serverAddress,
            serverPort: cfg.serverPort,
            servers: cfg.servers,
            socketPath: cfg.socketPath,
            dataDir: cfg.dataDir,
            persist: cfg.keyManager.name === "disk",
            joinToken: cfg.joinToken,
            loadBootstrapRoots: () => loadBootstrapBundle(cfg, { fs: rt.fs }),
            insecureBootstrap: cfg.insecureBootstrap,
            healthChecks: cfg.healthChecks.listenerEnabled ? cfg.healthChecks : undefined,
            prometheus: cfg.telemetry.prometheus,
            allowUnauthenticatedVerifiers: cfg.allowUnauthenticatedVerifiers,
            syncInterval: cfg.syncInterval,
          },
          connector: rt.connector,
          serveGRPC: rt.serveGRPC,
          http: rt.http,
          attestor: rt.attestor(cfg),
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
