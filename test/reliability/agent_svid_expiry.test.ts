/**
 * The server down while the agent SVID runs out (agent_ttl 15 s). An outage shorter than the SVID's remaining life
 * heals by itself: the agent renews as soon as the server is back. A longer one cannot (a join-token agent cannot
 * re-attest, SPIRE CanReattest=false): the agent keeps serving workloads until its SVID expires, then logs at error
 * level that a new join token is required and exits 1, as SPIRE does ("current SVID has already expired and rotate
 * agent SVID failed"); restarted without a token it says the same, and with a new token it is back.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { createEntry, first, watchX509SVID, workloadClient } from "../integration/_clients.ts";
import { AGENT_BIN, type Cluster, joinToken, newCluster, Proc, startAgent, startServer, waitFor } from "../integration/_harness.ts";

const AGENT_TTL_S = 15;
let c: Cluster;

test.before(async () => {
  c = await newCluster({ extraServer: `agent_ttl = "${AGENT_TTL_S}s"\n  default_x509_svid_ttl = "${AGENT_TTL_S}s"` });
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  await createEntry(c, { spiffeID: "spiffe://example.org/w", selector: "unix:uid:0" });
});

test.after(async () => {
  await c?.cleanup();
});

async function workloadServed(): Promise<boolean> {
  const client = workloadClient(c.agentSocket, { ownConnection: true });
  try {
    const r = await first(watchX509SVID(client), 3000);
    return "message" in r && r.message.svids.length === 1;
  } finally {
    client.close();
  }
}

const count = (out: string, re: RegExp) => (out.match(new RegExp(re, "g")) ?? []).length;

test("an outage shorter than the agent SVID's remaining life: the agent renews by itself when the server returns", async () => {
  await waitFor("workload SVID", async () => ((await workloadServed()) ? true : undefined));
  c.server!.child.kill("SIGKILL");
  await c.server!.waitExit();
  // Past the half-life the agent tries to renew every second and fails.
  await waitFor("a failed renewal", async () => (/msg="Failed to renew agent SVID"/.test(c.agent!.output) ? true : undefined), AGENT_TTL_S * 1000);
  assert.ok(await workloadServed(), "workloads are served from the cache during the outage");
  const renewedBefore = count(c.agent!.output, /msg="Successfully rotated agent SVID"/);
  const back = performance.now();
  await startServer(c);
  await waitFor(
    "renewal after the server returned",
    async () => (count(c.agent!.output, /msg="Successfully rotated agent SVID"/) > renewedBefore ? true : undefined),
    10_000,
  );
  console.log(
    `[figure] agent_svid_expiry: outage past the agent SVID half-life healed ${
      (performance.now() - back).toFixed(0)
    } ms after the server was restarted (its start included), no manual step`,
  );
  assert.not.ok(c.agent!.exited);
  assert.ok(await workloadServed());
});

test("an outage longer than the agent SVID: served until expiry, then a clear error and exit 1; a new join token recovers", async () => {
  c.server!.child.kill("SIGKILL");
  await c.server!.waitExit();
  const down = performance.now();
  assert.ok(await workloadServed(), "workloads are served while the agent SVID is still valid");
  const code = await Promise.race([c.agent!.waitExit(), new Promise<string>((r) => setTimeout(() => r("timeout"), (AGENT_TTL_S + 10) * 1000))]);
  const out = c.agent!.output;
  assert.is(code, 1, out.slice(-2000));
  assert.match(out, /level=error msg="Agent SVID has expired and could not be renewed; a new join token is required"/);
  assert.match(out, /action="generate a join token on a server \(wisp-server token generate\) and restart the agent with -joinToken"/);
  assert.match(out, /Error: current SVID has already expired and rotate agent SVID failed/);
  console.log(
    `[figure] agent_svid_expiry: agent exited ${
      ((performance.now() - down) / 1000).toFixed(1)
    } s into the outage (agent_ttl ${AGENT_TTL_S} s) with the join-token error`,
  );

  await startServer(c);
  const noToken = new Proc(AGENT_BIN, ["run", "-config", c.agentConf]);
  assert.is(await noToken.waitExit(), 1);
  assert.match(noToken.output, /msg="Persisted agent SVID has expired; attesting again"/);
  assert.match(noToken.output, /agent is not attested: a join token is required \(-joinToken or agent\.join_token\)/);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  await waitFor("workload SVID with the new agent", async () => ((await workloadServed()) ? true : undefined));
});

test.run();
