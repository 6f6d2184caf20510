/** The wisp-server configuration: file shape, parsed shape, defaults and validation of server.conf. @module */
import { type FederationConfig, readFederation } from "./federation/federation_config.ts";
import * as spiffeid from "../core/spiffeid/mod.ts";
import type { LogLevel } from "../core/log/logger.ts";
import * as config from "../core/config/mod.ts";
import { type AWSKMSKeyManagerConfig, buildAWSKMSConfig } from "./keymanager/awskms/awskms_config.ts";
import { type AWSIIDServerConfig, buildAWSIIDServerConfig } from "./nodeattestor/aws_iid/aws_iid_config.ts";
import { buildX509PoPServerConfig, type X509PoPServerConfig } from "./nodeattestor/x509pop/x509pop_config.ts";
import { readServerDropIn, type ServerDropInConfig } from "./config_dropin.ts";

/** server.conf as written: snake_case keys, every value unchecked (SPIRE's `Configuration`). */
export interface RawServerConfig {
  server?: Record<string, unknown>;
  plugins?: unknown;
  [key: string]: unknown;
}

/** Values given on the `run` command line; each one wins over the file (SPIRE run.go names). */
export interface ServerFlagOverrides {
  bindAddress: string;
  serverPort: number;
  socketPath: string;
  trustDomain: string;
  dataDir: string;
  logLevel: string;
  logFormat: string;
  logFile: string;
}

/** The `DataStore "sql"` plugin. */
export interface DataStoreConfig {
  databaseType: "sqlite3" | "postgres";
  /** File path (sqlite3) or DSN (postgres). Default "<data_dir>/datastore.sqlite3". */
  connectionString: string;
  /** Read-only replica DSN. Optional. */
  roConnectionString?: string;
  /** Pool size limits; driver default when unset. */
  maxOpenConns?: number;
  maxIdleConns?: number;
  /** Connection lifetime in ms; unlimited when unset. */
  connMaxLifetime?: number;
}

export type KeyManagerConfig = { name: "memory" } | { name: "disk"; /** Default "<data_dir>/keys.json". */ keysPath: string } | AWSKMSKeyManagerConfig;

/** One entry per configured server NodeAttestor; join_token is always present (SPIRE handles it in AttestAgent). */
export type NodeAttestorConfig = { name: "join_token" } | X509PoPServerConfig | AWSIIDServerConfig;

/** Reads each NodeAttestor's plugin_data; a plugin is one line here plus its factory in nodeattestor/registry.ts. */
const NODE_ATTESTOR_READERS: {
  [N in NodeAttestorConfig["name"]]: (data: config.ConfigSection, status: config.ConfigStatus) => Extract<NodeAttestorConfig, { name: N }>;
} = {
  join_token: () => ({ name: "join_token" }),
  x509pop: buildX509PoPServerConfig,
  aws_iid: buildAWSIIDServerConfig,
};

export type UpstreamAuthorityConfig =
  | { name: "disk"; certFilePath: string; keyFilePath: string; bundleFilePath?: string }
  | {
    name: "aws_pca";
    region: string;
    certificateAuthorityArn: string;
    caSigningTemplateArn?: string;
    signingAlgorithm?: string;
    assumeRoleArn?: string;
    endpoint?: string;
    supplementalBundlePath?: string;
  };

/** The validated server configuration (SPIRE's `server.Config`). Durations are in ms. Frozen. */
export interface ServerConfig extends ServerDropInConfig {
  /** Agent API listen address. Default "0.0.0.0". */
  bindAddress: string;
  /** Agent API port. Default 8081. */
  bindPort: number;
  /** Admin API Unix socket. Default "/tmp/wisp-server/private/api.sock". */
  socketPath: string;
  trustDomain: spiffeid.TrustDomain;
  /** Default "./.data". */
  dataDir: string;
  logLevel: LogLevel;
  logFormat: config.LogFormat;
  /** Log to this file instead of stderr. Optional. */
  logFile?: string;
  /** X.509 CA and JWT key lifetime. Default 24h. */
  caTTL: number;
  /** Default 1h. */
  defaultX509SVIDTTL: number;
  /** Default 5m. */
  defaultJWTSVIDTTL: number;
  /** Agent SVID lifetime. Default defaultX509SVIDTTL. */
  agentTTL: number;
  caKeyType: config.KeyType;
  /** `ca_subject`: subject of self-signed CAs and of CA CSRs sent upstream. Default C=US, O=SPIFFE. */
  caSubject: { country: string[]; organization: string[]; commonName: string };
  /** `iss` claim of JWT-SVIDs. Optional. */
  jwtIssuer?: string;
  healthChecks: config.HealthChecksConfig;
  dataStore: DataStoreConfig;
  keyManager: KeyManagerConfig;
  nodeAttestors: NodeAttestorConfig[];
  /** Absent means a self-signed CA. */
  upstreamAuthority?: UpstreamAuthorityConfig;
  /** `federation`: the bundle endpoint served and the foreign trust domains whose bundles are fetched. */
  federation: FederationConfig;
}

/** Every default of the server config, in one place (SPIRE `defaultConfig()`). */
export function defaultServerConfig() {
  return {
    bindAddress: "0.0.0.0",
    bindPort: 8081,
    socketPath: "/tmp/wisp-server/private/api.sock",
    dataDir: "./.data",
    caTTL: 24 * 3_600_000,
    defaultX509SVIDTTL: 3_600_000,
    defaultJWTSVIDTTL: 5 * 60_000,
    caSubject: { country: ["US"], organization: ["SPIFFE"], commonName: "" },
  };
}

/** Plugin types and names this config accepts. */
export const SERVER_PLUGIN_RULES: Readonly<Record<string, config.PluginTypeRule>> = {
  DataStore: { names: ["sql"], single: true },
  KeyManager: { names: ["memory", "disk", "aws_kms"], single: true },
  NodeAttestor: { names: Object.keys(NODE_ATTESTOR_READERS), single: false },
  UpstreamAuthority: { names: ["disk", "aws_pca"], single: true },
};

const FLAG_KEYS: Record<keyof ServerFlagOverrides, string> = {
  bindAddress: "bind_address",
  serverPort: "bind_port",
  socketPath: "socket_path",
  trustDomain: "trust_domain",
  dataDir: "data_dir",
  logLevel: "log_level",
  logFormat: "log_format",
  logFile: "log_file",
};

/**
 * Builds the server config from a parsed file and the command-line overrides, recording every problem in `status`.
 *
 * @throws {ConfigError} listing every error when there is at least one
 */
export function buildServerConfig(
  raw: unknown,
  options: { flags?: Partial<ServerFlagOverrides>; status?: config.ConfigStatus } = {},
): ServerConfig {
  const status = options.status ?? new config.ConfigStatus();
  const merged = config.mergeOverrides(raw, { block: "server", values: options.flags ?? {}, keys: FLAG_KEYS });
  const root = new config.ConfigSection("", merged, status);
  const s = root.section("server");
  const d = defaultServerConfig();

  const dataDir = s.string("data_dir") || d.dataDir;
  const ttl = (key: string, def: number): number => {
    const v = s.duration(key);
    if (v === undefined) return def;
    if (v <= 0) status.error(`${s.key(key)} must be positive, got "${config.formatDuration(v)}"`);
    return v;
  };
  const caTTL = ttl("ca_ttl", d.caTTL);
  const defaultX509SVIDTTL = ttl("default_x509_svid_ttl", d.defaultX509SVIDTTL);
  const defaultJWTSVIDTTL = ttl("default_jwt_svid_ttl", d.defaultJWTSVIDTTL);
  const agentTTL = ttl("agent_ttl", defaultX509SVIDTTL);
  checkTTLsForCATTL(s, { caTTL, default_x509_svid_ttl: defaultX509SVIDTTL, default_jwt_svid_ttl: defaultJWTSVIDTTL }, status);

  const built = {
    bindAddress: s.string("bind_address") || d.bindAddress,
    bindPort: s.int("bind_port", { min: 0, max: 65535 }) ?? d.bindPort,
    socketPath: s.string("socket_path") || d.socketPath,
    trustDomain: config.readTrustDomain(s, status),
    dataDir,
    logLevel: config.readLogLevel(s, status),
    logFormat: config.readLogFormat(s, status),
    ...config.optionalField("logFile", s.string("log_file")),
    caTTL,
    defaultX509SVIDTTL,
    defaultJWTSVIDTTL,
    agentTTL,
    caKeyType: config.readKeyType(s, "ca_key_type", status),
    caSubject: readCASubject(s, status),
    ...config.optionalField("jwtIssuer", s.string("jwt_issuer")),
    healthChecks: config.readHealthChecksPlacement(root, s, status),
    ...readServerDropIn(root, s, status),
    federation: readFederation(s, status),
    ...buildPlugins(root.raw("plugins"), dataDir, status),
  };
  root.finish();
  status.throwIfErrors();
  return config.deepFreeze(built as ServerConfig);
}

/**
 * SPIRE's `ca_subject { country = [..] organization = [..] common_name = "" }`: a declared block replaces the default
 * whole (absent fields stay empty); a block with nothing in it falls back to the default, with SPIRE's warning.
 */
function readCASubject(s: config.ConfigSection, status: config.ConfigStatus): ServerConfig["caSubject"] {
  const declared = s.has("ca_subject");
  const subj = s.section("ca_subject");
  const subject = {
    country: (subj.stringList("country") ?? []).filter((v) => v !== ""),
    organization: (subj.stringList("organization") ?? []).filter((v) => v !== ""),
    commonName: subj.string("common_name") ?? "",
  };
  if (subject.country.length > 0 || subject.organization.length > 0 || subject.commonName !== "") return subject;
  if (declared) status.info("ca_subject configurable is set but empty; the default will be used");
  return defaultServerConfig().caSubject;
}

/** SPIRE's MaxSVIDTTLForCATTL note: an SVID TTL above min(ca_ttl/6, 7d) gets cut short by CA rotation. */
function checkTTLsForCATTL(s: config.ConfigSection, ttls: { caTTL: number } & Record<string, number>, status: config.ConfigStatus) {
  const max = Math.min(ttls.caTTL / 6, 7 * 24 * 3_600_000);
  for (const key of ["default_x509_svid_ttl", "default_jwt_svid_ttl"]) {
    const v = ttls[key]!;
    if (ttls.caTTL > 0 && v > max) {
      status.info(
        `${s.key(key)} "${config.formatDuration(v)}" is too high for ${s.key("ca_ttl")} "${config.formatDuration(ttls.caTTL)}": ` +
          `SVIDs may be issued with shorter lifetimes; set it to "${config.formatDuration(max)}" or less, or set ca_ttl to ` +
          `"${config.formatDuration(v * 6)}" or more`,
      );
    }
  }
}

function buildPlugins(raw: unknown, dataDir: string, status: config.ConfigStatus) {
  const p = config.readPlugins(raw, { rules: SERVER_PLUGIN_RULES, status });
  const one = (type: string): config.SelectedPlugin | undefined => p[type]?.[0];

  let dataStore: DataStoreConfig = { databaseType: "sqlite3", connectionString: `${dataDir}/datastore.sqlite3` };
  const ds = one("DataStore");
  if (ds) dataStore = buildDataStore(ds.data, status) ?? dataStore;

  let keyManager: KeyManagerConfig = { name: "memory" };
  const km = one("KeyManager");
  if (km?.name === "disk") keyManager = { name: "disk", keysPath: km.data.string("keys_path") || `${dataDir}/keys.json` };
  if (km?.name === "aws_kms") keyManager = buildAWSKMSConfig(km.data, status, dataDir);

  let upstreamAuthority: UpstreamAuthorityConfig | undefined;
  const ua = one("UpstreamAuthority");
  if (ua) upstreamAuthority = buildUpstreamAuthority(ua, status);

  // SPIRE handles join tokens inside AttestAgent whether or not the plugin is declared, so it is always on.
  const nodeAttestors: NodeAttestorConfig[] = [{ name: "join_token" }];
  for (const na of p["NodeAttestor"] ?? []) {
    if (nodeAttestors.some((n) => n.name === na.name)) continue;
    const read = NODE_ATTESTOR_READERS[na.name as NodeAttestorConfig["name"]];
    nodeAttestors.push(read(na.data, status));
  }
  for (const plugins of Object.values(p)) for (const plugin of plugins) plugin.data.finish();
  return { dataStore, keyManager, nodeAttestors, ...config.optionalField("upstreamAuthority", upstreamAuthority) };
}

function buildDataStore(data: config.ConfigSection, status: config.ConfigStatus): DataStoreConfig | undefined {
  const type = data.string("database_type");
  const conn = data.string("connection_string");
  const roConn = data.string("ro_connection_string");
  const maxOpen = data.int("max_open_conns", { min: 0 });
  const maxIdle = data.int("max_idle_conns", { min: 0 });
  const lifetime = data.duration("conn_max_lifetime");
  if (!conn) status.error(`${data.key("connection_string")} must be configured`);
  if (!type) status.error(`${data.key("database_type")} must be configured`);
  else if (type !== "sqlite3" && type !== "postgres") {
    status.error(`${data.key("database_type")}: unsupported database type "${type}" (supported: sqlite3, postgres)`);
  }
  if (type === "sqlite3") {
    // The embedded SQLite driver has one connection and no replica: these would be accepted and change nothing.
    const pgOnly = { ro_connection_string: roConn, max_open_conns: maxOpen, max_idle_conns: maxIdle, conn_max_lifetime: lifetime };
    for (const [key, v] of Object.entries(pgOnly)) {
      if (v !== undefined && v !== "") status.error(`${data.key(key)} is only supported with database_type "postgres"`);
    }
  }
  if (!conn || (type !== "sqlite3" && type !== "postgres")) return undefined;
  return {
    databaseType: type,
    connectionString: conn,
    ...config.optionalField("roConnectionString", roConn || undefined),
    ...config.optionalField("maxOpenConns", maxOpen),
    ...config.optionalField("maxIdleConns", maxIdle),
    ...config.optionalField("connMaxLifetime", lifetime),
  };
}

function buildUpstreamAuthority(ua: config.SelectedPlugin, status: config.ConfigStatus): UpstreamAuthorityConfig | undefined {
  const { data } = ua;
  const block = data.path.replace(/\.plugin_data$/, "");
  const required = (key: string): string => {
    const v = data.string(key);
    if (!v) status.error(`${block}: plugin configuration is missing the ${key}`);
    return v ?? "";
  };
  const opt = (key: string) => data.string(key) || undefined;
  if (ua.name === "disk") {
    return {
      name: "disk",
      certFilePath: required("cert_file_path"),
      keyFilePath: required("key_file_path"),
      ...config.optionalField("bundleFilePath", opt("bundle_file_path")),
    };
  }
  return {
    name: "aws_pca",
    region: required("region"),
    certificateAuthorityArn: required("certificate_authority_arn"),
    ...config.optionalField("caSigningTemplateArn", opt("ca_signing_template_arn")),
    ...config.optionalField("signingAlgorithm", opt("signing_algorithm")),
    ...config.optionalField("assumeRoleArn", opt("assume_role_arn")),
    ...config.optionalField("endpoint", opt("endpoint")),
    ...config.optionalField("supplementalBundlePath", opt("supplemental_bundle_path")),
  };
}

/** Options of loadServerConfig. */
export interface LoadServerConfigOptions {
  /** The `-config` file's text; absent means flags and defaults only. */
  text?: string;
  /** The `-config` path, for messages and to pick JSON by extension. Default "server.conf". */
  filename?: string;
  flags?: Partial<ServerFlagOverrides>;
  /** `-expandEnv`: expand $VAR and ${VAR} in the file before parsing. */
  expandEnv?: boolean;
  getenv?: (name: string) => string | undefined;
  /** Receives every note, including the informational ones. */
  status?: config.ConfigStatus;
}

/**
 * SPIRE's LoadConfig for the server: parse the file, merge flags (flags win), validate everything, reject unknown
 * keys, return a frozen config.
 *
 * @throws {ConfigError} on a syntax error, or listing every validation error
 */
export function loadServerConfig(options: LoadServerConfigOptions): ServerConfig {
  const raw = options.text === undefined ? {} : config.parseConfigFile(options.text, {
    filename: options.filename ?? "server.conf",
    ...(options.expandEnv ? { expandEnv: true } : {}),
    ...(options.getenv ? { getenv: options.getenv } : {}),
  });
  return buildServerConfig(raw, {
    ...(options.flags ? { flags: options.flags } : {}),
    ...(options.status ? { status: options.status } : {}),
  });
}
