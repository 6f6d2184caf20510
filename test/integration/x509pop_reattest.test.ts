/**
 * Re-attestation and the agent lifecycle against real processes (agent_ttl 8 s): an x509pop agent rotates by
 * attesting again instead of renewing; when its SVID runs out while the server is down, it re-attests by itself once
 * the server is back and keeps serving. rebootstrap_mode follows SPIRE: "always" is fatal for an agent that cannot
 * re-attest (join_token), "auto" falls back to "never" with a warning, and neither goes with insecure_bootstrap.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { createEntry, first, watchX509SVID, workloadClient } from "./_clients.ts";
import { AGENT_BIN, type Cluster, joinToken, Proc, startServer, waitFor, wispServer } from "./_harness.ts";
import { newCA, newNodeCert } from "../server/nodeattestor/_pki.ts";
import { type EdgeAgent, listAgents, startEdgeAgent, x509popAgent, x509popCluster } from "./_x509pop.ts";

/** The cluster's own bootstrap line (trust_bundle_path by default), which these tests replace with theirs. */
const BOOTSTRAP_LINE = /insecure_bootstrap = true|trust_bundle_path = "[^"]*"/;

const UID = process.getuid?.() ?? 0;
const AGENT_TTL_S = 8;
let c: Cluster;
let edge: EdgeAgent;
let bundlePath: string;
let setupError: unknown;
const root = await newCA({ keyType: "ecdsa", name: "edge root" });
const leaf = await newNodeCert(root, { keyType: "rsa", cn: "edge-1" });

const count = (out: string, re: RegExp) => (out.match(new RegExp(re, "g")) ?? []).length;

test.before(async () => {
  try {
    c = await x509popCluster([root], { extraServer: `agent_ttl = "${AGENT_TTL_S}s"` });
    await startServer(c);
    const b = await wispServer(["bundle", "show", "-socketPath", c.serverSocket]);
    bundlePath = join(c.dir, "bundle.pem");
    writeFileSync(bundlePath, b.stdout);
    edge = x509popAgent(c, "edge", leaf);
    // Verified bootstrap, so rebootstrap_mode "always" is allowed; x509pop can re-attest, so it is accepted.
    writeFileSync(edge.conf, readFileSync(edge.conf, "utf8").replace(BOOTSTRAP_LINE, `trust_bundle_path = "${bundlePath}"\n  rebootstrap_mode = "always"`));
    await startEdgeAgent(edge);
    await createEntry(c, { parentID: (await listAgents(c))[0]!.id, spiffeID: "spiffe://example.org/edge-web", selector: `unix:uid:${UID}` });
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await edge?.proc?.stop();
  await c?.cleanup();
});

async function workloadServed(): Promise<boolean> {
  const client = workloadClient(edge.socket, { ownConnection: true });
  try {
    const r = await first(watchX509SVID(client), 3000);
    return "message" in r && r.message.svids.length === 1;
  } finally {
    client.close();
  }
}

test("an x509pop agent rotates its SVID by attesting again, never by RenewAgent", async () => {
  if (setupError) throw setupError;
  const done = count(edge.proc!.output, /msg="Successfully reattested node"/);
  const serialBefore = (await listAgents(c))[0]!.x509svid_serial_number;
  // Counted before the serial was read, so the awaited re-attestation is one that happened after it.
  await waitFor(
    "a re-attestation",
    async () => (count(edge.proc!.output, /msg="Successfully reattested node"/) > done + 1 ? true : undefined),
    AGENT_TTL_S * 3000,
  );
  const after = await listAgents(c);
  assert.is(after.length, 1, "the same node is updated, not a second one created");
  assert.is.not(after[0]!.x509svid_serial_number, serialBefore);
  assert.not.match(c.server!.output, /msg="Agent SVID renewed"/);
  assert.ok(await waitFor("workload SVID", async () => ((await workloadServed()) ? true : undefined)));
});

test("the agent SVID expires while the server is down: the agent re-attests by itself when the server returns", async () => {
  c.server!.child.kill("SIGKILL");
  await c.server!.waitExit();
  await waitFor(
    "the agent notices its SVID expired",
    async () => (/msg="Agent SVID has expired; will attempt to re-attest"/.test(edge.proc!.output) ? true : undefined),
    AGENT_TTL_S * 3000,
  );
  assert.not.ok(edge.proc!.exited, "a re-attestable agent does not give up");
  const before = count(edge.proc!.output, /msg="Successfully reattested node"/);
  await startServer(c);
  await waitFor(
    "re-attestation after the server returned",
    async () => (count(edge.proc!.output, /msg="Successfully reattested node"/) > before ? true : undefined),
    20_000,
  );
  assert.ok(await waitFor("workload SVID again", async () => ((await workloadServed()) ? true : undefined)));
  assert.not.ok(edge.proc!.exited);
});

test("rebootstrap_mode: always is fatal for a join-token agent, auto falls back to never, neither goes with insecure_bootstrap; -joinTokenFile", async () => {
  const conf = (name: string, extra: string, insecure = false) => {
    const p = join(c.dir, `${name}.conf`);
    writeFileSync(
      p,
      readFileSync(c.agentConf, "utf8")
        .replace(/data_dir = "[^"]*"/, `data_dir = "${join(c.dir, name)}"`)
        .replace(/socket_path = "[^"]*"/, `socket_path = "${join(c.dir, `${name}.sock`)}"`)
        .replace(BOOTSTRAP_LINE, insecure ? `insecure_bootstrap = true\n  ${extra}` : `trust_bundle_path = "${bundlePath}"\n  ${extra}`),
    );
    return p;
  };
  const always = new Proc(AGENT_BIN, ["run", "-config", conf("always", `rebootstrap_mode = "always"`), "-joinToken", await joinToken(c)]);
  // The auto agent reads its token from a file (-joinTokenFile), as provisioning tools hand it over.
  const tokenFile = join(c.dir, "join_token");
  writeFileSync(tokenFile, `${await joinToken(c)}\n`, { mode: 0o600 });
  const auto = new Proc(AGENT_BIN, ["run", "-config", conf("auto", `rebootstrap_mode = "auto"`), "-joinTokenFile", tokenFile]);
  const insecure = new Proc(AGENT_BIN, ["run", "-config", conf("insecure", `rebootstrap_mode = "auto"`, true)]);
  try {
    assert.is(await always.waitExit(), 1, always.output.slice(-2000));
    assert.match(always.output, /you have requested rebootstrap support but the NodeAttestor plugin or the spire server configuration is not allowing it/);
    assert.is(await insecure.waitExit(), 1);
    assert.match(insecure.output, /agent\.rebootstrap_mode "auto" cannot be used with agent\.insecure_bootstrap/);
    await waitFor("auto agent serving", async () => (/msg="Starting Workload and SDS APIs"/.test(auto.output) ? true : undefined));
    assert.match(
      auto.output,
      /level=warning msg="Rebootstrap mode auto needs a re-attestable agent; the NodeAttestor plugin or the server configuration does not allow it, so rebootstrap_mode is now never"/,
    );
    assert.not.ok(auto.exited);
  } finally {
    await auto.stop();
  }
});

test.run();
