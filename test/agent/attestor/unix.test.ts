/** UnixAttestor against real processes started under other uids, gids and supplementary groups. @module */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { UnixAttestor } from "../../../src/agent/attestor/unix.ts";
import { FailedPreconditionError, NotFoundError } from "../../../src/core/errors.ts";
import { formatSelector } from "../../../src/core/selector.ts";
import { NodeProcFS } from "../../../src/runtime/node/proc_fs.ts";

const dir = mkdtempSync(join(tmpdir(), "wisp-unix-attestor-"));
writeFileSync(join(dir, "passwd"), "root:x:0:0:root:/root:/bin/sh\nsvc:x:1234:4321::/nonexistent:/bin/false\n");
writeFileSync(join(dir, "group"), "root:x:0:\nsvcgrp:x:4321:\n# comment\nextra:x:5000:svc\n");
const proc = new NodeProcFS({ passwdFile: join(dir, "passwd"), groupFile: join(dir, "group") });
const SLEEP = realpathSync("/usr/bin/sleep");
const children: ChildProcess[] = [];

/** Starts `sleep` as uid 1234 / gid 4321 / groups 5000,5001 and waits until setpriv has exec'd it. */
async function startWorkload(): Promise<number> {
  const child = spawn("setpriv", ["--reuid=1234", "--regid=4321", "--groups=5000,5001", SLEEP, "5"], { stdio: "ignore" });
  children.push(child);
  const pid = child.pid!;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await proc.exePath(pid)) === SLEEP) return pid;
    } catch { /* not exec'd yet */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("workload did not start");
}

test.after(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

test("attest() yields SPIRE's uid, user, gid, group and supplementary selectors", async () => {
  const pid = await startWorkload();
  const a = new UnixAttestor({ proc, discoverWorkloadPath: false, workloadSizeLimit: 0 });
  const got = (await a.attest({ pid, uid: 1234, gid: 4321 })).map(formatSelector);
  assert.equal(got, [
    "unix:uid:1234",
    "unix:user:svc",
    "unix:gid:4321",
    "unix:group:svcgrp",
    "unix:supplementary_gid:5000",
    "unix:supplementary_group:extra",
    "unix:supplementary_gid:5001",
  ]);
});

test("attest() adds path and sha256 selectors with discoverWorkloadPath", async () => {
  const pid = await startWorkload();
  const a = new UnixAttestor({ proc, discoverWorkloadPath: true, workloadSizeLimit: 0 });
  const got = (await a.attest({ pid, uid: 1234, gid: 4321 })).map(formatSelector);
  const digest = createHash("sha256").update(readFileSync(SLEEP)).digest("hex");
  assert.equal(got.slice(-2), [`unix:path:${SLEEP}`, `unix:sha256:${digest}`]);
});

test("attest() skips sha256 when workloadSizeLimit is negative", async () => {
  const pid = await startWorkload();
  const a = new UnixAttestor({ proc, discoverWorkloadPath: true, workloadSizeLimit: -1 });
  const got = (await a.attest({ pid, uid: 1234, gid: 4321 })).map(formatSelector);
  assert.is(got.at(-1), `unix:path:${SLEEP}`);
  assert.not.ok(got.some((s) => s.startsWith("unix:sha256:")));
});

test("attest() rejects an executable larger than workloadSizeLimit", async () => {
  const pid = await startWorkload();
  const a = new UnixAttestor({ proc, discoverWorkloadPath: true, workloadSizeLimit: 10 });
  const size = readFileSync(SLEEP).length;
  try {
    await a.attest({ pid, uid: 1234, gid: 4321 });
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.instance(err, FailedPreconditionError);
    assert.is((err as FailedPreconditionError).code, "ERR_FAILED_PRECONDITION");
    assert.is((err as Error).message, `workload "/proc/${pid}/exe" exceeds size limit (${size} > 10)`);
  }
});

test("attest() of a process that has exited throws NotFoundError", async () => {
  const child = spawn("true");
  await new Promise((r) => child.on("exit", r));
  await new Promise((r) => setTimeout(r, 20)); // let the kernel reap it
  const a = new UnixAttestor({ proc, discoverWorkloadPath: false, workloadSizeLimit: 0 });
  try {
    await a.attest({ pid: child.pid!, uid: 0, gid: 0 });
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.instance(err, NotFoundError);
    assert.is((err as NotFoundError).code, "ERR_NOT_FOUND");
    assert.is((err as Error).message, `process "${child.pid}" not found`);
  }
});

test.run();
