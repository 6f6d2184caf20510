/**
 * kill -9 of wisp-agent (KeyManager "disk"): restarted without a join token it reuses its persisted agent SVID (no
 * new attestation, the same agent ID and serial) and a workload has its SVID again about a second after the start.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { createEntry, first, watchX509SVID, workloadClient } from "../integration/_clients.ts";
import { AGENT_BIN, type Cluster, joinToken, newCluster, Proc, startAgent, startServer, waitFor, wispServer } from "../integration/_harness.ts";

const RESTARTS = 3;
let c: Cluster;

test.before(async () => {
  c = await newCluster();
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  await createEntry(c, { spiffeID: "spiffe://example.org/root-workload", selector: "unix:uid:0" });
});

test.after(async () => {
  await c?.cleanup();
});

async function agents(): Promise<{ id: { trust_domain: string; path: string }; x509svid_serial_number: string }[]> {
  const r = await wispServer(["agent", "list", "-socketPath", c.serverSocket, "-output", "json"]);
  return (JSON.parse(r.stdout) as { agents: { id: { trust_domain: string; path: string }; x509svid_serial_number: string }[] }).agents;
}

/** Polls the Workload API with a fresh client each time, so no gRPC reconnect backoff inflates the figure. */
async function firstSVID(): Promise<string> {
  return waitFor("an SVID from the restarted agent", async () => {
    const client = workloadClient(c.agentSocket, { ownConnection: true });
    try {
      const r = await first(watchX509SVID(client), 2000);
      return "message" in r ? r.message.svids[0]!.spiffe_id : undefined;
    } finally {
      client.close();
    }
  }, 20_000);
}

const logTime = (out: string, msg: string) => Date.parse(new RegExp(`time="([^"]+)" level=\\w+ msg="${msg}"`).exec(out)?.[1] ?? "");

test(`kill -9 of the agent ${RESTARTS} times: it comes back on its persisted SVID and serves within about a second`, async () => {
  assert.is(await firstSVID(), "spiffe://example.org/root-workload");
  const before = await agents();
  assert.is(before.length, 1);
  const dataFile = join(c.dir, "agent", "agent-data.json");
  assert.is(statSync(dataFile).mode & 0o777, 0o600, "agent-data.json holds the agent key");
  const spawnToServe: number[] = [];
  const inProcess: number[] = [];
  for (let i = 0; i < RESTARTS; i++) {
    c.agent!.child.kill("SIGKILL");
    await c.agent!.waitExit();
    const t0 = performance.now();
    c.agent = new Proc(AGENT_BIN, ["run", "-config", c.agentConf]);
    assert.is(await firstSVID(), "spiffe://example.org/root-workload");
    spawnToServe.push(performance.now() - t0);
    const out = c.agent.output;
    assert.match(out, /msg="Reusing persisted agent SVID"/);
    assert.not.match(out, /Node attestation was successful/);
    inProcess.push(logTime(out, "Starting Workload and SDS APIs") - logTime(out, "Reusing persisted agent SVID"));
  }
  const after = await agents();
  assert.equal(after.map((a) => a.id), before.map((a) => a.id), "no new agent was attested");
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(", ");
  console.log(
    `[figure] agent_restart: ${RESTARTS} kill -9, identity served again ${fmt(spawnToServe)} ms after spawn ` +
      `(persisted SVID loaded -> Workload API up: ${fmt(inProcess)} ms; the rest is Node + module load), re-attestations 0`,
  );
});

test.run();
