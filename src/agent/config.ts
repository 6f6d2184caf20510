/** The wisp-agent configuration: file shape, parsed shape, defaults and validation of agent.conf. @module */
import * as spiffeid from "../core/spiffeid/mod.ts";
import type { LogLevel } from "../core/log/logger.ts";
import * as config from "../core/config/mod.ts";
import { parseServerAddresses, type ServerEndpoint } from "./server_addresses.ts";
import type { X509PoPAgentConfig } from "./nodeattestor/x509pop.ts";
import type { TrustBundleFormat } from "./trust_bundle_source.ts";
import { type AgentDropInConfig, readAgentDropIn } from "./config_dropin.ts";
import { DEFAULT_SVID_CACHE_MAX_SIZE } from "./manager/svid_cache.ts";
import { DEFAULT_JWT_CACHE_MAX_SIZE } from "./manager/jwt_cache.ts";

/** agent.conf as written: snake_case keys, every value unchecked. */
export interface RawAgentConfig {
  agent?: Record<string, unknown>;
  plugins?: unknown;
  [key: string]: unknown;
}

/** Values given on the `run` command line; each one wins over the file (SPIRE run.go names). */
export interface AgentFlagOverrides {
  serverAddress: string;
  serverPort: number;
  trustDomain: string;
  joinToken: string;
  /** `-joinTokenFile`: path of a file holding the join token. */
  joinTokenFile: string;
  /** `-trustBundle`: path of the bootstrap bundle. */
  trustBundle: string;
  trustBundleUrl: string;
  trustBundleFormat: string;
  dataDir: string;
  socketPath: string;
  logLevel: string;
  insecureBootstrap: boolean;
  logFormat: string;
  logFile: string;
  allowUnauthenticatedVerifiers: boolean;
  /** `-disableSDSAPI`. */
  disableSDSAPI: boolean;
}

export type AgentKeyManagerConfig = { name: "memory" } | { name: "disk"; /** Default "<data_dir>". */ directory: string };

/** The `WorkloadAttestor "unix"` plugin. */
export interface UnixWorkloadAttestorConfig {
  name: "unix";
  /** Add unix:path and unix:sha256 selectors. Default false. */
  discoverWorkloadPath: boolean;
  /** Largest binary hashed for unix:sha256, in bytes; 0 means no limit, negative never hashes. Default 0. */
  workloadSizeLimit: number;
}

/** The agent's one NodeAttestor. A join token given on the command line or in the agent block wins, as in SPIRE. */
export type AgentNodeAttestorConfig = { name: "join_token" } | X509PoPAgentConfig | AWSIIDAgentConfig;

/** SPIRE's aws_iid agent plugin_data. */
export interface AWSIIDAgentConfig {
  name: "aws_iid";
  /** `ec2_metadata_endpoint`; absent: env AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254. */
  ec2MetadataEndpoint?: string;
}

/** SPIRE's `rebootstrap_mode`: what to do when the cached bundle no longer trusts the server. */
export type RebootstrapMode = "never" | "auto" | "always";

/** The validated agent configuration. Frozen. */
export interface AgentConfig extends AgentDropInConfig {
  /** Default "./.data". */
  dataDir: string;
  /** The first server's host name or address. Required. */
  serverAddress: string;
  /** Default port of servers listed without one. Default 8081. */
  serverPort: number;
  /**
   * Every server, in preference order: `server_address` may be a list or a comma-separated string, each entry
   * `host`, `host:port` or `[ipv6]:port`. The agent fails over to the next one when a server cannot be reached.
   */
  servers: ServerEndpoint[];
  /** Workload API Unix socket. Default "/tmp/wisp-agent/public/api.sock". */
  socketPath: string;
  trustDomain: spiffeid.TrustDomain;
  /** PEM bundle used to authenticate the server at first contact. One of the three bootstrap modes. */
  trustBundlePath?: string;
  /** URL the bootstrap bundle is downloaded from at each attestation attempt: https://, or http:// over trustBundleUnixSocket. */
  trustBundleURL?: URL;
  /** Unix socket `trust_bundle_url` is fetched through (SPIRE's `trust_bundle_unix_socket`). Optional. */
  trustBundleUnixSocket?: string;
  /** `trust_bundle_format` of trust_bundle_path / trust_bundle_url: "pem" or "spiffe". Default "pem". */
  trustBundleFormat: TrustBundleFormat;
  /** Trust the server without a bundle at first contact (development only). Default false. */
  insecureBootstrap: boolean;
  /** Single-use join token for node attestation. Optional once the agent holds an SVID. */
  joinToken?: string;
  /** File holding the join token (read at attestation); exclusive with joinToken. */
  joinTokenFile?: string;
  /** Default "never". "auto" falls back to "never" (with a warning) for an agent that cannot re-attest. */
  rebootstrapMode: RebootstrapMode;
  /** How long unknown-authority errors are tolerated before rebootstrapping, ms. Default 10m. */
  rebootstrapDelay: number;
  logLevel: LogLevel;
  logFormat: config.LogFormat;
  logFile?: string;
  workloadX509SVIDKeyType: config.KeyType;
  /** `x509_svid_cache_max_size`: workload X509-SVIDs kept beyond those streams hold (SPIRE's LRU cache). */
  svidCacheMaxSize: number;
  /** `jwt_svid_cache_max_size`: JWT-SVIDs (per SPIFFE ID and audience) the agent keeps, least recently used dropped. */
  jwtSVIDCacheMaxSize: number;
  healthChecks: config.HealthChecksConfig;
  nodeAttestor: AgentNodeAttestorConfig;
  keyManager: AgentKeyManagerConfig;
  workloadAttestors: UnixWorkloadAttestorConfig[];
  /**
   * `admin_socket_path`: the admin API socket (SPIRE's Debug, Logger and Delegated Identity services), made absolute
   * against the working directory when it is known. Absent: no admin API.
   */
  adminSocketPath?: string;
  /** `authorized_delegates`: SPIFFE IDs (of this trust domain) allowed to use the Delegated Identity API. Default none. */
  authorizedDelegates: string[];
}

/** Every default of the agent config, in one place (SPIRE `defaultConfig()`). */
export function defaultAgentConfig() {
  return {
    dataDir: "./.data",
    serverPort: 8081,
    socketPath: "/tmp/wisp-agent/public/api.sock",
    rebootstrapMode: "never" as RebootstrapMode,
    rebootstrapDelay: 10 * 60_000,
  };
}

/** Plugin types and names this config accepts. */
export const AGENT_PLUGIN_RULES: Readonly<Record<string, config.PluginTypeRule>> = {
  NodeAttestor: { names: ["join_token", "x509pop", "aws_iid"], single: true },
  KeyManager: { names: ["memory", "disk"], single: true },
  WorkloadAttestor: { names: ["unix"], single: false },
};

const FLAG_KEYS: Record<keyof AgentFlagOverrides, string> = {
  serverAddress: "server_address",
  serverPort: "server_port",
  trustDomain: "trust_domain",
  joinToken: "join_token",
  joinTokenFile: "join_token_file",
  trustBundle: "trust_bundle_path",
  trustBundleUrl: "trust_bundle_url",
  trustBundleFormat: "trust_bundle_format",
  dataDir: "data_dir",
  socketPath: "socket_path",
  logLevel: "log_level",
  insecureBootstrap: "insecure_bootstrap",
  logFormat: "log_format",
  logFile: "log_file",
  allowUnauthenticatedVerifiers: "allow_unauthenticated_verifiers",
  disableSDSAPI: "disable_sds_api",
};

/**
 * Builds the agent config from a parsed file and the command-line overrides, recording every problem in `status`.
 *
 * @throws {ConfigError} listing every error when there is at least one
 */
export function buildAgentConfig(
  raw: unknown,
  options: {
    flags?: Partial<AgentFlagOverrides>;
    status?: config.ConfigStatus;
    /** The working directory relative paths are resolved against (SPIRE's filepath.Abs); absent: paths stay as given. */
    cwd?: string | undefined;
  } = {},
): AgentConfig {
  const status = options.status ?? new config.ConfigStatus();
  // A `false` flag is indistinguishable from "not given", so only `true` may override the file.
  const values: Partial<AgentFlagOverrides> = { ...options.flags };
  if (values.insecureBootstrap === false) delete values.insecureBootstrap;
  if (values.allowUnauthenticatedVerifiers === false) delete values.allowUnauthenticatedVerifiers;
  if (values.disableSDSAPI === false) delete values.disableSDSAPI;
  const merged = config.mergeOverrides(raw, { block: "agent", values, keys: FLAG_KEYS });
  const root = new config.ConfigSection("", merged, status);
  const a = root.section("agent");
  const d = defaultAgentConfig();

  const errorsBefore = status.errors.length;
  const addresses = a.stringList("server_address") ?? [];
  const given = addresses.some((x) => x.split(",").some((p) => p.trim() !== ""));
  if (!given && status.errors.length === errorsBefore) status.error(`${a.key("server_address")} must be configured`);
  const serverPort = a.int("server_port", { min: 1, max: 65535 }) ?? d.serverPort;
  const servers = parseServerAddresses(addresses, serverPort, a.key("server_address"), status);
  const dataDir = a.string("data_dir") || d.dataDir;
  const trustDomain = config.readTrustDomain(a, status);
  const built = {
    dataDir,
    serverAddress: servers[0]?.address ?? "",
    serverPort,
    servers,
    socketPath: a.string("socket_path") || d.socketPath,
    trustDomain,
    ...readAdminAPI(a, status, { socketPath: a.string("socket_path") || d.socketPath, trustDomain, cwd: options.cwd }),
    ...readBootstrap(a, status),
    ...readJoinToken(a, status),
    ...readRebootstrap(a, status, d),
    logLevel: config.readLogLevel(a, status),
    logFormat: config.readLogFormat(a, status),
    ...config.optionalField("logFile", a.string("log_file") || undefined),
    workloadX509SVIDKeyType: config.readKeyType(a, "workload_x509_svid_key_type", status),
    svidCacheMaxSize: readCacheMaxSize(a, status, "x509_svid_cache_max_size", DEFAULT_SVID_CACHE_MAX_SIZE),
    jwtSVIDCacheMaxSize: readCacheMaxSize(a, status, "jwt_svid_cache_max_size", DEFAULT_JWT_CACHE_MAX_SIZE),
    healthChecks: config.readHealthChecksPlacement(root, a, status),
    ...readAgentDropIn(root, a, status),
    ...buildPlugins(root.raw("plugins"), dataDir, status),
  };
  root.finish();
  status.throwIfErrors();
  return config.deepFreeze(built as AgentConfig);
}

/** `x509_svid_cache_max_size` / `jwt_svid_cache_max_size`, as SPIRE: negative is an error, 0 (or unset) the default. */
function readCacheMaxSize(a: config.ConfigSection, status: config.ConfigStatus, key: string, dflt: number): number {
  const v = a.int(key);
  if (v !== undefined && v < 0) {
    status.error(`${a.key(key)} should not be negative`);
    return dflt;
  }
  return v || dflt;
}

/** `join_token` or `join_token_file`, not both. */
function readJoinToken(a: config.ConfigSection, status: config.ConfigStatus) {
  const token = a.string("join_token") || undefined;
  const file = a.string("join_token_file") || undefined;
  if (token && file) status.error(`only one of ${a.key("join_token")} or ${a.key("join_token_file")} can be set`);
  return { ...config.optionalField("joinToken", token), ...config.optionalField("joinTokenFile", file) };
}

/** `rebootstrap_mode` and `rebootstrap_delay` (SPIRE agent run.go); rebootstrapping needs a verified bootstrap. */
function readRebootstrap(a: config.ConfigSection, status: config.ConfigStatus, d: ReturnType<typeof defaultAgentConfig>) {
  const text = a.string("rebootstrap_mode") || d.rebootstrapMode;
  let mode: RebootstrapMode = d.rebootstrapMode;
  if (text === "never" || text === "auto" || text === "always") mode = text;
  else status.error(`${a.key("rebootstrap_mode")} must be one of "never", "auto" or "always", got "${text}"`);
  const delay = a.duration("rebootstrap_delay") ?? d.rebootstrapDelay;
  if (delay < 0) status.error(`${a.key("rebootstrap_delay")} must not be negative`);
  if (mode !== "never" && (a.bool("insecure_bootstrap") ?? false)) {
    status.error(`${a.key("rebootstrap_mode")} "${mode}" cannot be used with ${a.key("insecure_bootstrap")}`);
  }
  return { rebootstrapMode: mode, rebootstrapDelay: delay };
}

/**
 * `admin_socket_path` and `authorized_delegates` (SPIRE agent run.go, run_posix.go getAdminAddr): the admin socket must
 * not sit in the Workload API socket's directory or below it, since that directory is open to every workload; each
 * delegate must be a SPIFFE ID of the agent's trust domain. Delegates without an admin socket would have no effect.
 */
function readAdminAPI(
  a: config.ConfigSection,
  status: config.ConfigStatus,
  o: { socketPath: string; trustDomain: spiffeid.TrustDomain | undefined; cwd: string | undefined },
) {
  const given = a.string("admin_socket_path") || undefined;
  const delegates = a.stringList("authorized_delegates") ?? [];
  let adminSocketPath: string | undefined;
  if (given !== undefined) {
    adminSocketPath = absolutePath(given, o.cwd);
    const workload = absolutePath(o.socketPath, o.cwd);
    // Without a working directory a relative path cannot be compared with an absolute one; the run command gives one.
    if (adminSocketPath.startsWith("/") === workload.startsWith("/") && adminSocketPath.startsWith(`${dirname(workload)}/`)) {
      status.error("admin socket cannot be in the same directory or a subdirectory as that containing the Workload API socket");
    }
  }
  for (const d of delegates) {
    try {
      const id = spiffeid.fromString(d);
      if (o.trustDomain && !id.memberOf(o.trustDomain)) {
        status.error(`error validating authorized delegate: SPIFFE ID "${id}" is not a member of trust domain "${o.trustDomain.name}"`);
      }
    } catch (err) {
      status.error(`error validating authorized delegate: ${(err as Error).message}`);
    }
  }
  if (delegates.length > 0 && given === undefined) {
    status.error(`${a.key("authorized_delegates")} needs ${a.key("admin_socket_path")}: the Delegated Identity API is served only on the admin socket`);
  }
  return { ...config.optionalField("adminSocketPath", adminSocketPath), authorizedDelegates: delegates };
}

/** POSIX path made absolute against `cwd` (when known) and cleaned of ".", ".." and repeated slashes (Go's filepath.Abs). */
function absolutePath(path: string, cwd: string | undefined): string {
  const full = path.startsWith("/") || cwd === undefined ? path : `${cwd}/${path}`;
  const out: string[] = [];
  for (const part of full.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === ".." && out.length > 0 && out.at(-1) !== "..") out.pop();
    else if (part !== ".." || !full.startsWith("/")) out.push(part);
  }
  return (full.startsWith("/") ? "/" : "") + (out.join("/") || (full.startsWith("/") ? "" : "."));
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (path.startsWith("/") ? "/" : ".") : path.slice(0, i);
}

/** Exactly one way to trust the server at first contact (SPIRE agent run.go validateConfig texts). */
function readBootstrap(a: config.ConfigSection, status: config.ConfigStatus) {
  const path = a.string("trust_bundle_path") || undefined;
  const urlText = a.string("trust_bundle_url") || undefined;
  const unixSocket = a.string("trust_bundle_unix_socket") || undefined;
  const formatText = a.string("trust_bundle_format") || "pem";
  const insecure = a.bool("insecure_bootstrap") ?? false;
  const given = [insecure, path !== undefined, urlText !== undefined].filter(Boolean).length;
  if (given === 0) {
    status.error("agent.trust_bundle_path or agent.trust_bundle_url must be configured unless insecure_bootstrap is set");
  } else if (given > 1) {
    status.error("only one of agent.insecure_bootstrap, agent.trust_bundle_path or agent.trust_bundle_url can be set");
  }
  let format: TrustBundleFormat = "pem";
  if (formatText === "pem" || formatText === "spiffe") format = formatText;
  else status.error(`invalid value for ${a.key("trust_bundle_format")}, expected "pem" or "spiffe"`);
  if (unixSocket !== undefined && urlText === undefined) {
    status.error(`if ${a.key("trust_bundle_unix_socket")} is specified, so must be ${a.key("trust_bundle_url")}`);
  }
  let url: URL | undefined;
  if (urlText !== undefined) {
    try {
      url = new URL(urlText);
    } catch {
      status.error(`${a.key("trust_bundle_url")}: unable to parse trust bundle URL "${urlText}"`);
    }
    if (url && unixSocket !== undefined) {
      if (url.protocol !== "http:") {
        status.error(`${a.key("trust_bundle_url")}: trust bundle URL must start with http:// when used with trust bundle unix socket`);
      }
      for (const key of url.searchParams.keys()) {
        if (key.startsWith("spiffe-")) status.error(`${a.key("trust_bundle_url")} query params can not start with spiffe-`);
        if (key.startsWith("spire-")) status.error(`${a.key("trust_bundle_url")} query params can not start with spire-`);
      }
    } else if (url && url.protocol !== "https:") {
      status.error(`${a.key("trust_bundle_url")}: trust bundle URL must start with https://, got "${urlText}"`);
    }
  }
  return {
    ...config.optionalField("trustBundlePath", path),
    ...config.optionalField("trustBundleURL", url),
    ...config.optionalField("trustBundleUnixSocket", unixSocket),
    trustBundleFormat: format,
    insecureBootstrap: insecure,
  };
}

function buildPlugins(raw: unknown, dataDir: string, status: config.ConfigStatus) {
  const p = config.readPlugins(raw, { rules: AGENT_PLUGIN_RULES, status });

  let keyManager: AgentKeyManagerConfig = { name: "memory" };
  const km = p["KeyManager"]?.[0];
  if (km?.name === "disk") keyManager = { name: "disk", directory: km.data.string("directory") || dataDir };

  // unix is the only workload attestor; without one no workload could ever be identified.
  const workloadAttestors: UnixWorkloadAttestorConfig[] = (p["WorkloadAttestor"] ?? []).map((wa) => ({
    name: "unix",
    discoverWorkloadPath: wa.data.bool("discover_workload_path") ?? false,
    workloadSizeLimit: wa.data.int("workload_size_limit") ?? 0,
  }));
  if (workloadAttestors.length === 0) {
    workloadAttestors.push({ name: "unix", discoverWorkloadPath: false, workloadSizeLimit: 0 });
  }
  let nodeAttestor: AgentNodeAttestorConfig = { name: "join_token" };
  const na = p["NodeAttestor"]?.[0];
  if (na?.name === "x509pop") nodeAttestor = buildX509PoPAgentConfig(na.data, status);
  if (na?.name === "aws_iid") {
    const endpoint = na.data.string("ec2_metadata_endpoint") || undefined;
    if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) {
      status.error(`${na.data.key("ec2_metadata_endpoint")} must be an http(s) URL, got "${endpoint}"`);
    }
    nodeAttestor = { name: "aws_iid", ...config.optionalField("ec2MetadataEndpoint", endpoint) };
  }
  for (const plugins of Object.values(p)) for (const plugin of plugins) plugin.data.finish();
  return { nodeAttestor, keyManager, workloadAttestors };
}

/** SPIRE's x509pop agent keys; spiffe_endpoint_socket (the key pair from a Workload API) is refused by name. */
function buildX509PoPAgentConfig(data: config.ConfigSection, status: config.ConfigStatus): X509PoPAgentConfig {
  if (data.has("spiffe_endpoint_socket")) {
    data.raw("spiffe_endpoint_socket");
    status.error(`${data.key("spiffe_endpoint_socket")} is not supported by wisp: configure private_key_path and certificate_path`);
  }
  const privateKeyPath = data.string("private_key_path") || "";
  const certificatePath = data.string("certificate_path") || "";
  if (!privateKeyPath) status.error(`${data.key("private_key_path")} is required`);
  if (!certificatePath) status.error(`${data.key("certificate_path")} is required`);
  return {
    name: "x509pop",
    privateKeyPath,
    certificatePath,
    ...config.optionalField("intermediatesPath", data.string("intermediates_path") || undefined),
  };
}

/** Options of loadAgentConfig. */
export interface LoadAgentConfigOptions {
  /** The `-config` file's text; absent means flags and defaults only. */
  text?: string;
  /** The `-config` path, for messages and to pick JSON by extension. Default "agent.conf". */
  filename?: string;
  flags?: Partial<AgentFlagOverrides>;
  /** `-expandEnv`: expand $VAR and ${VAR} in the file before parsing. */
  expandEnv?: boolean;
  getenv?: (name: string) => string | undefined;
  /** Receives every note, including the informational ones. */
  status?: config.ConfigStatus;
  /** The working directory, for relative paths SPIRE makes absolute (admin_socket_path). */
  cwd?: string;
}

/**
 * SPIRE's LoadConfig for the agent: parse the file, merge flags (flags win), validate everything, reject unknown
 * keys, return a frozen config.
 *
 * @throws {ConfigError} on a syntax error, or listing every validation error
 */
export function loadAgentConfig(options: LoadAgentConfigOptions): AgentConfig {
  const raw = options.text === undefined ? {} : config.parseConfigFile(options.text, {
    filename: options.filename ?? "agent.conf",
    ...(options.expandEnv ? { expandEnv: true } : {}),
    ...(options.getenv ? { getenv: options.getenv } : {}),
  });
  return buildAgentConfig(raw, {
    ...(options.flags ? { flags: options.flags } : {}),
    ...(options.status ? { status: options.status } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
}
