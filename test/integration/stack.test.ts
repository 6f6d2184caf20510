/** `npm run stack`: the whole production topology as local processes comes up, verifies a 4-level SVID, and stops. */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { run } from "./_harness.ts";

test("npm run stack starts emulator, PostgreSQL, server, agent and workload, verifies the SVID and cleans up", async () => {
  const r = await run("npm", ["run", "--silent", "stack"], { timeoutMs: 60_000 });
  assert.is(r.code, 0, r.stderr + r.stdout);
  const line = r.stdout.split("\n").find((l) => l.startsWith('{"stack":'));
  assert.ok(line, r.stdout);
  const { stack } = JSON.parse(line!) as { stack: { database: string; pcaCalls: Record<string, number>; firstCAms: number; startMs: number } };
  assert.is(stack.database, "postgres");
  assert.is(stack.pcaCalls["acm-pca:IssueCertificate"], 1, "one intermediate for the whole stack");
  assert.match(r.stdout, /stack: workload: \S+svid\.0\.pem: OK \(Root → Sub → wisp intermediate → SVID\)/);
  const subjects = r.stdout.split("\n").filter((l) => l.startsWith("stack:   subject="));
  assert.is(subjects.length, 4, "leaf, wisp intermediate, PCA subordinate, PCA root");
  assert.match(subjects[2]!, /Wisp Emulator Subordinate CA/);
  assert.match(subjects[3]!, /Wisp Emulator Root CA/);
  const dir = /(\/\S+\/wisp-stack-[^/]+)\//.exec(r.stdout)?.[1];
  assert.ok(dir && !existsSync(dir), "the temp dir is removed");
  assert.ok(r.stdout.trimEnd().endsWith("stack: stopped"));
  process.stdout.write(`  measured: stack up and verified in ${stack.startMs} ms (first CA via PCA with a 2 s issuance delay: ${stack.firstCAms} ms)\n`);
});

test.run();
