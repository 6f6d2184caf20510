/**
 * The agent admin API (SPIRE's `admin_socket_path`, pkg/agent/api/endpoints.go): the Debug, Delegated Identity and
 * Logger services on their own unix socket, mode 0770 as SPIRE sets it. Like SPIRE it serves no grpc.health.v1 there.
 * @module
 */
import * as F from "../../core/log/fields.ts";
import type { Logger, LogLevelControl } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { CallContext, GRPCServerHandle, ServeGRPC } from "../../core/ports/grpc_server.ts";
import type { Selector } from "../../core/selector.ts";
import type { AgentManager } from "../manager/manager.ts";
import { debugMethods } from "./debug_service.ts";
import { DelegatedIdentityService } from "./delegated_identity.ts";
import { loggerMethods } from "./logger_service.ts";

export interface AdminAPIConfig {
  serveGRPC: ServeGRPC;
  socketPath: string;
  manager: AgentManager;
  /** The Workload API's attestation of a connected caller (peer credentials, PID-reuse guard). */
  attestCaller(ctx: CallContext): Promise<Selector[]>;
  /** Attests a process by PID for a delegate. */
  attestPID(pid: number): Promise<Selector[]>;
  authorizedDelegates: readonly string[];
  logLevel: LogLevelControl;
  startedAt: Date;
  clock: Clock;
  /** The agent's root logger. */
  logger: Logger;
}

/** Starts the admin API and logs SPIRE's "Starting Admin APIs". */
export async function serveAdminAPI(cfg: AdminAPIConfig): Promise<GRPCServerHandle> {
  const delegated = new DelegatedIdentityService({
    manager: cfg.manager,
    attestCaller: cfg.attestCaller,
    attestPID: cfg.attestPID,
    authorizedDelegates: cfg.authorizedDelegates,
    clock: cfg.clock,
    logger: cfg.logger,
  });
  const methods = [
    ...debugMethods({ manager: cfg.manager, clock: cfg.clock, startedAt: cfg.startedAt, logger: cfg.logger }),
    ...delegated.methods(),
    ...loggerMethods(cfg.logLevel, cfg.logger),
  ];
  const server = await cfg.serveGRPC({ socketPath: cfg.socketPath, methods, logger: cfg.logger, socketMode: 0o770 });
  cfg.logger.info("Starting Admin APIs", { network: "unix", [F.ADDRESS]: cfg.socketPath });
  return server;
}
