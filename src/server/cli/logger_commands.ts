/**
 * `logger get|set|reset`: the running server's log level, with SPIRE's output (cmd/spire-server/cli/logger/*.go,
 * pkg/common/api/logger/levels.go PrettyPrintLogger).
 * @module
 */
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { LOG_LEVEL_BY_NUMBER, type LoggerJSON } from "../api/logger_api.ts";
import { Logger } from "../../agent/workload/proto/spire/api/server/logger/v1/logger_pb.ts";
import type { Logger as PBLogger, LogLevel } from "../../agent/workload/proto/spire/api/types/logger_pb.ts";
import { type AdminDialer, SOCKET_FLAG } from "./admin_client.ts";
import { fail, spireAction, wrapError } from "./spire_cmd.ts";
import { goJSON } from "./spire_print.ts";

/** logrus' level names (Level.MarshalText): WARN prints as "warning". */
const TEXT: Record<string, string> = { PANIC: "panic", FATAL: "fatal", ERROR: "error", WARN: "warning", INFO: "info", DEBUG: "debug", TRACE: "trace" };

/** logrus.ParseLevel's accepted spellings, after lower-casing. */
const PARSE: Record<string, string> = {
  panic: "PANIC",
  fatal: "FATAL",
  error: "ERROR",
  warn: "WARN",
  warning: "WARN",
  info: "INFO",
  debug: "DEBUG",
  trace: "TRACE",
};

const LEVELS = LOG_LEVEL_BY_NUMBER as readonly string[];

const loggerJSON = (l: PBLogger): LoggerJSON => ({
  current_level: (LEVELS[l.currentLevel] ?? "UNSPECIFIED") as LoggerJSON["current_level"],
  launch_level: (LEVELS[l.launchLevel] ?? "UNSPECIFIED") as LoggerJSON["launch_level"],
});

const pretty = (l: LoggerJSON) => `Logger Level : ${TEXT[l.current_level]}\nLaunch Level : ${TEXT[l.launch_level]}\n\n`;

export function loggerCommands(dial: AdminDialer): Command[] {
  const get = defineCommand({
    name: "logger get",
    synopsis: "Gets the logger details",
    flags: [SOCKET_FLAG, OUTPUT_FLAG] as const,
    examples: ["logger get", "logger get -output json"],
    run: (ctx, { values: v }) =>
      spireAction(ctx, async () => {
        let l: LoggerJSON;
        try {
          l = loggerJSON(await dial(v.socketPath).grpc(Logger.method.getLogger, {}));
        } catch (err) {
          throw wrapError("error fetching logger", err);
        }
        ctx.env.stdout(ctx.output === "json" ? goJSON(l) : pretty(l));
      }),
  });
  const set = defineCommand({
    name: "logger set",
    synopsis: "Sets the logger details",
    flags: [
      SOCKET_FLAG,
      { name: "level", kind: "string", usage: "The new log level, one of (panic, fatal, error, warn, info, debug, trace)" },
      OUTPUT_FLAG,
    ] as const,
    examples: ["logger set -level debug"],
    run: (ctx, { values: v }) =>
      spireAction(ctx, async () => {
        if (!v.level) throw fail("a value (-level) must be set");
        const level = PARSE[v.level.toLowerCase()];
        if (!level) throw fail(`the value "${v.level}" is not a valid setting`);
        let l: LoggerJSON;
        try {
          l = loggerJSON(await dial(v.socketPath).grpc(Logger.method.setLogLevel, { newLevel: LEVELS.indexOf(level) as LogLevel }));
        } catch (err) {
          throw wrapError("failed to set log level", err);
        }
        ctx.env.stdout(ctx.output === "json" ? goJSON(l) : pretty(l));
      }),
  });
  const reset = defineCommand({
    name: "logger reset",
    synopsis: "Reset the logger details to launch level",
    flags: [SOCKET_FLAG, OUTPUT_FLAG] as const,
    examples: ["logger reset"],
    run: (ctx, { values: v }) =>
      spireAction(ctx, async () => {
        let l: LoggerJSON;
        try {
          l = loggerJSON(await dial(v.socketPath).grpc(Logger.method.resetLogLevel, {}));
        } catch (err) {
          throw wrapError("failed to reset logger", err);
        }
        ctx.env.stdout(ctx.output === "json" ? goJSON(l) : pretty(l));
      }),
  });
  return [get, set, reset];
}
