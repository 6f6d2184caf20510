/**
 * `wisp-server agent show|list|count|ban|evict|purge` against real processes: a running join-token agent is shown,
 * filtered, counted and banned (it drops its stream, deletes its SVID and exits as SPIRE's agent does; its agent ID is
 * refused until evicted); purge and selector filters run on rows seeded through the datastore API.
 * @module
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { SQLiteDriver } from "../../src/runtime/node/sqlite_driver.ts";
import { SQLStore } from "../../src/server/datastore/sql/sql_store.ts";
import { AGENT_BIN, type Cluster, newCluster, Proc, startServer, waitFor, wispAgent, wispServer } from "./_harness.ts";

let c: Cluster;
let agentID = "";
const TOKEN = "lifecycle-token-1";
let setupError: unknown;

/** SPIRE's CreateJoinToken with a chosen token value, straight on the admin socket (the CLI has no flag for it). */
function createToken(token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ ttl: 600, token });
    const req = request(
      { socketPath: c.serverSocket, path: "/agent/v1/join_tokens", method: "POST", headers: { "content-type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const server = (...args: string[]) => wispServer([...args, "-socketPath", c.serverSocket]);

function startAgentWith(token: string): Proc {
  return new Proc(AGENT_BIN, ["run", "-config", c.agentConf, "-joinToken", token]);
}

async function waitHealthy(agent: Proc): Promise<void> {
  await waitFor("agent healthy", async () => {
    if (agent.exited) throw new Error(`agent exited: ${agent.output}`);
    const r = await wispAgent(["healthcheck", "-socketPath", c.agentSocket]);
    return r.code === 0 ? true : undefined;
  });
}

test.before(async () => {
  try {
    c = await newCluster();
    await startServer(c);
    assert.is(await createToken(TOKEN), 200);
    agentID = `spiffe://example.org/spire/agent/join_token/${TOKEN}`;
    c.agent = startAgentWith(TOKEN);
    await waitHealthy(c.agent);
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await c?.cleanup();
});

test("agent show prints the running agent in SPIRE's text and JSON forms", async () => {
  if (setupError) throw setupError;
  const r = await server("agent", "show", "-spiffeID", agentID);
  assert.is(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      `^Found an attested agent given its SPIFFE ID\n\nSPIFFE ID         : ${agentID}\nAttestation type  : join_token\n` +
        `Expiration time   : \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d [+-]\\d{4} \\S+\nSerial number     : \\d+\nCan re-attest     : false\n\n$`,
    ),
  );
  const j = await server("agent", "show", "-spiffeID", agentID, "-output", "json");
  const a = JSON.parse(j.stdout) as Record<string, unknown>;
  assert.equal(Object.keys(a), [
    "agent_version",
    "attestation_type",
    "banned",
    "can_reattest",
    "id",
    "selectors",
    "x509svid_expires_at",
    "x509svid_serial_number",
  ]);
  assert.equal(a.id, { path: `/spire/agent/join_token/${TOKEN}`, trust_domain: "example.org" });
  assert.equal([a.attestation_type, a.banned, a.can_reattest], ["join_token", false, false]);
  assert.match(String(a.x509svid_expires_at), /^\d+$/);
});

// Each CLI call starts a process; the filter combinations themselves are covered in test/server/cli/agent_commands.test.ts.
test("agent list and count filter join_token agents by type, banned, canReattest and expiry; bad dates exit 1", async () => {
  if (setupError) throw setupError;
  const all = ["-attestationType", "join_token", "-banned", "false", "-canReattest", "false", "-expiresBefore", "9999-01-01 00:00:00 +0000 +00"];
  assert.is((await server("agent", "count", ...all)).stdout, "1 attested agent\n");
  const l = await server("agent", "list", ...all);
  assert.match(l.stdout, new RegExp(`^Found 1 attested agent:\n\nSPIFFE ID         : ${agentID}\n`));
  assert.is((await server("agent", "list", "-canReattest", "true", "-expiresBefore", "2000-01-01 00:00:00 +0000 +00")).stdout, "No attested agents found\n");
  const bad = await server("agent", "list", "-expiresBefore", "2001-13-05");
  assert.equal([bad.code, bad.stderr], [1, `Error: date is not valid: parsing time "2001-13-05": month out of range\n`]);
});

test("agent ban: the agent loses its stream, deletes its SVID and exits 1; its ID is refused until evicted", async () => {
  if (setupError) throw setupError;
  const agent = c.agent!;
  const svidFile = join(c.dir, "agent", "agent-data.json");
  assert.ok(existsSync(svidFile), "the agent persisted its SVID");
  const r = await server("agent", "ban", "-spiffeID", agentID);
  assert.equal([r.code, r.stdout, r.stderr], [0, "Agent banned successfully\n", ""]);
  const code = await Promise.race([agent.waitExit(), new Promise((r) => setTimeout(() => r("still running"), 30_000))]);
  assert.is(code, 1, agent.output);
  assert.match(c.server!.output, new RegExp(`msg="Agent banned" .*spiffe_id="?${agentID}`));
  assert.match(c.server!.output, /msg="Closing sync stream of an agent that is no longer attested"/);
  assert.match(agent.output, /level=warning msg="Agent is banned: removing SVID and shutting down" .*error="agent \\"spiffe:.* is banned"/);
  assert.match(agent.output, `Error: agent "${agentID}" is banned`);
  assert.not.ok(existsSync(svidFile), "the SVID file is gone");
  const shown = await server("agent", "show", "-spiffeID", agentID);
  assert.match(shown.stdout, "Banned            : true\nCan re-attest     : false\n");

  // A fresh token with the same value names the same agent: refused while banned.
  assert.is(await createToken(TOKEN), 200);
  const refused = await wispAgent(["run", "-config", c.agentConf, "-joinToken", TOKEN]);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, "Error: failed to attest: agent is banned");
  assert.match(c.server!.output, /msg="Failed to attest: agent is banned"/);

  const evicted = await server("agent", "evict", "-spiffeID", agentID);
  assert.equal([evicted.code, evicted.stdout], [0, "Agent evicted successfully\n"]);
  assert.match(c.server!.output, new RegExp(`msg="Agent deleted" .*spiffe_id="?${agentID}`));
  assert.is(await createToken(TOKEN), 200);
  c.agent = startAgentWith(TOKEN);
  await waitHealthy(c.agent);
  const back = await server("agent", "list", "-banned", "false", "-output", "json");
  assert.equal((JSON.parse(back.stdout) as { agents: { id: { path: string } }[] }).agents.map((a) => a.id.path), [`/spire/agent/join_token/${TOKEN}`]);
});

test("agent purge -dryRun then purge, and selector filters, on agents seeded into the server's datastore", async () => {
  if (setupError) throw setupError;
  // The running server holds the SQLite file's process lock: seed through the datastore API while it is stopped.
  await c.agent?.stop();
  await c.server!.stop();
  const ds = await SQLStore.open({ driver: await SQLiteDriver.open(join(c.dir, "server", "datastore.sqlite3")) });
  const now = Math.floor(Date.now() / 1000);
  const seed = (name: string, notAfter: number, selectors: { type: string; value: string }[]) =>
    ds.createAttestedNode({
      spiffeID: `spiffe://example.org/spire/agent/x509pop/${name}`,
      attestationType: "x509pop",
      certSerial: "01",
      certNotAfter: notAfter,
      newCertSerial: "",
      newCertNotAfter: 0,
      canReattest: true,
      banned: false,
      selectors,
    });
  await seed("old", now - 800 * 3600, [{ type: "x509pop", value: "subject:cn:old" }, { type: "x509pop", value: "ca:fingerprint:aa" }]);
  await seed("recent", now - 2 * 3600, [{ type: "x509pop", value: "subject:cn:recent" }, { type: "x509pop", value: "ca:fingerprint:aa" }]);
  await seed("live", now + 3600, [{ type: "x509pop", value: "ca:fingerprint:aa" }]);
  await ds.close();
  await startServer(c);

  const ids = async (...args: string[]) =>
    (JSON.parse((await server("agent", "list", ...args, "-output", "json")).stdout) as { agents: { id: { path: string } }[] }).agents.map((a) =>
      a.id.path.split("/").pop()
    );
  assert.equal(await ids("-selector", "x509pop:ca:fingerprint:aa"), ["live", "old", "recent"]);
  assert.equal(await ids("-selector", "x509pop:ca:fingerprint:aa", "-selector", "x509pop:subject:cn:old", "-matchSelectorsOn", "subset"), ["live", "old"]);

  // Default -expiredFor 720h: only "old" (expired 800h ago); the join_token agent is never a candidate.
  const dry = await server("agent", "purge", "-dryRun");
  assert.equal([dry.code, dry.stdout], [
    0,
    "Found 1 expired agent\n\n\nAgents that can be purged:\nSPIFFE ID         : spiffe://example.org/spire/agent/x509pop/old\n",
  ]);
  const real = await server("agent", "purge", "-expiredFor", "1h");
  assert.is(
    real.stdout,
    "Found 2 expired agents\n\nAgents purged:\nSPIFFE ID         : spiffe://example.org/spire/agent/x509pop/old\nSPIFFE ID         : spiffe://example.org/spire/agent/x509pop/recent\n",
  );
  assert.equal(await ids("-attestationType", "x509pop"), ["live"]);
});

test.run();
