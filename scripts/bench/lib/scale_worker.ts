/**
 * One load-generator process of the server_scale benchmark: it runs a share of the simulated agents (attest with a
 * join token, hold the sync stream, sign the workload SVID, renew both at half life) and reports its own CPU, RSS and
 * every client-side error by kind to the parent over IPC. Running the agents in their own processes keeps the load
 * generator from competing with itself in one event loop, and lets the benchmark report its cost next to the
 * server's (issue 16: a run whose load generator is the bottleneck is not a result).
 * @module
 */
import { pool } from "./pool.ts";
import { SimAgent } from "./sim_agent.ts";

export interface WorkerJob {
  port: number;
  rootsB64: string[];
  trustDomain: string;
  ttlMs: number;
  tokens: string[];
  entryIDs: string[];
}

export interface WorkerStats {
  attested: number;
  signed: number;
  renewals: number;
  errors: Record<string, number>;
  cpuSeconds: number;
  rssBytes: number;
}

interface Sim {
  agent: SimAgent;
  entryID: string;
  agentRenewAt: number;
  svidRenewAt: number;
  busy: boolean;
}

const jitteredHalf = (issued: number, ttlMs: number) => issued + ttlMs / 2 + (Math.random() * 2 - 1) * 0.1 * (ttlMs / 2);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An error's kind: class, code and message without the parts that differ per agent (ids, serials, numbers). */
export function errorKind(phase: string, err: unknown): string {
  const e = err as { name?: string; code?: unknown; message?: string; cause?: { message?: string; code?: unknown } };
  const msg = String(e?.message ?? err).replace(/spiffe:\/\/\S+/g, "<id>").replace(/\b[0-9a-f]{16,}\b/gi, "<hex>").replace(/\d+/g, "N");
  const cause = e?.cause ? ` (cause: ${String(e.cause.code ?? "")} ${String(e.cause.message ?? "").slice(0, 80)})` : "";
  return `${phase}: ${e?.name ?? "Error"}${e?.code !== undefined ? ` ${String(e.code)}` : ""}: ${msg.slice(0, 140)}${cause}`;
}

async function run(job: WorkerJob): Promise<void> {
  const roots = job.rootsB64.map((b) => new Uint8Array(Buffer.from(b, "base64")));
  const stats: WorkerStats = { attested: 0, signed: 0, renewals: 0, errors: {}, cpuSeconds: 0, rssBytes: 0 };
  const fail = (phase: string) => (err: unknown) => {
    const k = errorKind(phase, err);
    stats.errors[k] = (stats.errors[k] ?? 0) + 1;
  };
  const report = () => {
    const u = process.cpuUsage();
    stats.cpuSeconds = (u.user + u.system) / 1e6;
    stats.rssBytes = process.memoryUsage.rss();
    process.send?.({ stats });
  };
  const reporter = setInterval(report, 1000);
  let stop = false;
  process.on("message", (m: { stop?: boolean }) => {
    if (m?.stop) stop = true;
  });

  const sims: Sim[] = [];
  await pool(job.tokens, 20, async (token, i) => {
    const agent = new SimAgent({ port: job.port, roots, trustDomain: job.trustDomain });
    try {
      await agent.attest(token);
    } catch (err) {
      fail("attest")(err);
      return;
    }
    stats.attested++;
    const s: Sim = { agent, entryID: job.entryIDs[i]!, agentRenewAt: jitteredHalf(Date.now(), job.ttlMs), svidRenewAt: Infinity, busy: false };
    let first = true;
    agent.startSync(async () => {
      if (!first) return;
      first = false;
      try {
        await agent.batchSign([s.entryID]);
        stats.signed++;
        s.svidRenewAt = jitteredHalf(Date.now(), job.ttlMs);
      } catch (err) {
        fail("first sign")(err);
      }
    }, fail("sync"));
    sims.push(s);
  });

  while (!stop) {
    const now = Date.now();
    const due = sims.filter((s) => !s.busy && (s.agentRenewAt <= now || s.svidRenewAt <= now));
    await pool(due, 25, async (s) => {
      s.busy = true;
      try {
        if (s.agentRenewAt <= Date.now()) {
          try {
            await s.agent.renew();
            s.agentRenewAt = jitteredHalf(Date.now(), job.ttlMs);
            s.agent.startSync(() => {}, fail("sync"));
            stats.renewals++;
          } catch (err) {
            fail("renew")(err);
            s.agentRenewAt = Date.now() + 1000;
          }
        }
        if (s.svidRenewAt <= Date.now()) {
          try {
            await s.agent.batchSign([s.entryID]);
            s.svidRenewAt = jitteredHalf(Date.now(), job.ttlMs);
            stats.renewals++;
          } catch (err) {
            fail("sign")(err);
            s.svidRenewAt = Date.now() + 1000;
          }
        }
      } finally {
        s.busy = false;
      }
    });
    await sleep(200);
  }
  await Promise.all(sims.map((s) => s.agent.close()));
  clearInterval(reporter);
  report();
  process.send?.({ done: true }, () => process.exit(0));
}

process.once("message", (m: { job?: WorkerJob }) => {
  if (m?.job) {
    run(m.job).catch((err) => {
      process.send?.({ fatal: String((err as Error)?.stack ?? err) }, () => process.exit(1));
    });
  }
});
