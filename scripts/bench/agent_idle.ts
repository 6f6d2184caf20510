/**
 * Agent idle RSS: a synced agent (join token, one workload entry, Workload API up, no client) in its three forms,
 * next to bare `node` and to node with the agent's unavoidable packages (grpc-js and protobuf-es) loaded, all in the
 * same run. The forms: the `npm run build` bundle with its lazy chunks (the deployed form, which the other benchmarks
 * run with --bundle) and the tsx launcher (bin/wisp-agent.mjs from source).
 * Target: the deployed agent ≤ 70 MB (issue 16). RSS is sampled for a few seconds after start-up settles; the median
 * of the samples is reported.
 * Run: npm run bench -- agent_idle [--settle 3000] [--smoke]
 * @module
 */
import { spawn } from "node:child_process";
import { Flags, log, MB, mb, REPO_ROOT, rssOf, sleep, verdict, writeResult } from "./lib/bench_env.ts";
import { buildBundles } from "./lib/bundle.ts";
import { Admin, agentIDForToken, benchCluster, type Cluster, startAgentWith, startServerWith, TD } from "./lib/cluster.ts";
import { table } from "./lib/measure.ts";

const TARGET = 70 * MB;

/** Median RSS of `pid` over `samples` readings 200 ms apart. */
async function settledRSS(pid: number, samples: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < samples; i++) {
    xs.push(rssOf(pid));
    await sleep(200);
  }
  return xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** RSS of a plain node process running `code` and then idling. */
async function nodeRSS(code: string, settleMs: number, samples: number): Promise<number> {
  const p = spawn(process.execPath, ["-e", `${code};setInterval(() => {}, 1 << 30)`], { cwd: REPO_ROOT, stdio: "ignore" });
  try {
    await sleep(settleMs);
    return await settledRSS(p.pid!, samples);
  } finally {
    p.kill("SIGKILL");
  }
}

async function agentRSS(c: Cluster, admin: Admin, bin: string | undefined, settleMs: number, samples: number): Promise<number> {
  const token = await admin.joinToken();
  const uid = process.getuid?.() ?? 0;
  await admin.createEntries([{
    spiffeID: `spiffe://${TD}/bench/idle/${token}`,
    parentID: agentIDForToken(token),
    selectors: [{ type: "unix", value: `uid:${uid}` }],
  }]);
  const agent = await startAgentWith(c, token, bin ? { agent: bin } : { env: { WISP_FROM_SOURCE: "1" } });
  try {
    await sleep(settleMs);
    return await settledRSS(agent.child.pid!, samples);
  } finally {
    await agent.stop();
    delete c.agent;
  }
}

async function main(): Promise<void> {
  const f = new Flags();
  const smoke = f.bool("smoke");
  const settleMs = f.num("settle", smoke ? 500 : 3000);
  const samples = smoke ? 3 : 15;
  process.stderr.write(`wisp agent_idle benchmark: settle ${settleMs} ms, ${samples} samples\n`);
  const bundles = await buildBundles();
  const c = await benchCluster();
  const admin = new Admin(c.serverSocket);
  try {
    await startServerWith(c, { server: bundles.server });
    const bare = await nodeRSS("0", settleMs, samples);
    // Smoke: the deployed agent and bare node only (the tsx launcher alone takes seconds to start on a loaded machine).
    const libs = smoke ? 0 : await nodeRSS('require("@grpc/grpc-js"); require("@bufbuild/protobuf")', settleMs, samples);
    const rows: Array<[string, number]> = [["node -e (bare)", bare], ...(smoke ? [] : [["node + grpc-js + protobuf-es", libs] as [string, number]])];
    const forms: Array<[string, string | undefined]> = [
      ["agent, npm run build bundle (deployed)", bundles.agent],
      ...(smoke ? [] : [["agent, tsx launcher (bin/)", undefined] as [string, string | undefined]]),
    ];
    const agents: Record<string, number> = {};
    for (const [name, bin] of forms) {
      agents[name] = await agentRSS(c, admin, bin, settleMs, samples);
      rows.push([name, agents[name]]);
      log(`${name}: ${mb(agents[name])} MB`);
    }
    console.log(table(["process (idle)", "RSS MB", "over bare node MB"], rows.map(([n, r]) => [n, mb(r), mb(r - bare)])));
    const deployed = agents[forms[0]![0]]!;
    const target = `${verdict(deployed <= TARGET)} (deployed agent ${mb(deployed)} MB ≤ ${mb(TARGET)} MB; bare node ${mb(bare)} MB)`;
    console.log(`\ntarget: ${target}`);
    writeResult("agent_idle", {
      smoke,
      settleMs,
      samples,
      bareNodeRSSBytes: bare,
      nodeWithLibsRSSBytes: libs,
      agentDeployedRSSBytes: deployed,
      ...(smoke ? {} : { agentTsxRSSBytes: agents[forms[1]![0]] }),
      target,
    });
  } finally {
    await admin.close();
    await c.cleanup();
  }
}

await main();
