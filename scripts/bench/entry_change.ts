/**
 * One entry change among many agents: a real wisp-server, N simulated agents (the agent's own ServerClient over
 * mTLS, join-token attested) each holding E entries of its own on the incremental sync stream. Then, repeatedly, one
 * entry of a random agent is updated (its hint changes, so its revision moves) through the admin API, and the
 * benchmark measures:
 *  - the time from the admin call's start to the affected agent's delta;
 *  - the bytes of that delta (the SSE data, the JSON the agent parses) per affected agent;
 *  - how many other agents received anything (must be 0).
 * Target (issue 16): ≤ 2 KB on the wire per affected agent, unaffected agents receive nothing.
 * Run: npm run bench -- entry_change [--agents 1000] [--entries 1000] [--changes 20] [--smoke]
 * @module
 */
import { Flags, log, mb, rssOf, sleep, summarize, verdict, writeResult } from "./lib/bench_env.ts";
import { Admin, agentIDForToken, benchCluster, startServer, TD } from "./lib/cluster.ts";
import { table } from "./lib/measure.ts";
import { pool } from "./lib/pool.ts";
import { SimAgent } from "./lib/sim_agent.ts";

async function main(): Promise<void> {
  const f = new Flags();
  const smoke = f.bool("smoke");
  const agents = f.num("agents", smoke ? 10 : 1000);
  const entries = f.num("entries", smoke ? 10 : 1000);
  const changes = f.num("changes", smoke ? 3 : 20);
  process.stderr.write(`wisp entry_change benchmark: ${agents} agents × ${entries} entries, ${changes} changes\n`);

  const c = await benchCluster();
  const admin = new Admin(c.serverSocket);
  const sims: SimAgent[] = [];
  try {
    const server = await startServer(c);
    const roots = await admin.bundleRoots();
    const tokens: string[] = [];
    for (let i = 0; i < agents; i++) tokens.push(await admin.joinToken());
    const t0 = performance.now();
    const entryIDs: string[][] = [];
    const spec = (i: number, k: number) => ({
      spiffeID: `spiffe://${TD}/bench/change/${i}/${k}`,
      parentID: agentIDForToken(tokens[i]!),
      selectors: [{ type: "unix", value: `uid:${1000 + k}` }],
    });
    const all = await admin.createEntries(Array.from({ length: agents * entries }, (_, n) => spec(Math.floor(n / entries), n % entries)), 5000);
    for (let i = 0; i < agents; i++) entryIDs.push(all.slice(i * entries, (i + 1) * entries));
    log(`${agents * entries} entries created in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const waiting = new Map<number, (t: number) => void>();
    const t1 = performance.now();
    await pool(tokens, 25, async (token, i) => {
      const s = new SimAgent({ port: c.port, roots, trustDomain: TD });
      await s.attest(token);
      s.startSync(() => waiting.get(i)?.(performance.now()), (err) => log(`sync stream ${i} failed: ${String(err)}`));
      sims[i] = s;
    });
    while (sims.some((s) => s.snapshots === 0)) await sleep(50);
    const firstSnapshotBytes = summarize(sims.map((s) => s.syncBytes));
    log(`${agents} agents synced in ${((performance.now() - t1) / 1000).toFixed(1)} s; first snapshot ${(firstSnapshotBytes.p50Ms / 1024).toFixed(0)} KB each`);
    await sleep(1000);

    const latencies: number[] = [];
    const deltaBytes: number[] = [];
    let othersReceived = 0;
    for (let n = 0; n < changes; n++) {
      const target = Math.floor(Math.random() * agents);
      const before = sims.map((s) => ({ msgs: s.snapshots, bytes: s.syncBytes }));
      const got = new Promise<number>((resolve) => waiting.set(target, resolve));
      const k = Math.floor(Math.random() * entries);
      const ts = performance.now();
      await admin.updateEntry(entryIDs[target]![k]!, { ...spec(target, k), hint: `change-${n}` });
      const at = await got;
      waiting.delete(target);
      latencies.push(at - ts);
      // Give any stray push to other agents time to arrive before counting.
      await sleep(300);
      deltaBytes.push(sims[target]!.syncBytes - before[target]!.bytes);
      othersReceived += sims.filter((s, i) => i !== target && s.snapshots !== before[i]!.msgs).length;
    }
    const lat = summarize(latencies);
    const bytes = summarize(deltaBytes);
    const srss = rssOf(server.child.pid!);
    console.log(table(
      ["agents × entries", "change → delta p50 ms", "p99 ms", "bytes per affected agent p50", "max", "other agents that received anything", "server RSS MB"],
      [[`${agents} × ${entries}`, lat.p50Ms, lat.p99Ms, bytes.p50Ms, Math.max(...deltaBytes), othersReceived, mb(srss)]],
    ));
    const ok = Math.max(...deltaBytes) <= 2048 && othersReceived === 0;
    const target = `${verdict(ok)} (≤ 2 KB per affected agent: max ${Math.max(...deltaBytes)} B; unaffected agents receiving: ${othersReceived})`;
    console.log(`\ntarget: ${target}`);
    writeResult("entry_change", {
      smoke,
      agents,
      entries,
      changes,
      latency: lat,
      deltaBytes,
      othersReceived,
      firstSnapshotBytes: firstSnapshotBytes.p50Ms,
      serverRSSBytes: srss,
      target,
    });
  } finally {
    await Promise.all(sims.map((s) => s?.close()));
    await admin.close();
    await c.cleanup();
  }
}

await main();
