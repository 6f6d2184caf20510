/**
 * Entry propagation: time from an admin "entry create" to the SVID arriving, with 1 and 1,000 simulated agents
 * connected to a real wisp-server (in-process agents speaking the real agent API: join-token attestation, SSE
 * sync stream, batch signing). Two paths are timed in the same run:
 *  - real agent: a wisp-agent process is also connected; the entry names it as parent and a workload holding a
 *    FetchX509SVID stream on it is timed until a message carries the new SPIFFE ID (the end-to-end path);
 *  - simulated agent: the entry names a random simulated agent, timed until that agent's batch-sign answer.
 * Target: p99 ≤ 1 s at 1,000 agents.
 * Run: npm run bench -- propagate [--agents 1,1000] [--iterations 40] [--smoke]
 * @module
 */
import { FETCH_X509_SVID } from "../../src/agent/workload/codec.ts";
import { cpuSecondsOf, Flags, type LatencySummary, log, mb, rssOf, sleep, summarize, verdict, writeResult } from "./lib/bench_env.ts";
import { Admin, agentIDForToken, benchCluster, startAgent, startServer, TD } from "./lib/cluster.ts";
import { table } from "./lib/measure.ts";
import { pool } from "./lib/pool.ts";
import { SimAgent } from "./lib/sim_agent.ts";
import { BenchWorkloadClient, svidIDs } from "./lib/workload_client.ts";

async function main(): Promise<void> {
  const f = new Flags();
  const smoke = f.bool("smoke");
  const levels = f.list("agents", smoke ? [1, 20] : [1, 1000]);
  const iterations = f.num("iterations", smoke ? 5 : 40);
  process.stderr.write(`wisp propagate benchmark: ${levels.join(",")} simulated agents, ${iterations} entries per path\n`);

  const c = await benchCluster();
  const admin = new Admin(c.serverSocket);
  const sims: SimAgent[] = [];
  const clients: BenchWorkloadClient[] = [];
  try {
    const server = await startServer(c);
    const serverPid = server.child.pid!;
    const token = await admin.joinToken();
    const realAgentID = agentIDForToken(token);
    const uid = process.getuid?.() ?? 0;
    await admin.createEntries([{ spiffeID: `spiffe://${TD}/bench/base`, parentID: realAgentID, selectors: [{ type: "unix", value: `uid:${uid}` }] }]);
    await startAgent(c, token);
    const roots = await admin.bundleRoots();

    // Simulated agents: on each snapshot, batch-sign entries not seen before and report when their SVIDs arrive.
    const waiting = new Map<string, (t: number) => void>();
    const addSim = async () => {
      const s = new SimAgent({ port: c.port, roots, trustDomain: TD });
      await s.attest(await admin.joinToken());
      const seen = new Set<string>();
      s.startSync(async (m) => {
        const fresh = (m.kind === "snapshot" ? m.body.entries : m.body.upserts).filter((e) => !seen.has(e.id)).map((e) => e.id);
        for (const id of fresh) seen.add(id);
        if (fresh.length === 0) return;
        const res = await s.batchSign(fresh);
        const t = performance.now();
        for (const r of res) if (r.svid) waiting.get(r.entryID)?.(t);
      }, (err) => log(`sync stream of ${s.id} failed: ${String(err)}`));
      sims.push(s);
    };

    // The workload on the real agent.
    const wl = new BenchWorkloadClient(c.agentSocket);
    clients.push(wl);
    const wanted = new Map<string, (t: number) => void>();
    wl.open(FETCH_X509_SVID, (m) => {
      const t = performance.now();
      for (const id of svidIDs(m)) wanted.get(id)?.(t);
    });

    const results: Record<string, unknown>[] = [];
    const rows: (string | number)[][] = [];
    let serial = 0;
    for (const n of levels) {
      const t = performance.now();
      await pool(Array.from({ length: n - sims.length }), 25, addSim);
      while (sims.some((s) => s.snapshots === 0)) await sleep(20);
      log(`${sims.length} simulated agents attested and syncing (${((performance.now() - t) / 1000).toFixed(1)} s)`);
      await sleep(500);
      const cpu0 = cpuSecondsOf(serverPid);
      const w0 = performance.now();
      const realLat: number[] = [];
      const simLat: number[] = [];
      for (let i = 0; i < iterations; i++) {
        // Real agent path.
        const sid = `spiffe://${TD}/bench/prop/${++serial}`;
        const got = new Promise<number>((resolve) => wanted.set(sid, resolve));
        const t0 = performance.now();
        const [id] = await admin.createEntries([{ spiffeID: sid, parentID: realAgentID, selectors: [{ type: "unix", value: `uid:${uid}` }] }]);
        realLat.push((await withTimeout(got, 30_000, sid)) - t0);
        wanted.delete(sid);
        // Simulated agent path.
        const target = sims[Math.floor(Math.random() * sims.length)]!;
        const sid2 = `spiffe://${TD}/bench/prop/${++serial}`;
        let resolveSim!: (t: number) => void;
        const got2 = new Promise<number>((r) => (resolveSim = r));
        const t1 = performance.now();
        const [id2] = await admin.createEntries([{ spiffeID: sid2, parentID: target.id, selectors: [{ type: "unix", value: "uid:4242" }] }]);
        waiting.set(id2!, resolveSim);
        simLat.push((await withTimeout(got2, 30_000, sid2)) - t1);
        waiting.delete(id2!);
        void id;
      }
      const wall = (performance.now() - w0) / 1000;
      const cpu = (cpuSecondsOf(serverPid) - cpu0) / wall;
      const real = summarize(realLat);
      const sim = summarize(simLat);
      const srss = rssOf(serverPid);
      log(`${n} agents: real p50 ${real.p50Ms.toFixed(0)} p99 ${real.p99Ms.toFixed(0)} ms; sim p50 ${sim.p50Ms.toFixed(0)} p99 ${sim.p99Ms.toFixed(0)} ms`);
      rows.push([`${n} sim agents + 1 real`, real.p50Ms, real.p99Ms, sim.p50Ms, sim.p99Ms, cpu, mb(srss)]);
      results.push({ simulatedAgents: n, realAgentPath: real, simulatedAgentPath: sim, serverCPUCores: cpu, serverRSSBytes: srss });
    }
    console.log(table(["level", "real p50 ms", "real p99 ms", "sim p50 ms", "sim p99 ms", "server cores", "server RSS MB"], rows));
    const top = results.find((r) => r.simulatedAgents === 1000) as { realAgentPath: LatencySummary; simulatedAgentPath: LatencySummary } | undefined;
    const worst = top ? Math.max(top.realAgentPath.p99Ms, top.simulatedAgentPath.p99Ms) : undefined;
    const target = worst === undefined ? "n/a (no 1,000-agent level)" : `${verdict(worst <= 1000)} (p99 ${worst.toFixed(0)} ms at 1,000 agents, target ≤ 1000)`;
    console.log(`\ntarget: ${target}`);
    writeResult("propagate", { smoke, iterations, levels: results, target });
  } finally {
    for (const cl of clients) cl.close();
    await Promise.all(sims.map((s) => s.close()));
    await admin.close();
    await c.cleanup();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout>;
  return Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)))]).finally(() =>
    clearTimeout(t)
  );
}

await main();
