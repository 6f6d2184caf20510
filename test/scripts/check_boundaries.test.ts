/** scripts/check_boundaries.ts run as a process on fixture trees: the violations it prints and its exit code. @module */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { checkFile } from "../../scripts/check_boundaries.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SCRIPT = join(ROOT, "scripts/check_boundaries.ts");
const dirs: string[] = [];

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "wisp-boundaries-"));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** Runs the checker the way CI does, on whichever runtime runs this test. */
function check(root: string): { code: number | null; stdout: string; stderr: string } {
  const argv = "Deno" in globalThis ? ["run", "-A", SCRIPT, root] : ["--import", "tsx", SCRIPT, root];
  const r = spawnSync(process.execPath, argv, { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const FIXTURE = {
  "src/core/a.ts": [
    "/** Fixture. @module */",
    '// import { x } from "node:fs";',
    '/* import "../server/s.ts"; console.log(1) */',
    'import { readFileSync } from "node:fs";',
    'import type { S } from "../server/s.ts";',
    "import {",
    "  A,",
    '} from "../agent/g.ts";',
    'export * from "../runtime/node/n.ts";',
    "const s = \"import x from 'node:os'; Deno.env; console.log(1)\";",
    "const t = `console ${Deno.pid} ${`Deno.x`}`;",
    'const r = /"Deno./g;',
    "console.log(r, s, t, readFileSync, A as S);",
    'const m = await import("../server/s.ts");',
    'export const p = await import("fs/promises");',
    "export const q = m.console.log;",
  ].join("\n"),
  "src/core/ok.ts": 'import { x } from "./a.ts";\nimport { y } from "@peculiar/x509";\nexport const z = [x, y];\n',
  "src/server/s.ts": 'import "../runtime/deno/d.ts";\nexport const s = globalThis.Deno?.pid;\nexport type S = number;\n',
  "src/agent/g.ts": 'import { s } from "../server/s.ts";\nexport const A = s;\n',
  "src/runtime/node/n.ts": [
    'import { readFileSync } from "node:fs";',
    'import "../deno/d.ts";',
    'import { s } from "../../server/s.ts";',
    "console.log(readFileSync, s);",
  ].join("\n"),
  "src/runtime/deno/d.ts": 'Deno.env.get("X");\nimport "../node/n.ts";\n',
  "src/bin/main.ts": 'import "node:fs";\nimport "../server/s.ts";\nimport "../agent/g.ts";\nimport "../runtime/node/n.ts";\nconsole.log(Deno.pid);\n',
};

test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("prints every violation as file:line: message and exits 1", () => {
  const r = check(tree(FIXTURE));
  assert.is(r.code, 1, r.stderr);
  assert.equal(r.stdout.trimEnd().split("\n"), [
    'src/agent/g.ts:1: src/agent must not import src/server ("../server/s.ts")',
    'src/core/a.ts:4: import of node builtin "node:fs" is only allowed in src/runtime and src/bin',
    'src/core/a.ts:5: src/core must not import src/server ("../server/s.ts")',
    'src/core/a.ts:8: src/core must not import src/agent ("../agent/g.ts")',
    'src/core/a.ts:9: src/core must not import src/runtime/node ("../runtime/node/n.ts")',
    'src/core/a.ts:11: reference to "Deno" is only allowed in src/runtime and src/bin',
    'src/core/a.ts:13: use of "console" is only allowed in src/runtime and src/bin',
    'src/core/a.ts:14: src/core must not import src/server ("../server/s.ts")',
    'src/core/a.ts:15: import of node builtin "fs/promises" is only allowed in src/runtime and src/bin',
    'src/runtime/node/n.ts:2: src/runtime/node must not import src/runtime/deno ("../deno/d.ts")',
    'src/runtime/node/n.ts:3: src/runtime/node must not import src/server ("../../server/s.ts")',
    'src/server/s.ts:1: src/server must not import src/runtime/deno ("../runtime/deno/d.ts")',
    'src/server/s.ts:2: reference to "Deno" is only allowed in src/runtime and src/bin',
  ]);
  assert.is(r.stderr.trim().split("\n").at(-1), "boundaries: 13 violations in 4 of 7 files");
});

test("prints the file count and exits 0 on a clean tree", () => {
  const r = check(tree({
    "src/core/ok.ts": 'import { x } from "./x.ts";\nexport const s = "node:fs Deno. console.";\n',
    "src/core/x.ts": "// console.log(Deno.pid)\nexport const x = 1;\n",
    "src/bin/main.ts": 'import "node:fs";\nimport "../core/ok.ts";\nconsole.log(1);\n',
  }));
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is(r.stdout, "boundaries ok (3 files)\n");
  assert.is(r.stderr, "");
});

test("checkFile() reads export-from, side-effect and type-only specifiers and ignores look-alikes", () => {
  const src = [
    'export { a } from "../server/a.ts";',
    'export type { B } from "../agent/b.ts";',
    'import "node:process";',
    "const notImport = 'export * from \"../server/x.ts\"';",
    'const o = { import: "../server/y.ts" };',
    'const d = a / 2; const e = `${d / 2}`; // "',
    'import { c } from "../server/c.ts";',
  ].join("\n");
  assert.equal(checkFile("src/core/x.ts", src).map((v) => `${v.line}: ${v.message}`), [
    '1: src/core must not import src/server ("../server/a.ts")',
    '2: src/core must not import src/agent ("../agent/b.ts")',
    '3: import of node builtin "node:process" is only allowed in src/runtime and src/bin',
    '7: src/core must not import src/server ("../server/c.ts")',
  ]);
});

test("checkFile() allows node builtins, Deno and console in src/runtime and src/bin only", () => {
  const src = 'import { join } from "node:path";\nconsole.log(join, Deno.pid);\n';
  assert.equal(checkFile("src/runtime/deno/x.ts", src), []);
  assert.equal(checkFile("src/bin/x.ts", src), []);
  assert.is(checkFile("src/agent/x.ts", src).length, 3);
  assert.is(checkFile("src/x.ts", src).length, 3);
});

test.run();
