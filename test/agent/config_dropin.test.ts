/** SPIRE-only agent.conf keys and run flags: health_checks, telemetry, experimental, verifiers, bundle format. */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { loadAgentConfig } from "../../src/agent/config.ts";
import { ConfigError } from "../../src/core/errors.ts";

const AGENT = `agent { server_address = "127.0.0.1" trust_domain = "example.org" trust_bundle_path = "/b.pem" `;
const load = (text: string, flags = {}) => loadAgentConfig({ text, filename: "agent.conf", flags });

function issues(text: string, flags = {}): readonly string[] {
  try {
    load(text, flags);
  } catch (err) {
    assert.instance(err, ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error("expected a ConfigError");
}

test("health_checks at the top level or in the agent block, not both", () => {
  assert.is(load(`${AGENT} }\nhealth_checks { listener_enabled = true bind_port = 8088 }`).healthChecks.bindPort, 8088);
  assert.is(load(`${AGENT} health_checks { listener_enabled = true bind_port = 8089 } }`).healthChecks.bindPort, 8089);
  assert.equal(issues(`${AGENT} health_checks { bind_port = 1 } }\nhealth_checks { bind_port = 2 }`), [
    `health_checks is set both at the top level and in agent.health_checks; keep only the top-level block (SPIRE's placement)`,
  ]);
});

test("telemetry.Prometheus is accepted and other sinks refused, as on the server", () => {
  assert.equal(load(`${AGENT} }\ntelemetry { Prometheus { port = 9989 } }`).telemetry, { prometheus: { host: "localhost", port: 9989 } });
  assert.equal(issues(`${AGENT} }\ntelemetry { Statsd = [{ address = "x:1" }] }`), [
    "telemetry.Statsd is not supported by wisp: metrics are exported to Prometheus only (supported: telemetry.Prometheus)",
  ]);
});

test("experimental.sync_interval sets the sync reconnect interval; use_sync_authorized_entries = true is what wisp does", () => {
  const c = load(`${AGENT} experimental { sync_interval = "5s" use_sync_authorized_entries = true } }`);
  assert.is(c.syncInterval, 5000);
  assert.is(load(`${AGENT} }`).syncInterval, undefined);
  assert.equal(issues(`${AGENT} experimental { sync_interval = "-1s" } }`), ["agent.experimental.sync_interval must be positive"]);
});

test("experimental agent keys wisp does not implement are refused by name", () => {
  const got = issues(`${AGENT} experimental {
  use_sync_authorized_entries = false
  jwt_svid_cache_hit_timeout = "10s"
  named_pipe_name = "a"
  admin_named_pipe_name = "b"
  require_pq_kem = true
  ratelimit { fetch_x509_svid = 1 }
  broker { socket_path = "/tmp/b.sock" }
  feature_flags = []
} }`);
  assert.equal(got.slice().sort(), [
    "agent.experimental.admin_named_pipe_name is not supported by wisp: named pipes are a Windows transport",
    "agent.experimental.broker is not supported by wisp: the SPIFFE Broker API is not served",
    "agent.experimental.feature_flags is not supported by wisp: there are no developer feature flags",
    "agent.experimental.jwt_svid_cache_hit_timeout is not supported by wisp: JWT-SVIDs are minted on a cache miss without a fallback timeout",
    "agent.experimental.named_pipe_name is not supported by wisp: named pipes are a Windows transport",
    "agent.experimental.ratelimit is not supported by wisp: the Workload API has no per-method rate limits",
    "agent.experimental.require_pq_kem is not supported by wisp: TLS key exchange is Node's default; a post-quantum KEM cannot be required",
    "agent.experimental.use_sync_authorized_entries = false is not supported by wisp: the agent always syncs its authorized entries",
  ]);
});

test("allow_unauthenticated_verifiers and trust_bundle_format are read from the file", () => {
  const c = load(`${AGENT} allow_unauthenticated_verifiers = true trust_bundle_format = "spiffe" }`);
  assert.equal([c.allowUnauthenticatedVerifiers, c.trustBundleFormat], [true, "spiffe"]);
  assert.equal(issues(`${AGENT} trust_bundle_format = "der" }`), [`invalid value for agent.trust_bundle_format, expected "pem" or "spiffe"`]);
});

test("run flags -logFormat -logFile -trustBundleUrl -trustBundleFormat -allowUnauthenticatedVerifiers override the file", () => {
  const c = load(`agent { server_address = "127.0.0.1" trust_domain = "example.org" log_format = "text" }`, {
    logFormat: "json",
    logFile: "/var/log/agent.log",
    trustBundleUrl: "https://bundle.example.org/b.json",
    trustBundleFormat: "spiffe",
    allowUnauthenticatedVerifiers: true,
  });
  assert.equal([c.logFormat, c.logFile, c.trustBundleURL?.href, c.trustBundleFormat, c.allowUnauthenticatedVerifiers], [
    "json",
    "/var/log/agent.log",
    "https://bundle.example.org/b.json",
    "spiffe",
    true,
  ]);
  // A false boolean flag cannot be told from "not given", so it never turns the file's true off (SPIRE's mergo merge).
  assert.is(load(`${AGENT} allow_unauthenticated_verifiers = true }`, { allowUnauthenticatedVerifiers: false }).allowUnauthenticatedVerifiers, true);
  assert.equal(issues(`${AGENT} }`, { logFormat: "xml" }), [`agent.log_format: unsupported value "xml" (supported: text, json)`]);
});

test.run();
