/**
 * AWS Private CA calls made by the CA manager with the aws_pca upstream authority, against the local AWS emulator
 * (its per-operation counters): on first start, per forced rotation, and per restart (a new CA manager on the same
 * datastore and key file, as a server restart). Time to first CA is measured with the emulator's issuance delay
 * (default 2 s, during which GetCertificate answers RequestInProgressException).
 * The CA manager runs in-process with the real AWSPCAUpstreamAuthority, the SDK client, an SQLite datastore and a
 * disk key manager: the same parts `wisp-server run` composes, without the agent API listeners.
 * Targets: 1 IssueCertificate per rotation, 0 PCA calls per restart.
 * Run: npm run bench -- pca [--rotations 3] [--delay 2000] [--smoke]
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nullLogger } from "../../src/core/log/logger.ts";
import { systemClock } from "../../src/core/ports/clock.ts";
import * as spiffeid from "../../src/core/spiffeid/mod.ts";
import { nodeFS } from "../../src/runtime/node/fs.ts";
import { SQLiteDriver } from "../../src/runtime/node/sqlite_driver.ts";
import { CAManager } from "../../src/server/ca/ca_manager.ts";
import { SQLStore } from "../../src/server/datastore/sql/sql_store.ts";
import { DiskKeyManager } from "../../src/server/keymanager/disk.ts";
import { AWSPCAUpstreamAuthority } from "../../src/server/upstreamauthority/awspca/awspca.ts";
import { newPCAClient } from "../../src/server/upstreamauthority/awspca/pca_client.ts";
import { startEmulator } from "../../test/emulator/emulator_process.ts";
import { Flags, log, verdict, writeResult } from "./lib/bench_env.ts";
import { table } from "./lib/measure.ts";

type Stats = Record<string, number>;
const pcaOnly = (s: Stats) => Object.fromEntries(Object.entries(s).filter(([k]) => k.startsWith("acm-pca:")));
const delta = (a: Stats, b: Stats): Stats => {
  const out: Stats = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if ((b[k] ?? 0) - (a[k] ?? 0) !== 0) out[k] = (b[k] ?? 0) - (a[k] ?? 0);
  return out;
};
const sum = (s: Stats) => Object.values(s).reduce((x, y) => x + y, 0);
const fmtStats = (s: Stats) => Object.entries(s).map(([k, v]) => `${k.replace("acm-pca:", "")} ${v}`).join(", ") || "none";

async function main(): Promise<void> {
  const f = new Flags();
  const smoke = f.bool("smoke");
  const rotations = f.num("rotations", smoke ? 1 : 3);
  const delayMs = f.num("delay", smoke ? 300 : 2000);
  process.stderr.write(`wisp pca benchmark: issuance delay ${delayMs} ms, ${rotations} rotations\n`);

  const emu = await startEmulator();
  const dir = mkdtempSync(join(tmpdir(), "wisp-bench-pca-"));
  try {
    await emu.control("/_emulator/config", { issuanceDelayMs: delayMs });
    const td = spiffeid.trustDomainFromString("example.org");
    const cfg = emu.clientConfig();
    const newManager = async (ds: SQLStore) => {
      const upstream = await AWSPCAUpstreamAuthority.create({
        client: newPCAClient({ region: cfg.region, endpoint: cfg.endpoint, credentials: cfg.credentials }),
        certificateAuthorityArn: emu.info.subordinateCaArn,
        fs: nodeFS,
        clock: systemClock,
        logger: nullLogger,
      });
      return new CAManager({
        trustDomain: td,
        keyManager: new DiskKeyManager({ fs: nodeFS, keysPath: join(dir, "keys.json") }),
        ds,
        clock: systemClock,
        logger: nullLogger,
        caTTL: 24 * 3600_000,
        upstream,
      });
    };
    const openStore = async () => SQLStore.open({ driver: await SQLiteDriver.open(join(dir, "datastore.sqlite3")) });
    const stats = async () => pcaOnly(await emu.stats());

    let ds = await openStore();
    let s0 = await stats();
    const t0 = performance.now();
    await (await newManager(ds)).initialize();
    const firstCAMs = performance.now() - t0;
    const first = delta(s0, await stats());
    log(`first CA after ${firstCAMs.toFixed(0)} ms: ${fmtStats(first)}`);

    const m = await newManager(ds);
    s0 = await stats();
    await m.initialize();
    const restartInit = delta(s0, await stats());
    const perRotation: { ms: number; calls: Stats }[] = [];
    for (let i = 0; i < rotations; i++) {
      s0 = await stats();
      const t = performance.now();
      await m.forceRotate();
      perRotation.push({ ms: performance.now() - t, calls: delta(s0, await stats()) });
    }
    await ds.close();

    // A restart in a new process would reopen the same files; a fresh store and manager do exactly that here.
    ds = await openStore();
    s0 = await stats();
    const tr = performance.now();
    await (await newManager(ds)).initialize();
    const restartMs = performance.now() - tr;
    const restart = delta(s0, await stats());
    await ds.close();

    const issuePerRotation = perRotation.map((r) => r.calls["acm-pca:IssueCertificate"] ?? 0);
    const rows = [
      ["first start (no CA yet)", firstCAMs.toFixed(0), fmtStats(first)],
      ["second CA manager on the same store (process restart)", "", fmtStats(restartInit)],
      ...perRotation.map((r, i) => [`forced rotation ${i + 1}`, r.ms.toFixed(0), fmtStats(r.calls)]),
      ["restart after rotations (store reopened)", restartMs.toFixed(0), fmtStats(restart)],
    ];
    console.log(table(["event", "ms", "PCA calls (emulator counters)"], rows));
    const okRot = issuePerRotation.every((n) => n === 1);
    const okRestart = sum(restart) === 0 && sum(restartInit) === 0;
    const target = `rotation ${verdict(okRot)} (IssueCertificate per rotation: ${issuePerRotation.join(", ")}; target 1), restart ${verdict(okRestart)} (${
      sum(restart) + sum(restartInit)
    } calls; target 0)`;
    console.log(`\ntime to first CA with a ${delayMs} ms issuance delay: ${firstCAMs.toFixed(0)} ms\ntarget: ${target}`);
    writeResult("pca", {
      smoke,
      issuanceDelayMs: delayMs,
      firstCAMs,
      firstStartCalls: first,
      restartCalls: [restartInit, restart],
      restartMs,
      rotations: perRotation,
      target,
      mode: "in-process CAManager + AWSPCAUpstreamAuthority + SDK client against bin/wisp-aws-emulator.mjs",
    });
  } finally {
    await emu.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(emu.dataDir, { recursive: true, force: true });
  }
}

await main();
