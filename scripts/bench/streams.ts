/**
 * Open FetchX509SVID streams held by one real wisp-agent, and the time to push one update to all of them.
 * Streams are spread over several connections (nghttp2 guards against rapid resets per connection, and one
 * connection would serialise everything through one socket). The push is triggered with `ca rotate` on the
 * server: it adds a new root to the bundle, the server pushes the bundle to the agent, and every FetchX509SVID
 * stream must then get exactly one new message carrying the new bundle. That is one event, at a known instant,
 * reaching every stream; a short x509SVIDTTL would instead spread rotations over the jittered half-life.
 * Targets: 10,000 streams, push ≤ 1 s, agent RSS ≤ 300 MB.
 * Run: npm run bench -- streams [--streams 10000] [--perConnection 500] [--bundle] [--cpuProf DIR] [--smoke]
 * --bundle runs the esbuild bundle (the deployed form) instead of the tsx launcher; --cpuProf profiles the agent.
 * @module
 */
import { FETCH_X509_SVID } from "../../src/agent/workload/codec.ts";
import { Flags, log, MB, mb, pidRSSSampler, rssOf, sleep, summarize, verdict, writeResult } from "./lib/bench_env.ts";
import { buildBundles } from "./lib/bundle.ts";
import { Admin, agentIDForToken, benchCluster, type Binaries, startAgentWith, startServerWith, TD } from "./lib/cluster.ts";
import { table } from "./lib/measure.ts";
import { BenchWorkloadClient, type StreamHandle } from "./lib/workload_client.ts";

interface Stream {
  h: StreamHandle;
  messages: number;
  times: number[];
}

async function main(): Promise<void> {
  const f = new Flags();
  const smoke = f.bool("smoke");
  const total = f.num("streams", smoke ? 200 : 10_000);
  const perConn = f.num("perConnection", smoke ? 50 : 500);
  process.stderr.write(`wisp streams benchmark: ${total} streams, ${perConn} per connection\n`);

  const bins: Binaries = f.bool("bundle") ? await buildBundles() : {};
  const prof = f.str("cpuProf", "");
  if (prof) bins.nodeArgs = ["--cpu-prof", `--cpu-prof-dir=${prof}`];
  const c = await benchCluster();
  const admin = new Admin(c.serverSocket);
  const clients: BenchWorkloadClient[] = [];
  const streams: Stream[] = [];
  try {
    await startServerWith(c, { ...(bins.server ? { server: bins.server } : {}), env: {} });
    const token = await admin.joinToken();
    const uid = process.getuid?.() ?? 0;
    await admin.createEntries([{
      spiffeID: `spiffe://${TD}/bench/streams`,
      parentID: agentIDForToken(token),
      selectors: [{ type: "unix", value: `uid:${uid}` }],
    }]);
    const agent = await startAgentWith(c, token, bins);
    const pid = agent.child.pid!;
    const rss = pidRSSSampler(pid);
    const idleRSS = rssOf(pid);

    const nConn = Math.ceil(total / perConn);
    for (let i = 0; i < nConn; i++) clients.push(new BenchWorkloadClient(c.agentSocket));
    await Promise.all(clients.map((cl) => cl.ready(30_000)));
    const openStart = performance.now();
    let firsts = 0;
    // Opened in waves so the agent's accept/attest path is measured, not the client's burst of HEADERS frames.
    const wave = 500;
    for (let i = 0; i < total; i += wave) {
      for (let j = i; j < Math.min(total, i + wave); j++) {
        const s: Stream = { h: undefined as unknown as StreamHandle, messages: 0, times: [] };
        s.h = clients[j % nConn]!.open(FETCH_X509_SVID, () => {
          s.messages++;
          s.times.push(performance.now());
          if (s.messages === 1) firsts++;
        });
        streams.push(s);
      }
      while (firsts < Math.min(total, i + wave)) {
        await sleep(5);
        if (performance.now() - openStart > 300_000) throw new Error(`only ${firsts} of ${total} streams got a first message`);
      }
    }
    const openSeconds = (performance.now() - openStart) / 1000;
    await sleep(1000);
    const heldRSS = rssOf(pid);
    log(`${total} streams open in ${openSeconds.toFixed(2)} s; agent RSS ${mb(heldRSS)} MB`);

    const t0 = performance.now();
    await admin.rotateCA();
    const t1 = performance.now();
    const deadline = t1 + 60_000;
    while (streams.some((s) => s.messages < 2) && performance.now() < deadline) await sleep(5);
    const got = streams.filter((s) => s.messages >= 2);
    const arrivals = got.map((s) => s.times[1]!);
    await sleep(2000); // anything further would be an extra push per stream
    const extra = streams.reduce((n, s) => n + Math.max(0, s.messages - 2), 0);
    const lastMs = arrivals.length ? Math.max(...arrivals) - t0 : NaN;
    const firstMs = arrivals.length ? Math.min(...arrivals) - t0 : NaN;
    const perStream = summarize(arrivals.map((a) => a - t0));
    const { peak } = rss.stop();

    const pushOK = got.length === total && lastMs - (t1 - t0) <= 1000;
    const rows = [
      ["streams held", `${total} over ${nConn} connections`],
      ["time to open all (waves of 500)", `${openSeconds.toFixed(2)} s`],
      ["ca rotate call (prepare + activate)", `${(t1 - t0).toFixed(0)} ms`],
      ["streams updated", `${got.length} / ${total}`],
      ["first stream updated (from rotate call)", `${firstMs.toFixed(0)} ms`],
      ["p50 / p99 stream updated", `${perStream.p50Ms.toFixed(0)} / ${perStream.p99Ms.toFixed(0)} ms`],
      ["last stream updated (from rotate call)", `${lastMs.toFixed(0)} ms`],
      ["push to all after the rotate answered", `${(lastMs - (t1 - t0)).toFixed(0)} ms`],
      ["extra messages after the push", String(extra)],
      ["agent RSS idle / with streams / peak", `${mb(idleRSS)} / ${mb(heldRSS)} / ${mb(peak)} MB`],
    ];
    console.log(table(["measurement", "value"], rows));
    const target = `${verdict(total >= 10_000 && pushOK && peak <= 300 * MB)} (streams ${total} ≥ 10,000; push ${
      (lastMs - (t1 - t0)).toFixed(0)
    } ms ≤ 1000; RSS ${mb(peak)} ≤ 300 MB)`;
    console.log(`\ntarget: ${target}`);
    writeResult(bins.agent ? "streams_bundle" : "streams", {
      smoke,
      agentBinary: bins.agent ?? "bin/wisp-agent.mjs (tsx)",
      streams: total,
      connections: nConn,
      openSeconds,
      rotateCallMs: t1 - t0,
      updated: got.length,
      firstUpdateMs: firstMs,
      lastUpdateMs: lastMs,
      pushAfterRotateMs: lastMs - (t1 - t0),
      perStream,
      extraMessages: extra,
      agentIdleRSSBytes: idleRSS,
      agentHeldRSSBytes: heldRSS,
      agentPeakRSSBytes: peak,
      target,
    });
  } finally {
    for (const s of streams) s.h.cancel();
    for (const cl of clients) cl.close();
    await admin.close();
    await c.cleanup();
  }
}

await main();
