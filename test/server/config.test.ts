import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildServerConfig, loadServerConfig } from "../../src/server/config.ts";
import { ConfigStatus } from "../../src/core/config/status.ts";
import { ConfigError } from "../../src/core/errors.ts";

const CONF = fileURLToPath(new URL("../../conf/server.conf", import.meta.url));

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).code, "ERR_CONFIG_INVALID");
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

test("loadServerConfig() loads conf/server.conf cleanly", () => {
  const status = new ConfigStatus();
  const c = loadServerConfig({ text: readFileSync(CONF, "utf8"), filename: CONF, status });
  assert.equal(status.notes, []);
  assert.is(c.trustDomain.name, "example.org");
  assert.is(c.bindAddress, "127.0.0.1");
  assert.is(c.bindPort, 8081);
  assert.is(c.socketPath, "/tmp/wisp-server/private/api.sock");
  assert.is(c.dataDir, "./.data/server");
  assert.equal(c.dataStore, { databaseType: "sqlite3", connectionString: "./.data/server/datastore.sqlite3" });
  assert.equal(c.keyManager, { name: "disk", keysPath: "./.data/server/keys.json" });
  assert.equal(c.nodeAttestors, [{ name: "join_token" }]);
  assert.is(c.upstreamAuthority, undefined);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.dataStore));
});

test("buildServerConfig() fills SPIRE's defaults around a trust domain", () => {
  const c = buildServerConfig({ server: { trust_domain: "example.org" } });
  assert.equal(
    { ...c, trustDomain: c.trustDomain.name },
    {
      bindAddress: "0.0.0.0",
      bindPort: 8081,
      socketPath: "/tmp/wisp-server/private/api.sock",
      trustDomain: "example.org",
      dataDir: "./.data",
      logLevel: "info",
      logFormat: "text",
      caTTL: 86_400_000,
      defaultX509SVIDTTL: 3_600_000,
      defaultJWTSVIDTTL: 300_000,
      agentTTL: 3_600_000,
      caKeyType: "ec-p256",
      caSubject: { country: ["US"], organization: ["SPIFFE"], commonName: "" },
      healthChecks: { listenerEnabled: false, bindAddress: "localhost", bindPort: 80, livePath: "/live", readyPath: "/ready" },
      telemetry: {},
      disableJWTSVIDs: false,
      adminIDs: [],
      federation: { federatesWith: [] },
      dataStore: { databaseType: "sqlite3", connectionString: "./.data/datastore.sqlite3" },
      keyManager: { name: "memory" },
      nodeAttestors: [{ name: "join_token" }],
    },
  );
});

test("buildServerConfig() parses every supported key", () => {
  const c = loadServerConfig({
    filename: "server.conf",
    text: `
server {
  trust_domain = "spiffe://prod.example.com"
  bind_port = 0
  data_dir = "/var/lib/wisp"
  log_level = "debug"
  log_format = "JSON"
  log_file = "/var/log/wisp.log"
  ca_ttl = "168h"
  default_x509_svid_ttl = "4h"
  default_jwt_svid_ttl = 300
  agent_ttl = "12h"
  jwt_issuer = "https://oidc.example.com"
  ca_subject { country = "DE" organization = ["Acme", "Ops"] common_name = "Acme CA" }
  health_checks { listener_enabled = true bind_port = "8080" live_path = "/healthz" }
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "postgres"
      connection_string = "postgres://wisp@db/wisp"
      ro_connection_string = "postgres://wisp@replica/wisp"
      max_open_conns = 20
      max_idle_conns = "5"
      conn_max_lifetime = "30m"
    }
  }
  KeyManager "disk" { plugin_data {} }
  UpstreamAuthority "aws_pca" {
    plugin_data {
      region = "eu-west-1"
      certificate_authority_arn = "arn:aws:acm-pca:eu-west-1:123:certificate-authority/abc"
      signing_algorithm = "SHA256WITHECDSA"
      endpoint = "http://127.0.0.1:4566"
      supplemental_bundle_path = "/etc/extra.pem"
    }
  }
}`,
  });
  assert.is(c.trustDomain.name, "prod.example.com");
  assert.is(c.bindPort, 0);
  assert.is(c.logLevel, "debug");
  assert.is(c.logFormat, "json");
  assert.is(c.logFile, "/var/log/wisp.log");
  assert.is(c.caTTL, 168 * 3_600_000);
  assert.is(c.defaultX509SVIDTTL, 4 * 3_600_000);
  assert.is(c.defaultJWTSVIDTTL, 300_000);
  assert.is(c.agentTTL, 12 * 3_600_000);
  assert.is(c.jwtIssuer, "https://oidc.example.com");
  assert.equal(c.caSubject, { country: ["DE"], organization: ["Acme", "Ops"], commonName: "Acme CA" });
  assert.equal(c.healthChecks, { listenerEnabled: true, bindAddress: "localhost", bindPort: 8080, livePath: "/healthz", readyPath: "/ready" });
  assert.equal(c.dataStore, {
    databaseType: "postgres",
    connectionString: "postgres://wisp@db/wisp",
    roConnectionString: "postgres://wisp@replica/wisp",
    maxOpenConns: 20,
    maxIdleConns: 5,
    connMaxLifetime: 1_800_000,
  });
  assert.equal(c.keyManager, { name: "disk", keysPath: "/var/lib/wisp/keys.json" });
  assert.equal(c.upstreamAuthority, {
    name: "aws_pca",
    region: "eu-west-1",
    certificateAuthorityArn: "arn:aws:acm-pca:eu-west-1:123:certificate-authority/abc",
    signingAlgorithm: "SHA256WITHECDSA",
    endpoint: "http://127.0.0.1:4566",
    supplementalBundlePath: "/etc/extra.pem",
  });
});

test("buildServerConfig() adds configured node attestors beside join_token and checks their plugin_data", () => {
  const c = buildServerConfig({
    server: { trust_domain: "example.org" },
    plugins: {
      NodeAttestor: [{ name: "join_token", plugin_data: {} }, { name: "x509pop", plugin_data: { ca_bundle_path: "/etc/edge-ca.pem", max_intermediates: 2 } }],
    },
  });
  assert.equal(c.nodeAttestors.map((n) => n.name), ["join_token", "x509pop"]);
  assert.is(c.nodeAttestors[1]!.name === "x509pop" && c.nodeAttestors[1]!.maxIntermediates, 2);
  let err: ConfigError | undefined;
  try {
    buildServerConfig({
      server: { trust_domain: "example.org" },
      plugins: { NodeAttestor: [{ name: "x509pop", plugin_data: { ca_bundle_paths: [], svid_prefix: "/x/" } }, { name: "tpm_devid", plugin_data: {} }] },
    });
  } catch (e) {
    err = e as ConfigError;
  }
  assert.ok(err, "expected a ConfigError");
  assert.equal(err.issues, [
    'unknown NodeAttestor plugin "tpm_devid" (supported: join_token, x509pop, aws_iid)',
    "plugins.NodeAttestor.x509pop.plugin_data: one of ca_bundle_path or ca_bundle_paths must be configured",
    'unknown configuration key "plugins.NodeAttestor.x509pop.plugin_data.svid_prefix"',
  ]);
});

test("buildServerConfig() reports every problem at once", () => {
  const err = configError(() =>
    loadServerConfig({
      filename: "server.conf",
      text: `
server {
  trust_domain = "Example.org"
  bind_port = 70000
  ca_ttl = "1d"
  log_level = "verbose"
  ca_key_type = "rsa-2048"
}`,
    })
  );
  assert.equal(err.issues, [
    `server.ca_ttl: unknown unit "d" in duration "1d"`,
    "server.bind_port must be between 0 and 65535, got 70000",
    `server.trust_domain: invalid trust domain "Example.org": trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores`,
    `server.log_level: unsupported value "verbose" (supported: DEBUG, INFO, WARN, ERROR)`,
    `server.ca_key_type: unsupported key type "rsa-2048" (supported: ec-p256)`,
  ]);
});

test("buildServerConfig() requires a trust domain", () => {
  const err = configError(() => buildServerConfig({}));
  assert.equal(err.issues, ["server.trust_domain must be configured"]);
  assert.is(err.message, "server.trust_domain must be configured");
});

test("buildServerConfig() lists every unknown key, in blocks, plugin declarations and plugin_data", () => {
  const err = configError(() =>
    loadServerConfig({
      filename: "server.conf",
      text: `
server {
  trust_domain = "example.org"
  foo = 1
  health_checks { bar = true }
  ca_subject { province = "X" }
}
telemetry { Prometheus { port = 9988 } InMem {} }
plugins {
  KeyManager "disk" { plugin_data { keys_path = "k.json" directory = "d" } plugin_cmd = "/bin/km" }
}`,
    })
  );
  assert.equal(err.issues.slice().sort(), [
    `telemetry.InMem is not supported by wisp: metrics are exported to Prometheus only (supported: telemetry.Prometheus)`,
    `unknown configuration key "plugins.KeyManager.disk.plugin_cmd"`,
    `unknown configuration key "plugins.KeyManager.disk.plugin_data.directory"`,
    `unknown configuration key "server.ca_subject.province"`,
    `unknown configuration key "server.foo"`,
    `unknown configuration key "server.health_checks.bar"`,
  ]);
});

test("buildServerConfig() rejects unknown plugin types and names and duplicated single plugins", () => {
  const err = configError(() =>
    buildServerConfig({
      server: { trust_domain: "example.org" },
      plugins: {
        Notifier: [{ name: "k8sbundle", plugin_data: {} }],
        KeyManager: [{ name: "memory", plugin_data: {} }, { name: "disk", plugin_data: {} }],
        UpstreamAuthority: [{ name: "vault", plugin_data: {} }],
      },
    })
  );
  assert.equal(err.issues, [
    `unknown plugin type "Notifier" (supported: DataStore, KeyManager, NodeAttestor, UpstreamAuthority)`,
    `only one KeyManager plugin can be configured, got 2 ("memory", "disk")`,
    `unknown UpstreamAuthority plugin "vault" (supported: disk, aws_pca)`,
  ]);
});

test("buildServerConfig() validates plugin_data of the datastore and upstream authorities", () => {
  const err = configError(() =>
    buildServerConfig({
      server: { trust_domain: "example.org" },
      plugins: {
        DataStore: [{ name: "sql", plugin_data: { database_type: "mysql", max_open_conns: -1, conn_max_lifetime: "x" } }],
        UpstreamAuthority: [{ name: "aws_pca", plugin_data: { signing_algorithm: "SHA256WITHECDSA" } }],
      },
    })
  );
  assert.equal(err.issues, [
    "plugins.DataStore.sql.plugin_data.max_open_conns must be at least 0, got -1",
    `plugins.DataStore.sql.plugin_data.conn_max_lifetime: invalid duration "x"`,
    "plugins.DataStore.sql.plugin_data.connection_string must be configured",
    `plugins.DataStore.sql.plugin_data.database_type: unsupported database type "mysql" (supported: sqlite3, postgres)`,
    "plugins.UpstreamAuthority.aws_pca: plugin configuration is missing the region",
    "plugins.UpstreamAuthority.aws_pca: plugin configuration is missing the certificate_authority_arn",
  ]);
});

test("buildServerConfig() skips a disabled plugin and reads the disk upstream authority", () => {
  const c = buildServerConfig({
    server: { trust_domain: "example.org" },
    plugins: {
      KeyManager: [{ name: "disk", plugin_data: {}, enabled: false }, { name: "memory", plugin_data: {} }],
      UpstreamAuthority: [{ name: "disk", plugin_data: { cert_file_path: "ca.pem", key_file_path: "ca.key" } }],
    },
  });
  assert.equal(c.keyManager, { name: "memory" });
  assert.equal(c.upstreamAuthority, { name: "disk", certFilePath: "ca.pem", keyFilePath: "ca.key" });
});

test("buildServerConfig() reports wrong value types", () => {
  const err = configError(() =>
    buildServerConfig({
      server: { trust_domain: 7, bind_address: ["a"], bind_port: "80a", health_checks: { listener_enabled: "yes" } },
    })
  );
  assert.equal(err.issues, [
    "server.bind_address must be a string",
    "server.bind_port must be an integer",
    "server.trust_domain must be a string",
    "server.trust_domain must be configured",
    "server.health_checks.listener_enabled must be a boolean",
  ]);
});

test("buildServerConfig() notes SVID TTLs too long for the CA TTL without failing", () => {
  const status = new ConfigStatus();
  const c = buildServerConfig({ server: { trust_domain: "example.org", ca_ttl: "3h", default_x509_svid_ttl: "1h" } }, { status });
  assert.is(c.caTTL, 3 * 3_600_000);
  assert.equal(status.infos, [
    `server.default_x509_svid_ttl "1h0m0s" is too high for server.ca_ttl "3h0m0s": SVIDs may be issued with shorter lifetimes; set it to "30m0s" or less, or set ca_ttl to "6h0m0s" or more`,
  ]);
  assert.equal(status.errors, []);
});

test("buildServerConfig() rejects non-positive TTLs", () => {
  const err = configError(() => buildServerConfig({ server: { trust_domain: "example.org", agent_ttl: "-1h", ca_ttl: 0 } }));
  assert.equal(err.issues, [`server.ca_ttl must be positive, got "0s"`, `server.agent_ttl must be positive, got "-1h0m0s"`]);
});

test("loadServerConfig() lets flags win over the file", () => {
  const c = loadServerConfig({
    filename: "server.conf",
    text: `server {\n trust_domain = "file.org"\n bind_address = "10.0.0.1"\n log_level = "WARN"\n data_dir = "/file"\n}`,
    flags: { trustDomain: "flag.org", bindAddress: "127.0.0.1", serverPort: 9443, dataDir: "", logFormat: "json", logFile: "/x.log" },
  });
  assert.is(c.trustDomain.name, "flag.org");
  assert.is(c.bindAddress, "127.0.0.1");
  assert.is(c.bindPort, 9443);
  assert.is(c.dataDir, "/file");
  assert.is(c.logLevel, "warn");
  assert.is(c.logFormat, "json");
  assert.is(c.logFile, "/x.log");
});

test("loadServerConfig() works from flags alone", () => {
  const c = loadServerConfig({ flags: { trustDomain: "example.org", socketPath: "/run/wisp.sock" } });
  assert.is(c.socketPath, "/run/wisp.sock");
});

test("loadServerConfig() reads a JSON config file", () => {
  const c = loadServerConfig({
    filename: "/etc/wisp/server.json",
    text: JSON.stringify({
      server: { trust_domain: "example.org", bind_port: "8443" },
      plugins: { KeyManager: [{ disk: { plugin_data: { keys_path: "/k.json" } } }] },
    }),
  });
  assert.is(c.bindPort, 8443);
  assert.equal(c.keyManager, { name: "disk", keysPath: "/k.json" });
});

test("loadServerConfig() expands environment variables with expandEnv", () => {
  const env: Record<string, string> = { WISP_TD: "env.example.org", WISP_PORT: "9000" };
  const text = `server {\n trust_domain = "\${WISP_TD}"\n bind_port = "$WISP_PORT"\n}`;
  const c = loadServerConfig({ text, filename: "server.conf", expandEnv: true, getenv: (k) => env[k] });
  assert.is(c.trustDomain.name, "env.example.org");
  assert.is(c.bindPort, 9000);
  const err = configError(() => loadServerConfig({ text, filename: "server.conf", getenv: (k) => env[k] }));
  assert.match(err.issues.join("\n"), `server.trust_domain: invalid trust domain "\${WISP_TD}"`);
});

test("loadServerConfig() reports an HCL syntax error with its position", () => {
  const err = configError(() => loadServerConfig({ text: `server {\n  trust_domain = \n}`, filename: "bad.conf" }));
  assert.is(err.message, `failed to parse "bad.conf": At 3:2: object expected closing RBRACE got: EOF`);
});

test("loadServerConfig() reads the seed server.conf shape with UpstreamAuthority aws_pca and KeyManager aws_kms", () => {
  const status = new ConfigStatus();
  const c = loadServerConfig({
    filename: "server.conf",
    status,
    text: `
server {
  trust_domain = "leo.amazon.com"
  ca_ttl = "168h"
  default_x509_svid_ttl = "1h"
}
plugins {
  UpstreamAuthority "aws_pca" {
    plugin_data {
      region = "us-east-1"
      certificate_authority_arn = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555"
      signing_algorithm = "SHA256WITHECDSA"
      ca_signing_template_arn = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"
    }
  }
  KeyManager "aws_kms" {
    plugin_data {
      region = "us-east-1"
      key_identifier_file = "/var/lib/wisp/server_id"
      key_policy_file = "/etc/spire/kms-key-policy.json"
      endpoint = "http://127.0.0.1:4566"
    }
  }
}
`,
  });
  assert.equal(status.notes, []);
  assert.equal(c.keyManager, {
    name: "aws_kms",
    region: "us-east-1",
    keyIdentifierFile: "/var/lib/wisp/server_id",
    keyPolicyFile: "/etc/spire/kms-key-policy.json",
    endpoint: "http://127.0.0.1:4566",
  });
  assert.is(c.upstreamAuthority?.name, "aws_pca");
});

test("buildServerConfig() reads aws_kms static credentials and a key identifier value", () => {
  const c = buildServerConfig({
    server: { trust_domain: "example.org" },
    plugins: {
      KeyManager: [{
        name: "aws_kms",
        plugin_data: { region: "eu-west-1", access_key_id: "AKID", secret_access_key: "SECRET", key_identifier_value: "server-a/1" },
      }],
    },
  });
  assert.equal(c.keyManager, { name: "aws_kms", region: "eu-west-1", accessKeyId: "AKID", secretAccessKey: "SECRET", keyIdentifierValue: "server-a/1" });
});

test("buildServerConfig() defaults the aws_kms server ID file into data_dir, as the seed config names neither", () => {
  const c = buildServerConfig({
    server: { trust_domain: "example.org", data_dir: "/var/lib/wisp" },
    plugins: { KeyManager: [{ name: "aws_kms", plugin_data: { region: "us-east-1", key_policy_file: "/etc/spire/kms-key-policy.json" } }] },
  });
  assert.equal(c.keyManager, {
    name: "aws_kms",
    region: "us-east-1",
    keyIdentifierFile: "/var/lib/wisp/aws_kms_server_id",
    keyPolicyFile: "/etc/spire/kms-key-policy.json",
  });
});

test("buildServerConfig() reports every aws_kms problem with SPIRE's messages", () => {
  const missing = configError(() =>
    buildServerConfig({ server: { trust_domain: "example.org" }, plugins: { KeyManager: [{ name: "aws_kms", plugin_data: { bogus: 1 } }] } })
  );
  assert.equal(missing.issues, [
    "plugins.KeyManager.aws_kms: configuration is missing a region",
    `unknown configuration key "plugins.KeyManager.aws_kms.plugin_data.bogus"`,
  ]);
  const both = configError(() =>
    buildServerConfig({
      server: { trust_domain: "example.org" },
      plugins: { KeyManager: [{ name: "aws_kms", plugin_data: { region: "us-east-1", key_identifier_file: "id", key_identifier_value: "alias/aws/x.y" } }] },
    })
  );
  assert.equal(both.issues, [
    "plugins.KeyManager.aws_kms: Key identifier must contain only alphanumeric characters, forward slashes (/), underscores (_), and dashes (-)",
    "plugins.KeyManager.aws_kms: Key identifier must not start with alias/aws/",
    "plugins.KeyManager.aws_kms: configuration can't have a key identifier file and a key identifier value at the same time",
  ]);
});

test.run();
