/**
 * Open FetchX509SVID streams held by one real wisp-agent, and the time to push one update to all of them.
 * Streams are spread over several connections (nghttp2 guards against rapid resets per connection, and one
 * connection would serialise everything through one socket). The push is triggered with `ca rotate` on the
 * server: it adds a new root to the bundle, the server pushes the bundle to the agent, and every FetchX509SVID
 * stream must then get exactly one new message carrying the new bundle. That is one event, at a known instant,
 * reaching every stream; a short x509SVIDTTL would instead spread rotations over the jittered half-life.
 * Targets: 10,000 streams, push ≤ 1 s, agent peak RSS ≤ 250 MB.
 * The same number of streams is then held by the serveGRPC echo server (own process, same transport), so the memory
 * per stream that is the transport's (grpc-js, HTTP/2) and the agent's own are told apart in the same run.
 * Run: npm run bench -- streams [--streams 10000] [--perConnection 500] [--bundle] [--cpuProf DIR] [--heapSnapshot DIR]
 *      [--nodeOptions "--max-semi-space-size=1"] [--noEcho] [--smoke]
 * --bundle runs the esbuild bundle (the deployed form) instead of the tsx launcher; --cpuProf profiles the agent;
 * --heapSnapshot writes an agent heap snapshot once every stream is open (read it with lib/heap_summary.ts).
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { FETCH_X509_SVID } from "../../src/agent/workload/codec.ts";
import { Flags, log, MB, mb, pidRSSSampler, REPO_ROOT, rssOf, sleep, summarize, verdict, writeResult } from "./lib/bench_env.ts";
import { ECHO_PATH } from "./lib/echo_server.ts";
import { buildBundles } from "./lib/bundle.ts";
import { Admin, agentIDForToken, benchCluster, type Binaries, startAgentWith, startServerWith, TD } from "./lib/cluster.ts";
import { table } from "./lib/measure.ts";
import { BenchWorkloadClient, type StreamHandle } from "./lib/workload_client.ts";

const TARGET_RSS = 250 * MB;
/** Opened in waves so the server's accept/attest path is measured, not the client's burst of HEADERS frames. */
const WAVE = 500;

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
  const heapDir = f.str("heapSnapshot", "");
  // The echo reference adds a process start under tsx: left out of smoke runs, which have a one-minute budget.
  const withEcho = !f.bool("noEcho") && !smoke;
  bins.nodeArgs = [
    ...(prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : []),
    ...(heapDir ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${heapDir}`] : []),
  ];
  if (bins.nodeArgs.length === 0) delete bins.nodeArgs;
  const nodeOptions = f.str("nodeOptions", "");
  if (nodeOptions) bins.env = { NODE_OPTIONS: nodeOptions };
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
    const openSeconds = await openAll(clients, FETCH_X509_SVID, total, streams);
    await sleep(1000);
    const heldRSS = rssOf(pid);
    log(`${total} streams open in ${openSeconds.toFixed(2)} s; agent RSS ${mb(heldRSS)} MB`);
    if (heapDir) {
      const before = new Set(readdirSync(heapDir));
      process.kill(pid, "SIGUSR2");
      let file: string | undefined;
      while (!file) {
        await sleep(200);
        file = readdirSync(heapDir).find((n) => n.endsWith(".heapsnapshot") && !before.has(n));
      }
      // The snapshot is written synchronously by the agent; wait until it has answered a stream again.
      await sleep(2000);
      log(`heap snapshot: ${join(heapDir, file)}`);
    }

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
    for (const s of streams) s.h.cancel();
    for (const cl of clients) cl.close();
    clients.length = 0;
    const echo = withEcho ? await echoStreams(c.dir, total, nConn) : undefined;

    const pushOK = got.length === total && lastMs - (t1 - t0) <= 1000;
    const perStreamKB = (heldRSS - idleRSS) / total / 1024;
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
      ["agent RSS per stream", `${perStreamKB.toFixed(1)} KB`],
      ...(echo
        ? [
          ["echo server RSS idle / with streams", `${mb(echo.idle)} / ${mb(echo.held)} MB`],
          ["echo server RSS per stream (transport)", `${echo.perStreamKB.toFixed(1)} KB`],
        ]
        : []),
    ];
    console.log(table(["measurement", "value"], rows));
    const target = `${verdict(total >= 10_000 && pushOK && peak <= TARGET_RSS)} (streams ${total} ≥ 10,000; push ${
      (lastMs - (t1 - t0)).toFixed(0)
    } ms ≤ 1000; peak RSS ${mb(peak)} ≤ ${mb(TARGET_RSS)} MB)`;
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
      agentPerStreamKB: perStreamKB,
      ...(echo ? { echoIdleRSSBytes: echo.idle, echoHeldRSSBytes: echo.held, echoPerStreamKB: echo.perStreamKB } : {}),
      target,
    });
  } finally {
    for (const s of streams) s.h.cancel();
    for (const cl of clients) cl.close();
    await admin.close();
    await c.cleanup();
  }
}

/** Opens `total` streams over the clients in waves; resolves with the seconds until each had its first message. */
async function openAll(clients: BenchWorkloadClient[], path: string, total: number, into: Stream[]): Promise<number> {
  const openStart = performance.now();
  let firsts = 0;
  for (let i = 0; i < total; i += WAVE) {
    for (let j = i; j < Math.min(total, i + WAVE); j++) {
      const s: Stream = { h: undefined as unknown as StreamHandle, messages: 0, times: [] };
      s.h = clients[j % clients.length]!.open(path, () => {
        s.messages++;
        s.times.push(performance.now());
        if (s.messages === 1) firsts++;
      });
      into.push(s);
    }
    while (firsts < Math.min(total, i + WAVE)) {
      await sleep(5);
      if (performance.now() - openStart > 300_000) throw new Error(`only ${firsts} of ${total} streams got a first message`);
    }
  }
  return (performance.now() - openStart) / 1000;
}

/** The same streams held by the echo server (serveGRPC, a 1.7 KB message each): the transport's RSS per stream. */
async function echoStreams(dir: string, total: number, nConn: number): Promise<{ idle: number; held: number; perStreamKB: number }> {
  const socket = join(dir, "echo", "echo.sock");
  const echo: ChildProcess = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "scripts/bench/lib/echo_server.ts"), socket, "1765"], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const clients: BenchWorkloadClient[] = [];
  const streams: Stream[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: echo.stdout! }).once("line", () => resolve());
      echo.once("exit", (code) => reject(new Error(`echo server exited with code ${code}`)));
    });
    for (let i = 0; i < nConn; i++) clients.push(new BenchWorkloadClient(socket));
    await Promise.all(clients.map((cl) => cl.ready(30_000)));
    await sleep(500);
    const idle = rssOf(echo.pid!);
    await openAll(clients, ECHO_PATH, total, streams);
    await sleep(1000);
    const held = rssOf(echo.pid!);
    log(`echo server: ${total} streams, RSS ${mb(idle)} → ${mb(held)} MB`);
    return { idle, held, perStreamKB: (held - idle) / total / 1024 };
  } finally {
    for (const s of streams) s.h.cancel();
    for (const cl of clients) cl.close();
    echo.kill("SIGTERM");
  }
}

await main();
