/**
 * PostgreSQL connection strings, as SPIRE's `connection_string` accepts them: libpq `key=value` lists
 * (`dbname=postgres user=postgres host=/tmp port=5432 sslmode=disable`) and `postgres://` / `postgresql://` URLs,
 * parsed into plain settings that a runtime adapter maps onto its client. Every problem is collected and reported at
 * once; messages never repeat the string itself, which may hold a password.
 * @module
 */
import { ConfigError } from "../errors.ts";

export type PGSSLMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full";
export type PGTargetSessionAttrs = "any" | "read-write" | "read-only" | "primary" | "standby" | "prefer-standby";

export interface PGConnParams {
  /** Host names, IP addresses or unix socket directories (those start with "/"); empty when none was given. */
  hosts: string[];
  /** Ports: empty (default 5432), one for every host, or one per host. */
  ports: number[];
  database?: string;
  user?: string;
  password?: string;
  /** Absent means libpq's default, "prefer". */
  sslMode?: PGSSLMode;
  /** Paths of PEM files. */
  sslRootCert?: string;
  sslCert?: string;
  sslKey?: string;
  connectTimeoutSeconds?: number;
  applicationName?: string;
  targetSessionAttrs?: PGTargetSessionAttrs;
  /** Server settings from `options` (`-c name=value` or `--name=value`), sent when a connection starts. */
  settings: Record<string, string>;
}

const SSL_MODES: readonly string[] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];
const SESSION_ATTRS: readonly string[] = ["any", "read-write", "read-only", "primary", "standby", "prefer-standby"];
const SUPPORTED = [
  "host",
  "port",
  "dbname",
  "user",
  "password",
  "sslmode",
  "sslrootcert",
  "sslcert",
  "sslkey",
  "connect_timeout",
  "application_name",
  "target_session_attrs",
  "options",
] as const;
type Key = (typeof SUPPORTED)[number];

/** Splits a libpq `key=value` list; values may be single-quoted, and a backslash escapes the next character. */
function splitKeyValues(s: string, issues: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  let i = 0;
  const space = (c: string | undefined) => c !== undefined && /\s/.test(c);
  while (i < s.length) {
    while (space(s[i])) i++;
    if (i >= s.length) break;
    let key = "";
    while (i < s.length && s[i] !== "=" && !space(s[i])) key += s[i++];
    while (space(s[i])) i++;
    if (s[i] !== "=") {
      issues.push(`missing "=" after "${key}"`);
      return pairs;
    }
    i++;
    while (space(s[i])) i++;
    let value = "";
    if (s[i] === "'") {
      i++;
      let closed = false;
      while (i < s.length) {
        const c = s[i++]!;
        if (c === "\\" && i < s.length) value += s[i++];
        else if (c === "'") {
          closed = true;
          break;
        } else value += c;
      }
      if (!closed) {
        issues.push(`unterminated quoted value of "${key}"`);
        return pairs;
      }
    } else {
      while (i < s.length && !space(s[i])) {
        const c = s[i++]!;
        value += c === "\\" && i < s.length ? s[i++] : c;
      }
    }
    pairs.push([key, value]);
  }
  return pairs;
}

function decode(part: string, what: string, issues: string[]): string {
  try {
    return decodeURIComponent(part);
  } catch {
    issues.push(`${what} has an invalid percent-encoding`);
    return part;
  }
}

/** Splits `postgres://user:pass@host1:5432,host2/db?k=v` into libpq keys, as libpq's URI parser does. */
function splitURL(s: string, issues: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  let rest = s.slice(s.indexOf("://") + 3);
  const q = rest.indexOf("?");
  const query = q >= 0 ? rest.slice(q + 1) : "";
  if (q >= 0) rest = rest.slice(0, q);
  const slash = rest.indexOf("/");
  const path = slash >= 0 ? rest.slice(slash + 1) : undefined;
  let authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const at = authority.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    authority = authority.slice(at + 1);
    const colon = userinfo.indexOf(":");
    const user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    if (user) pairs.push(["user", decode(user, "the user", issues)]);
    if (colon >= 0) pairs.push(["password", decode(userinfo.slice(colon + 1), "the password", issues)]);
  }
  if (authority) {
    const hosts: string[] = [];
    const ports: string[] = [];
    for (const spec of authority.split(",")) {
      // An IPv6 address is bracketed so that its colons are not taken for a port separator.
      const m = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(spec);
      const host = m?.[1] ?? spec;
      hosts.push(decode(host.startsWith("[") ? host.slice(1, -1) : host, "a host", issues));
      ports.push(m?.[2] ?? "");
    }
    if (hosts.some((h) => h !== "")) pairs.push(["host", hosts.join(",")]);
    if (ports.some((p) => p !== "")) pairs.push(["port", ports.join(",")]);
  }
  if (path) pairs.push(["dbname", decode(path, "the database name", issues)]);
  for (const param of query.split("&")) {
    if (!param) continue;
    const eq = param.indexOf("=");
    if (eq < 0) {
      issues.push(`URL parameter "${decode(param, "a URL parameter", issues)}" has no value`);
      continue;
    }
    const key = decode(param.slice(0, eq), "a URL parameter", issues);
    const value = decode(param.slice(eq + 1), `URL parameter "${key}"`, issues);
    // JDBC's ssl=true, which libpq also accepts in URLs.
    if (key === "ssl" && value === "true") pairs.push(["sslmode", "require"]);
    else pairs.push([key, value]);
  }
  return pairs;
}

/** Server settings from libpq's `options`: space-separated `-c name=value` or `--name=value`. */
function parseOptions(options: string, issues: string[]): Record<string, string> {
  const words: string[] = [];
  let word = "";
  for (let i = 0; i < options.length; i++) {
    const c = options[i]!;
    if (c === "\\" && i + 1 < options.length) word += options[++i];
    else if (/\s/.test(c)) {
      if (word) words.push(word);
      word = "";
    } else word += c;
  }
  if (word) words.push(word);
  const settings: Record<string, string> = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    let setting: string | undefined;
    if (w === "-c") setting = words[++i];
    else if (w.startsWith("-c")) setting = w.slice(2);
    else if (w.startsWith("--")) setting = w.slice(2);
    const eq = setting?.indexOf("=") ?? -1;
    if (setting === undefined || eq <= 0) {
      issues.push(`options: expected "-c name=value" or "--name=value", got "${w}"`);
      continue;
    }
    settings[setting.slice(0, eq).replaceAll("-", "_")] = setting.slice(eq + 1);
  }
  return settings;
}

function parsePorts(value: string, issues: string[]): number[] {
  return value.split(",").map((p) => {
    if (p === "") return 5432;
    const n = /^\d+$/.test(p) ? Number(p) : NaN;
    if (!(n >= 1 && n <= 65535)) issues.push(`port "${p}" is not a number from 1 to 65535`);
    return n;
  });
}

/**
 * Parses a PostgreSQL connection string. `label` names it in messages (the config key, for example).
 * @throws {ConfigError} listing every problem: syntax, unsupported parameters, invalid values
 */
export function parsePGConnString(s: string, label = "connection string"): PGConnParams {
  const issues: string[] = [];
  const trimmed = s.trim();
  const isURL = /^postgres(ql)?:\/\//i.test(trimmed);
  if (trimmed === "") issues.push("must not be empty");
  else if (!isURL && /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    issues.push("unsupported URL scheme (use postgres:// or postgresql://)");
  }
  const pairs = issues.length > 0 ? [] : isURL ? splitURL(trimmed, issues) : splitKeyValues(trimmed, issues);
  const raw = new Map<Key, string>();
  const unknown: string[] = [];
  for (const [k, v] of pairs) {
    if ((SUPPORTED as readonly string[]).includes(k)) raw.set(k as Key, v);
    else if (!unknown.includes(k)) unknown.push(k);
  }
  for (const k of unknown) issues.push(`unsupported parameter "${k}" (supported: ${SUPPORTED.join(", ")})`);

  const out: PGConnParams = { hosts: [], ports: [], settings: {} };
  const host = raw.get("host");
  if (host !== undefined && host !== "") out.hosts = host.split(",");
  if (out.hosts.some((h) => h === "")) issues.push(`host list "${host}" has an empty entry`);
  const port = raw.get("port");
  if (port !== undefined && port !== "") out.ports = parsePorts(port, issues);
  if (out.ports.length > 1 && out.ports.length !== out.hosts.length) {
    issues.push(`${out.ports.length} ports do not match ${out.hosts.length} hosts`);
  }
  const text = (k: Key) => {
    const v = raw.get(k);
    return v === undefined || v === "" ? undefined : v;
  };
  const strings = [
    ["database", "dbname"],
    ["user", "user"],
    ["password", "password"],
    ["sslRootCert", "sslrootcert"],
    ["sslCert", "sslcert"],
    ["sslKey", "sslkey"],
    ["applicationName", "application_name"],
  ] as const;
  for (const [field, key] of strings) {
    const v = text(key);
    if (v !== undefined) out[field] = v;
  }
  const sslMode = text("sslmode");
  if (sslMode !== undefined) {
    if (SSL_MODES.includes(sslMode)) out.sslMode = sslMode as PGSSLMode;
    else issues.push(`sslmode "${sslMode}" is not one of ${SSL_MODES.join(", ")}`);
  }
  const attrs = text("target_session_attrs");
  if (attrs !== undefined) {
    if (SESSION_ATTRS.includes(attrs)) out.targetSessionAttrs = attrs as PGTargetSessionAttrs;
    else issues.push(`target_session_attrs "${attrs}" is not one of ${SESSION_ATTRS.join(", ")}`);
  }
  const timeout = text("connect_timeout");
  if (timeout !== undefined) {
    if (/^\d+$/.test(timeout)) out.connectTimeoutSeconds = Number(timeout);
    else issues.push(`connect_timeout "${timeout}" is not a whole number of seconds`);
  }
  const options = text("options");
  if (options !== undefined) out.settings = parseOptions(options, issues);
  if (issues.length > 0) throw new ConfigError(issues.map((i) => `${label}: ${i}`));
  return out;
}
