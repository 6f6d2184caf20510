/**
 * ACM PCA outages against the emulator with the real SDK client and a real server (in this process, so its clock can
 * be moved): a restart past the prepare threshold with PCA down serves degraded, failures are counted and warned
 * about with the CA's remaining life, the warning becomes an error below a sixth of it, and recovery mints once.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LogRecord, newLogger } from "../../src/core/log/logger.ts";
import { Registry } from "../../src/core/metrics/registry.ts";
import { type Clock, systemClock } from "../../src/core/ports/clock.ts";
import * as spiffeid from "../../src/core/spiffeid/mod.ts";
import { nodeFS } from "../../src/runtime/node/fs.ts";
import { nodeHTTPServe } from "../../src/runtime/node/http_serve.ts";
import { SQLiteDriver } from "../../src/runtime/node/sqlite_driver.ts";
import { unixFetch } from "../../src/runtime/node/unix_fetch.ts";
import { SQLStore } from "../../src/server/datastore/sql/sql_store.ts";
import { MemoryKeyManager } from "../../src/server/keymanager/memory.ts";
import { Server } from "../../src/server/server.ts";
import { AWSPCAUpstreamAuthority } from "../../src/server/upstreamauthority/awspca/awspca.ts";
import { newPCAClient } from "../../src/server/upstreamauthority/awspca/pca_client.ts";
import { type RunningEmulator, startEmulator } from "../emulator/emulator_process.ts";
import { freePort, waitFor, wispServer } from "./_harness.ts";

const HOUR = 3_600_000;
let emu: RunningEmulator;
let dir: string;
let offset = 0;
const clock: Clock = { now: () => new Date(Date.now() + offset), sleep: systemClock.sleep };
const records: LogRecord[] = [];
const logger = newLogger({ level: "debug", sink: (r) => records.push(r) });
const keyManager = new MemoryKeyManager();

test.before(async () => {
  emu = await startEmulator();
  dir = mkdtempSync(join(tmpdir(), "wisp-pca-outage-"));
});

test.after(async () => {
  await emu?.stop();
  rmSync(emu.dataDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a server on the shared datastore file and key manager; resolves once it serves. */
async function startServer(metrics: Registry, healthPort: number) {
  const ds = await SQLStore.open({ driver: await SQLiteDriver.open(join(dir, "datastore.sqlite3")), clock });
  const upstream = await AWSPCAUpstreamAuthority.create({
    client: newPCAClient({ ...emu.clientConfig(), maxAttempts: 2 }),
    certificateAuthorityArn: emu.info.subordinateCaArn,
    signingAlgorithm: "SHA256WITHECDSA",
    fs: nodeFS,
    clock,
    logger,
    pollInitialMs: 100,
  });
  const socketPath = join(dir, "api.sock");
  let ready!: () => void;
  const up = new Promise<void>((r) => (ready = r));
  const server = new Server({
    options: {
      trustDomain: spiffeid.trustDomainFromString("example.org"),
      bindAddress: "127.0.0.1",
      bindPort: 0,
      socketPath,
      caTTL: 24 * HOUR,
      defaultX509SVIDTTL: HOUR,
      agentTTL: HOUR,
      healthChecks: { bindAddress: "127.0.0.1", bindPort: healthPort, livePath: "/live", readyPath: "/ready" },
      caRotateInterval: 100,
    },
    ds,
    keyManager,
    upstream,
    http: nodeHTTPServe,
    clock,
    logger,
    metrics,
    onReady: () => ready(),
  });
  const stop = new AbortController();
  const done = server.run(stop.signal).finally(() => ds.close());
  await Promise.race([up, done]);
  return {
    socketPath,
    health: async () => (await (await unixFetch(socketPath)("/health")).json()) as { ready: boolean; details: Record<string, unknown> },
    async stop() {
      stop.abort();
      await done;
    },
  };
}

const failures = () => records.filter((r) => r.msg.startsWith("X509 CA rotation failed"));
const issued = async () => (await emu.stats())["acm-pca:IssueCertificate"] ?? 0;

test("PCA down past the prepare threshold: serves degraded, warns, escalates to error, then mints exactly once when PCA is back", async () => {
  const m1 = new Registry();
  const s1 = await startServer(m1, await freePort());
  await waitFor("first CA", async () => ((await s1.health()).ready ? true : undefined), 10_000);
  assert.is(await issued(), 1);
  await s1.stop();

  await emu.control("/_emulator/faults", { service: "acm-pca", mode: "down" });
  offset = 13 * HOUR;
  const healthPort = await freePort();
  const s2 = await startServer(new Registry(), healthPort);
  try {
    const h = await waitFor("degraded health", async () => {
      const v = await s2.health();
      return v.details["status"] === "degraded" ? v : undefined;
    }, 10_000);
    assert.is(h.ready, true);
    assert.match(String(h.details["last_error"]), `failed to describe CertificateAuthority: ACM PCA at "${emu.info.endpoint}" is unreachable`);
    assert.is((await fetch(`http://127.0.0.1:${healthPort}/ready`)).status, 200, "/ready stays 200 while the CA is valid");
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    assert.match(metrics, /^wisp_server_upstream_mint_calls_total\{result="error",upstream="aws_pca"\} [1-9]\d*$/m);
    const warn = failures()[0]!;
    assert.is(warn.level, "warn");
    assert.match(warn.msg, /^X509 CA rotation failed; active CA expires in 1(0h5\d|1h0)m$/);
    const cli = await wispServer(["healthcheck", "-socketPath", s2.socketPath, "-verbose"]);
    assert.is(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /"status":"degraded"/);
    assert.match(cli.stdout, /^Server is degraded: failed to describe CertificateAuthority: ACM PCA at "[^"]+" is unreachable/m);

    offset = 21 * HOUR;
    await waitFor("an error-level failure", async () => (failures().at(-1)?.level === "error" ? true : undefined), 10_000);
    assert.match(failures().at(-1)!.msg, /^X509 CA rotation failed; active CA expires in 2h5\dm$/);

    const before = await issued();
    await emu.control("/_emulator/faults", { service: "acm-pca", mode: "ok" });
    await waitFor("recovery", async () => ((await s2.health()).details["status"] === "healthy" ? true : undefined), 10_000);
    assert.is(await issued() - before, 1, "exactly one IssueCertificate after PCA came back");
    assert.ok(records.some((r) => r.msg === "X509 CA activated" && r.time.getTime() > 0));
    assert.is((await s2.health()).details["ca_upstream_authority"], "aws_pca");
  } finally {
    await emu.control("/_emulator/faults", { service: "acm-pca", mode: "ok" });
    await s2.stop();
  }
});

test.run();
