/**
 * `wisp-server agent list|show|count|ban|evict|purge` in process: the CLI against the real admin API on a real SQLite
 * store seeded through the datastore API, with SPIRE's output byte for byte (cmd/spire-server/cli/agent/agent_test.go).
 * @module
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { type CLIEnv, runCLI } from "../../../src/core/cli/command.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import { adminApp } from "../../../src/server/api/admin_app.ts";
import { SyncHub } from "../../../src/server/api/sync_hub.ts";
import { CAManager } from "../../../src/server/ca/ca_manager.ts";
import { AdminClient } from "../../../src/server/cli/admin_client.ts";
import { agentCommands } from "../../../src/server/cli/agent_commands.ts";
import { agentMethods } from "../../../src/server/grpcapi/agent_methods.ts";
import { inProcessUnary } from "./_grpc_in_process.ts";
import type { AttestedNode } from "../../../src/server/datastore/datastore.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import { HOUR, memoryStore, newClock, TD } from "../_fixtures.ts";

// Go prints agents' expiry in the local zone; these expectations are written for UTC (Node applies TZ at once).
process.env.TZ = "UTC";
if (new Date(0).getTimezoneOffset() !== 0) throw new Error("this test needs the UTC time zone: run it with TZ=UTC");

const NOW = Date.parse("2026-11-30T00:00:00Z") / 1000;
const id = (p: string) => `spiffe://example.org/spire/agent/${p}`;
const node = (p: string, over: Partial<AttestedNode> = {}): AttestedNode => ({
  spiffeID: id(p),
  attestationType: p.split("/")[0]!,
  certSerial: "0a",
  certNotAfter: NOW + 3600,
  newCertSerial: "",
  newCertNotAfter: 0,
  canReattest: false,
  banned: false,
  selectors: [],
  ...over,
});

async function setup() {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const caManager = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * HOUR });
  await caManager.initialize();
  const hub = new SyncHub({ ds, trustDomain: "example.org", logger: nullLogger, clock });
  const app = adminApp({ ds, caManager, hub, clock, logger: nullLogger, trustDomain: TD, health: () => ({ live: true, ready: true, details: {} }) });
  const methods = agentMethods({ ds, trustDomain: TD, logger: nullLogger, clock, notify: () => void hub.notify(), disconnect: (a) => hub.disconnect(a) });
  const dial = () => new AdminClient((path, init) => Promise.resolve(app.request(path, init)), "", inProcessUnary(methods));
  const commands = agentCommands(dial, clock);
  const cli = async (...argv: string[]) => {
    const out = { stdout: "", stderr: "" };
    const env: CLIEnv = {
      stdout: (s) => void (out.stdout += s),
      stderr: (s) => void (out.stderr += s),
      getenv: () => undefined,
      cwd: "/",
      signal: new AbortController().signal,
    };
    const code = await runCLI({ name: "wisp-server", commands, argv, env });
    return { code, ...out };
  };
  await ds.createAttestedNode(node("join_token/a", { certSerial: "ff", certNotAfter: 1_765_052_381 }));
  await ds.createAttestedNode(node("x509pop/b", {
    canReattest: true,
    certNotAfter: NOW - 48 * 3600,
    selectors: [{ type: "x509pop", value: "subject:cn:b" }, { type: "x509pop", value: "ca:fingerprint:00" }],
  }));
  await ds.createAttestedNode(node("x509pop/c", { canReattest: true, certNotAfter: NOW - 2 * 3600, selectors: [{ type: "x509pop", value: "subject:cn:c" }] }));
  await ds.createAttestedNode(node("x509pop/d", { canReattest: true, selectors: [{ type: "x509pop", value: "subject:cn:b" }] }));
  return { ds, cli };
}

test("agent list prints SPIRE's blocks, the JSON document, and 'No attested agents found'", async () => {
  const { ds, cli } = await setup();
  const r = await cli("agent", "list", "-attestationType", "join_token");
  assert.is(r.code, 0, r.stderr);
  assert.is(
    r.stdout,
    [
      "Found 1 attested agent:",
      "",
      "SPIFFE ID         : spiffe://example.org/spire/agent/join_token/a",
      "Attestation type  : join_token",
      "Expiration time   : 2025-12-06 20:19:41 +0000 UTC",
      "Serial number     : 255",
      "Can re-attest     : false",
      "",
      "",
    ].join("\n"),
  );
  const j = await cli("agent", "list", "-attestationType", "join_token", "-output", "json");
  assert.is(
    j.stdout,
    `{"agents":[{"agent_version":"","attestation_type":"join_token","banned":false,"can_reattest":false,` +
      `"id":{"path":"/spire/agent/join_token/a","trust_domain":"example.org"},"selectors":[],"x509svid_expires_at":"1765052381",` +
      `"x509svid_serial_number":"255"}],"next_page_token":""}\n`,
  );
  const all = await cli("agent", "list");
  assert.match(all.stdout, /^Found 4 attested agents:\n\n/);
  const none = await cli("agent", "list", "-attestationType", "aws_iid");
  assert.is(none.stdout, "No attested agents found\n");
  assert.is((await cli("agent", "list", "-attestationType", "aws_iid", "-output", "json")).stdout, `{"agents":[],"next_page_token":""}\n`);
  await ds.close();
});

test("agent list and count filter by selectors (each match mode), banned, canReattest and expiresBefore", async () => {
  const { ds, cli } = await setup();
  const ids = async (...args: string[]) => {
    const r = await cli("agent", "list", ...args, "-output", "json");
    assert.is(r.code, 0, r.stderr + r.stdout);
    const c = await cli("agent", "count", ...args, "-output", "json");
    const list = (JSON.parse(r.stdout).agents as { id: { path: string } }[]).map((a) => a.id.path.replace("/spire/agent/", ""));
    assert.equal(JSON.parse(c.stdout), { count: list.length });
    return list;
  };
  const sel = ["-selector", "x509pop:subject:cn:b", "-selector", "x509pop:ca:fingerprint:00"];
  assert.equal(await ids(...sel), ["x509pop/b"]);
  assert.equal(await ids(...sel, "-matchSelectorsOn", "superset"), ["x509pop/b"]);
  assert.equal(await ids(...sel, "-matchSelectorsOn", "exact"), ["x509pop/b"]);
  assert.equal(await ids(...sel, "-matchSelectorsOn", "any"), ["x509pop/b", "x509pop/d"]);
  assert.equal(await ids(...sel, "-matchSelectorsOn", "subset"), ["x509pop/b", "x509pop/d"]);
  assert.equal(await ids("-selector", "x509pop:subject:cn:b", "-matchSelectorsOn", "exact"), ["x509pop/d"]);
  assert.equal(await ids("-canReattest", "false"), ["join_token/a"]);
  assert.equal(await ids("-canReattest", "true"), ["x509pop/b", "x509pop/c", "x509pop/d"]);
  // SPIRE's BoolFlag: any other value means "all".
  assert.equal((await ids("-canReattest", "maybe")).length, 4);
  assert.equal(await ids("-banned", "true"), []);
  assert.equal(await ids("-expiresBefore", "2026-11-29 23:00:00 +0000 +00"), ["join_token/a", "x509pop/b", "x509pop/c"]);
  assert.equal(await ids("-expiresBefore", "2026-11-29 23:00:00 +0100 +01"), ["join_token/a", "x509pop/b"]);
  assert.equal(await ids("-attestationType", "x509pop", "-expiresBefore", "2026-11-30 00:00:00 +0000 +00", "-selector", "x509pop:subject:cn:c"), ["x509pop/c"]);
  const c = await cli("agent", "count", "-canReattest", "true");
  assert.is(c.stdout, "3 attested agents\n");
  assert.is((await cli("agent", "count", "-canReattest", "false")).stdout, "1 attested agent\n");
  assert.is((await cli("agent", "count", "-banned", "true")).stdout, "0 attested agents\n");
  await ds.close();
});

test("bad filter flags give SPIRE's errors and exit 1", async () => {
  const { ds, cli } = await setup();
  for (const verb of ["list", "count"]) {
    const m = await cli("agent", verb, "-selector", "foo:bar", "-matchSelectorsOn", "NO-MATCHER");
    assert.equal([m.code, m.stdout, m.stderr], [1, "", "Error: unsupported match behavior\n"]);
    const s = await cli("agent", verb, "-selector", "invalid-selector");
    assert.is(s.stderr, `Error: error parsing selector "invalid-selector": selector "invalid-selector" must be formatted as type:value\n`);
    const d = await cli("agent", verb, "-expiresBefore", "2001-13-05");
    assert.equal([d.code, d.stderr], [1, `Error: date is not valid: parsing time "2001-13-05": month out of range\n`]);
    const d2 = await cli("agent", verb, "-expiresBefore", "2001-01-05");
    assert.is(d2.stderr, `Error: date is not valid: parsing time "2001-01-05" as "2006-01-02 15:04:05 -0700 -07": cannot parse "" as "15"\n`);
    const j = await cli("agent", verb, "-expiresBefore", "tomorrow", "-output", "json");
    assert.equal([j.code, j.stdout], [
      1,
      `{"error":"date is not valid: parsing time \\"tomorrow\\" as \\"2006-01-02 15:04:05 -0700 -07\\": cannot parse \\"tomorrow\\" as \\"2006\\""}\n`,
    ]);
  }
  const p = await cli("agent", "purge", "-expiredFor", "5d");
  assert.equal([p.code, p.stderr], [1, `Error: invalid value "5d" for flag -expiredFor: parse error\n`]);
  await ds.close();
});

test("agent show prints the agent and its selectors; unknown and non-agent IDs are refused", async () => {
  const { ds, cli } = await setup();
  const r = await cli("agent", "show", "-spiffeID", id("x509pop/b"));
  assert.is(r.code, 0, r.stderr);
  assert.is(
    r.stdout,
    [
      "Found an attested agent given its SPIFFE ID",
      "",
      "SPIFFE ID         : spiffe://example.org/spire/agent/x509pop/b",
      "Attestation type  : x509pop",
      "Expiration time   : 2026-11-28 00:00:00 +0000 UTC",
      "Serial number     : 10",
      "Can re-attest     : true",
      "",
      "Selectors         : x509pop:subject:cn:b",
      "Selectors         : x509pop:ca:fingerprint:00",
      "",
    ].join("\n"),
  );
  const j = await cli("agent", "show", "-spiffeID", id("x509pop/c"), "-output", "json");
  assert.is(
    j.stdout,
    `{"agent_version":"","attestation_type":"x509pop","banned":false,"can_reattest":true,` +
      `"id":{"path":"/spire/agent/x509pop/c","trust_domain":"example.org"},"selectors":[{"type":"x509pop","value":"subject:cn:c"}],` +
      `"x509svid_expires_at":"${NOW - 7200}","x509svid_serial_number":"10"}\n`,
  );
  assert.equal(await cli("agent", "show"), { code: 1, stdout: "", stderr: "Error: a SPIFFE ID is required\n" });
  const missing = await cli("agent", "show", "-spiffeID", id("join_token/nope"));
  assert.equal([missing.code, missing.stderr], [1, "Error: rpc error: code = NotFound desc = agent not found\n"]);
  const workload = await cli("agent", "show", "-spiffeID", "spiffe://example.org/web");
  assert.is(
    workload.stderr,
    `Error: rpc error: code = InvalidArgument desc = invalid agent ID: "spiffe://example.org/web" is not an agent in trust domain "example.org"; path is not in the agent namespace\n`,
  );
  const foreign = await cli("agent", "ban", "-spiffeID", "spiffe://other.org/spire/agent/x");
  assert.is(
    foreign.stderr,
    `Error: rpc error: code = InvalidArgument desc = invalid agent ID: "spiffe://other.org/spire/agent/x" is not a member of trust domain "example.org"\n`,
  );
  await ds.close();
});

test("agent ban keeps the node with empty serials; show then says Banned; evict removes it", async () => {
  const { ds, cli } = await setup();
  assert.equal(await cli("agent", "ban", "-spiffeID", id("join_token/a")), { code: 0, stdout: "Agent banned successfully\n", stderr: "" });
  assert.equal(await cli("agent", "ban", "-spiffeID", id("join_token/a"), "-output", "json"), { code: 0, stdout: "{}\n", stderr: "" });
  const stored = await ds.fetchAttestedNode(id("join_token/a"));
  assert.equal([stored!.banned, stored!.certSerial, stored!.newCertSerial], [true, "", ""]);
  const r = await cli("agent", "show", "-spiffeID", id("join_token/a"));
  assert.match(r.stdout, "Expiration time   : 2025-12-06 20:19:41 +0000 UTC\nBanned            : true\nCan re-attest     : false\n\n");
  assert.not.match(r.stdout, "Serial number");
  assert.is((await cli("agent", "list", "-banned", "true", "-output", "json")).stdout.includes(`"banned":true`), true);
  assert.is((await cli("agent", "count", "-banned", "false")).stdout, "3 attested agents\n");
  const ghost = await cli("agent", "ban", "-spiffeID", id("join_token/ghost"));
  assert.equal([ghost.code, ghost.stderr], [1, "Error: rpc error: code = NotFound desc = agent not found\n"]);
  assert.equal(await cli("agent", "evict", "-spiffeID", id("join_token/a")), { code: 0, stdout: "Agent evicted successfully\n", stderr: "" });
  assert.is(await ds.fetchAttestedNode(id("join_token/a")), undefined);
  const again = await cli("agent", "evict", "-spiffeID", id("join_token/a"), "-output", "json");
  assert.equal([again.code, again.stdout], [1, `{"error":"rpc error: code = NotFound desc = agent not found"}\n`]);
  await ds.close();
});

test("agent purge: -dryRun lists, then deletes re-attestable agents whose SVID expired more than -expiredFor ago", async () => {
  const { ds, cli } = await setup();
  // Default 720h: b expired 48h ago, c 2h ago; the join_token agent (expired a year ago) is never a candidate.
  assert.equal(await cli("agent", "purge"), { code: 0, stdout: "No agents to purge.\n", stderr: "" });
  assert.is((await cli("agent", "purge", "-output", "json")).stdout, `{"expired_agents":[]}\n`);
  const dry = await cli("agent", "purge", "-dryRun", "-expiredFor", "1h");
  assert.is(
    dry.stdout,
    [
      "Found 2 expired agents",
      "",
      "",
      "Agents that can be purged:",
      "SPIFFE ID         : spiffe://example.org/spire/agent/x509pop/b",
      "SPIFFE ID         : spiffe://example.org/spire/agent/x509pop/c",
      "",
    ].join("\n"),
  );
  assert.is(
    (await cli("agent", "purge", "-dryRun", "-expiredFor", "24h", "-output", "json")).stdout,
    `{"expired_agents":[{"agent_id":"spiffe://example.org/spire/agent/x509pop/b","deleted":false}]}\n`,
  );
  assert.is((await ds.listAttestedNodes()).length, 4);
  const real = await cli("agent", "purge", "-expiredFor", "24h");
  assert.is(real.stdout, "Found 1 expired agent\n\nAgents purged:\nSPIFFE ID         : spiffe://example.org/spire/agent/x509pop/b\n");
  assert.equal((await ds.listAttestedNodes()).map((n) => n.spiffeID), [id("join_token/a"), id("x509pop/c"), id("x509pop/d")]);
  const json = await cli("agent", "purge", "-expiredFor", "1h30m", "-output", "json");
  assert.is(json.stdout, `{"expired_agents":[{"agent_id":"spiffe://example.org/spire/agent/x509pop/c","deleted":true}]}\n`);
  await ds.close();
});

test("agent -h prints SPIRE's flags with their defaults, exit codes and examples", async () => {
  const { ds, cli } = await setup();
  const list = await cli("agent", "list", "-h");
  assert.is(list.code, 0);
  assert.match(
    list.stdout,
    "  -banned value\n    \tFilter based on string received, 'true': banned agents, 'false': not banned agents, other value will return all.\n",
  );
  assert.match(list.stdout, `  -expiresBefore string\n    \tFilter by expiration time (format: "2006-01-02 15:04:05 -0700 -07")\n`);
  assert.match(
    list.stdout,
    `  -matchSelectorsOn string\n    \tThe match mode used when filtering by selectors. Options: exact, any, superset and subset (default "superset")\n`,
  );
  assert.match(list.stdout, "  -selector value\n    \tA colon-delimited type:value selector. Can be used more than once\n");
  const purge = await cli("agent", "purge", "-h");
  assert.match(
    purge.stdout,
    "  -expiredFor duration\n    \tAmount of time that has passed since the agent's SVID has expired. It is used to determine which agents to purge. (default 720h0m0s)\n",
  );
  assert.match(purge.stdout, "  -dryRun\n    \tIndicates that the command will not perform any action, but will print the agents that would be purged.\n");
  for (const verb of ["show", "ban", "evict", "count"]) {
    const r = await cli("agent", verb, "-h");
    assert.is(r.code, 0);
    assert.match(r.stdout, "EXIT CODES");
    assert.match(r.stdout, "EXAMPLES");
  }
  assert.match((await cli("agent", "ban", "-h")).stdout, "  -spiffeID string\n    \tThe SPIFFE ID of the agent to ban (agent identity)\n");
  await ds.close();
});

test.run();
