/**
 * x509pop against real processes: agents with RSA and ECDSA node certificates attest, show up in `agent list` with
 * SPIRE's agent IDs and selectors, serve workloads whose SVIDs openssl verifies; a node alias on an x509pop selector
 * delivers its workload entry only to the matching node; a foreign chain and an expired leaf are refused with SPIRE's
 * texts and leave nothing in the datastore.
 */
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import * as pop from "../../src/core/x509pop/protocol.ts";
import { newCA, newNodeCert } from "../server/nodeattestor/_pki.ts";
import { createEntry } from "./_clients.ts";
import { AGENT_BIN, type Cluster, Proc, run, startServer, waitFor, wispAgent } from "./_harness.ts";
import { type EdgeAgent, listAgents, startEdgeAgent, x509popAgent, x509popCluster } from "./_x509pop.ts";

const UID = process.getuid?.() ?? 0;
let c: Cluster;
let rsaAgent: EdgeAgent;
let ecAgent: EdgeAgent;
let setupError: unknown;
const rootRSA = await newCA({ keyType: "rsa", name: "edge root rsa" });
const rootEC = await newCA({ keyType: "ecdsa", name: "edge root ec" });
const interEC = await newCA({ keyType: "ecdsa", name: "edge intermediate", issuer: rootEC });
const leafRSA = await newNodeCert(rootRSA, { keyType: "rsa", cn: "edge-1" });
const leafEC = await newNodeCert(interEC, { keyType: "ecdsa", cn: "edge-2" });

test.before(async () => {
  try {
    c = await x509popCluster([rootRSA, rootEC]);
    await startServer(c);
    rsaAgent = x509popAgent(c, "rsa", leafRSA);
    ecAgent = x509popAgent(c, "ec", leafEC, { intermediates: [interEC] });
    await Promise.all([startEdgeAgent(rsaAgent), startEdgeAgent(ecAgent)]);
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await rsaAgent?.proc?.stop();
  await ecAgent?.proc?.stop();
  await c?.cleanup();
});

async function fetchSVIDs(a: EdgeAgent, out?: string) {
  return wispAgent(["api", "fetch", "x509", "-socketPath", a.socket, ...(out ? ["-write", out] : [])]);
}

test("RSA and ECDSA nodes attest: agent list shows SPIRE's agent IDs, type, re-attestability and selectors", async () => {
  if (setupError) throw setupError;
  const agents = await listAgents(c);
  const byID = new Map(agents.map((a) => [a.id, a]));
  const rsa = byID.get(`spiffe://example.org/spire/agent/x509pop/${pop.fingerprint(leafRSA.der)}`);
  const ec = byID.get(`spiffe://example.org/spire/agent/x509pop/${pop.fingerprint(leafEC.der)}`);
  assert.ok(rsa && ec, JSON.stringify(agents));
  assert.is(rsa.attestation_type, "x509pop");
  assert.is(rsa.can_reattest, true);
  assert.equal(rsa.selectors, [
    { type: "x509pop", value: `ca:fingerprint:${pop.fingerprint(rootRSA.der)}` },
    { type: "x509pop", value: `serialnumber:${leafRSA.cert.serialNumber.toLowerCase()}` },
    { type: "x509pop", value: "subject:cn:edge-1" },
  ]);
  assert.equal(
    ec.selectors.map((s) => s.value).sort(),
    [
      `ca:fingerprint:${pop.fingerprint(interEC.der)}`,
      `ca:fingerprint:${pop.fingerprint(rootEC.der)}`,
      `serialnumber:${leafEC.cert.serialNumber.toLowerCase()}`,
      "subject:cn:edge-2",
    ].sort(),
  );
  assert.match(rsaAgent.proc!.output, /msg="Node attestation was successful".*reattestable=true/);
});

test("workloads behind each x509pop agent get SVIDs that openssl verifies", async () => {
  for (const [a, leaf] of [[rsaAgent, leafRSA], [ecAgent, leafEC]] as const) {
    const agentID = `spiffe://example.org/spire/agent/x509pop/${pop.fingerprint(leaf.der)}`;
    await createEntry(c, { parentID: agentID, spiffeID: `spiffe://example.org/${a.name}-web`, selector: `unix:uid:${UID}` });
    const out = join(c.dir, `${a.name}-svid`);
    const r = await waitFor(`SVID from the ${a.name} agent`, async () => {
      const r = await fetchSVIDs(a, out);
      return r.code === 0 && r.stdout.includes(`${a.name}-web`) ? r : undefined;
    });
    assert.match(r.stdout, new RegExp(`SPIFFE ID:\\t\\tspiffe://example.org/${a.name}-web`));
    const v = await run("openssl", ["verify", "-CAfile", join(out, "bundle.0.pem"), "-untrusted", join(out, "svid.0.pem"), join(out, "svid.0.pem")]);
    assert.is(v.code, 0, v.stderr);
    assert.match(v.stdout, /svid\.0\.pem: OK/);
  }
});

test("a node alias on an x509pop selector delivers its workload entry to the matching node only", async () => {
  await createEntry(c, { parentID: "spiffe://example.org/spire/server", spiffeID: "spiffe://example.org/cluster/edge", selector: "x509pop:subject:cn:edge-1" });
  await createEntry(c, { parentID: "spiffe://example.org/cluster/edge", spiffeID: "spiffe://example.org/edge-workload", selector: `unix:uid:${UID}` });
  await waitFor("alias workload SVID on edge-1", async () => {
    const r = await fetchSVIDs(rsaAgent);
    return r.code === 0 && r.stdout.includes("spiffe://example.org/edge-workload") ? true : undefined;
  });
  const other = await fetchSVIDs(ecAgent);
  assert.is(other.code, 0, other.stderr);
  assert.not.match(other.stdout, /edge-workload/, "edge-2 is not in the alias");
  assert.not.match((await fetchSVIDs(rsaAgent)).stdout, /spiffe:\/\/example.org\/cluster\/edge\b/, "the alias itself is never a workload identity");
});

test("a chain from a foreign CA and an expired leaf are refused with SPIRE's texts, and nothing is stored", async () => {
  const before = (await listAgents(c)).length;
  const stranger = await newCA({ keyType: "ecdsa", name: "stranger" });
  const cases = [
    {
      name: "foreign",
      leaf: await newNodeCert(stranger, { cn: "intruder" }),
      text: /certificate verification failed: x509: certificate signed by unknown authority/,
    },
    {
      name: "expired",
      leaf: await newNodeCert(rootEC, { cn: "old", notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) }),
      text: /certificate verification failed: x509: certificate has expired or is not yet valid: current time \S+ is after \S+/,
    },
  ];
  const procs = cases.map((k) => new Proc(AGENT_BIN, ["run", "-config", x509popAgent(c, k.name, k.leaf).conf]));
  for (const [i, k] of cases.entries()) {
    const p = procs[i]!;
    assert.is(await p.waitExit(), 1, p.output.slice(-2000));
    assert.match(p.output, k.text);
  }
  assert.match(c.server!.output, /level=error msg="Certificate verification failed: x509: /);
  assert.is((await listAgents(c)).length, before);
});

test.run();
