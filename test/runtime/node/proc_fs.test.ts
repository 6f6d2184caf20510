/** NodeProcFS against real processes: /proc/<pid>/stat parsing, status ids, names, owners and errors. @module */
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { InternalError, NotFoundError } from "../../../src/core/errors.ts";
import { NodeProcFS } from "../../../src/runtime/node/proc_fs.ts";

const dir = mkdtempSync(join(tmpdir(), "wisp-procfs-"));
const proc = new NodeProcFS();
const children: ChildProcess[] = [];

test.after(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

test("startTime() parses field 22 even when the command name has spaces and parentheses", async () => {
  const weird = join(dir, "a) (b c");
  copyFileSync("/usr/bin/sleep", weird);
  const child = spawn(weird, ["5"], { stdio: "ignore" });
  children.push(child);
  await new Promise((r) => child.once("spawn", r));
  const own = await proc.startTime(process.pid);
  const t = await proc.startTime(child.pid!);
  assert.ok(Number.isSafeInteger(t) && t >= own, `child ${t} started before us ${own}`);
  assert.is(await proc.startTime(child.pid!), t);
});

test("status() returns real/effective/saved/fs ids and supplementary groups", async () => {
  const child = spawn("setpriv", ["--reuid=1234", "--regid=4321", "--groups=5000,5001", "/usr/bin/sleep", "5"], { stdio: "ignore" });
  children.push(child);
  let st = await proc.status(child.pid!);
  for (let i = 0; i < 200 && st.uids[1] !== 1234; i++) {
    await new Promise((r) => setTimeout(r, 10));
    st = await proc.status(child.pid!);
  }
  assert.equal(st, { uids: [1234, 1234, 1234, 1234], gids: [4321, 4321, 4321, 4321], groups: [5000, 5001] });
  assert.equal(await proc.ownerOf(child.pid!), { uid: 1234, gid: 4321 });
});

test("userName() and groupName() read the user and group files", async () => {
  const passwd = join(dir, "passwd");
  const group = join(dir, "group");
  writeFileSync(passwd, "root:x:0:0:root:/root:/bin/sh\nbroken line\nsvc:x:1234:4321::/:/bin/false\ndup:x:1234:1::/:/bin/false\n");
  writeFileSync(group, "svcgrp:x:4321:\n");
  const p = new NodeProcFS({ passwdFile: passwd, groupFile: group });
  assert.is(await p.userName(1234), "svc");
  assert.is(await p.userName(99), undefined);
  assert.is(await p.groupName(4321), "svcgrp");
  writeFileSync(group, "svcgrp:x:4321:\nnewgrp:x:4322:\n");
  assert.is(await p.groupName(4322), "newgrp");
  const none = new NodeProcFS({ passwdFile: join(dir, "missing"), groupFile: join(dir, "missing") });
  assert.is(await none.userName(0), undefined);
});

test("sha256() and exePath() fail clearly for missing files and processes", async () => {
  try {
    await proc.sha256(join(dir, "nope"), 0);
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.instance(err, NotFoundError);
    assert.is((err as Error).message, `file "${join(dir, "nope")}" not found`);
  }
  try {
    await proc.sha256(dir, 0);
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.instance(err, InternalError);
    assert.is((err as Error).message, `failed to hash "${dir}"`);
  }
  const child = spawn("true");
  await new Promise((r) => child.on("exit", r));
  for (const f of [() => proc.exePath(child.pid!), () => proc.startTime(child.pid!), () => proc.ownerOf(child.pid!)]) {
    const err = await f().then(() => undefined, (e: unknown) => e);
    assert.instance(err, NotFoundError);
    assert.is((err as Error).message, `process "${child.pid}" not found`);
  }
});

test.run();
