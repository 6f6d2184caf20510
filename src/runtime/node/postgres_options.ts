/**
 * Maps parsed PostgreSQL connection settings and the DataStore pool settings onto postgres.js client options,
 * reading the TLS files the connection string names.
 * @module
 */
import { readFileSync } from "node:fs";
import type postgres from "postgres";
import type { PGConnParams } from "../../core/config/pg_conn.ts";
import { ConfigError } from "../../core/errors.ts";

/** postgres.js's custom-types parameter: none are registered, so it is the empty map its own default uses. */
// deno-lint-ignore ban-types
type PGTypes = {};

export interface PostgresPoolSettings {
  /** Most connections the pool opens; 10 when unset or 0. */
  maxOpenConns?: number;
  /** postgres.js cannot cap idle connections; 0 closes a connection 1 s after it goes idle, anything else 30 s. */
  maxIdleConns?: number;
  /** Lifetime of a connection in ms; postgres.js's default (a random 30 to 60 minutes) when unset. */
  connMaxLifetimeMs?: number;
  /** How long a statement waits for a lock, the datastore write lock included, before "datastore is busy". */
  lockTimeoutMs: number;
}

const DEFAULT_MAX_OPEN = 10;
const DEFAULT_CONNECT_TIMEOUT_S = 10;
/** A session stuck inside a transaction would hold the datastore write lock; the server ends it after this. */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;

function readPEM(label: string, key: string, path: string, issues: string[]): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    issues.push(`${label}: cannot read ${key} "${path}": ${(err as Error).message}`);
    return undefined;
  }
}

/** The `ssl` option: libpq's sslmode semantics as far as postgres.js can express them. */
function tlsOption(p: PGConnParams, label: string, issues: string[]): NonNullable<postgres.Options<PGTypes>["ssl"]> {
  const systemRoots = p.sslRootCert === "system";
  // libpq turns a given root certificate into verify-ca, and sslrootcert=system into verify-full.
  const mode = p.sslMode ?? (systemRoots ? "verify-full" : p.sslRootCert ? "verify-ca" : "prefer");
  if (mode === "disable") return false;
  const files: { ca?: string; cert?: string; key?: string } = {};
  if (p.sslRootCert && !systemRoots) {
    const ca = readPEM(label, "sslrootcert", p.sslRootCert, issues);
    if (ca !== undefined) files.ca = ca;
  }
  if (p.sslCert) {
    const cert = readPEM(label, "sslcert", p.sslCert, issues);
    if (cert !== undefined) files.cert = cert;
  }
  if (p.sslKey) {
    const key = readPEM(label, "sslkey", p.sslKey, issues);
    if (key !== undefined) files.key = key;
  }
  if (mode === "verify-full") return { ...files, rejectUnauthorized: true };
  if (mode === "verify-ca") return { ...files, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  if (files.cert !== undefined || files.key !== undefined) return { ...files, rejectUnauthorized: false };
  // postgres.js tries TLS first for "prefer" and falls back; libpq's "allow" (plain first) is served the same way.
  return mode === "require" ? "require" : "prefer";
}

/**
 * postgres.js options for one pool.
 * @throws {ConfigError} when hosts mix a unix socket directory with others, or a TLS file cannot be read
 */
export function postgresOptions(p: PGConnParams, pool: PostgresPoolSettings, label: string): postgres.Options<PGTypes> {
  const issues: string[] = [];
  const ports = p.hosts.map((_, i) => p.ports[p.ports.length === 1 ? 0 : i] ?? 5432);
  const socketDir = p.hosts.find((h) => h.startsWith("/"));
  if (socketDir !== undefined && p.hosts.length > 1) {
    issues.push(`${label}: a unix socket directory cannot be combined with other hosts`);
  }
  const where: postgres.Options<PGTypes> = socketDir !== undefined
    ? { host: socketDir, path: `${socketDir.replace(/\/+$/, "")}/.s.PGSQL.${ports[0] ?? 5432}`, ssl: false }
    : p.hosts.length > 0
    ? { host: p.hosts as unknown as string, port: ports as unknown as number, ssl: tlsOption(p, label, issues) }
    : { ...(p.ports[0] === undefined ? {} : { port: p.ports[0] }), ssl: tlsOption(p, label, issues) };
  if (issues.length > 0) throw new ConfigError(issues);
  const maxIdle = pool.maxIdleConns;
  const lifetime = pool.connMaxLifetimeMs;
  return {
    ...where,
    ...(p.database === undefined ? {} : { database: p.database }),
    ...(p.user === undefined ? {} : { user: p.user }),
    ...(p.password === undefined ? {} : { password: p.password }),
    ...(p.targetSessionAttrs === undefined || p.targetSessionAttrs === "any" ? {} : { target_session_attrs: p.targetSessionAttrs }),
    max: pool.maxOpenConns || DEFAULT_MAX_OPEN,
    idle_timeout: maxIdle === 0 ? 1 : 30,
    ...(lifetime === undefined ? {} : { max_lifetime: Math.max(1, Math.ceil(lifetime / 1000)) }),
    connect_timeout: p.connectTimeoutSeconds || DEFAULT_CONNECT_TIMEOUT_S,
    // Reconnects during an outage back off to at most 1 s, so calls keep failing fast and recover fast.
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 1) * (0.5 + Math.random() / 2),
    connection: {
      application_name: p.applicationName ?? "wisp-server",
      lock_timeout: pool.lockTimeoutMs,
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
      ...p.settings,
    },
    // Array types are never bound, so the per-connection type lookup is not needed.
    fetch_types: false,
    onnotice: () => {},
  };
}
