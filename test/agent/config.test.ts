import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildAgentConfig, loadAgentConfig } from "../../src/agent/config.ts";
import { ConfigStatus } from "../../src/core/config/status.ts";
import { ConfigError } from "../../src/core/errors.ts";

const CONF = fileURLToPath(new URL("../../conf/agent.conf", import.meta.url));
const BASE = { server_address: "wisp.example.org", trust_domain: "example.org", trust_bundle_path: "/etc/bundle.pem" };

function issues(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).code, "ERR_CONFIG_INVALID");
    return (err as ConfigError).issues;
  }
  throw new Error("expected a ConfigError");
}

test("loadAgentConfig() loads conf/agent.conf cleanly", () => {
  const status = new ConfigStatus();
  const c = loadAgentConfig({ text: readFileSync(CONF, "utf8"), filename: CONF, status });
  assert.equal(status.notes, []);
  assert.is(c.trustDomain.name, "example.org");
  assert.is(c.serverAddress, "127.0.0.1");
  assert.is(c.serverPort, 8081);
  assert.is(c.socketPath, "/tmp/wisp-agent/public/api.sock");
  assert.is(c.dataDir, "./.data/agent");
  assert.is(c.insecureBootstrap, true);
  assert.equal(c.keyManager, { name: "disk", directory: "./.data/agent" });
  assert.equal(c.workloadAttestors, [{ name: "unix", discoverWorkloadPath: false, workloadSizeLimit: 0 }]);
  assert.ok(Object.isFrozen(c));
});

test("buildAgentConfig() fills the defaults", () => {
  const c = buildAgentConfig({ agent: BASE });
  assert.equal({ ...c, trustDomain: c.trustDomain.name }, {
    dataDir: "./.data",
    serverAddress: "wisp.example.org",
    serverPort: 8081,
    servers: [{ address: "wisp.example.org", port: 8081 }],
    socketPath: "/tmp/wisp-agent/public/api.sock",
    trustDomain: "example.org",
    authorizedDelegates: [],
    trustBundlePath: "/etc/bundle.pem",
    trustBundleFormat: "pem",
    insecureBootstrap: false,
    logLevel: "info",
    logFormat: "text",
    workloadX509SVIDKeyType: "ec-p256",
    svidCacheMaxSize: 1000,
    jwtSVIDCacheMaxSize: 1000,
    rebootstrapMode: "never",
    rebootstrapDelay: 600_000,
    healthChecks: { listenerEnabled: false, bindAddress: "localhost", bindPort: 80, livePath: "/live", readyPath: "/ready" },
    telemetry: {},
    allowUnauthenticatedVerifiers: false,
    sds: { defaultSVIDName: "default", defaultBundleName: "ROOTCA", defaultAllBundlesName: "ALL", disableSPIFFECertValidation: false },
    disableSDSAPI: false,
    nodeAttestor: { name: "join_token" },
    keyManager: { name: "memory" },
    workloadAttestors: [{ name: "unix", discoverWorkloadPath: false, workloadSizeLimit: 0 }],
  });
});

test("buildAgentConfig() reads NodeAttestor x509pop and refuses spiffe_endpoint_socket by name", () => {
  const x509pop = (data: Record<string, unknown>) => ({ agent: BASE, plugins: { NodeAttestor: [{ name: "x509pop", plugin_data: data }] } });
  const c = buildAgentConfig(x509pop({ private_key_path: "/k.pem", certificate_path: "/c.pem", intermediates_path: "/i.pem" }));
  assert.equal(c.nodeAttestor, { name: "x509pop", privateKeyPath: "/k.pem", certificatePath: "/c.pem", intermediatesPath: "/i.pem" });
  assert.equal(issues(() => buildAgentConfig(x509pop({ spiffe_endpoint_socket: "/run/api.sock" }))), [
    "plugins.NodeAttestor.x509pop.plugin_data.spiffe_endpoint_socket is not supported by wisp: configure private_key_path and certificate_path",
    "plugins.NodeAttestor.x509pop.plugin_data.private_key_path is required",
    "plugins.NodeAttestor.x509pop.plugin_data.certificate_path is required",
  ]);
});

test("buildAgentConfig() reads rebootstrap_mode/rebootstrap_delay and join_token_file, with SPIRE's rules", () => {
  const c = buildAgentConfig({ agent: { ...BASE, rebootstrap_mode: "auto", rebootstrap_delay: "1m", join_token_file: "/run/token" } });
  assert.is(c.rebootstrapMode, "auto");
  assert.is(c.rebootstrapDelay, 60_000);
  assert.is(c.joinTokenFile, "/run/token");
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, rebootstrap_mode: "sometimes" } })), [
    'agent.rebootstrap_mode must be one of "never", "auto" or "always", got "sometimes"',
  ]);
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, trust_bundle_path: undefined, insecure_bootstrap: true, rebootstrap_mode: "always" } })), [
    'agent.rebootstrap_mode "always" cannot be used with agent.insecure_bootstrap',
  ]);
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, join_token: "t", join_token_file: "/run/token" } })), [
    "only one of agent.join_token or agent.join_token_file can be set",
  ]);
  assert.is(buildAgentConfig({ agent: BASE }, { flags: { joinTokenFile: "/x" } }).joinTokenFile, "/x");
});

test("-disableSDSAPI overrides the file's disable_sds_api; false on the command line leaves the file's value", () => {
  assert.is(buildAgentConfig({ agent: BASE }, { flags: { disableSDSAPI: true } }).disableSDSAPI, true);
  assert.is(buildAgentConfig({ agent: { ...BASE, disable_sds_api: true } }, { flags: { disableSDSAPI: false } }).disableSDSAPI, true);
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, sds: { default_svid_name: 7, unknown_key: "x" } } })).length, 2);
});

test("buildAgentConfig() requires one way to bootstrap trust", () => {
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, trust_bundle_path: undefined } })), [
    "agent.trust_bundle_path or agent.trust_bundle_url must be configured unless insecure_bootstrap is set",
  ]);
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, insecure_bootstrap: true } })), [
    "only one of agent.insecure_bootstrap, agent.trust_bundle_path or agent.trust_bundle_url can be set",
  ]);
});

test("buildAgentConfig() accepts an https trust bundle URL and rejects others", () => {
  const c = buildAgentConfig({ agent: { ...BASE, trust_bundle_path: "", trust_bundle_url: "https://bundle.example.org/b.pem" } });
  assert.is(c.trustBundleURL?.href, "https://bundle.example.org/b.pem");
  assert.is(c.trustBundlePath, undefined);
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, trust_bundle_path: "", trust_bundle_url: "http://b/x" } })), [
    `agent.trust_bundle_url: trust bundle URL must start with https://, got "http://b/x"`,
  ]);
});

test("buildAgentConfig() reads trust_bundle_format and trust_bundle_unix_socket with SPIRE's rules", () => {
  const url = { ...BASE, trust_bundle_path: "" };
  const c = buildAgentConfig({
    agent: { ...url, trust_bundle_url: "http://localhost/bundle?x=1", trust_bundle_unix_socket: "/run/b.sock", trust_bundle_format: "spiffe" },
  });
  assert.is(c.trustBundleUnixSocket, "/run/b.sock");
  assert.is(c.trustBundleFormat, "spiffe");
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, trust_bundle_format: "der" } })), [
    `invalid value for agent.trust_bundle_format, expected "pem" or "spiffe"`,
  ]);
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, trust_bundle_unix_socket: "/run/b.sock" } })), [
    "if agent.trust_bundle_unix_socket is specified, so must be agent.trust_bundle_url",
  ]);
  assert.equal(
    issues(() => buildAgentConfig({ agent: { ...url, trust_bundle_url: "https://b/x?spire-mode=1&spiffe-td=2", trust_bundle_unix_socket: "/run/b.sock" } })),
    [
      "agent.trust_bundle_url: trust bundle URL must start with http:// when used with trust bundle unix socket",
      "agent.trust_bundle_url query params can not start with spire-",
      "agent.trust_bundle_url query params can not start with spiffe-",
    ],
  );
});

test("buildAgentConfig() accepts admin_socket_path and authorized_delegates", () => {
  const c = buildAgentConfig({
    agent: { ...BASE, admin_socket_path: "/tmp/wisp-agent/private/admin.sock", authorized_delegates: ["spiffe://example.org/envoy"] },
  });
  assert.is(c.adminSocketPath, "/tmp/wisp-agent/private/admin.sock");
  assert.equal(c.authorizedDelegates, ["spiffe://example.org/envoy"]);
  const none = buildAgentConfig({ agent: BASE });
  assert.is(none.adminSocketPath, undefined);
  assert.equal(none.authorizedDelegates, []);
});

test("buildAgentConfig() makes a relative admin_socket_path absolute against the working directory", () => {
  const c = buildAgentConfig({ agent: { ...BASE, admin_socket_path: "./run/../private/admin.sock" } }, { cwd: "/srv/agent" });
  assert.is(c.adminSocketPath, "/srv/agent/private/admin.sock");
});

test("buildAgentConfig() refuses an admin socket in or below the Workload API socket's directory (SPIRE's text)", () => {
  const err = "admin socket cannot be in the same directory or a subdirectory as that containing the Workload API socket";
  for (const admin of ["/tmp/wisp-agent/public/admin.sock", "/tmp/wisp-agent/public/deeper/admin.sock", "/tmp/wisp-agent/public/../public/a.sock"]) {
    assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, admin_socket_path: admin } })), [err], admin);
  }
  // Relative paths are compared after resolving both against the working directory, as SPIRE's filepath.Abs.
  assert.equal(
    issues(() =>
      buildAgentConfig({ agent: { ...BASE, socket_path: "/srv/agent/public/api.sock", admin_socket_path: "public/admin.sock" } }, { cwd: "/srv/agent" })
    ),
    [err],
  );
  // A sibling directory whose name starts the same is not inside it.
  const ok = buildAgentConfig({ agent: { ...BASE, admin_socket_path: "/tmp/wisp-agent/public2/admin.sock" } });
  assert.is(ok.adminSocketPath, "/tmp/wisp-agent/public2/admin.sock");
});

test("buildAgentConfig() checks authorized_delegates as SPIRE does", () => {
  const admin = "/run/wisp/admin.sock";
  assert.equal(
    issues(() => buildAgentConfig({ agent: { ...BASE, admin_socket_path: admin, authorized_delegates: ["spiffe://other.org/envoy", "envoy"] } })),
    [
      'error validating authorized delegate: SPIFFE ID "spiffe://other.org/envoy" is not a member of trust domain "example.org"',
      "error validating authorized delegate: scheme is missing or invalid",
    ],
  );
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, authorized_delegates: ["spiffe://example.org/envoy"] } })), [
    "agent.authorized_delegates needs agent.admin_socket_path: the Delegated Identity API is served only on the admin socket",
  ]);
});

test("buildAgentConfig() reports every problem at once", () => {
  const got = issues(() =>
    loadAgentConfig({
      filename: "agent.conf",
      text: `
agent {
  trust_domain = "spiffe://"
  server_port = 0
  insecure_bootstrap = "maybe"
  workload_x509_svid_key_type = "rsa-2048"
  log_format = "xml"
  sync_interval = "5s"
}
plugins {
  WorkloadAttestor "docker" {}
  KeyManager "disk" { plugin_data { directory = 5 } }
}`,
    })
  );
  assert.equal(got, [
    "agent.server_address must be configured",
    "agent.server_port must be between 1 and 65535, got 0",
    `agent.trust_domain: invalid trust domain "spiffe://": trust domain is missing`,
    "agent.insecure_bootstrap must be a boolean",
    "agent.trust_bundle_path or agent.trust_bundle_url must be configured unless insecure_bootstrap is set",
    `agent.log_format: unsupported value "xml" (supported: text, json)`,
    `agent.workload_x509_svid_key_type: unsupported key type "rsa-2048" (supported: ec-p256)`,
    `unknown WorkloadAttestor plugin "docker" (supported: unix)`,
    "plugins.KeyManager.disk.plugin_data.directory must be a string",
    `unknown configuration key "agent.sync_interval"`,
  ]);
});

test("buildAgentConfig() reads the unix workload attestor and disk key manager", () => {
  const c = buildAgentConfig({
    agent: { ...BASE, data_dir: "/var/lib/wisp-agent" },
    plugins: {
      KeyManager: [{ name: "disk", plugin_data: {} }],
      WorkloadAttestor: [{ name: "unix", plugin_data: { discover_workload_path: true, workload_size_limit: "1048576" } }],
    },
  });
  assert.equal(c.keyManager, { name: "disk", directory: "/var/lib/wisp-agent" });
  assert.equal(c.workloadAttestors, [{ name: "unix", discoverWorkloadPath: true, workloadSizeLimit: 1_048_576 }]);
});

test("loadAgentConfig() lets flags win over the file", () => {
  const c = loadAgentConfig({
    filename: "agent.conf",
    text: `agent {\n server_address = "file"\n trust_domain = "example.org"\n trust_bundle_path = "/b.pem"\n}`,
    flags: {
      serverAddress: "flag",
      serverPort: 9443,
      joinToken: "7b1c0d5e",
      socketPath: "/run/wisp/api.sock",
      dataDir: "/d",
      logLevel: "ERROR",
      insecureBootstrap: false,
    },
  });
  assert.is(c.serverAddress, "flag");
  assert.is(c.serverPort, 9443);
  assert.is(c.joinToken, "7b1c0d5e");
  assert.is(c.socketPath, "/run/wisp/api.sock");
  assert.is(c.dataDir, "/d");
  assert.is(c.logLevel, "error");
  assert.is(c.insecureBootstrap, false);
  assert.is(c.trustBundlePath, "/b.pem");
});

test("loadAgentConfig() works from flags alone, as a development agent", () => {
  const c = loadAgentConfig({ flags: { serverAddress: "127.0.0.1", trustDomain: "example.org", insecureBootstrap: true } });
  assert.is(c.insecureBootstrap, true);
  const d = loadAgentConfig({ flags: { serverAddress: "127.0.0.1", trustDomain: "example.org", trustBundle: "/b.pem" } });
  assert.is(d.trustBundlePath, "/b.pem");
});

test("loadAgentConfig() reads JSON and expands environment variables", () => {
  const text = JSON.stringify({ agent: { ...BASE, server_address: "$SERVER", join_token: "${TOKEN}" } });
  const env: Record<string, string> = { SERVER: "10.1.2.3", TOKEN: "abc" };
  const c = loadAgentConfig({ text, filename: "agent.json", expandEnv: true, getenv: (k) => env[k] });
  assert.is(c.serverAddress, "10.1.2.3");
  assert.is(c.joinToken, "abc");
});

test("server_address lists several servers as an HCL list or a comma-separated string; server_port is the default", () => {
  const hcl = loadAgentConfig({
    text: `agent {
  server_address = ["a.example.org:9001", "b.example.org", "[::1]:9003", "::2"]
  server_port = 9000
  trust_domain = "example.org"
  insecure_bootstrap = true
}`,
  });
  assert.equal(hcl.servers, [
    { address: "a.example.org", port: 9001 },
    { address: "b.example.org", port: 9000 },
    { address: "::1", port: 9003 },
    { address: "::2", port: 9000 },
  ]);
  assert.is(hcl.serverAddress, "a.example.org");
  const csv = buildAgentConfig({ agent: { ...BASE, server_address: " a:1, b:2 ,a:1" } });
  assert.equal(csv.servers, [{ address: "a", port: 1 }, { address: "b", port: 2 }], "trimmed, duplicates dropped");
  const flag = buildAgentConfig({ agent: BASE }, { flags: { serverAddress: "x:7,y:8" } });
  assert.equal(flag.servers, [{ address: "x", port: 7 }, { address: "y", port: 8 }]);
});

test("server_address entries are checked one by one", () => {
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, server_address: ["a:0", "b:x", "[::1", "", 3] } })), [
    "agent.server_address must be a list of strings",
  ]);
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, server_address: ["a:0", "b:x", "[::1", "c d"] } })), [
    'agent.server_address: invalid port in server address "a:0": must be between 1 and 65535',
    'agent.server_address: invalid port in server address "b:x": must be between 1 and 65535',
    'agent.server_address: invalid server address "[::1": missing "]"',
    'agent.server_address: invalid server address "c d"',
  ]);
  assert.equal(issues(() => buildAgentConfig({ agent: { ...BASE, server_address: [" ", ","] } })), ["agent.server_address must be configured"]);
});

test.run();
