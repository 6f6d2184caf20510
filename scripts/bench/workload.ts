/**
 * Workload API first-response latency: FetchX509SVID (open stream → first message) from 1, 100 and 1,000 concurrent
 * clients against a real wisp-agent with a warm cache, and the same clients against a trivial serveGRPC echo server
 * (own process, same socket transport and peer-credential work) in the same run. Target: p99 ≤ 1.3× echo p99 at 100 (issue 16).
 * A second echo server with the HTTP/2 frame guard (on for agents on Deno) gives the guard's cost for good clients.
 * `--runtime deno` runs the agent and both echo servers on Deno.
 * Run: npm run bench -- workload [--clients 1,100,1000] [--calls N total per level] [--runtime node|deno] [--smoke]
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { FETCH_X509_SVID } from "../../src/agent/workload/codec.ts";
import { cpuSecondsOf, Flags, type LatencySummary, log, mb, pidRSSSampler, REPO_ROOT, summarize, verdict, writeResult } from "./lib/bench_env.ts";
import { Admin, agentIDForToken, benchCluster, startAgent, startServer, TD } from "./lib/cluster.ts";
import { DENO } from "../../test/integration/_harness.ts";
import { ECHO_PATH } from "./lib/echo_server.ts";
import { table } from "./lib/measure.ts";
import { BenchWorkloadClient } from "./lib/workload_client.ts";

/** nghttp2 answers GOAWAY after ~1000 client-cancelled streams on one connection; stay well below. */
const MAX_CALLS_PER_CONNECTION = 400;
const P99_RATIO_TARGET = 1.3;

async function level(socket: string, path: string, clients: number, total: number, onWarm?: () => void): Promise<LatencySummary> {
  const perClient = Math.min(MAX_CALLS_PER_CONNECTION, Math.max(3, Math.ceil(total / clients)));
  const cs = Array.from({ length: clients }, () => new BenchWorkloadClient(socket));
  try {
    await Promise.all(cs.map((c) => c.ready(30_000)));
    await Promise.all(cs.map((c) => c.firstMessage(path)));
    onWarm?.();
    const lat: number[] = [];
    await Promise.all(cs.map(async (c) => {
      for (let i = 0; i < perClient; i++) lat.push((await c.firstMessage(path)).ms);
    }));
    return summarize(lat);
  } finally {
    for (const c of cs) c.close();
  }
}

async function main(): Promise<void> {
  const f = new Flags();
  const smoke = f.bool("smoke");
  const levels = f.list("clients", smoke ? [1, 10] : [1, 100, 1000]);
  const total = f.num("calls", smoke ? 30 : 3000);
  const runtime = f.str("runtime", "node");
  if (runtime !== "node" && runtime !== "deno") throw new Error(`--runtime must be node or deno, not "${runtime}"`);
  process.stderr.write(`wisp workload benchmark: clients ${levels.join(",")}, ~${total} calls per level, ${runtime}\n`);

  const c = await benchCluster();
  const admin = new Admin(c.serverSocket);
  const echoes: ChildProcess[] = [];
  try {
    await startServer(c);
    const token = await admin.joinToken();
    const uid = process.getuid?.() ?? 0;
    await admin.createEntries([{
      spiffeID: `spiffe://${TD}/bench/workload`,
      parentID: agentIDForToken(token),
      selectors: [{ type: "unix", value: `uid:${uid}` }],
    }]);
    const agent = await startAgent(c, token, { runtime });
    const probe = new BenchWorkloadClient(c.agentSocket);
    const { bytes } = await probe.firstMessage(FETCH_X509_SVID);
    probe.close();
    log(`agent pid ${agent.child.pid}, X509SVIDResponse ${bytes} bytes`);

    const startEcho = async (name: string, guard: boolean): Promise<string> => {
      const socket = join(c.dir, name, "echo.sock");
      const script = join(REPO_ROOT, "scripts/bench/lib/echo_server.ts");
      const args = [socket, String(bytes), ...(guard ? ["guard"] : [])];
      const echo = runtime === "deno"
        ? spawn(DENO, ["run", "-A", script, ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] })
        : spawn(process.execPath, ["--import", "tsx", script, ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
      echoes.push(echo);
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: echo.stdout! }).once("line", () => resolve());
        echo.once("exit", (code) => reject(new Error(`echo server exited with code ${code}`)));
      });
      return socket;
    };
    const echoSocket = await startEcho("echo", false);
    // The agent puts the frame guard in front of HTTP/2 on Deno only, so its cost is measured there; on Node the
    // wrapper hides the socket id grpc-js reports as the call's peer, which the Node agent never needs.
    const guardSocket = runtime === "deno" ? await startEcho("echo-guard", true) : undefined;

    const rows: (string | number)[][] = [];
    const results: Record<string, unknown>[] = [];
    const rss = pidRSSSampler(agent.child.pid!);
    const idleRSS = rss.peak();
    for (const n of levels) {
      const cpu0 = cpuSecondsOf(agent.child.pid!);
      const a = await level(c.agentSocket, FETCH_X509_SVID, n, total);
      const agentCPUmsPerCall = ((cpuSecondsOf(agent.child.pid!) - cpu0) * 1000) / a.n;
      const agentPeak = rss.peak();
      const e = await level(echoSocket, ECHO_PATH, n, total);
      const g = guardSocket ? await level(guardSocket, ECHO_PATH, n, total) : undefined;
      const ratio = e.p99Ms > 0 ? a.p99Ms / e.p99Ms : 0;
      const guardP50 = g && e.p50Ms > 0 ? g.p50Ms / e.p50Ms : 0;
      log(
        `${n} clients: agent p50 ${a.p50Ms.toFixed(2)} p99 ${a.p99Ms.toFixed(2)} ms; echo p50 ${e.p50Ms.toFixed(2)} p99 ${e.p99Ms.toFixed(2)} ms${
          g ? `; echo+guard p50 ${g.p50Ms.toFixed(2)} p99 ${g.p99Ms.toFixed(2)} ms` : ""
        }`,
      );
      rows.push([
        `${n} clients`,
        String(a.n),
        a.p50Ms,
        a.p99Ms,
        e.p50Ms,
        e.p99Ms,
        g ? g.p50Ms : "n/a",
        g ? g.p99Ms : "n/a",
        ratio,
        g ? guardP50 : "n/a",
        agentCPUmsPerCall.toFixed(3),
        mb(agentPeak),
      ]);
      results.push({
        clients: n,
        agent: a,
        echo: e,
        ...(g ? { echoGuard: g, guardP50Ratio: guardP50 } : {}),
        p99Ratio: ratio,
        agentCPUmsPerCall,
        agentPeakRSSBytes: agentPeak,
      });
    }
    const { peak } = rss.stop();
    console.log(
      table([
        "level",
        "calls",
        "agent p50 ms",
        "agent p99 ms",
        "echo p50 ms",
        "echo p99 ms",
        "echo+guard p50 ms",
        "echo+guard p99 ms",
        "p99 agent/echo",
        "p50 guard/echo",
        "agent CPU ms/call",
        "agent RSS MB",
      ], rows),
    );
    const at100 = results.find((r) => r.clients === 100) as { p99Ratio: number } | undefined;
    const target = at100
      ? `${verdict(at100.p99Ratio <= P99_RATIO_TARGET)} (p99 ratio at 100 clients ${at100.p99Ratio.toFixed(2)}, target ≤ ${P99_RATIO_TARGET})`
      : "n/a (no 100-client level)";
    console.log(`\ntarget: ${target}\nagent RSS: idle ${mb(idleRSS)} MB, peak ${mb(peak)} MB`);
    writeResult("workload", { smoke, runtime, responseBytes: bytes, levels: results, agentIdleRSSBytes: idleRSS, agentPeakRSSBytes: peak, target });
  } finally {
    for (const e of echoes) e.kill("SIGTERM");
    await admin.close();
    await c.cleanup();
  }
}

await main();
