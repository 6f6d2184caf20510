/**
 * One agent receiving 1k, 10k and 100k entries from a real wisp-server: time, bytes on the wire, agent RSS.
 * Entries are parented to a node alias the agent is mapped to (the join token's alias entry), so one set of
 * entries serves every agent started for a size. Two receivers per size:
 *  - wire: an in-process client with a real agent SVID opens /agent/v1/sync and reads the first snapshot raw
 *    (time to first byte = the server's snapshot computation; bytes = what the agent downloads);
 *  - agent: a real wisp-agent process; time from spawn to "Applied sync snapshot", its RSS then, and (up to
 *    --readyUpTo entries) the time until it serves the Workload API, which waits for an SVID per entry.
 * Reference: SPIRE's 4 MB gRPC message limit ≈ 17k entries (spire #2675/#2845). Target: 100k entries ≤ 5 s.
 * Run: npm run bench -- sync [--sizes 1000,10000,100000] [--readyUpTo 10000] [--infoLog] [--bundle] [--smoke]
 * --infoLog runs the agent at INFO (as deployed): the per-entry DEBUG lines cost time at 10k+ entries, but then the
 * "applied" time is not logged and only serving and first-SVID times are measured.
 * @module
 */
import { readSSE } from "../../src/core/sse.ts";
import { nodeServerConnector } from "../../src/runtime/node/server_connector.ts";
import { Flags, log, mb, rssOf, verdict, writeResult } from "./lib/bench_env.ts";
import { buildBundles } from "./lib/bundle.ts";
import { Admin, benchCluster, type Binaries, type Cluster, startAgentWith, startServerWith, TD, waitForOutput } from "./lib/cluster.ts";
import { table } from "./lib/measure.ts";
import { SimAgent } from "./lib/sim_agent.ts";
import { BenchWorkloadClient } from "./lib/workload_client.ts";

const NODE_ALIAS = `spiffe://${TD}/bench/node`;
const SPIRE_LIMIT_BYTES = 4 * 1024 * 1024;

/** Opens the sync stream with the agent's credentials and reads the first snapshot, counting raw bytes. */
async function wireSync(c: Cluster, roots: Uint8Array[], sim: SimAgent): Promise<{ ttfbMs: number; totalMs: number; bytes: number; entries: number }> {
  const conn = nodeServerConnector.connect({ address: "127.0.0.1", port: c.port, roots, serverID: `spiffe://${TD}/spire/server`, client: sim.credentials });
  const ctl = new AbortController();
  try {
    const t0 = performance.now();
    const res = await conn.fetch("/agent/v1/sync", { signal: ctl.signal, headers: { accept: "text/event-stream" } });
    if (!res.ok || !res.body) throw new Error(`sync answered ${res.status}`);
    let bytes = 0;
    let ttfb = 0;
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctrl) {
          if (bytes === 0) ttfb = performance.now() - t0;
          bytes += chunk.length;
          ctrl.enqueue(chunk);
        },
      }),
    );
    for await (const ev of readSSE(counted)) {
      if (ev.event !== "snapshot") continue;
      const snap = JSON.parse(ev.data) as { entries: unknown[] };
      return { ttfbMs: ttfb, totalMs: performance.now() - t0, bytes, entries: snap.entries.length };
    }
    throw new Error("sync stream ended without a snapshot");
  } finally {
    ctl.abort();
    await conn.close().catch(() => {});
  }
}

async function main(): Promise<void> {
  const f = new Flags();
  const smoke = f.bool("smoke");
  const sizes = f.list("sizes", smoke ? [100, 500] : [1000, 10_000, 100_000]);
  const readyUpTo = f.num("readyUpTo", smoke ? 500 : 10_000);
  // The agent as deployed logs at INFO: no per-entry DEBUG lines, so no "Applied sync snapshot" time either.
  const infoLog = f.bool("infoLog");
  process.stderr.write(`wisp sync benchmark: ${sizes.join(",")} entries${infoLog ? ", agent at INFO" : ""}\n`);

  // --bundle: the esbuild bundles (the deployed form) instead of the tsx launchers.
  const bins: Binaries = f.bool("bundle") ? await buildBundles() : {};
  const c = await benchCluster({ agentLogLevel: infoLog ? "INFO" : "DEBUG" });
  const admin = new Admin(c.serverSocket);
  try {
    const server = await startServerWith(c, { ...(bins.server ? { server: bins.server } : {}), env: {} });
    const roots = await admin.bundleRoots();
    const rows: (string | number)[][] = [];
    const results: Record<string, unknown>[] = [];
    let have = 0;
    /** The benchmark's own workload entries, one per size so far. */
    let mine = 0;
    for (const n of sizes) {
      const tc = performance.now();
      const add = Array.from({ length: n - have }, (_, k) => ({
        spiffeID: `spiffe://${TD}/bench/sync/${have + k}`,
        parentID: NODE_ALIAS,
        selectors: [{ type: "unix", value: `uid:${20000 + ((have + k) % 1000)}` }],
      }));
      await admin.createEntries(add);
      // The workload this benchmark runs as: its entry comes last, so with 10k entries it is beyond the agent's SVID
      // cache (1,000) and is minted when the workload asks.
      await admin.createEntries([{
        spiffeID: `spiffe://${TD}/bench/sync/me/${n}`,
        parentID: NODE_ALIAS,
        selectors: [{ type: "unix", value: `uid:${process.getuid?.() ?? 0}` }],
      }]);
      have = n;
      mine++;
      log(`${n} entries in the store (+${add.length} in ${((performance.now() - tc) / 1000).toFixed(1)} s)`);

      const sim = new SimAgent({ port: c.port, roots, trustDomain: TD });
      await sim.attest(await admin.joinToken(3600, NODE_ALIAS));
      const wires = [];
      for (let i = 0; i < (n >= 50_000 ? 1 : 3); i++) wires.push(await wireSync(c, roots, sim));
      await sim.close();
      const wire = wires.sort((a, b) => a.totalMs - b.totalMs)[Math.floor(wires.length / 2)]!; // median
      if (wire.entries < n) throw new Error(`snapshot had ${wire.entries} entries, expected ≥ ${n}`);
      log(`wire: ${wire.totalMs.toFixed(0)} ms (first byte ${wire.ttfbMs.toFixed(0)} ms), ${mb(wire.bytes)} MB`);

      const token = await admin.joinToken(3600, NODE_ALIAS);
      const t0 = performance.now();
      const agentProc = startAgentWith(c, token, { ...bins, env: {} }).catch((err: unknown) => err as Error);
      await new Promise((r) => setTimeout(r, 10));
      const agent = c.agent!;
      let appliedMs: number | undefined;
      let appliedRSS = 0;
      let readyMs: number | undefined;
      let firstSVIDMs: number | undefined;
      let agentError: string | undefined;
      try {
        // n entries, one workload entry per size so far, and the join token's alias entry.
        if (!infoLog) {
          await waitForOutput(agent, new RegExp(`Applied sync snapshot.*count=${n + mine + 1}\\b`), 0, 300_000);
          appliedMs = performance.now() - t0;
          appliedRSS = rssOf(agent.child.pid!);
        }
        if (infoLog || n <= readyUpTo) {
          const r = await agentProc;
          if (r instanceof Error) throw r;
          readyMs = performance.now() - t0;
          const wl = new BenchWorkloadClient(c.agentSocket);
          try {
            await wl.firstMessage();
            firstSVIDMs = performance.now() - t0;
            if (infoLog) appliedRSS = rssOf(agent.child.pid!);
          } finally {
            wl.close();
          }
        }
      } catch (err) {
        // A real agent that gives up is a result, not a benchmark failure.
        agentError = (agent.output.match(/msg="Agent crashed" error="([^"]*)"/)?.[1]) ?? String(err).split("\n")[0];
        log(`agent failed after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${agentError}`);
      }
      const peakRSS = rssOf(agent.child.pid!);
      await agent.stop();
      if (appliedMs !== undefined || firstSVIDMs !== undefined) {
        log(
          `agent: snapshot applied ${appliedMs?.toFixed(0) ?? "(not logged at INFO)"} ms after spawn (RSS ${mb(appliedRSS)} MB)${
            readyMs ? `, serving after ${readyMs.toFixed(0)} ms, first workload SVID after ${firstSVIDMs?.toFixed(0)} ms` : ""
          }`,
        );
      }
      const bytesPerEntry = wire.bytes / wire.entries;
      rows.push([
        `${n.toLocaleString("en-US")} entries`,
        wire.ttfbMs,
        wire.totalMs,
        mb(wire.bytes),
        bytesPerEntry,
        appliedMs === undefined ? (agentError ? `failed: ${agentError}` : "not logged") : appliedMs.toFixed(0),
        appliedMs === undefined && firstSVIDMs === undefined ? "" : mb(appliedRSS),
        readyMs === undefined ? (agentError ? "" : "not waited") : readyMs.toFixed(0),
        firstSVIDMs === undefined ? "" : firstSVIDMs.toFixed(0),
        mb(peakRSS),
        mb(rssOf(server.child.pid!)),
      ]);
      results.push({
        entries: n,
        wire,
        wireRuns: wires,
        bytesPerEntry,
        agentAppliedMs: appliedMs ?? null,
        agentError: agentError ?? null,
        agentAppliedRSSBytes: appliedRSS,
        agentServingMs: readyMs ?? null,
        agentFirstWorkloadSVIDMs: firstSVIDMs ?? null,
        agentPeakRSSBytes: peakRSS,
        serverRSSBytes: rssOf(server.child.pid!),
      });
    }
    console.log(
      table([
        "size",
        "first byte ms",
        "wire total ms",
        "wire MB",
        "bytes/entry",
        "agent applied ms",
        "agent RSS MB",
        "agent serving ms",
        "first workload SVID ms",
        "agent RSS after MB",
        "server RSS MB",
      ], rows),
    );
    const biggest = results[results.length - 1] as {
      bytesPerEntry: number;
      entries: number;
      wire: { totalMs: number };
      agentAppliedMs: number | null;
      agentError: string | null;
    };
    const fitIn4MB = Math.floor(SPIRE_LIMIT_BYTES / biggest.bytesPerEntry);
    console.log(
      `\nreference: SPIRE's 4 MB gRPC limit ≈ 17,000 entries of ~235-400 B; at wisp's ${biggest.bytesPerEntry.toFixed(0)} B/entry (JSON), 4 MB would hold ${
        fitIn4MB.toLocaleString("en-US")
      } — wisp streams one SSE event with no size limit`,
    );
    // Issue 16: spawn → first workload SVID ≤ 1 s at 10k entries and ≤ 2 s at 100k, agent RSS ≤ 200 MB.
    const goal = (size: number, ms: number) => {
      const r = results.find((x) => x.entries === size) as { agentFirstWorkloadSVIDMs: number | null; agentPeakRSSBytes: number } | undefined;
      if (!r) return undefined;
      const svid = r.agentFirstWorkloadSVIDMs;
      const ok = svid !== null && svid <= ms && r.agentPeakRSSBytes <= 200 * 1024 * 1024;
      return `${verdict(ok)} (${size / 1000}k: first SVID ${svid === null ? "none" : `${svid.toFixed(0)} ms`} ≤ ${ms}, RSS ${
        mb(r.agentPeakRSSBytes)
      } MB ≤ 200)`;
    };
    const target = [goal(10_000, 1000), goal(100_000, 2000)].filter((x) => x !== undefined).join("; ") || "n/a (no 10k or 100k size)";
    console.log(`target: ${target}`);
    writeResult("sync", { smoke, sizes: results, spireLimitBytes: SPIRE_LIMIT_BYTES, entriesIn4MB: fitIn4MB, target });
  } finally {
    await admin.close();
    await c.cleanup();
  }
}

await main();
