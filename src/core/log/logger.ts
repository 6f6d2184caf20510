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

/** logrus prints Warn as "warning" (Level.String). */
const LOGRUS_LEVEL: Record<LogLevel, string> = { debug: "debug", info: "info", warn: "warning", error: "error" };

/** RFC 3339 with as many fraction digits as needed, as Go's time.RFC3339Nano prints a UTC time. */
function rfc3339Nano(d: Date): string {
  return d.toISOString().replace(/\.?0+Z$/, "Z");
}

/** logrus' text value: bare when every character is in [A-Za-z0-9-._/@^+] (or it is empty), else Go-quoted. */
function textValue(v: unknown): string {
  const s = typeof v === "string"
    ? v
    : v instanceof Date
    ? v.toISOString()
    : Array.isArray(v)
    ? `[${v.join(" ")}]`
    : typeof v === "object" && v !== null
    ? JSON.stringify(v)
    : String(v);
  return /^[A-Za-z0-9\-._/@^+]*$/.test(s) ? s : JSON.stringify(s);
}

/**
 * Formats a record as logrus writes it (SPIRE's pkg/common/log, no TTY): text is `time="…" level=… msg="…"` and then
 * the fields sorted by key; JSON is one object with every key sorted, fields at the top level, a field called time,
 * level or msg renamed `fields.<name>`. Times are RFC 3339 with sub-second digits (SPIRE's RFC3339Nano).
 */
export function formatRecord(r: LogRecord, format: "text" | "json"): string {
  const keys = Object.keys(r.fields).sort();
  if (format === "json") {
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k === "time" || k === "level" || k === "msg" ? `fields.${k}` : k] = r.fields[k];
    out["level"] = LOGRUS_LEVEL[r.level];
    out["msg"] = r.msg;
    out["time"] = rfc3339Nano(r.time);
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(out).sort()) sorted[k] = out[k];
    return JSON.stringify(sorted);
  }
  const kv = keys.map((k) => ` ${k}=${textValue(r.fields[k])}`).join("");
  return `time=${textValue(rfc3339Nano(r.time))} level=${LOGRUS_LEVEL[r.level]} msg=${textValue(r.msg)}${kv}`;
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
