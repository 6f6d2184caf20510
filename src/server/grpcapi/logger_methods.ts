/** SPIRE's Logger service (spire.api.server.logger.v1.Logger) over gRPC, on loggerAPI (src/server/api/logger_api.ts). @module */
import { create } from "@bufbuild/protobuf";
import { UnavailableError } from "../../core/errors.ts";
import type { Logger, LogLevelControl } from "../../core/log/logger.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import { type APILogLevel, LOG_LEVEL_BY_NUMBER, loggerAPI, type LoggerJSON } from "../api/logger_api.ts";
import { Logger as LoggerService } from "../../agent/workload/proto/spire/api/server/logger/v1/logger_pb.ts";
import { LoggerSchema, type LogLevel } from "../../agent/workload/proto/spire/api/types/logger_pb.ts";
import { unary } from "./rpc.ts";

const LEVELS = LOG_LEVEL_BY_NUMBER;

const level = (l: APILogLevel) => LEVELS.indexOf(l) as LogLevel;
const toProto = (l: LoggerJSON) => create(LoggerSchema, { currentLevel: level(l.current_level), launchLevel: level(l.launch_level) });

export function loggerMethods(d: { logLevel: LogLevelControl | undefined; logger: Logger }): GRPCMethod[] {
  const m = LoggerService.method;
  const api = () => {
    if (!d.logLevel) throw new UnavailableError("the log level of this server cannot be changed");
    return loggerAPI(d.logLevel, d.logger);
  };
  return [
    unary(m.getLogger, d.logger, () => toProto(api().getLogger())),
    unary(m.setLogLevel, d.logger, (req) => toProto(api().setLogLevel(LEVELS[req.newLevel] ?? `level ${req.newLevel}`))),
    unary(m.resetLogLevel, d.logger, () => toProto(api().resetLogLevel())),
  ];
}
