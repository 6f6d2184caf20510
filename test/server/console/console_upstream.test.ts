/**
 * The console while ACM PCA (the emulator, real SDK client) is down past the prepare threshold: the overview shows the
 * upstream failing with its last error and when, and the CA page warns with the active CA's remaining life.
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { rmSync } from "node:fs";
import { type Clock, systemClock } from "../../../src/core/ports/clock.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";
import { AWSPCAUpstreamAuthority } from "../../../src/server/upstreamauthority/awspca/awspca.ts";
import { newPCAClient } from "../../../src/server/upstreamauthority/awspca/pca_client.ts";
import { type RunningEmulator, startEmulator } from "../../emulator/emulator_process.ts";
import { waitFor } from "../../integration/_harness.ts";
import { type ConsoleServer, startConsoleServer } from "./_console_server.ts";

const HOUR = 3_600_000;
let emu: RunningEmulator;
let s: ConsoleServer;
let setupError: unknown;
let offset = 0;
const clock: Clock = { now: () => new Date(Date.now() + offset), sleep: systemClock.sleep };

test.before(async () => {
  try {
    emu = await startEmulator();
    s = await startConsoleServer({
      clock,
      caRotateInterval: 100,
      upstream: (clk, logger) =>
        AWSPCAUpstreamAuthority.create({
          client: newPCAClient({ ...emu.clientConfig(), maxAttempts: 1 }),
          certificateAuthorityArn: emu.info.subordinateCaArn,
          signingAlgorithm: "SHA256WITHECDSA",
          fs: nodeFS,
          clock: clk,
          logger,
          pollInitialMs: 100,
        }),
    });
  } catch (err) {
    setupError = err;
  }
});
test.after(async () => {
  await s?.stop();
  await emu?.stop();
  if (emu) rmSync(emu.dataDir, { recursive: true, force: true });
});

const page = async (p: string) => (await fetch(new URL(p, s.consoleURL))).text();

test("PCA down past half the CA's life: overview shows the upstream failing with the error and its time; /ca the remaining life", async () => {
  if (setupError) throw setupError;
  assert.match(await page("/"), /<th scope="row">Upstream \(aws_pca\)<\/th><td><span class="badge ok">ok/);
  await emu.control("/_emulator/faults", { service: "acm-pca", mode: "down" });
  offset = 13 * HOUR;
  const overview = await waitFor("the failure on the overview", async () => {
    const body = await page("/");
    return body.includes('badge warn">failing') ? body : undefined;
  }, 15_000);
  assert.match(
    overview,
    /<th scope="row">Upstream \(aws_pca\)<\/th><td><span class="badge warn">failing<\/span><\/td><td>[1-9]\d* failed rotation attempts since start, [1-9]\d* in a row<\/td><td>[^<]*is unreachable[^<]*<\/td><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ<\/td>/,
  );
  const ca = await page("/ca");
  assert.match(
    ca,
    /<p class="note bad" role="alert">Upstream authority failing \([1-9]\d* attempts, last at \d{4}-[^)]+\): [^<]*is unreachable[^<]*\. The active CA expires in <strong>1(0h5\d|1h0)m<\/strong>\.<\/p>/,
  );
  assert.match(ca, /aws_pca calls<\/dt><dd>1 succeeded, [1-9]\d* failed/);
});

test.run();
