/** The logger port: structured, levelled, with SPIRE's snake_case field names. @module */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

/** Structured logger. Messages are capitalised event names; values go in fields. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  with(fields: LogFields): Logger;
}

/** A record handed to a sink. */
export interface LogRecord {
  time: Date;
  level: LogLevel;
  msg: string;
  fields: LogFields;
}

export type LogSink = (record: LogRecord) => void;

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * Every threshold SPIRE's logger API can set (logrus levels). wisp emits only debug..error, so "trace" shows what
 * "debug" shows, and "fatal"/"panic" silence everything but crashes (which wisp reports at error, then exits).
 */
export type LevelName = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "panic";
const THRESHOLD: Record<LevelName, number> = { trace: -1, debug: 0, info: 1, warn: 2, error: 3, fatal: 4, panic: 5 };

/** The process's log level, changeable at runtime (SPIRE's Logger API: `logger set|reset`). */
export class LogLevelControl {
  readonly launch: LevelName;
  #current: LevelName;
  #min: number;
  constructor(launch: LevelName) {
    this.launch = launch;
    this.#current = launch;
    this.#min = THRESHOLD[launch];
  }
  get current(): LevelName {
    return this.#current;
  }
  set(level: LevelName): void {
    this.#current = level;
    this.#min = THRESHOLD[level];
  }
  reset(): void {
    this.set(this.launch);
  }
  /** True when a record of this level passes the current threshold. */
  enabled(level: LogLevel): boolean {
    return ORDER[level] >= this.#min;
  }
}

/** Field names whose values must never reach a log line. */
const SECRET_KEYS = /(^|_)(token|key|secret|password|private|jwt|svid_token)($|_)/i;

/** Replaces secret-looking fields so a careless caller cannot leak a key or token. */
function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_KEYS.test(k) && k !== "key_id" && k !== "authority_id") out[k] = "[redacted]";
    else if (v instanceof Error) out[k] = v.message;
    else out[k] = v;
  }
  return out;
}

/** Builds a logger that filters by level and writes to `sink`. */
export function newLogger(options: { level: LogLevel | LogLevelControl; sink: LogSink; clock?: () => Date; fields?: LogFields }): Logger {
  const control = options.level instanceof LogLevelControl ? options.level : new LogLevelControl(options.level);
  const now = options.clock ?? (() => new Date());
  const base = options.fields ?? {};
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (!control.enabled(level)) return;
    options.sink({ time: now(), level, msg, fields: redact({ ...base, ...fields }) });
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    with: (f) => newLogger({ ...options, level: control, fields: { ...base, ...f } }),
  };
}

/** Formats a record as one line of text (SPIRE's logrus text shape) or JSON. */
export function formatRecord(r: LogRecord, format: "text" | "json"): string {
  if (format === "json") return JSON.stringify({ time: r.time.toISOString(), level: r.level, msg: r.msg, ...r.fields });
  const kv = Object.entries(r.fields)
    .map(([k, v]) => `${k}=${typeof v === "string" && !/\s|"/.test(v) ? v : JSON.stringify(v)}`)
    .join(" ");
  return `time="${r.time.toISOString()}" level=${r.level} msg="${r.msg}"${kv ? " " + kv : ""}`;
}

/** A logger that drops everything: the default in tests and libraries. */
export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  with() {
    return nullLogger;
  },
};
