/**
 * SPIRE's agent Logger service (spire.api.agent.logger.v1) on the admin socket: read, set and reset the running
 * agent's log level, with SPIRE's checks and lines (pkg/agent/api/logger/v1/service.go).
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { LevelName, Logger, LogLevelControl } from "../../core/log/logger.ts";
import type { CallContext, GRPCMethod } from "../../core/ports/grpc_server.ts";
import { unaryMethod } from "../workload/codec.ts";
import { GET_LOGGER, RESET_LOG_LEVEL, SET_LOG_LEVEL } from "./paths.ts";
import { GetLoggerRequestSchema, ResetLogLevelRequestSchema, SetLogLevelRequestSchema } from "../workload/proto/spire/api/agent/logger/v1/logger_pb.ts";
import { type Logger as APILogger, LoggerSchema, LogLevel } from "../workload/proto/spire/api/types/logger_pb.ts";

const TO_API: Record<LevelName, LogLevel> = {
  panic: LogLevel.PANIC,
  fatal: LogLevel.FATAL,
  error: LogLevel.ERROR,
  warn: LogLevel.WARN,
  info: LogLevel.INFO,
  debug: LogLevel.DEBUG,
  trace: LogLevel.TRACE,
};
const FROM_API = new Map<number, LevelName>(Object.entries(TO_API).map(([name, level]) => [level, name as LevelName]));

/** logrus' Level.String(): Warn prints "warning". */
const logrusName = (l: LevelName) => (l === "warn" ? "warning" : l);

/** The Logger methods over the process's log level; `logger` is the agent's root logger. */
export function loggerMethods(control: LogLevelControl, logger: Logger): GRPCMethod[] {
  logger.info("Logger service configured", { launch_log_level: logrusName(control.launch) });
  const state = (): APILogger => create(LoggerSchema, { currentLevel: TO_API[control.current], launchLevel: TO_API[control.launch] });
  const rpcLog = (ctx: CallContext, method: string) => logger.with({ service: "Logger", method, pid: ctx.peer.pid });
  return [
    unaryMethod({ req: GetLoggerRequestSchema, res: LoggerSchema, path: GET_LOGGER }, async (_req, ctx) => {
      rpcLog(ctx, "GetLogger").info("GetLogger Called");
      return state();
    }),
    unaryMethod({ req: SetLogLevelRequestSchema, res: LoggerSchema, path: SET_LOG_LEVEL }, async (req, ctx) => {
      const log = rpcLog(ctx, "SetLogLevel");
      if (req.newLevel === LogLevel.UNSPECIFIED) {
        log.error("Invalid argument: newLevel value cannot be LogLevel_UNSPECIFIED");
        throw new InvalidArgumentError("newLevel value cannot be LogLevel_UNSPECIFIED");
      }
      const level = FROM_API.get(req.newLevel);
      if (level === undefined) {
        log.error("Invalid argument: unsupported log level");
        throw new InvalidArgumentError("unsupported log level");
      }
      // Logged before the change, as SPIRE does: lowering the level still shows who lowered it.
      log.info("SetLogLevel Called", { new_log_level: logrusName(level) });
      control.set(level);
      return state();
    }),
    unaryMethod({ req: ResetLogLevelRequestSchema, res: LoggerSchema, path: RESET_LOG_LEVEL }, async (_req, ctx) => {
      rpcLog(ctx, "ResetLogLevel").info("ResetLogLevel Called", { launch_log_level: logrusName(control.launch) });
      control.reset();
      return state();
    }),
  ];
}
