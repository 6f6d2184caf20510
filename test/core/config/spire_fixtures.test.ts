/**
 * SPIRE's own configs (test/fixtures/spire, copied from spiffe/spire; see its README) through wisp's config loader.
 * Those in wisp's scope must validate; the rest must be refused with the precise reason, key by key.
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadAgentConfig } from "../../../src/agent/config.ts";
import { ConfigError } from "../../../src/core/errors.ts";
import { loadServerConfig } from "../../../src/server/config.ts";

const ROOT = fileURLToPath(new URL("../../fixtures/spire/", import.meta.url));

/** x509pop has landed: configs declaring it must validate (or fail only for the reasons listed below). */
const X509POP_PENDING: string | undefined = undefined;

/**
 * Agent keys wisp refuses by name until their feature exists: every fixture that sets one gets exactly this issue on
 * top of its own. None is left: the agent admin API and the bounded SVID caches have landed.
 */
const AGENT_PENDING: Record<string, string> = {};

/** Every config that is refused for a reason other than x509pop, with the exact issues wisp reports. */
const REFUSED: Record<string, string[]> = {
  // WIT-SVIDs are enabled by a developer feature flag in SPIRE.
  "suites/fetch-wit-svids/conf/server/server.conf": [
    "server.experimental.feature_flags is not supported by wisp: there are no developer feature flags",
  ],
  // Out of scope: workload attestors other than unix, SVIDStore plugins.
  "suites/oidc-discovery-provider/conf/agent/agent.conf": [`unknown WorkloadAttestor plugin "docker" (supported: unix)`],
  "suites/slurm-x509/conf/agent/agent.conf": [`unknown WorkloadAttestor plugin "slurm" (supported: unix)`],
  "suites/workloadattestor/conf/agent/agent.conf": [`unknown WorkloadAttestor plugin "test-wa" (supported: unix)`],
  "suites/svidstore/conf/agent/agent.conf": [`unknown plugin type "SVIDStore" (supported: NodeAttestor, KeyManager, WorkloadAttestor)`],
  // SPIRE's spire-server-cli suite keeps this one broken on purpose (its validate test expects the disk plugin error).
  // SPIRE's deliberately broken config; plugin_data_file (plugin config read from a file) is not supported by wisp.
  "suites/spire-server-cli/conf/server/server_bad.conf": [
    "plugins.NodeAttestor.x509pop.plugin_data: one of ca_bundle_path or ca_bundle_paths must be configured",
    `unknown configuration key "plugins.NodeAttestor.x509pop.plugin_data_file"`,
    "plugins.UpstreamAuthority.disk: plugin configuration is missing the cert_file_path",
    "plugins.UpstreamAuthority.disk: plugin configuration is missing the key_file_path",
  ],
};

function configFiles(dir: string, prefix = ""): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const rel = prefix + name;
    if (statSync(join(dir, name)).isDirectory()) return configFiles(join(dir, name), `${rel}/`);
    return name.endsWith(".conf") ? [rel] : [];
  });
}

/** Loads one fixture; SPIRE's entries suite fills its EVENTS_BASED_CACHE placeholder with sed before use, so do we. */
function load(rel: string): string[] {
  const text = readFileSync(join(ROOT, rel), "utf8").replaceAll("EVENTS_BASED_CACHE", "true");
  const isAgent = /(^|\n)agent\s*\{/.test(text);
  try {
    (isAgent ? loadAgentConfig : loadServerConfig)({ text, filename: rel });
    return [];
  } catch (err) {
    assert.instance(err, ConfigError);
    return [...(err as ConfigError).issues].sort();
  }
}

const files = configFiles(ROOT);

test("the fixture set holds SPIRE's example configs and every suite config", () => {
  assert.ok(files.includes("conf/server/server.conf") && files.includes("conf/agent/agent.conf"));
  assert.is(files.length, 65);
  for (const rel of Object.keys(REFUSED)) assert.ok(files.includes(rel), `${rel} is listed but not a fixture`);
});

for (const rel of files) {
  test(`${rel} ${REFUSED[rel] ? "is refused precisely" : "validates"}`, () => {
    const text = readFileSync(join(ROOT, rel), "utf8");
    const usesX509pop = /NodeAttestor\s+"x509pop"/.test(text);
    const pending = Object.entries(AGENT_PENDING).filter(([k]) => /^agent\.conf$/.test(rel.split("/").at(-1)!) && new RegExp(`^\\s*${k}\\s*=`, "m").test(text))
      .map(([, v]) => v);
    const expected = [...(usesX509pop && X509POP_PENDING ? [X509POP_PENDING] : []), ...pending, ...(REFUSED[rel] ?? [])].sort();
    assert.equal(load(rel), expected);
  });
}

test("SPIRE's conf/server/server.conf and conf/agent/agent.conf load with SPIRE's values", () => {
  const s = loadServerConfig({ text: readFileSync(join(ROOT, "conf/server/server.conf"), "utf8"), filename: "server.conf" });
  assert.equal([s.trustDomain.name, s.bindAddress, s.bindPort, s.socketPath, s.logLevel], [
    "example.org",
    "127.0.0.1",
    8081,
    "/tmp/spire-server/private/api.sock",
    "debug",
  ]);
  assert.equal(s.upstreamAuthority, { name: "disk", certFilePath: "./conf/server/dummy_upstream_ca.crt", keyFilePath: "./conf/server/dummy_upstream_ca.key" });
  const a = loadAgentConfig({ text: readFileSync(join(ROOT, "conf/agent/agent.conf"), "utf8"), filename: "agent.conf" });
  assert.equal([a.trustDomain.name, a.serverAddress, a.serverPort, a.socketPath, a.trustBundlePath], [
    "example.org",
    "127.0.0.1",
    8081,
    "/tmp/spire-agent/public/api.sock",
    "./conf/agent/dummy_root_ca.crt",
  ]);
});

test.run();
