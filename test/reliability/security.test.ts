/**
 * Security properties of a real cluster with DEBUG logs: key files are 0600, no join token, private key or JWT
 * appears in any log line, and an evicted agent loses its sync stream and is refused on its next call.
 *
 * Covered elsewhere (see docs/reliability.md): the admin socket refusing another uid, and the agent API refusing no
 * certificate, a foreign CA, an expired agent SVID and an evicted agent with the server's own answers over real mTLS
 * (access_control.test.ts); other uids get nothing (end_to_end, python_client, deno_agent), PID reuse
 * (test/runtime/node/grpc_server.test.ts "verifyPeerAlive"), another agent's entries, reused and expired join tokens
 * (test/server/api/agent_app.test.ts).
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { createEntry } from "../integration/_clients.ts";
import { type Cluster, joinToken, newCluster, startAgent, startServer, tempDir, waitFor, wispAgent, wispServer } from "../integration/_harness.ts";

let c: Cluster;
let usedToken = "";
const cliOutput: string[] = [];

test.before(async () => {
  c = await newCluster();
  await startServer(c);
  usedToken = await joinToken(c, "spiffe://example.org/node1");
  await startAgent(c, usedToken);
  await createEntry(c, { spiffeID: "spiffe://example.org/w", selector: "unix:uid:0" });
  await waitFor("workload SVID", async () => ((await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket])).code === 0 ? true : undefined));
});

test.after(async () => {
  await c?.cleanup();
});

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

test("key files and the datastore are 0600; -write writes the SVID key 0600", async () => {
  const out = tempDir("wisp-write-");
  const r = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket, "-write", out]);
  assert.is(r.code, 0, r.stderr);
  assert.equal(
    {
      serverKeys: mode(join(c.dir, "server", "keys.json")),
      datastore: mode(join(c.dir, "server", "datastore.sqlite3")),
      agentData: mode(join(c.dir, "agent", "agent-data.json")),
      svidKey: mode(join(out, "svid.0.key")),
      svidCert: mode(join(out, "svid.0.pem")),
    },
    { serverKeys: "600", datastore: "600", agentData: "600", svidKey: "600", svidCert: "644" },
  );
});

test("no join token, private key or JWT in any log line of the server, the agent or the CLI", async () => {
  // A token that is generated and never used must never be logged; a used one only inside the agent ID SPIRE forms from it.
  const t = await wispServer(["token", "generate", "-socketPath", c.serverSocket]);
  const unusedToken = /Token: (\S+)/.exec(t.stdout)?.[1] ?? "";
  assert.ok(unusedToken.length > 10, t.stdout);
  cliOutput.push(t.stderr);
  const jwt = await wispAgent(["api", "fetch", "jwt", "-socketPath", c.agentSocket, "-audience", "aud"]);
  assert.is(jwt.code, 0, jwt.stderr);
  const token = /token\(spiffe:\/\/example\.org\/w\):\n\t(\S+)/.exec(jwt.stdout)?.[1] ?? "";
  assert.match(token, /^eyJ/);
  cliOutput.push(jwt.stderr);

  const serverKeys = JSON.parse(readFileSync(join(c.dir, "server", "keys.json"), "utf8")) as unknown;
  const agentKey = (JSON.parse(readFileSync(join(c.dir, "agent", "agent-data.json"), "utf8")) as { key: string }).key;
  // Every base64 string of 40+ characters in keys.json is key material; look for its first 40 characters.
  const keyStrings = [...JSON.stringify(serverKeys).matchAll(/"([A-Za-z0-9+/=_-]{40,})"/g)].map((m) => m[1]!.slice(0, 40));
  assert.ok(keyStrings.length >= 2, "server key material found in keys.json");
  const secrets: Record<string, string> = {
    "unused join token": unusedToken,
    "agent private key": agentKey.slice(0, 40),
    "agent private key (hex)": Buffer.from(agentKey, "base64").toString("hex").slice(0, 40),
    "JWT-SVID": token.slice(0, 60),
    ...Object.fromEntries(keyStrings.map((k, i) => [`server key ${i}`, k])),
  };
  const logs = { server: c.server!.output, agent: c.agent!.output, cli: cliOutput.join("\n") };
  const lines = Object.values(logs).join("\n").split("\n").filter((l) => l !== "");
  assert.ok(lines.length > 15, `only ${lines.length} log lines`);
  const found: string[] = [];
  for (const [what, value] of Object.entries(secrets)) if (lines.some((l) => l.includes(value))) found.push(what);
  for (const l of lines) {
    if (/PRIVATE KEY/.test(l)) found.push(`a PEM private key: ${l.slice(0, 120)}`);
    if (/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./.test(l)) found.push(`a JWT: ${l.slice(0, 120)}`);
    const withoutAgentID = l.replaceAll(`spire/agent/join_token/${usedToken}`, "spire/agent/join_token/<id>");
    if (withoutAgentID.includes(usedToken)) found.push(`the used join token outside the agent ID: ${l.slice(0, 160)}`);
  }
  console.log(
    `[figure] security: ${lines.length} DEBUG log lines (server, agent, CLI) searched for ${
      Object.keys(secrets).length + 3
    } secret patterns: ${found.length} found`,
  );
  assert.equal(found, []);
});

test("an evicted agent loses its sync stream, is refused as not attested, and (join token: cannot re-attest) exits", async () => {
  const agentID = `spiffe://example.org/spire/agent/join_token/${usedToken}`;
  const r = await wispServer(["agent", "evict", "-socketPath", c.serverSocket, "-spiffeID", agentID]);
  assert.is(r.code, 0, r.stderr);
  await waitFor(
    "the server closes the stream",
    async () => (/msg="Closing sync stream of an agent that is no longer attested"/.test(c.server!.output) ? true : undefined),
    10_000,
  );
  await waitFor("the agent is refused", async () => (c.agent!.output.includes(`agent \\"${agentID}\\" is not attested`) ? true : undefined), 15_000);
  // SPIRE's agent: AGENT_NOT_ATTESTED means re-attest, which a join-token agent cannot do, so it forgets its SVID and stops.
  assert.is(await c.agent!.waitExit(), 1);
  assert.match(c.agent!.output, /level=error msg="Agent needs to re-attest: removing SVID and shutting down"/);
  assert.match(
    c.agent!.output,
    /Error: attestation method is not re-attestable: agent "spiffe:\/\/example.org\/spire\/agent\/join_token\/[^"]+" is not attested/,
  );
  const list = await wispServer(["agent", "list", "-socketPath", c.serverSocket, "-output", "json"]);
  assert.equal((JSON.parse(list.stdout) as { agents: unknown[] }).agents, []);
});

test.run();
