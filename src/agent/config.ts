/** The wisp-agent configuration: file shape, parsed shape, defaults and validation of agent.conf. @module */
import * as spiffeid from "../core/spiffeid/mod.ts";
import type { LogLevel } from "../core/log/logger.ts";
import * as config from "../core/config/mod.ts";
import { parseServerAddresses, type ServerEndpoint } from "./server_addresses.ts";
import { type AgentDropInConfig, readAgentDropIn } from "./config_dropin.ts";

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
  /** `-trustBundle`: path of the bootstrap bundle. */
  trustBundle: string;
  trustBundleUrl: string;
  dataDir: string;
  socketPath: string;
  logLevel: string;
  insecureBootstrap: boolean;
  logFormat: string;
  logFile: string;
  trustBundleFormat: string;
  allowUnauthenticatedVerifiers: boolean;
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
  /** Admin API Unix socket. Optional; no admin API when unset. */
  adminSocketPath?: string;
  trustDomain: spiffeid.TrustDomain;
  /** PEM bundle used to authenticate the server at first contact. One of the three bootstrap modes. */
  trustBundlePath?: string;
  /** HTTPS URL the bootstrap bundle is downloaded from. */
  trustBundleURL?: URL;
  /** Trust the server without a bundle at first contact (development only). Default false. */
  insecureBootstrap: boolean;
  /** Single-use join token for node attestation. Optional once the agent holds an SVID. */
  joinToken?: string;
  logLevel: LogLevel;
  logFormat: config.LogFormat;
  logFile?: string;
  workloadX509SVIDKeyType: config.KeyType;
  /** Soft limit of cached X509-SVIDs. Default 1000. */
  x509SVIDCacheMaxSize: number;
  healthChecks: config.HealthChecksConfig;
  nodeAttestor: { name: "join_token" };
  keyManager: AgentKeyManagerConfig;
  workloadAttestors: UnixWorkloadAttestorConfig[];
}

/** Every default of the agent config, in one place (SPIRE `defaultConfig()`). */
export function defaultAgentConfig() {
  return {
    dataDir: "./.data",
    serverPort: 8081,
    socketPath: "/tmp/wisp-agent/public/api.sock",
    x509SVIDCacheMaxSize: 1000,
  };
}

const PLUGIN_RULES: Record<string, config.PluginTypeRule> = {
  NodeAttestor: { names: ["join_token"], single: true },
  KeyManager: { names: ["memory", "disk"], single: true },
  WorkloadAttestor: { names: ["unix"], single: false },
};

const FLAG_KEYS: Record<keyof AgentFlagOverrides, string> = {
  serverAddress: "server_address",
  serverPort: "server_port",
  trustDomain: "trust_domain",
  joinToken: "join_token",
  trustBundle: "trust_bundle_path",
  trustBundleUrl: "trust_bundle_url",
  dataDir: "data_dir",
  socketPath: "socket_path",
  logLevel: "log_level",
  insecureBootstrap: "insecure_bootstrap",
  logFormat: "log_format",
  logFile: "log_file",
  trustBundleFormat: "trust_bundle_format",
  allowUnauthenticatedVerifiers: "allow_unauthenticated_verifiers",
};

/**
 * Builds the agent config from a parsed file and the command-line overrides, recording every problem in `status`.
 *
 * @throws {ConfigError} listing every error when there is at least one
 */
export function buildAgentConfig(
  raw: unknown,
  options: { flags?: Partial<AgentFlagOverrides>; status?: config.ConfigStatus } = {},
): AgentConfig {
  const status = options.status ?? new config.ConfigStatus();
  // A `false` flag is indistinguishable from "not given", so only `true` may override the file.
  const values: Partial<AgentFlagOverrides> = { ...options.flags };
  if (values.insecureBootstrap === false) delete values.insecureBootstrap;
  if (values.allowUnauthenticatedVerifiers === false) delete values.allowUnauthenticatedVerifiers;
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
  const built = {
    dataDir,
    serverAddress: servers[0]?.address ?? "",
    serverPort,
    servers,
    socketPath: a.string("socket_path") || d.socketPath,
    ...config.optionalField("adminSocketPath", a.string("admin_socket_path") || undefined),
    trustDomain: config.readTrustDomain(a, status),
    ...readBootstrap(a, status),
    ...config.optionalField("joinToken", a.string("join_token") || undefined),
    logLevel: config.readLogLevel(a, status),
    logFormat: config.readLogFormat(a, status),
    ...config.optionalField("logFile", a.string("log_file") || undefined),
    workloadX509SVIDKeyType: config.readKeyType(a, "workload_x509_svid_key_type", status),
    x509SVIDCacheMaxSize: a.int("x509_svid_cache_max_size", { min: 1 }) ?? d.x509SVIDCacheMaxSize,
    healthChecks: config.readHealthChecksPlacement(root, a, status),
    ...readAgentDropIn(root, a, status),
    ...buildPlugins(root.raw("plugins"), dataDir, status),
  };
  root.finish();
  status.throwIfErrors();
  return config.deepFreeze(built as AgentConfig);
}

/** Exactly one way to trust the server at first contact (SPIRE agent run.go validateConfig texts). */
function readBootstrap(a: config.ConfigSection, status: config.ConfigStatus) {
  const path = a.string("trust_bundle_path") || undefined;
  const urlText = a.string("trust_bundle_url") || undefined;
  const insecure = a.bool("insecure_bootstrap") ?? false;
  const given = [insecure, path !== undefined, urlText !== undefined].filter(Boolean).length;
  if (given === 0) {
    status.error("agent.trust_bundle_path or agent.trust_bundle_url must be configured unless insecure_bootstrap is set");
  } else if (given > 1) {
    status.error("only one of agent.insecure_bootstrap, agent.trust_bundle_path or agent.trust_bundle_url can be set");
  }
  let url: URL | undefined;
  if (urlText !== undefined) {
    try {
      url = new URL(urlText);
      if (url.protocol !== "https:") status.error(`${a.key("trust_bundle_url")} must use https, got "${urlText}"`);
    } catch {
      status.error(`${a.key("trust_bundle_url")}: invalid URL "${urlText}"`);
    }
  }
  return {
    ...config.optionalField("trustBundlePath", path),
    ...config.optionalField("trustBundleURL", url),
    insecureBootstrap: insecure,
  };
}

function buildPlugins(raw: unknown, dataDir: string, status: config.ConfigStatus) {
  const p = config.readPlugins(raw, { rules: PLUGIN_RULES, status });

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
  for (const plugins of Object.values(p)) for (const plugin of plugins) plugin.data.finish();
  return { nodeAttestor: { name: "join_token" as const }, keyManager, workloadAttestors };
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
  });
}
