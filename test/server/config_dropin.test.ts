/** SPIRE-only server.conf keys: top-level health_checks and telemetry, experimental, disable_jwt_svids, admin_ids. */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { loadServerConfig } from "../../src/server/config.ts";
import { ConfigError } from "../../src/core/errors.ts";

const SERVER = `server { trust_domain = "example.org" `;
const load = (text: string) => loadServerConfig({ text, filename: "server.conf" });

function issues(text: string): readonly string[] {
  try {
    load(text);
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).code, "ERR_CONFIG_INVALID");
    return (err as ConfigError).issues;
  }
  throw new Error("expected a ConfigError");
}

test("health_checks is read at the top level, SPIRE's placement", () => {
  const c = load(`${SERVER} }
health_checks { listener_enabled = true bind_address = "127.0.0.1" bind_port = "8080" live_path = "/l" ready_path = "/r" }`);
  assert.equal(c.healthChecks, { listenerEnabled: true, bindAddress: "127.0.0.1", bindPort: 8080, livePath: "/l", readyPath: "/r" });
});

test("health_checks inside the server block still works (wisp's earlier placement)", () => {
  const c = load(`${SERVER} health_checks { listener_enabled = true bind_port = 9090 } }`);
  assert.equal(c.healthChecks, { listenerEnabled: true, bindAddress: "localhost", bindPort: 9090, livePath: "/live", readyPath: "/ready" });
});

test("health_checks in both places is an error naming both", () => {
  assert.equal(
    issues(`${SERVER} health_checks { listener_enabled = true } }
health_checks { listener_enabled = true }`),
    [
      `health_checks is set both at the top level and in server.health_checks; keep only the top-level block (SPIRE's placement)`,
    ],
  );
});

test("health_checks at the top level reports its unknown keys", () => {
  assert.equal(
    issues(`${SERVER} }
health_checks { listener_enabled = true bind_prot = 1 }`),
    [`unknown configuration key "health_checks.bind_prot"`],
  );
});

test("telemetry.Prometheus sets the metrics listener; host defaults to localhost", () => {
  assert.equal(
    load(`${SERVER} }
telemetry { Prometheus { host = "0.0.0.0" port = 9988 } }`).telemetry,
    { prometheus: { host: "0.0.0.0", port: 9988 } },
  );
  assert.equal(
    load(`${SERVER} }
telemetry { Prometheus { port = 9988 } }`).telemetry,
    { prometheus: { host: "localhost", port: 9988 } },
  );
  assert.equal(load(`${SERVER} }`).telemetry, {});
});

test("every other telemetry sink and filter is refused by name", () => {
  const got = issues(`${SERVER} }
telemetry {
  Prometheus { port = 9988 tls { use_spire_svid = true } bogus = 1 }
  DogStatsd = [{ address = "localhost:8125" }]
  Statsd = [{ address = "localhost:1337" }]
  M3 = [{ address = "localhost:9000" env = "prod" }]
  InMem {}
  MetricPrefix = "x"
  EnableTrustDomainLabel = true
  EnableHostnameLabel = false
  AllowedPrefixes = []
  BlockedPrefixes = []
  AllowedLabels = []
  BlockedLabels = []
}`);
  const sinks = "metrics are exported to Prometheus only (supported: telemetry.Prometheus)";
  assert.equal(got.slice().sort(), [
    `telemetry.AllowedLabels is not supported by wisp: metric labels cannot be filtered (supported: telemetry.Prometheus)`,
    `telemetry.AllowedPrefixes is not supported by wisp: metrics cannot be filtered (supported: telemetry.Prometheus)`,
    `telemetry.BlockedLabels is not supported by wisp: metric labels cannot be filtered (supported: telemetry.Prometheus)`,
    `telemetry.BlockedPrefixes is not supported by wisp: metrics cannot be filtered (supported: telemetry.Prometheus)`,
    `telemetry.DogStatsd is not supported by wisp: ${sinks}`,
    `telemetry.EnableHostnameLabel is not supported by wisp: metric labels are fixed (supported: telemetry.Prometheus)`,
    `telemetry.EnableTrustDomainLabel is not supported by wisp: metric labels are fixed (supported: telemetry.Prometheus)`,
    `telemetry.InMem is not supported by wisp: ${sinks}`,
    `telemetry.M3 is not supported by wisp: ${sinks}`,
    `telemetry.MetricPrefix is not supported by wisp: metric names are fixed (wisp_server_*, wisp_agent_*) (supported: telemetry.Prometheus)`,
    `telemetry.Prometheus.tls is not supported by wisp: the Prometheus listener serves plain HTTP; keep it on localhost or behind a TLS proxy`,
    `telemetry.Statsd is not supported by wisp: ${sinks}`,
    `unknown configuration key "telemetry.Prometheus.bogus"`,
  ]);
});

test("experimental.cache_reload_interval sets the change poll; events_based_cache = true is what wisp does", () => {
  const c = load(`${SERVER} experimental { cache_reload_interval = "2s" events_based_cache = true } }`);
  assert.is(c.cacheReloadInterval, 2000);
  assert.is(load(`${SERVER} }`).cacheReloadInterval, undefined);
  assert.equal(issues(`${SERVER} experimental { cache_reload_interval = "0s" } }`), ["server.experimental.cache_reload_interval must be positive"]);
});

test("experimental keys wisp does not implement are refused by name, with the reason", () => {
  const got = issues(`${SERVER} experimental {
  events_based_cache = false
  agent_spiffe_id_as_selector = true
  auth_opa_policy_engine { local { rego_path = "p.rego" } }
  full_cache_reload_interval = "24h"
  prune_events_older_than = "12h"
  event_timeout = "15m"
  sql_transaction_timeout = "15m"
  require_pq_kem = true
  wit_key_type = "ec-p256"
  wit_issuer = "x"
  feature_flags = ["a"]
  named_pipe_name = "p"
  bogus = 1
} }`);
  assert.equal(got.slice().sort(), [
    "server.experimental.agent_spiffe_id_as_selector is not supported by wisp: entries cannot select on the agent's SPIFFE ID",
    "server.experimental.auth_opa_policy_engine is not supported by wisp: authorization is built in; there is no OPA policy engine",
    "server.experimental.event_timeout is not supported by wisp: entry events are read in order; there is no event timeout",
    "server.experimental.events_based_cache = false is not supported by wisp: its entry cache is always events-based",
    "server.experimental.feature_flags is not supported by wisp: there are no developer feature flags",
    "server.experimental.full_cache_reload_interval is not supported by wisp: the entry cache is rebuilt from the datastore on every change, so there is no periodic full reload",
    "server.experimental.named_pipe_name is not supported by wisp: named pipes are a Windows transport",
    "server.experimental.prune_events_older_than is not supported by wisp: entry events are not pruned by age",
    "server.experimental.require_pq_kem is not supported by wisp: TLS key exchange is Node's default; a post-quantum KEM cannot be required",
    "server.experimental.sql_transaction_timeout is not supported by wisp: entry events are read in order; there is no event timeout",
    "server.experimental.wit_issuer is not supported by wisp: WIT-SVIDs are not issued",
    "server.experimental.wit_key_type is not supported by wisp: WIT-SVIDs are not issued",
    `unknown configuration key "server.experimental.bogus"`,
  ]);
});

test("disable_jwt_svids is read as a boolean, default false", () => {
  assert.is(load(`${SERVER} disable_jwt_svids = true }`).disableJWTSVIDs, true);
  assert.is(load(`${SERVER} }`).disableJWTSVIDs, false);
  assert.equal(issues(`${SERVER} disable_jwt_svids = "maybe" }`), ["server.disable_jwt_svids must be a boolean"]);
});

test("admin_ids: every ID is validated; without a console block they authorize the server port's admin RPCs", () => {
  assert.equal(issues(`${SERVER} admin_ids = ["spiffe://example.org/admin", "spiffe://Bad/x", "https://x/y"] }`), [
    `server.admin_ids: could not parse admin ID "spiffe://Bad/x": trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores`,
    `server.admin_ids: could not parse admin ID "https://x/y": scheme is missing or invalid`,
  ]);
  assert.equal(load(`${SERVER} admin_ids = [] }`).adminIDs, []);
  assert.equal(load(`${SERVER} admin_ids = ["spiffe://example.org/admin", "spiffe://other.org/admin"] }`).adminIDs, [
    "spiffe://example.org/admin",
    "spiffe://other.org/admin",
  ]);
});

test("admin_ids: accepted beside a console block, where they authorize console access", () => {
  const c = load(`${SERVER} admin_ids = ["spiffe://example.org/admin"]\n console {\n bind_address = "0.0.0.0"\n bind_port = "9443"\n } }`);
  assert.equal(c.adminIDs, ["spiffe://example.org/admin"]);
  assert.equal(c.console, { bindAddress: "0.0.0.0", bindPort: 9443 });
  assert.equal(issues(`${SERVER} admin_ids = ["spiffe://Bad/x"]\n console {\n } }`), [
    `server.admin_ids: could not parse admin ID "spiffe://Bad/x": trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores`,
  ]);
});

test("console: off without the block; an empty block listens on 127.0.0.1:8088; bad ports are refused", () => {
  assert.is(load(`${SERVER} }`).console, undefined);
  assert.equal(load(`${SERVER} console {\n } }`).console, { bindAddress: "127.0.0.1", bindPort: 8088 });
  assert.equal(issues(`${SERVER} console {\n bind_port = "70000"\n bogus = 1\n } }`), [
    "server.console.bind_port must be between 0 and 65535, got 70000",
    `unknown configuration key "server.console.bogus"`,
  ]);
});

test.run();
