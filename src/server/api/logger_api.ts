/**
 * SPIRE's Logger API (spire.api.server.logger.v1): read, set and reset the running server's log level. Levels travel as
 * SPIRE's `types.LogLevel` enum names (pkg/server/api/logger/v1/service.go).
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { LevelName, Logger, LogLevelControl } from "../../core/log/logger.ts";

/** `types.LogLevel` names, as protobuf JSON prints them. */
export type APILogLevel = "PANIC" | "FATAL" | "ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE";

/** `types.Logger`. */
export interface LoggerJSON {
  current_level: APILogLevel;
  launch_level: APILogLevel;
}

/** `types.LogLevel` names by their wire number. */
export const LOG_LEVEL_BY_NUMBER: readonly (APILogLevel | "UNSPECIFIED")[] = ["UNSPECIFIED", "PANIC", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

const toAPI = (l: LevelName) => l.toUpperCase() as APILogLevel;
const LEVELS: readonly APILogLevel[] = ["PANIC", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

export function loggerAPI(control: LogLevelControl, logger: Logger) {
  const log = logger.with({ subsystem_name: "api", service: "Logger" });
  const state = (): LoggerJSON => ({ current_level: toAPI(control.current), launch_level: toAPI(control.launch) });
  return {
    getLogger(): LoggerJSON {
      log.info("GetLogger Called");
      return state();
    },
    /** @throws {InvalidArgumentError} "newLevel value cannot be LogLevel_UNSPECIFIED" or an unknown level */
    setLogLevel(newLevel: string | undefined): LoggerJSON {
      if (!newLevel || newLevel === "UNSPECIFIED") throw new InvalidArgumentError("newLevel value cannot be LogLevel_UNSPECIFIED");
      if (!LEVELS.includes(newLevel as APILogLevel)) throw new InvalidArgumentError("unsupported log level");
      control.set(newLevel.toLowerCase() as LevelName);
      log.info("SetLogLevel Called", { new_log_level: newLevel.toLowerCase() });
      return state();
    },
    resetLogLevel(): LoggerJSON {
      control.reset();
      log.info("ResetLogLevel Called", { launch_log_level: control.launch });
      return state();
    },
  };
}
