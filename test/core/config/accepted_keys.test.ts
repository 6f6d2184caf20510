/**
 * Every key agent.conf and server.conf accept has an effect, or is refused by name: no accept-and-ignore.
 *
 * The list of accepted keys is not written here: it is what the builders read, recorded by ConfigStatus while a probe
 * config declaring each plugin in turn is built. A key added to a builder without a row below fails the first test;
 * a row whose key is no longer read fails it too. Each row sets its key and names the built-config field that must
 * change from what the same config without the key gives; keys whose effect is only seen at runtime also name the
 * test that proves it, which must exist and mention the key. Refused keys name their error.
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { AGENT_PLUGIN_RULES, type AgentConfig, buildAgentConfig } from "../../../src/agent/config.ts";
import type { PluginTypeRule } from "../../../src/core/config/plugins.ts";
import { ConfigStatus } from "../../../src/core/config/status.ts";
import { ConfigError } from "../../../src/core/errors.ts";
import { buildServerConfig, SERVER_PLUGIN_RULES, type ServerConfig } from "../../../src/server/config.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const ENABLED = "plugins.<Type>.<name>.enabled";

/** plugin_data a declaration needs to build at all (required keys), per "Type.name"; agent-only ones below. */
const PLUGIN_BASE: Record<string, Record<string, unknown>> = {
  "NodeAttestor.x509pop": { ca_bundle_path: "/etc/wisp/node-ca.pem" },
  "DataStore.sql": { database_type: "sqlite3", connection_string: "/var/lib/wisp/ds.sqlite3" },
  "KeyManager.aws_kms": { region: "us-east-1", key_identifier_value: "server-1" },
  "UpstreamAuthority.aws_pca": { region: "us-east-1", certificate_authority_arn: "arn:aws:acm-pca:us-east-1:1:certificate-authority/a" },
  "UpstreamAuthority.disk": { cert_file_path: "/etc/ua/ca.pem", key_file_path: "/etc/ua/ca.key" },
};

/** The agent's plugins of the same name need other keys than the server's. */
const AGENT_PLUGIN_BASE: Record<string, Record<string, unknown>> = {
  ...PLUGIN_BASE,
  "NodeAttestor.x509pop": { private_key_path: "/etc/wisp/node.key", certificate_path: "/etc/wisp/node.pem" },
};

const AGENT_BASE = { agent: { server_address: "wisp.example.org", trust_domain: "example.org", trust_bundle_path: "/etc/bundle.pem" } };
const SERVER_BASE = { server: { trust_domain: "example.org" } };

type Raw = Record<string, unknown>;

/** One accepted key and how its effect is proved. */
interface Row<C> {
  key: string;
  /** Value set at `key`. */
  value?: unknown;
  /** Other keys set in both configs (undefined removes one), e.g. the bootstrap key a trust_bundle_url row replaces. */
  with?: Record<string, unknown>;
  /** Keys set only in the config without `key`, where `key` is what makes the other valid (a URL's bootstrap). */
  baseOnly?: Record<string, unknown>;
  /** The field that must change, and what it must become. */
  field?: (c: C) => unknown;
  want?: unknown;
  /** A test file that proves the runtime effect; it must exist and mention the key. */
  runtime?: string;
  /** The key is refused: every config setting it fails with an issue containing this text. */
  refused?: string;
}

/** Writes `value` at a dotted key: blocks become nested objects, plugin keys land in their declaration. */
function setKey(raw: Raw, key: string, value: unknown, pb = PLUGIN_BASE): void {
  const parts = key.split(".");
  if (parts[0] === "plugins") {
    const [, type, name, kind, dataKey] = parts as [string, string, string, string, string | undefined];
    const plugins = (raw["plugins"] ??= {}) as Record<string, Raw[]>;
    const decl = ((plugins[type] ??= [{ name, plugin_data: { ...pb[`${type}.${name}`] } }])[0])!;
    if (kind === "enabled") decl["enabled"] = value;
    else if (value === undefined) delete (decl["plugin_data"] as Raw)[dataKey!];
    else (decl["plugin_data"] as Raw)[dataKey!] = value;
    return;
  }
  let at = raw;
  for (const p of parts.slice(0, -1)) at = (at[p] = { ...(at[p] as Raw | undefined) }) as Raw;
  if (value === undefined) delete at[parts.at(-1)!];
  else at[parts.at(-1)!] = value;
}

/** The base config, with the plugin a plugin key belongs to declared (so only the key itself differs). */
function baseFor(base: Raw, key: string, pb = PLUGIN_BASE): Raw {
  const raw = structuredClone(base);
  const [first, type, name] = key.split(".");
  if (first === "plugins" && type && name) {
    raw["plugins"] = { [type]: [{ name, plugin_data: { ...pb[`${type}.${name}`] } }] };
  }
  return raw;
}

/** Every dotted key the builder reads, over probes that declare each plugin of `rules` in turn. */
function keysRead(
  build: (raw: unknown, o: { status: ConfigStatus }) => unknown,
  base: Raw,
  rules: Readonly<Record<string, PluginTypeRule>>,
  pb = PLUGIN_BASE,
): string[] {
  const keys = new Set<string>();
  for (const [type, rule] of Object.entries(rules)) {
    for (const name of rule.names) {
      const status = new ConfigStatus();
      try {
        build(baseFor(base, `plugins.${type}.${name}`, pb), { status });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
      }
      for (const k of status.keysRead) keys.add(/^plugins\.[^.]+\.[^.]+\.enabled$/.test(k) ? ENABLED : k);
    }
  }
  // A block's own name is read to reach its keys; the keys are the rows.
  const all = [...keys];
  return all.filter((k) => !all.some((o) => o.startsWith(`${k}.`))).sort();
}

function checkRows<C>(what: string, build: (raw: unknown) => C, base: Raw, rows: Row<C>[], read: string[], pb = PLUGIN_BASE) {
  test(`${what}: every key the builder reads has a row, and every row is a key it reads`, () => {
    assert.equal(rows.map((r) => r.key).sort(), read);
  });

  for (const row of rows) {
    test(`${what}: ${row.key} ${row.refused ? "is refused by name" : "has an effect"}`, () => {
      const key = row.key === ENABLED ? "plugins.KeyManager.disk.enabled" : row.key;
      const without = baseFor(base, key, pb);
      for (const [k, v] of Object.entries(row.with ?? {})) setKey(without, k, v, pb);
      const withKey = structuredClone(without);
      setKey(withKey, key, row.value, pb);
      for (const [k, v] of Object.entries(row.baseOnly ?? {})) setKey(without, k, v, pb);
      if (row.refused) {
        try {
          build(withKey);
        } catch (err) {
          assert.instance(err, ConfigError);
          assert.ok((err as ConfigError).issues.some((i) => i.includes(row.refused!)), (err as ConfigError).issues.join("\n"));
          return;
        }
        assert.unreachable(`${row.key} was accepted`);
      }
      assert.ok(row.field, `row ${row.key} names no field`);
      const got = row.field!(build(withKey));
      assert.equal(got, row.want);
      // The same config without the key must build too, and give something else there.
      const before = row.field!(build(without));
      assert.not.equal(before, row.want, `${row.key} = ${JSON.stringify(row.value)} changes nothing`);
      if (row.runtime) {
        const file = `${ROOT}${row.runtime}`;
        assert.ok(existsSync(file), `${row.runtime} does not exist`);
        const name = row.key.split(".").at(-1)!;
        assert.ok(readFileSync(file, "utf8").includes(name), `${row.runtime} does not mention ${name}`);
      }
    });
  }
}

const A = (k: string) => `agent.${k}`;
const camel = (k: string) => k.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());

/** SPIRE's placement of health_checks: at the top level, beside the agent/server block (both sides). */
function topLevelHealthChecks<C extends { healthChecks: AgentConfig["healthChecks"] }>(): Row<C>[] {
  return [
    {
      key: "health_checks.listener_enabled",
      value: true,
      field: (c) => c.healthChecks.listenerEnabled,
      want: true,
      runtime: "test/integration/spire_dropin.test.ts",
    },
    { key: "health_checks.bind_address", value: "0.0.0.0", field: (c) => c.healthChecks.bindAddress, want: "0.0.0.0" },
    { key: "health_checks.bind_port", value: 8089, field: (c) => c.healthChecks.bindPort, want: 8089 },
    { key: "health_checks.live_path", value: "/alive", field: (c) => c.healthChecks.livePath, want: "/alive" },
    { key: "health_checks.ready_path", value: "/isready", field: (c) => c.healthChecks.readyPath, want: "/isready" },
  ];
}
const agentRows: Row<AgentConfig>[] = [
  {
    key: A("admin_socket_path"),
    value: "/run/wisp/admin.sock",
    field: (c) => c.adminSocketPath,
    want: "/run/wisp/admin.sock",
    runtime: "test/integration/agent_admin.test.ts",
  },
  {
    key: A("authorized_delegates"),
    value: ["spiffe://example.org/envoy"],
    with: { [A("admin_socket_path")]: "/run/wisp/admin.sock" },
    field: (c) => c.authorizedDelegates,
    want: ["spiffe://example.org/envoy"],
    runtime: "test/integration/agent_admin.test.ts",
  },
  { key: A("x509_svid_cache_max_size"), value: 500, field: (c) => c.svidCacheMaxSize, want: 500, runtime: "test/agent/manager/svid_cache_lru.test.ts" },
  { key: A("jwt_svid_cache_max_size"), value: 50, field: (c) => c.jwtSVIDCacheMaxSize, want: 50, runtime: "test/agent/manager/jwt_cache.test.ts" },
  { key: A("data_dir"), value: "/var/lib/wisp-agent", field: (c) => c.dataDir, want: "/var/lib/wisp-agent" },
  { key: A("server_address"), value: "10.0.0.9", field: (c) => c.servers, want: [{ address: "10.0.0.9", port: 8081 }] },
  { key: A("server_port"), value: 9443, field: (c) => c.serverPort, want: 9443 },
  { key: A("socket_path"), value: "/run/wisp/api.sock", field: (c) => c.socketPath, want: "/run/wisp/api.sock" },
  { key: A("trust_domain"), value: "other.org", field: (c) => c.trustDomain.name, want: "other.org" },
  { key: A("trust_bundle_path"), value: "/etc/b2.pem", field: (c) => c.trustBundlePath, want: "/etc/b2.pem", runtime: "test/integration/bootstrap.test.ts" },
  {
    key: A("trust_bundle_url"),
    value: "https://bundle.example.org/b.pem",
    with: { [A("trust_bundle_path")]: undefined },
    baseOnly: { [A("insecure_bootstrap")]: true },
    field: (c) => c.trustBundleURL?.href,
    want: "https://bundle.example.org/b.pem",
    runtime: "test/integration/bootstrap_url.test.ts",
  },
  { key: A("trust_bundle_format"), value: "spiffe", field: (c) => c.trustBundleFormat, want: "spiffe", runtime: "test/integration/bootstrap_url.test.ts" },
  {
    key: A("trust_bundle_unix_socket"),
    value: "/run/bundle.sock",
    with: { [A("trust_bundle_path")]: undefined, [A("trust_bundle_url")]: "http://localhost/b.pem" },
    baseOnly: { [A("trust_bundle_url")]: "https://localhost/b.pem" },
    field: (c) => c.trustBundleUnixSocket,
    want: "/run/bundle.sock",
    runtime: "test/integration/bootstrap_url.test.ts",
  },
  {
    key: A("insecure_bootstrap"),
    value: true,
    with: { [A("trust_bundle_path")]: undefined, [A("trust_bundle_url")]: "https://b.example.org/b.pem" },
    // With a URL as well, the key is read and reported; alone it switches the bootstrap mode (row value below).
    refused: "only one of agent.insecure_bootstrap, agent.trust_bundle_path or agent.trust_bundle_url can be set",
  },
  { key: A("join_token"), value: "a-token", field: (c) => c.joinToken, want: "a-token", runtime: "test/integration/bootstrap.test.ts" },
  { key: A("log_level"), value: "DEBUG", field: (c) => c.logLevel, want: "debug" },
  { key: A("log_format"), value: "json", field: (c) => c.logFormat, want: "json" },
  { key: A("log_file"), value: "/var/log/wisp-agent.log", field: (c) => c.logFile, want: "/var/log/wisp-agent.log" },
  // Only the one key type wisp signs with is accepted; any other is refused by name.
  { key: A("workload_x509_svid_key_type"), value: "rsa-2048", refused: `agent.workload_x509_svid_key_type: unsupported key type "rsa-2048"` },
  {
    key: A("health_checks.listener_enabled"),
    value: true,
    field: (c) => c.healthChecks.listenerEnabled,
    want: true,
    runtime: "test/integration/health_metrics.test.ts",
  },
  { key: A("health_checks.bind_address"), value: "0.0.0.0", field: (c) => c.healthChecks.bindAddress, want: "0.0.0.0" },
  { key: A("health_checks.bind_port"), value: 8088, field: (c) => c.healthChecks.bindPort, want: 8088 },
  { key: A("health_checks.live_path"), value: "/alive", field: (c) => c.healthChecks.livePath, want: "/alive" },
  { key: A("health_checks.ready_path"), value: "/isready", field: (c) => c.healthChecks.readyPath, want: "/isready" },
  { key: A("sds.default_svid_name"), value: "svid", field: (c) => c.sds.defaultSVIDName, want: "svid", runtime: "test/integration/sds_config.test.ts" },
  { key: A("sds.default_bundle_name"), value: "ca", field: (c) => c.sds.defaultBundleName, want: "ca", runtime: "test/integration/sds_config.test.ts" },
  {
    key: A("sds.default_all_bundles_name"),
    value: "every",
    field: (c) => c.sds.defaultAllBundlesName,
    want: "every",
    runtime: "test/integration/sds_config.test.ts",
  },
  {
    key: A("sds.disable_spiffe_cert_validation"),
    value: true,
    field: (c) => c.sds.disableSPIFFECertValidation,
    want: true,
    runtime: "test/integration/sds_config.test.ts",
  },
  { key: A("disable_sds_api"), value: true, field: (c) => c.disableSDSAPI, want: true, runtime: "test/integration/sds_config.test.ts" },
  { key: ENABLED, value: false, field: (c) => c.keyManager.name, want: "memory" },
  {
    key: "plugins.KeyManager.disk.plugin_data.directory",
    value: "/var/lib/wisp-agent/keys",
    field: (c) => c.keyManager,
    want: { name: "disk", directory: "/var/lib/wisp-agent/keys" },
    runtime: "test/integration/bootstrap.test.ts",
  },
  {
    key: "plugins.WorkloadAttestor.unix.plugin_data.discover_workload_path",
    value: true,
    field: (c) => c.workloadAttestors[0]?.discoverWorkloadPath,
    want: true,
  },
  // spire_dropin.test.ts sets it through its flag (-allowUnauthenticatedVerifiers), which maps to this key.
  {
    key: A("allow_unauthenticated_verifiers"),
    value: true,
    field: (c) => c.allowUnauthenticatedVerifiers,
    want: true,
    runtime: "test/agent/config_dropin.test.ts",
  },
  { key: A("experimental.sync_interval"), value: "5s", field: (c) => c.syncInterval, want: 5000, runtime: "test/agent/manager/sync_interval.test.ts" },
  { key: A("experimental.use_sync_authorized_entries"), value: false, refused: "use_sync_authorized_entries = false is not supported by wisp" },
  { key: A("join_token_file"), value: "/run/wisp/join_token", field: (c) => c.joinTokenFile, want: "/run/wisp/join_token" },
  {
    key: A("rebootstrap_mode"),
    value: "auto",
    field: (c) => c.rebootstrapMode,
    want: "auto",
    runtime: "test/integration/rebootstrap.test.ts",
  },
  { key: A("rebootstrap_delay"), value: "1m", field: (c) => c.rebootstrapDelay, want: 60_000, runtime: "test/integration/rebootstrap.test.ts" },
  ...topLevelHealthChecks<AgentConfig>(),
  {
    key: "telemetry.Prometheus",
    value: { host: "127.0.0.1", port: 9988 },
    field: (c) => c.telemetry.prometheus,
    want: { host: "127.0.0.1", port: 9988 },
    runtime: "test/integration/spire_dropin.test.ts",
  },
  {
    key: "plugins.NodeAttestor.aws_iid.plugin_data.ec2_metadata_endpoint",
    value: "http://127.0.0.1:1338",
    field: (c) => c.nodeAttestor,
    want: { name: "aws_iid", ec2MetadataEndpoint: "http://127.0.0.1:1338" },
    runtime: "test/integration/aws_iid.test.ts",
  },
  ...(["private_key_path", "certificate_path", "intermediates_path"] as const).map((k): Row<AgentConfig> => ({
    key: `plugins.NodeAttestor.x509pop.plugin_data.${k}`,
    value: `/srv/other/${k}`,
    field: (c) => (c.nodeAttestor as unknown as Record<string, unknown>)[camel(k)],
    want: `/srv/other/${k}`,
    // The x509pop integration tests write their agent and server configs through this helper.
    runtime: "test/integration/_x509pop.ts",
  })),
  {
    key: "plugins.WorkloadAttestor.unix.plugin_data.workload_size_limit",
    value: -1,
    field: (c) => c.workloadAttestors[0]?.workloadSizeLimit,
    want: -1,
  },
];

const S = (k: string) => `server.${k}`;
const DS = "plugins.DataStore.sql.plugin_data";
const KMS = "plugins.KeyManager.aws_kms.plugin_data";
const PCA = "plugins.UpstreamAuthority.aws_pca.plugin_data";
const UAD = "plugins.UpstreamAuthority.disk.plugin_data";
const pg = { [`${DS}.database_type`]: "postgres", [`${DS}.connection_string`]: "postgres://u@db/wisp" };
const IID = "plugins.NodeAttestor.aws_iid.plugin_data";
const POP = "plugins.NodeAttestor.x509pop.plugin_data";
const attestor = (c: ServerConfig, name: string) => c.nodeAttestors.find((n) => n.name === name) as Record<string, unknown> | undefined;
const iid = (c: ServerConfig) => attestor(c, "aws_iid");
const pop = (c: ServerConfig) => attestor(c, "x509pop");
const ua = (c: ServerConfig) => c.upstreamAuthority as Record<string, unknown> | undefined;
const kms = (c: ServerConfig) => c.keyManager as unknown as Record<string, unknown>;
const serverRows: Row<ServerConfig>[] = [
  { key: S("bind_address"), value: "127.0.0.1", field: (c) => c.bindAddress, want: "127.0.0.1" },
  { key: S("bind_port"), value: 9443, field: (c) => c.bindPort, want: 9443 },
  { key: S("socket_path"), value: "/run/wisp/server.sock", field: (c) => c.socketPath, want: "/run/wisp/server.sock" },
  { key: S("trust_domain"), value: "other.org", field: (c) => c.trustDomain.name, want: "other.org" },
  { key: S("data_dir"), value: "/var/lib/wisp", field: (c) => c.dataStore.connectionString, want: "/var/lib/wisp/datastore.sqlite3" },
  { key: S("log_level"), value: "WARN", field: (c) => c.logLevel, want: "warn" },
  { key: S("log_format"), value: "json", field: (c) => c.logFormat, want: "json" },
  { key: S("log_file"), value: "/var/log/wisp.log", field: (c) => c.logFile, want: "/var/log/wisp.log" },
  { key: S("ca_ttl"), value: "48h", field: (c) => c.caTTL, want: 48 * 3_600_000, runtime: "test/integration/aws_pca.test.ts" },
  { key: S("default_x509_svid_ttl"), value: "30m", field: (c) => c.defaultX509SVIDTTL, want: 30 * 60_000 },
  { key: S("default_jwt_svid_ttl"), value: "2m", field: (c) => c.defaultJWTSVIDTTL, want: 2 * 60_000 },
  { key: S("agent_ttl"), value: "10m", field: (c) => c.agentTTL, want: 10 * 60_000, runtime: "test/reliability/agent_svid_expiry.test.ts" },
  { key: S("ca_key_type"), value: "ec-p384", refused: `server.ca_key_type: unsupported key type "ec-p384"` },
  {
    key: S("ca_subject.country"),
    value: ["FR"],
    field: (c) => c.caSubject,
    want: { country: ["FR"], organization: [], commonName: "" },
    runtime: "test/server/ca/ca_subject.test.ts",
  },
  {
    key: S("ca_subject.organization"),
    value: ["Acme"],
    field: (c) => c.caSubject,
    want: { country: [], organization: ["Acme"], commonName: "" },
    runtime: "test/server/ca/ca_subject.test.ts",
  },
  {
    key: S("ca_subject.common_name"),
    value: "Acme CA",
    field: (c) => c.caSubject,
    want: { country: [], organization: [], commonName: "Acme CA" },
    runtime: "test/server/ca/ca_subject.test.ts",
  },
  {
    key: S("jwt_issuer"),
    value: "https://oidc.example.org",
    field: (c) => c.jwtIssuer,
    want: "https://oidc.example.org",
    runtime: "test/integration/jwt.test.ts",
  },
  // The whole federation block: its nested keys are read only when it is declared (test/server/federation_config.test.ts
  // covers each of them, the integration test their effect).
  {
    key: S("federation"),
    value: {
      bundle_endpoint: { address: "127.0.0.1", port: 8443, refresh_hint: "2m", profile: { https_spiffe: {} } },
      federates_with: { "two.example": { bundle_endpoint_url: "https://two.example:8443", bundle_endpoint_profile: { https_web: {} } } },
    },
    field: (c) => c.federation,
    want: {
      bundleEndpoint: { address: "127.0.0.1", port: 8443, refreshHint: 120_000, profile: { type: "https_spiffe" } },
      federatesWith: [{ trustDomain: "two.example", bundleEndpointURL: "https://two.example:8443", profile: { type: "https_web" } }],
    },
    runtime: "test/integration/federation.test.ts",
  },
  {
    key: S("health_checks.listener_enabled"),
    value: true,
    field: (c) => c.healthChecks.listenerEnabled,
    want: true,
    runtime: "test/integration/health_metrics.test.ts",
  },
  { key: S("health_checks.bind_address"), value: "0.0.0.0", field: (c) => c.healthChecks.bindAddress, want: "0.0.0.0" },
  { key: S("health_checks.bind_port"), value: 8088, field: (c) => c.healthChecks.bindPort, want: 8088 },
  { key: S("health_checks.live_path"), value: "/alive", field: (c) => c.healthChecks.livePath, want: "/alive" },
  { key: S("health_checks.ready_path"), value: "/isready", field: (c) => c.healthChecks.readyPath, want: "/isready" },
  { key: ENABLED, value: false, field: (c) => c.keyManager.name, want: "memory" },
  {
    key: `${DS}.database_type`,
    value: "postgres",
    with: { [`${DS}.connection_string`]: "postgres://u@db/wisp" },
    field: (c) => c.dataStore.databaseType,
    want: "postgres",
  },
  { key: `${DS}.connection_string`, value: "/srv/ds.sqlite3", field: (c) => c.dataStore.connectionString, want: "/srv/ds.sqlite3" },
  {
    key: `${DS}.ro_connection_string`,
    value: "postgres://u@replica/wisp",
    with: pg,
    field: (c) => c.dataStore.roConnectionString,
    want: "postgres://u@replica/wisp",
  },
  { key: `${DS}.max_open_conns`, value: 20, with: pg, field: (c) => c.dataStore.maxOpenConns, want: 20 },
  { key: `${DS}.max_idle_conns`, value: 5, with: pg, field: (c) => c.dataStore.maxIdleConns, want: 5 },
  { key: `${DS}.conn_max_lifetime`, value: "10m", with: pg, field: (c) => c.dataStore.connMaxLifetime, want: 10 * 60_000 },
  {
    key: "plugins.KeyManager.disk.plugin_data.keys_path",
    value: "/srv/keys.json",
    field: (c) => c.keyManager,
    want: { name: "disk", keysPath: "/srv/keys.json" },
  },
  { key: `${KMS}.region`, value: "eu-west-1", field: (c) => kms(c)["region"], want: "eu-west-1" },
  {
    key: `${KMS}.access_key_id`,
    value: "AKIDEXAMPLE",
    with: { [`${KMS}.secret_access_key`]: "secret" },
    field: (c) => kms(c)["accessKeyId"],
    want: "AKIDEXAMPLE",
  },
  {
    key: `${KMS}.secret_access_key`,
    value: "secret",
    with: { [`${KMS}.access_key_id`]: "AKIDEXAMPLE" },
    field: (c) => kms(c)["secretAccessKey"],
    want: "secret",
  },
  {
    key: `${KMS}.key_identifier_file`,
    value: "/srv/id",
    with: { [`${KMS}.key_identifier_value`]: undefined },
    field: (c) => kms(c)["keyIdentifierFile"],
    want: "/srv/id",
  },
  { key: `${KMS}.key_identifier_value`, value: "server-2", field: (c) => kms(c)["keyIdentifierValue"], want: "server-2" },
  {
    key: `${KMS}.key_policy_file`,
    value: "/srv/policy.json",
    field: (c) => kms(c)["keyPolicyFile"],
    want: "/srv/policy.json",
    runtime: "test/integration/aws_pca.test.ts",
  },
  { key: `${KMS}.endpoint`, value: "http://127.0.0.1:4566", field: (c) => kms(c)["endpoint"], want: "http://127.0.0.1:4566" },
  { key: `${PCA}.region`, value: "eu-west-1", field: (c) => ua(c)?.["region"], want: "eu-west-1" },
  {
    key: `${PCA}.certificate_authority_arn`,
    value: "arn:aws:acm-pca:us-east-1:1:certificate-authority/b",
    field: (c) => ua(c)?.["certificateAuthorityArn"],
    want: "arn:aws:acm-pca:us-east-1:1:certificate-authority/b",
  },
  {
    key: `${PCA}.ca_signing_template_arn`,
    value: "arn:aws:acm-pca:::template/X/V1",
    field: (c) => ua(c)?.["caSigningTemplateArn"],
    want: "arn:aws:acm-pca:::template/X/V1",
    runtime: "test/integration/aws_pca.test.ts",
  },
  {
    key: `${PCA}.signing_algorithm`,
    value: "SHA384WITHECDSA",
    field: (c) => ua(c)?.["signingAlgorithm"],
    want: "SHA384WITHECDSA",
    runtime: "test/integration/aws_pca.test.ts",
  },
  { key: `${PCA}.assume_role_arn`, value: "arn:aws:iam::1:role/r", field: (c) => ua(c)?.["assumeRoleArn"], want: "arn:aws:iam::1:role/r" },
  { key: `${PCA}.endpoint`, value: "http://127.0.0.1:4566", field: (c) => ua(c)?.["endpoint"], want: "http://127.0.0.1:4566" },
  { key: `${PCA}.supplemental_bundle_path`, value: "/srv/extra.pem", field: (c) => ua(c)?.["supplementalBundlePath"], want: "/srv/extra.pem" },
  { key: `${UAD}.cert_file_path`, value: "/srv/ca2.pem", field: (c) => ua(c)?.["certFilePath"], want: "/srv/ca2.pem" },
  { key: `${UAD}.key_file_path`, value: "/srv/ca2.key", field: (c) => ua(c)?.["keyFilePath"], want: "/srv/ca2.key" },
  { key: `${UAD}.bundle_file_path`, value: "/srv/roots.pem", field: (c) => ua(c)?.["bundleFilePath"], want: "/srv/roots.pem" },
  ...topLevelHealthChecks<ServerConfig>(),
  {
    key: "telemetry.Prometheus",
    value: { host: "127.0.0.1", port: 9988 },
    field: (c) => c.telemetry.prometheus,
    want: { host: "127.0.0.1", port: 9988 },
    runtime: "test/integration/spire_dropin.test.ts",
  },
  // admin_ids is accepted only beside a console block (it authorizes console access over mTLS); alone it is refused.
  {
    key: S("admin_ids"),
    value: ["spiffe://example.org/admin"],
    with: { [S("console.bind_address")]: "0.0.0.0" },
    field: (c) => c.adminIDs,
    want: ["spiffe://example.org/admin"],
    runtime: "test/server/console/console_access.test.ts",
  },
  {
    key: S("console.bind_address"),
    value: "0.0.0.0",
    with: { [S("console.bind_port")]: 9090 },
    field: (c) => c.console?.bindAddress,
    want: "0.0.0.0",
    runtime: "test/server/console/console_access.test.ts",
  },
  {
    key: S("console.bind_port"),
    value: 9090,
    with: { [S("console.bind_address")]: "127.0.0.1" },
    field: (c) => c.console?.bindPort,
    want: 9090,
    runtime: "test/integration/console_browser.test.ts",
  },
  { key: S("disable_jwt_svids"), value: true, field: (c) => c.disableJWTSVIDs, want: true, runtime: "test/integration/spire_dropin.test.ts" },
  {
    key: S("experimental.cache_reload_interval"),
    value: "2s",
    field: (c) => c.cacheReloadInterval,
    want: 2000,
    runtime: "test/server/api/cache_reload_interval.test.ts",
  },
  { key: S("experimental.events_based_cache"), value: false, refused: "events_based_cache" },
  // The two credentials go together: each row sets both, and the other side's base has neither.
  {
    key: `${IID}.access_key_id`,
    value: "AKIDEXAMPLE",
    with: { [`${IID}.secret_access_key`]: "secret" },
    baseOnly: { [`${IID}.secret_access_key`]: undefined },
    field: (c) => iid(c)?.["accessKeyId"],
    want: "AKIDEXAMPLE",
  },
  {
    key: `${IID}.secret_access_key`,
    value: "secret",
    with: { [`${IID}.access_key_id`]: "AKIDEXAMPLE" },
    baseOnly: { [`${IID}.access_key_id`]: undefined },
    field: (c) => iid(c)?.["secretAccessKey"],
    want: "secret",
  },
  {
    key: `${IID}.assume_role`,
    value: "wisp-attestor",
    field: (c) => iid(c)?.["assumeRole"],
    want: "wisp-attestor",
    runtime: "test/server/nodeattestor/aws_iid/aws_iid.test.ts",
  },
  { key: `${IID}.partition`, value: "aws-cn", field: (c) => iid(c)?.["partition"], want: "aws-cn" },
  {
    key: `${IID}.skip_block_device`,
    value: true,
    field: (c) => iid(c)?.["skipBlockDevice"],
    want: true,
    runtime: "test/server/nodeattestor/aws_iid/aws_iid.test.ts",
  },
  {
    key: `${IID}.disable_instance_profile_selectors`,
    value: true,
    field: (c) => iid(c)?.["disableInstanceProfileSelectors"],
    want: true,
    runtime: "test/server/nodeattestor/aws_iid/aws_iid.test.ts",
  },
  {
    key: `${IID}.account_ids_for_local_validation`,
    value: ["111122223333"],
    field: (c) => iid(c)?.["accountIdsForLocalValidation"],
    want: ["111122223333"],
    runtime: "test/server/nodeattestor/aws_iid/aws_iid.test.ts",
  },
  {
    key: `${IID}.agent_path_template`,
    value: "/aws/{{ .InstanceID }}",
    field: (c) => iid(c)?.["agentPathTemplate"],
    want: "/aws/{{ .InstanceID }}",
    runtime: "test/server/nodeattestor/aws_iid/aws_iid.test.ts",
  },
  {
    key: `${IID}.trusted_iid_certificates`,
    value: ["/srv/iid.pem"],
    field: (c) => iid(c)?.["trustedIIDCertificates"],
    want: ["/srv/iid.pem"],
    runtime: "test/integration/aws_iid.test.ts",
  },
  {
    key: `${POP}.ca_bundle_path`,
    value: "/srv/other-ca.pem",
    field: (c) => pop(c)?.["caBundlePaths"],
    want: ["/srv/other-ca.pem"],
    runtime: "test/integration/_x509pop.ts",
  },
  {
    key: `${POP}.ca_bundle_paths`,
    value: ["/srv/a.pem", "/srv/b.pem"],
    with: { [`${POP}.ca_bundle_path`]: undefined },
    baseOnly: { [`${POP}.ca_bundle_path`]: "/etc/wisp/node-ca.pem" },
    field: (c) => pop(c)?.["caBundlePaths"],
    want: ["/srv/a.pem", "/srv/b.pem"],
  },
  {
    key: `${POP}.mode`,
    value: "spiffe",
    with: { [`${POP}.ca_bundle_path`]: undefined },
    baseOnly: { [`${POP}.ca_bundle_path`]: "/etc/wisp/node-ca.pem" },
    field: (c) => pop(c)?.["mode"],
    want: "spiffe",
    runtime: "test/server/nodeattestor/x509pop.test.ts",
  },
  {
    key: `${POP}.spiffe_prefix`,
    value: "/edge/",
    with: { [`${POP}.ca_bundle_path`]: undefined, [`${POP}.mode`]: "spiffe" },
    field: (c) => pop(c)?.["spiffePrefix"],
    want: "/edge/",
  },
  {
    key: `${POP}.agent_path_template`,
    value: "/x509pop/{{ .Subject.CommonName }}",
    field: (c) => pop(c)?.["agentPathTemplate"],
    want: "/x509pop/{{ .Subject.CommonName }}",
    runtime: "test/server/nodeattestor/agent_path_template.test.ts",
  },
  { key: `${POP}.max_intermediates`, value: 2, field: (c) => pop(c)?.["maxIntermediates"], want: 2, runtime: "test/server/nodeattestor/x509pop.test.ts" },
  { key: `${POP}.max_rsa_key_size`, value: 4096, field: (c) => pop(c)?.["maxRSAKeySize"], want: 4096 },
  { key: `${POP}.verify_client_ip`, value: true, field: (c) => pop(c)?.["verifyClientIP"], want: true, runtime: "test/server/nodeattestor/x509pop.test.ts" },
];

test("insecure_bootstrap alone switches the agent to insecure bootstrap", () => {
  const c = buildAgentConfig({ agent: { ...AGENT_BASE.agent, trust_bundle_path: undefined, insecure_bootstrap: true } });
  assert.is(c.insecureBootstrap, true);
  assert.is(c.trustBundlePath, undefined);
});

test("sqlite3 refuses the pool and replica keys, which only the postgres driver honours", () => {
  for (const key of ["ro_connection_string", "max_open_conns", "max_idle_conns", "conn_max_lifetime"]) {
    const value = key === "conn_max_lifetime" ? "1m" : key === "ro_connection_string" ? "/srv/ro.sqlite3" : 3;
    try {
      buildServerConfig({ ...SERVER_BASE, plugins: { DataStore: [{ name: "sql", plugin_data: { ...PLUGIN_BASE["DataStore.sql"], [key]: value } }] } });
      assert.unreachable(`${key} was accepted with sqlite3`);
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.equal((err as ConfigError).issues, [`plugins.DataStore.sql.plugin_data.${key} is only supported with database_type "postgres"`]);
    }
  }
});

checkRows(
  "agent.conf",
  (raw) => buildAgentConfig(raw),
  AGENT_BASE,
  agentRows,
  keysRead(buildAgentConfig, AGENT_BASE, AGENT_PLUGIN_RULES, AGENT_PLUGIN_BASE),
  AGENT_PLUGIN_BASE,
);
checkRows("server.conf", (raw) => buildServerConfig(raw), SERVER_BASE, serverRows, keysRead(buildServerConfig, SERVER_BASE, SERVER_PLUGIN_RULES));

test.run();
