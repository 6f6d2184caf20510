/**
 * The agent CLI commands that call the admin API socket, with SPIRE's names, flags and output:
 * `debug getinfo` (cmd/spire-agent/cli/debug/debug.go) and `logger get|set|reset` (cmd/spire-agent/cli/logger/*.go,
 * pkg/common/api/logger/levels.go PrettyPrintLogger). Errors print `Error: …` on stderr and exit 1 whatever -output
 * says, as SPIRE's agent util.Adapter does.
 * @module
 */
import { create, type DescMessage, fromBinary, type MessageShape, toBinary, toJson } from "@bufbuild/protobuf";
import { type Command, type CommandContext, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { rpcError } from "../../core/cli/rpc_error.ts";
import { formatError } from "../../core/errors.ts";
import type { WorkloadDialer } from "../../core/ports/workload_client.ts";
import { GET_INFO, GET_LOGGER, RESET_LOG_LEVEL, SET_LOG_LEVEL } from "../admin/paths.ts";
import { GetInfoRequestSchema, type GetInfoResponse, GetInfoResponseSchema } from "../workload/proto/spire/api/agent/debug/v1/debug_pb.ts";
import { GetLoggerRequestSchema, ResetLogLevelRequestSchema, SetLogLevelRequestSchema } from "../workload/proto/spire/api/agent/logger/v1/logger_pb.ts";
import { type Logger as APILogger, LoggerSchema, LogLevel } from "../workload/proto/spire/api/types/logger_pb.ts";

/** SPIRE's DefaultAdminSocketPath, under wisp's socket directory. */
export const DEFAULT_ADMIN_SOCKET = "/tmp/wisp-agent/private/admin.sock";

const ADMIN_SOCKET_FLAG = {
  name: "socketPath",
  kind: "string",
  default: DEFAULT_ADMIN_SOCKET,
  usage: "Path to the SPIRE Agent admin API socket",
  placeholder: "string",
} as const;

const TIMEOUT_MS = 30_000;
const JSON_OPTIONS = { useProtoFieldName: true, alwaysEmitImplicit: true } as const;

/** logrus' Level.MarshalText names for types.LogLevel (Warn prints "warning"). */
const LEVEL_TEXT: Record<number, string> = {
  [LogLevel.PANIC]: "panic",
  [LogLevel.FATAL]: "fatal",
  [LogLevel.ERROR]: "error",
  [LogLevel.WARN]: "warning",
  [LogLevel.INFO]: "info",
  [LogLevel.DEBUG]: "debug",
  [LogLevel.TRACE]: "trace",
};
/** logrus.ParseLevel's spellings, after lower-casing. */
const PARSE: Record<string, LogLevel> = {
  panic: LogLevel.PANIC,
  fatal: LogLevel.FATAL,
  error: LogLevel.ERROR,
  warn: LogLevel.WARN,
  warning: LogLevel.WARN,
  info: LogLevel.INFO,
  debug: LogLevel.DEBUG,
  trace: LogLevel.TRACE,
};

async function unary<Req extends DescMessage, Res extends DescMessage>(
  dial: WorkloadDialer,
  socketPath: string,
  call: { path: string; req: Req; res: Res; message: MessageShape<Req> },
): Promise<MessageShape<Res>> {
  const conn = dial(socketPath);
  try {
    return fromBinary(call.res, await conn.unary(call.path, toBinary(call.req, call.message), {}, TIMEOUT_MS));
  } catch (err) {
    throw rpcError(err);
  } finally {
    conn.close();
  }
}

/** Runs a command body; any error prints `Error: <chain>` on stderr and exits 1. */
async function adapt(ctx: CommandContext, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return 0;
  } catch (err) {
    ctx.env.stderr(`Error: ${formatError(err)}\n`);
    return 1;
  }
}

/** `fmt.Errorf("<prefix>: %w", err)`. */
const wrap = (prefix: string, err: unknown) => new Error(`${prefix}: ${formatError(err)}`);

/** SPIRE's prettyPrintGetInfo. */
export function describeInfo(r: GetInfoResponse): string {
  const rfc3339 = (s: bigint) => new Date(Number(s) * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  let out = "Agent Debug Info:\n";
  out += `  Uptime:                          ${goDuration(r.uptime)}\n`;
  out += `  Last Sync Success:               ${r.lastSyncSuccess === 0n ? "(never)" : rfc3339(r.lastSyncSuccess)}\n`;
  out += `  Cached X.509 SVIDs:              ${r.cachedX509SvidsCount}\n`;
  out += `  Cached JWT SVIDs:                ${r.cachedJwtSvidsCount}\n`;
  out += `  Cached SVID Store X.509 SVIDs:   ${r.cachedSvidstoreX509SvidsCount}\n`;
  if (r.svidChain.length > 0) {
    out += "  SVID Chain:\n";
    r.svidChain.forEach((c, i) => {
      out += `    [${i}] SPIFFE ID:  ${c.id ? `spiffe://${c.id.trustDomain}${c.id.path}` : "(none)"}\n`;
      out += `        Subject:    ${c.subject}\n`;
      out += `        Expires At: ${rfc3339(c.expiresAt)}\n`;
    });
  }
  return out;
}

/** Go's time.Duration.String() for whole seconds: "0s", "45s", "2m5s", "3h0m7s". */
function goDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

const describeLogger = (l: APILogger) => `Logger Level : ${LEVEL_TEXT[l.currentLevel]}\nLaunch Level : ${LEVEL_TEXT[l.launchLevel]}\n\n`;

export function adminCommands(dial: WorkloadDialer): Command[] {
  const printLogger = (ctx: CommandContext, l: APILogger) =>
    ctx.env.stdout(ctx.output === "json" ? JSON.stringify(toJson(LoggerSchema, l, JSON_OPTIONS)) + "\n" : describeLogger(l));
  const getinfo = defineCommand({
    name: "debug getinfo",
    synopsis: "Prints debug information about the agent",
    flags: [ADMIN_SOCKET_FLAG, OUTPUT_FLAG] as const,
    examples: ["debug getinfo", "debug getinfo -socketPath /run/wisp/admin.sock -output json"],
    run: (ctx, { values: v }) =>
      adapt(ctx, async () => {
        const r = await unary(dial, v.socketPath, {
          path: GET_INFO,
          req: GetInfoRequestSchema,
          res: GetInfoResponseSchema,
          message: create(GetInfoRequestSchema),
        });
        ctx.env.stdout(ctx.output === "json" ? JSON.stringify(toJson(GetInfoResponseSchema, r, JSON_OPTIONS)) + "\n" : describeInfo(r));
      }),
  });
  const get = defineCommand({
    name: "logger get",
    synopsis: "Gets the logger details",
    flags: [ADMIN_SOCKET_FLAG, OUTPUT_FLAG] as const,
    examples: ["logger get", "logger get -output json"],
    run: (ctx, { values: v }) =>
      adapt(ctx, async () => {
        let l: APILogger;
        try {
          l = await unary(dial, v.socketPath, { path: GET_LOGGER, req: GetLoggerRequestSchema, res: LoggerSchema, message: create(GetLoggerRequestSchema) });
        } catch (err) {
          throw wrap("error fetching logger", err);
        }
        printLogger(ctx, l);
      }),
  });
  const set = defineCommand({
    name: "logger set",
    synopsis: "Sets the logger details",
    flags: [
      { name: "level", kind: "string", usage: "The new log level, one of (panic, fatal, error, warn, info, debug, trace)", placeholder: "string" },
      ADMIN_SOCKET_FLAG,
      OUTPUT_FLAG,
    ] as const,
    examples: ["logger set -level debug"],
    run: (ctx, { values: v }) =>
      adapt(ctx, async () => {
        if (!v.level) throw new Error("a value (-level) must be set");
        const level = PARSE[v.level.toLowerCase()];
        if (level === undefined) throw new Error(`the value "${v.level}" is not a valid setting`);
        let l: APILogger;
        try {
          l = await unary(dial, v.socketPath, {
            path: SET_LOG_LEVEL,
            req: SetLogLevelRequestSchema,
            res: LoggerSchema,
            message: create(SetLogLevelRequestSchema, { newLevel: level }),
          });
        } catch (err) {
          throw wrap("failed to set log level", err);
        }
        printLogger(ctx, l);
      }),
  });
  const reset = defineCommand({
    name: "logger reset",
    synopsis: "Reset the logger details to launch level",
    flags: [ADMIN_SOCKET_FLAG, OUTPUT_FLAG] as const,
    examples: ["logger reset"],
    run: (ctx, { values: v }) =>
      adapt(ctx, async () => {
        let l: APILogger;
        try {
          l = await unary(dial, v.socketPath, {
            path: RESET_LOG_LEVEL,
            req: ResetLogLevelRequestSchema,
            res: LoggerSchema,
            message: create(ResetLogLevelRequestSchema),
          });
        } catch (err) {
          throw wrap("failed to reset logger", err);
        }
        printLogger(ctx, l);
      }),
  });
  return [getinfo, get, set, reset];
}
