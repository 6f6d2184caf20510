/**
 * Seed 001's week-3 flow with real processes: the AWS emulator, wisp-server with UpstreamAuthority "aws_pca",
 * KeyManager "aws_kms" and NodeAttestor "aws_iid", agents attested through the emulator's per-instance IMDS, workload
 * SVIDs that openssl verifies over four levels, a node alias on a tag selector, TOFU and `agent evict`.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type EmulatedInstance, type RunningEmulator, startEmulator } from "../emulator/emulator_process.ts";
import { AGENT_BIN, type Cluster, newCluster, Proc, run, startServer, waitFor, wispAgent, wispServer } from "./_harness.ts";

let emu: RunningEmulator;
let c: Cluster;
let inst: EmulatedInstance;
let setupError: unknown;
const measured: string[] = [];
/** Attestation times (agent log clock), reported as a median. */
const attestMs: number[] = [];
const agents: Proc[] = [];

/** An agent.conf attesting with aws_iid through `imds`, with its own data dir and socket under `dir`. */
function agentConf(dir: string, imds: string): { conf: string; socket: string; dataDir: string } {
  mkdirSync(dir, { recursive: true, mode: 0o777 });
  const socket = join(dir, "public", "api.sock");
  const dataDir = join(dir, "data");
  const conf = join(dir, "agent.conf");
  writeFileSync(
    conf,
    `
agent {
  data_dir = "${dataDir}"
  log_level = "DEBUG"
  server_address = "127.0.0.1"
  server_port = "${c.port}"
  socket_path = "${socket}"
  trust_domain = "example.org"
  insecure_bootstrap = true
}
plugins {
  NodeAttestor "aws_iid" {
    plugin_data {
      ec2_metadata_endpoint = "${imds}/latest"
    }
  }
  KeyManager "disk" {
    plugin_data {}
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`,
  );
  return { conf, socket, dataDir };
}

/** Starts an aws_iid agent and waits until it serves; resolves with the process and its attestation time (log clock). */
async function startIIDAgent(dir: string, i: EmulatedInstance): Promise<{ proc: Proc; socket: string; dataDir: string; attestMs: number }> {
  const a = agentConf(dir, i.imdsEndpoint);
  const proc = new Proc(AGENT_BIN, ["run", "-config", a.conf]);
  agents.push(proc);
  await waitFor("aws_iid agent healthy", async () => {
    if (proc.exited) throw new Error(`agent exited: ${proc.output}`);
    const r = await wispAgent(["healthcheck", "-socketPath", a.socket]);
    return r.code === 0 ? true : undefined;
  });
  const at = (msg: string) => Date.parse(proc.output.split("\n").find((l) => l.includes(`msg="${msg}"`))?.match(/time="([^"]+)"/)?.[1] ?? "");
  return { proc, socket: a.socket, dataDir: a.dataDir, attestMs: at("Node attestation was successful") - at("SVID is not found. Starting node attestation") };
}

function agentID(i: EmulatedInstance): string {
  return `spiffe://example.org/spire/agent/aws_iid/${i.account}/${i.region}/${i.instanceId}`;
}

async function fetchAs(uid: number, socket: string, out: string): Promise<void> {
  let last = "";
  await waitFor(`SVID for uid ${uid}`, async () => {
    const r = await wispAgent(["api", "fetch", "x509", "-socketPath", socket, "-write", out], { asUser: uid });
    last = r.stderr + r.stdout;
    return r.code === 0 ? r : undefined;
  }, 10_000).catch((err) => {
    throw new Error(`${err}\nlast: ${last}\nserver:\n${c.server!.output.slice(-6000)}`);
  });
}

test.before(async () => {
  try {
    emu = await startEmulator();
    c = await newCluster({
      keyManager: "aws_kms",
      keyManagerData: `
      region = "${emu.info.region}"
      key_policy_file = "KEY_POLICY_FILE"`,
      extraServer: `ca_ttl = "168h"\n  default_x509_svid_ttl = "1h"`,
      extraServerPlugins: `
  UpstreamAuthority "aws_pca" {
    plugin_data {
      region = "${emu.info.region}"
      certificate_authority_arn = "${emu.info.subordinateCaArn}"
      signing_algorithm = "SHA256WITHECDSA"
      ca_signing_template_arn = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"
    }
  }
  NodeAttestor "aws_iid" {
    plugin_data {
      trusted_iid_certificates = ["${emu.info.iidCertificatePath}"]
    }
  }`,
      // Every AWS client (PCA, KMS, STS, EC2, IAM) finds the emulator through the SDK's own endpoint variable.
      serverEnv: {
        AWS_ACCESS_KEY_ID: emu.info.accessKeyId,
        AWS_SECRET_ACCESS_KEY: emu.info.secretAccessKey,
        AWS_REGION: emu.info.region,
        AWS_ENDPOINT_URL: emu.info.endpoint,
      },
    });
    const policy = join(c.dir, "kms-key-policy.json");
    writeFileSync(policy, JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: "*" }, Action: "kms:*", Resource: "*" }] }));
    writeFileSync(c.serverConf, readFileSync(c.serverConf, "utf8").replace("KEY_POLICY_FILE", policy));
    await startServer(c);
    inst = await emu.defineInstance({ tags: { env: "prod" }, instanceProfile: { name: "web", roles: ["web-role"] } });
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  for (const a of agents) await a.stop();
  await c?.cleanup();
  await emu?.stop();
  if (emu) rmSync(emu.dataDir, { recursive: true, force: true });
  for (const m of measured) process.stdout.write(`  measured: ${m}\n`);
});

test("an agent on an emulated EC2 instance attests with aws_iid; its workload SVID verifies over 4 levels", async () => {
  if (setupError) throw setupError;
  // A second instance attests at the same time, so the first attestation is not the only sample.
  const other = await emu.defineInstance({ tags: { env: "staging" } });
  const [a, b] = await Promise.all([startIIDAgent(join(c.dir, "agent1"), inst), startIIDAgent(join(c.dir, "agent2"), other)]);
  attestMs.push(a.attestMs, b.attestMs);
  await b.proc.stop();
  assert.match(a.proc.output, `spiffe_id="${agentID(inst)}"`); // logrus quotes values with ":"
  const list = await wispServer(["agent", "list", "-socketPath", c.serverSocket]);
  assert.is(list.code, 0, list.stderr);
  assert.match(list.stdout, agentID(inst));
  assert.match(list.stdout, "aws_iid");
  const stats = await emu.stats();
  assert.ok((stats["ec2:DescribeInstances"] ?? 0) >= 1 && (stats["iam:GetInstanceProfile"] ?? 0) >= 1, JSON.stringify(stats));

  const e = await wispServer([
    "entry",
    "create",
    "-socketPath",
    c.serverSocket,
    "-parentID",
    agentID(inst),
    "-spiffeID",
    "spiffe://example.org/web",
    "-selector",
    "unix:uid:1000",
  ]);
  assert.is(e.code, 0, e.stderr);
  const out = join(c.dir, "svid-web");
  await fetchAs(1000, a.socket, out);
  const v = await run("openssl", ["verify", "-CAfile", join(out, "bundle.0.pem"), "-untrusted", join(out, "svid.0.pem"), join(out, "svid.0.pem")]);
  assert.is(v.code, 0, v.stderr);
  assert.match(v.stdout, /svid\.0\.pem: OK/);
  const svid = readFileSync(join(out, "svid.0.pem"), "utf8");
  assert.is(svid.match(/BEGIN CERTIFICATE/g)?.length, 3, "leaf, wisp intermediate, PCA subordinate (the PCA root is the bundle)");
  const text = await run("openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", join(out, "svid.0.pem")]);
  assert.match(text.stdout, "URI:spiffe://example.org/web");
});

test("a node alias on aws_iid:tag:env:prod gives the instance's workloads their SVIDs", async () => {
  const node = await wispServer([
    "entry",
    "create",
    "-socketPath",
    c.serverSocket,
    "-node",
    "-spiffeID",
    "spiffe://example.org/prod-nodes",
    "-selector",
    "aws_iid:tag:env:prod",
  ]);
  assert.is(node.code, 0, node.stderr);
  const e = await wispServer([
    "entry",
    "create",
    "-socketPath",
    c.serverSocket,
    "-parentID",
    "spiffe://example.org/prod-nodes",
    "-spiffeID",
    "spiffe://example.org/db",
    "-selector",
    "unix:uid:1001",
  ]);
  assert.is(e.code, 0, e.stderr);
  const out = join(c.dir, "svid-db");
  await fetchAs(1001, join(c.dir, "agent1", "public", "api.sock"), out);
  const text = await run("openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", join(out, "svid.0.pem")]);
  assert.match(text.stdout, "URI:spiffe://example.org/db");
  const v = await run("openssl", ["verify", "-CAfile", join(out, "bundle.0.pem"), "-untrusted", join(out, "svid.0.pem"), join(out, "svid.0.pem")]);
  assert.is(v.code, 0, v.stderr);
});

test("the same instance cannot attest twice (the agent exits with SPIRE's text, nothing stored) until `agent evict`", async () => {
  const first = agents[0]!;
  await first.stop();
  const dir = join(c.dir, "agent1");
  rmSync(join(dir, "data"), { recursive: true, force: true });
  const a = agentConf(dir, inst.imdsEndpoint);
  const again = new Proc(AGENT_BIN, ["run", "-config", a.conf]);
  agents.push(again);
  const code = await again.waitExit();
  assert.is.not(code, 0);
  assert.match(again.output, "attestation data has already been used to attest an agent");
  const list = await wispServer(["agent", "list", "-socketPath", c.serverSocket, "-output", "json"]);
  const ids = (JSON.parse(list.stdout) as { agents: { id: { trust_domain: string; path: string } }[] }).agents
    .map((a) => `spiffe://${a.id.trust_domain}${a.id.path}`);
  assert.is(ids.filter((id) => id === agentID(inst)).length, 1, `still one node for the instance: ${list.stdout}`);

  const ev = await wispServer(["agent", "evict", "-socketPath", c.serverSocket, "-spiffeID", agentID(inst)]);
  assert.is(ev.code, 0, ev.stderr);
  rmSync(join(dir, "data"), { recursive: true, force: true });
  const back = await startIIDAgent(dir, inst);
  assert.match(back.proc.output, "Node attestation was successful");
  attestMs.push(back.attestMs);
  // The agent serves once synced; its workload SVID is minted right after, so the first fetch may come too early.
  const r = await waitFor("the workload SVID after re-attestation", async () => {
    const got = await wispAgent(["api", "fetch", "x509", "-socketPath", back.socket], { asUser: 1000 });
    return got.code === 0 ? got : undefined;
  });
  assert.is(r.code, 0, r.stderr);
  const sorted = [...attestMs].sort((x, y) => x - y);
  measured.push(
    `aws_iid attestation, agent log "Starting node attestation" to "Node attestation was successful": ${attestMs.join(", ")} ms (median ${
      sorted[Math.floor(sorted.length / 2)]
    } ms)`,
  );
});

test.run();
