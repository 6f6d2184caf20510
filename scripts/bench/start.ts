/**
 * Cold start to ready, against `node -e 0` measured in the same run:
 *  - server: spawn → "Starting Server APIs" (embedded SQLite created, CA minted, listeners up), fresh data dir;
 *    also a restart on the same data dir (CA reused from the journal);
 *  - agent: spawn → first X509-SVID served to a workload (join-token attestation, first sync, SVID minted,
 *    Workload API up, FetchX509SVID answered), with the server already running.
 * Both the tsx launchers in bin/ and esbuild bundles (the deployed form) are measured.
 * Targets: agent ≤ node + 300 ms; server ≤ 1 s.
 * Run: npm run bench -- start [--runs 5] [--smoke]
 * @module
 */
import { spawnSync } from "node:child_process";
import { FETCH_X509_SVID } from "../../src/agent/workload/codec.ts";
import { Flags, log, verdict, writeResult } from "./lib/bench_env.ts";
import { buildBundles } from "./lib/bundle.ts";
import { Admin, AGENT_LAUNCHER, agentIDForToken, benchCluster, Proc, SERVER_LAUNCHER, TD, waitForOutput } from "./lib/cluster.ts";
import { writeBundle } from "../../test/integration/_harness.ts";
import { table } from "./lib/measure.ts";
import { BenchWorkloadClient } from "./lib/workload_client.ts";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function nodeBaseline(): number {
  const t = performance.now();
  spawnSync(process.execPath, ["-e", "0"]);
  return performance.now() - t;
}

async function serverStart(bin: string): Promise<{ cold: number; restart: number }> {
  const c = await benchCluster();
  try {
    const times: number[] = [];
    for (let i = 0; i < 2; i++) {
      const t = performance.now();
      const p = new Proc(bin, ["run", "-config", c.serverConf]);
      await waitForOutput(p, /Starting Server APIs/, 0, 60_000);
      times.push(performance.now() - t);
      await p.stop();
    }
    return { cold: times[0]!, restart: times[1]! };
  } finally {
    await c.cleanup();
  }
}

async function agentStart(serverBin: string, agentBin: string, runs: number): Promise<number[]> {
  const c = await benchCluster();
  const admin = new Admin(c.serverSocket);
  const out: number[] = [];
  try {
    c.server = new Proc(serverBin, ["run", "-config", c.serverConf]);
    await waitForOutput(c.server, /Starting Server APIs/, 0, 60_000);
    // The agents bootstrap securely from the server's bundle, as the test clusters do.
    if (c.bundlePath) await writeBundle(c, c.bundlePath);
    const uid = process.getuid?.() ?? 0;
    for (let i = 0; i < runs; i++) {
      const token = await admin.joinToken();
      await admin.createEntries([{
        spiffeID: `spiffe://${TD}/bench/start/${i}`,
        parentID: agentIDForToken(token),
        selectors: [{ type: "unix", value: `uid:${uid}` }],
      }]);
      const t = performance.now();
      const p = new Proc(agentBin, ["run", "-config", c.agentConf, "-joinToken", token]);
      await waitForOutput(p, /Starting Workload and SDS APIs/, 0, 60_000);
      const cl = new BenchWorkloadClient(c.agentSocket);
      await cl.firstMessage(FETCH_X509_SVID);
      out.push(performance.now() - t);
      cl.close();
      await p.stop();
    }
    return out;
  } finally {
    await admin.close();
    await c.cleanup();
  }
}

async function main(): Promise<void> {
  const f = new Flags();
  const smoke = f.bool("smoke");
  const runs = f.num("runs", smoke ? 1 : 5);
  process.stderr.write(`wisp start benchmark: ${runs} runs each\n`);
  const bundles = await buildBundles();
  const variants = [
    { name: "bin/ (tsx launcher)", server: SERVER_LAUNCHER, agent: AGENT_LAUNCHER },
    { name: "esbuild bundle", server: bundles.server, agent: bundles.agent },
  ];
  const nodeRuns = Array.from({ length: Math.max(5, runs) }, nodeBaseline);
  const node = median(nodeRuns);
  log(`node -e 0: ${node.toFixed(0)} ms`);
  const rows: (string | number)[][] = [["node -e 0", node.toFixed(0), "", "", ""]];
  const results: Record<string, unknown>[] = [];
  for (const v of variants) {
    const cold: number[] = [];
    const restart: number[] = [];
    for (let i = 0; i < runs; i++) {
      const s = await serverStart(v.server);
      cold.push(s.cold);
      restart.push(s.restart);
    }
    const agent = await agentStart(v.server, v.agent, runs);
    const r = {
      variant: v.name,
      serverColdMs: median(cold),
      serverRestartMs: median(restart),
      agentToFirstSVIDMs: median(agent),
      agentAboveNodeMs: median(agent) - node,
      runs: { cold, restart, agent },
    };
    log(`${v.name}: server cold ${r.serverColdMs.toFixed(0)} ms, restart ${r.serverRestartMs.toFixed(0)} ms, agent ${r.agentToFirstSVIDMs.toFixed(0)} ms`);
    rows.push([v.name, "", r.serverColdMs.toFixed(0), r.serverRestartMs.toFixed(0), `${r.agentToFirstSVIDMs.toFixed(0)} (+${r.agentAboveNodeMs.toFixed(0)})`]);
    results.push(r);
  }
  console.log(table(["variant (medians, ms)", "node", "server cold", "server restart", "agent to first SVID (above node)"], rows));
  const targets = results.map((r) => {
    const x = r as { variant: string; serverColdMs: number; agentAboveNodeMs: number };
    return `${x.variant}: server ${verdict(x.serverColdMs <= 1000)} (${x.serverColdMs.toFixed(0)} ≤ 1000 ms), agent ${verdict(x.agentAboveNodeMs <= 300)} (+${
      x.agentAboveNodeMs.toFixed(0)
    } ≤ +300 ms)`;
  });
  console.log(`\ntargets:\n  ${targets.join("\n  ")}`);
  writeResult("start", { smoke, runs, nodeMs: node, nodeRuns, variants: results, targets });
}

await main();
