/**
 * Server load from many agents: 5,000 simulated agents (real agent API over mTLS) each hold the SSE sync stream,
 * own one workload entry, and renew both their agent SVID and the workload SVID at half life (± 10 % jitter),
 * reopening the sync stream on the new credentials as an agent does. Time is compressed: SVIDs live --ttl seconds
 * (default 120 s, 30× faster than 1 h). Server CPU comes from /proc/<pid>/stat and RSS from /proc/<pid>/status:
 * first over an idle window (all agents connected, nothing due), then over one full TTL of renewals. The 1 h
 * equivalent is idle CPU + measured CPU per renewal × the renewal rate 1 h SVIDs would cause.
 * Target: < 1 core and RSS ≤ 1 GB at 5,000 agents (1 h SVIDs).
 * Run: npm run bench -- server_scale [--agents 5000] [--ttl 120] [--smoke]
 * @module
 */
import { cpuSecondsOf, Flags, log, MB, mb, pidRSSSampler, sleep, verdict, writeResult } from "./lib/bench_env.ts";
import { Admin, agentIDForToken, benchCluster, startServerWith, TD } from "./lib/cluster.ts";
import { table } from "./lib/measure.ts";
import { pool } from "./lib/pool.ts";
import { SimAgent } from "./lib/sim_agent.ts";

interface Sim {
  agent: SimAgent;
  entryID: string;
  agentRenewAt: number;
  svidRenewAt: number;
  busy: boolean;
}

const jitteredHalf = (issued: number, ttlMs: number) => issued + ttlMs / 2 + (Math.random() * 2 - 1) * 0.1 * (ttlMs / 2);

async function main(): Promise<void> {
  const f = new Flags();
  const smoke = f.bool("smoke");
  const n = f.num("agents", smoke ? 30 : 5000);
  const ttl = f.num("ttl", smoke ? 8 : 120);
  const idleSeconds = f.num("idle", smoke ? 1 : 10);
  const ttlMs = ttl * 1000;
  process.stderr.write(`wisp server_scale benchmark: ${n} agents, ${ttl}s SVIDs (${(3600 / ttl).toFixed(0)}× compressed)\n`);

  const c = await benchCluster({ extraServer: `agent_ttl = "${ttl}s"\n  default_x509_svid_ttl = "${ttl}s"` });
  const admin = new Admin(c.serverSocket);
  const sims: Sim[] = [];
  let renewals = 0;
  let errors = 0;
  const errorKinds = new Map<string, number>();
  const fail = (err: unknown) => {
    errors++;
    const k = String((err as Error)?.message ?? err).slice(0, 120);
    errorKinds.set(k, (errorKinds.get(k) ?? 0) + 1);
  };
  try {
    const server = await startServerWith(c, { env: {} });
    const pid = server.child.pid!;
    const roots = await admin.bundleRoots();
    const tokens: string[] = [];
    for (let i = 0; i < n; i++) tokens.push(await admin.joinToken(3600));
    const entryIDs = await admin.createEntries(tokens.map((t, i) => ({
      spiffeID: `spiffe://${TD}/bench/scale/${i}`,
      parentID: agentIDForToken(t),
      selectors: [{ type: "unix", value: "uid:1000" }],
      x509SVIDTTL: ttl,
    })));

    const rss = pidRSSSampler(pid, 500);
    const tA = performance.now();
    await pool(tokens, 40, async (token, i) => {
      const agent = new SimAgent({ port: c.port, roots, trustDomain: TD });
      await agent.attest(token);
      const s: Sim = { agent, entryID: entryIDs[i]!, agentRenewAt: jitteredHalf(Date.now(), ttlMs), svidRenewAt: Infinity, busy: false };
      let first = true;
      agent.startSync(async () => {
        if (!first) return;
        first = false;
        await agent.batchSign([s.entryID]);
        s.svidRenewAt = jitteredHalf(Date.now(), ttlMs);
      }, fail);
      sims.push(s);
    });
    while (sims.some((s) => s.svidRenewAt === Infinity)) await sleep(50);
    const attestSeconds = (performance.now() - tA) / 1000;
    log(`${n} agents attested, syncing, workload SVID signed in ${attestSeconds.toFixed(1)} s; server RSS ${mb(rss.peak())} MB`);

    // The renewal loop: whatever is due, a bounded number at a time (agents renew independently).
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const now = Date.now();
        const due = sims.filter((s) => !s.busy && (s.agentRenewAt <= now || s.svidRenewAt <= now));
        await pool(due, 50, async (s) => {
          s.busy = true;
          try {
            if (s.agentRenewAt <= Date.now()) {
              await s.agent.renew();
              s.agentRenewAt = jitteredHalf(Date.now(), ttlMs);
              s.agent.startSync(() => {}, fail);
              renewals++;
            }
            if (s.svidRenewAt <= Date.now()) {
              await s.agent.batchSign([s.entryID]);
              s.svidRenewAt = jitteredHalf(Date.now(), ttlMs);
              renewals++;
            }
          } catch (err) {
            fail(err);
          } finally {
            s.busy = false;
          }
        });
        await sleep(200);
      }
    })();

    // Idle window: connected, nothing due yet (the first renewals come half a TTL after attestation).
    const idleWindow = Math.max(0.5, Math.min(idleSeconds, (ttlMs / 2) * 0.9 / 1000 - attestSeconds));
    await sleep(500);
    const r0 = renewals;
    let cpu0 = cpuSecondsOf(pid);
    let w0 = performance.now();
    await sleep(idleWindow * 1000);
    const idleCores = (cpuSecondsOf(pid) - cpu0) / ((performance.now() - w0) / 1000);
    const idleRenewals = renewals - r0;
    const idleRSS = rss.peak();
    log(`idle: ${idleCores.toFixed(3)} cores over ${idleWindow.toFixed(1)} s (${idleRenewals} renewals), RSS ${mb(idleRSS)} MB`);

    // Load window: one full TTL, so every agent renews its agent SVID and its workload SVID about twice.
    while (renewals === r0 + idleRenewals) await sleep(50);
    const r1 = renewals;
    cpu0 = cpuSecondsOf(pid);
    w0 = performance.now();
    await sleep(ttlMs);
    const window = (performance.now() - w0) / 1000;
    const loadCores = (cpuSecondsOf(pid) - cpu0) / window;
    const done = renewals - r1;
    stop = true;
    await loop;
    const { peak } = rss.stop();
    const rate = done / window;
    const cpuPerRenewal = rate > 0 ? Math.max(0, loadCores - idleCores) / rate : 0;
    const rate1h = (n * 2) / 1800; // two credentials per agent, each renewed every 30 min
    const cores1h = idleCores + cpuPerRenewal * rate1h;
    log(`load: ${loadCores.toFixed(3)} cores, ${rate.toFixed(1)} renewals/s (schedule asks ${((n * 2) / (ttl / 2)).toFixed(1)}/s), ${errors} errors`);
    if (idleRenewals > 0) log(`note: attestation outlasted half a TTL, so the idle window saw ${idleRenewals} renewals; raise --ttl for a clean idle figure`);

    const rows = [
      ["agents (each: sync stream + 1 workload entry)", String(n)],
      ["attest + first sync + first SVID, all agents", `${attestSeconds.toFixed(1)} s`],
      ["server CPU, idle window (streams held)", `${idleCores.toFixed(3)} cores`],
      [`server CPU, ${ttl}s SVIDs renewing at half life`, `${loadCores.toFixed(3)} cores (${rate.toFixed(1)} renewals/s)`],
      ["server CPU per renewal (agent renew + resync, or batch sign)", `${(cpuPerRenewal * 1000).toFixed(2)} ms`],
      ["equivalent with 1 h SVIDs", `${cores1h.toFixed(3)} cores (${rate1h.toFixed(2)} renewals/s)`],
      ["server RSS idle / peak", `${mb(idleRSS)} / ${mb(peak)} MB`],
      ["client-side errors", String(errors)],
    ];
    console.log(table(["measurement", "value"], rows));
    for (const [k, v] of errorKinds) console.log(`  error ×${v}: ${k}`);
    const target = `${verdict(cores1h < 1 && loadCores < 1 && peak <= 1024 * MB)} (1 h equivalent ${cores1h.toFixed(3)} cores and compressed ${
      loadCores.toFixed(3)
    } cores < 1; RSS ${mb(peak)} MB ≤ 1024)`;
    console.log(`\ntarget: ${target}`);
    writeResult("server_scale", {
      smoke,
      agents: n,
      ttlSeconds: ttl,
      attestSeconds,
      idleCores,
      idleWindowSeconds: idleWindow,
      loadCores,
      loadWindowSeconds: window,
      renewals: done,
      renewalsPerSecond: rate,
      cpuSecondsPerRenewal: cpuPerRenewal,
      equivalent1h: { renewalsPerSecond: rate1h, cores: cores1h },
      serverIdleRSSBytes: idleRSS,
      serverPeakRSSBytes: peak,
      errors,
      errorKinds: Object.fromEntries(errorKinds),
      expectedRenewalsPerSecond: (n * 2) / (ttl / 2),
      target,
    });
  } finally {
    await Promise.all(sims.map((s) => s.agent.close()));
    await admin.close();
    await c.cleanup();
  }
}

await main();
