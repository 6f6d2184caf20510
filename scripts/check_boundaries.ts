/** Checks the import boundaries between src/ folders (style guide B2) by scanning import specifiers. @module */
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { dirname, join, posix, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

// Usage: scripts/check_boundaries.ts [ROOT]   (ROOT defaults to the repository; every ROOT/src/**/*.ts is scanned)

/** Top-level names of Node's built-in modules; "fs/promises" is matched by its first segment. */
const NODE_BUILTINS = new Set([
  "assert",
  "async_hooks",
  "buffer",
  "child_process",
  "cluster",
  "console",
  "constants",
  "crypto",
  "dgram",
  "diagnostics_channel",
  "dns",
  "domain",
  "events",
  "fs",
  "http",
  "http2",
  "https",
  "inspector",
  "module",
  "net",
  "os",
  "path",
  "perf_hooks",
  "process",
  "punycode",
  "querystring",
  "readline",
  "repl",
  "stream",
  "string_decoder",
  "sys",
  "timers",
  "tls",
  "trace_events",
  "tty",
  "url",
  "util",
  "v8",
  "vm",
  "wasi",
  "worker_threads",
  "zlib",
]);

/**
 * Areas of src/, most specific first. The generated protobuf code (scripts/gen_proto.ts writes it under the agent,
 * which served the first protocols) is its own area: the server's SPIRE API uses the same messages.
 */
const AREAS = ["src/agent/workload/proto", "src/runtime/node", "src/runtime/deno", "src/core", "src/server", "src/agent", "src/bin"] as const;
type Area = (typeof AREAS)[number] | "src";

/**
 * For each area, the areas it must not import. Deno runs the node:* adapters through its Node compatibility layer,
 * so src/runtime/deno holds only Deno-specific replacements and may reuse src/runtime/node; never the reverse.
 */
const FORBIDDEN: Record<Area, readonly Area[]> = {
  "src/agent/workload/proto": ["src/core", "src/server", "src/agent", "src/runtime/node", "src/runtime/deno", "src/bin"],
  "src/core": ["src/server", "src/agent", "src/runtime/node", "src/runtime/deno", "src/bin"],
  "src/server": ["src/agent", "src/runtime/node", "src/runtime/deno", "src/bin"],
  "src/agent": ["src/server", "src/runtime/node", "src/runtime/deno", "src/bin"],
  "src/runtime/node": ["src/runtime/deno", "src/server", "src/agent", "src/bin"],
  "src/runtime/deno": ["src/server", "src/agent", "src/bin"],
  "src/bin": [],
  "src": ["src/bin"],
};

/** Areas where node:*, Deno.* and console.* are allowed. */
const HOST_AREAS: readonly Area[] = ["src/runtime/node", "src/runtime/deno", "src/bin"];

export interface Violation {
  file: string;
  line: number;
  message: string;
}

/**
 * Returns `src` with comments blanked and the contents of string and template literals blanked, keeping every offset
 * and newline, so a match in the result points at real code and the original text at the same offset holds the
 * string's value. Template `${…}` expressions stay code. Regex literals are recognised by the token before them.
 */
export function maskSource(src: string): string {
  const out = src.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n") out[k] = " ";
  };
  // Each entry is the brace depth at which a template's ${ was opened; the closing } resumes that template.
  const templates: number[] = [];
  let depth = 0;
  let i = 0;
  let lastSignificant = ""; // last non-space code character, for telling regex from division
  let lastWord = "";
  const n = src.length;
  const scanTemplate = (start: number): number => {
    let j = start;
    while (j < n) {
      const c = src[j];
      if (c === "\\") {
        j += 2;
        continue;
      }
      if (c === "`") {
        blank(start, j);
        return j + 1;
      }
      if (c === "$" && src[j + 1] === "{") {
        blank(start, j);
        templates.push(depth);
        depth++;
        return j + 2;
      }
      j++;
    }
    blank(start, n);
    return n;
  };
  while (i < n) {
    const c = src[i]!;
    const next = src[i + 1];
    if (c === "/" && next === "/") {
      const end = src.indexOf("\n", i);
      const stop = end === -1 ? n : end;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === "/" && next === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end === -1 ? n : end + 2;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && src[j] !== c && src[j] !== "\n") j += src[j] === "\\" ? 2 : 1;
      blank(i + 1, Math.min(j, n));
      i = j + 1;
      lastSignificant = c;
      lastWord = "";
      continue;
    }
    if (c === "`") {
      i = scanTemplate(i + 1);
      lastSignificant = "`";
      lastWord = "";
      continue;
    }
    if (c === "/" && startsRegex(lastSignificant, lastWord)) {
      let j = i + 1;
      let inClass = false;
      while (j < n && src[j] !== "\n") {
        const d = src[j];
        if (d === "\\") {
          j += 2;
          continue;
        }
        if (d === "[") inClass = true;
        else if (d === "]") inClass = false;
        else if (d === "/" && !inClass) break;
        j++;
      }
      blank(i + 1, Math.min(j, n));
      i = j + 1;
      lastSignificant = "/";
      lastWord = "";
      continue;
    }
    if (c === "{") depth++;
    if (c === "}") {
      depth--;
      if (templates.length > 0 && templates[templates.length - 1] === depth) {
        templates.pop();
        i = scanTemplate(i + 1);
        lastSignificant = "`";
        lastWord = "";
        continue;
      }
    }
    if (/[\w$]/.test(c)) {
      let j = i;
      while (j < n && /[\w$]/.test(src[j]!)) j++;
      lastWord = src.slice(i, j);
      lastSignificant = src[j - 1]!;
      i = j;
      continue;
    }
    if (!/\s/.test(c)) {
      lastSignificant = c;
      lastWord = "";
    }
    i++;
  }
  return out.join("");
}

const REGEX_KEYWORDS = new Set(["return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "instanceof", "yield", "await"]);

/** A slash starts a regex unless it follows something that ends an expression (a name, a number, ")" or "]"). */
function startsRegex(lastSignificant: string, lastWord: string): boolean {
  if (lastWord !== "") return REGEX_KEYWORDS.has(lastWord);
  return lastSignificant === "" || !/[\w$)\]}`"']/.test(lastSignificant);
}

// Patterns run on masked code: a string literal appears as its quotes around blanks.
const SPECIFIER_PATTERNS = [
  /(?<![\w$.])import\s+(?:type\s+)?[\w$*{}\s,]*?\s*from\s*(["'])/g,
  /(?<![\w$.])import\s*(["'])/g,
  /(?<![\w$.])export\s+(?:type\s+)?(?:\*(?:\s*as\s+[\w$]+)?|\{[^}]*\})\s*from\s*(["'])/g,
  /(?<![\w$.])import\s*\(\s*(["'])/g,
];

/** Import specifiers of a file: value and 1-based line. */
export function findSpecifiers(src: string, masked: string = maskSource(src)): { specifier: string; line: number }[] {
  const found = new Map<number, string>();
  for (const re of SPECIFIER_PATTERNS) {
    for (const m of masked.matchAll(re)) {
      const open = m.index + m[0].length; // just past the opening quote
      const close = masked.indexOf(m[1]!, open);
      if (close === -1) continue;
      found.set(open, src.slice(open, close));
    }
  }
  return [...found.entries()].sort(([a], [b]) => a - b).map(([at, specifier]) => ({ specifier, line: lineAt(src, at) }));
}

function lineAt(src: string, offset: number): number {
  let line = 1;
  for (let k = 0; k < offset; k++) if (src.charCodeAt(k) === 10) line++;
  return line;
}

function areaOf(relPath: string): Area {
  return AREAS.find((a) => relPath === a || relPath.startsWith(a + "/")) ?? "src";
}

function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith("node:") || NODE_BUILTINS.has(specifier.split("/")[0]!);
}

/** Checks one file given its path relative to the root (posix separators) and its source. */
export function checkFile(relPath: string, src: string): Violation[] {
  const area = areaOf(relPath);
  const hostAllowed = HOST_AREAS.includes(area);
  const masked = maskSource(src);
  const out: Violation[] = [];
  const add = (line: number, message: string) => out.push({ file: relPath, line, message });
  for (const { specifier, line } of findSpecifiers(src, masked)) {
    if (isNodeBuiltin(specifier)) {
      if (!hostAllowed) add(line, `import of node builtin "${specifier}" is only allowed in src/runtime and src/bin`);
      continue;
    }
    if (!specifier.startsWith("./") && !specifier.startsWith("../")) continue;
    const target = posix.normalize(posix.join(posix.dirname(relPath), specifier));
    if (!target.startsWith("src/")) continue;
    const targetArea = areaOf(target);
    if (FORBIDDEN[area].includes(targetArea)) {
      add(line, `${area} must not import ${targetArea} ("${specifier}")`);
    }
  }
  if (!hostAllowed) {
    for (const m of masked.matchAll(/(?<![\w$])Deno\s*\??\./g)) {
      if (!isPropertyAccess(masked, m.index)) add(lineAt(src, m.index), `reference to "Deno" is only allowed in src/runtime and src/bin`);
    }
    for (const m of masked.matchAll(/(?<![\w$])console\s*\??\./g)) {
      if (!isPropertyAccess(masked, m.index)) add(lineAt(src, m.index), `use of "console" is only allowed in src/runtime and src/bin`);
    }
  }
  return out.sort((a, b) => a.line - b.line);
}

/** True for `x.Deno` / `x.console` (some object's own property), false for the global or `globalThis.Deno`. */
function isPropertyAccess(masked: string, at: number): boolean {
  let k = at - 1;
  while (k >= 0 && /\s/.test(masked[k]!)) k--;
  if (masked[k] !== ".") return false;
  return !/(?:globalThis|window|self)\s*\??\.\s*$/.test(masked.slice(Math.max(0, k - 20), k + 1));
}

function listTS(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTS(p));
    else if (entry.isFile() && entry.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Scans ROOT/src and returns the number of files and every violation, ordered by file and line. */
export function checkBoundaries(root: string): { files: number; violations: Violation[] } {
  const files = listTS(join(root, "src")).sort();
  const violations: Violation[] = [];
  for (const f of files) {
    const rel = relative(root, f).split(sep).join("/");
    violations.push(...checkFile(rel, readFileSync(f, "utf8")));
  }
  return { files: files.length, violations };
}

function main(): number {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), ".."));
  const { files, violations } = checkBoundaries(root);
  if (violations.length === 0) {
    process.stdout.write(`boundaries ok (${files} files)\n`);
    return 0;
  }
  for (const v of violations) process.stdout.write(`${v.file}:${v.line}: ${v.message}\n`);
  const bad = new Set(violations.map((v) => v.file)).size;
  process.stderr.write(`boundaries: ${violations.length} violations in ${bad} of ${files} files\n`);
  return 1;
}

const invokedAs = process.argv[1] ? resolve(process.argv[1]) : "";
if (invokedAs === fileURLToPath(import.meta.url)) process.exitCode = main();
