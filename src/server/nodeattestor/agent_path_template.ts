/**
 * The subset of Go's text/template that SPIRE's `agent_path_template` settings use: field chains
 * (`{{ .PluginName }}`, `{{ .Subject.CommonName }}`, `{{ .Tags.k }}`), `{{ index .Tags "k" }}`, and `{{-`/`-}}`
 * trimming. SPIRE executes them with `missingkey=error`, so a missing key fails instead of rendering "<no value>".
 * https://pkg.go.dev/text/template
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";

/** The prefix SPIRE puts before every agent path (`idutil.AgentID`). */
export const AGENT_PATH_PREFIX = "/spire/agent";

type Arg = { kind: "field"; path: string[] } | { kind: "string"; value: string };

function fail(message: string): InvalidArgumentError {
  return new InvalidArgumentError(message);
}

function tokenize(action: string): string[] {
  return [...action.matchAll(/"(?:[^"\\]|\\.)*"|`[^`]*`|[^\s]+/g)].map((m) => m[0]);
}

function parseArg(tok: string): Arg {
  if (tok.startsWith('"')) {
    try {
      return { kind: "string", value: JSON.parse(tok) as string };
    } catch {
      throw fail(`invalid string literal ${tok} in template`);
    }
  }
  if (tok.startsWith("`")) return { kind: "string", value: tok.slice(1, -1) };
  if (tok === ".") return { kind: "field", path: [] };
  if (/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(tok)) return { kind: "field", path: tok.slice(1).split(".") };
  throw fail(`unsupported template argument "${tok}"`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Top-level names are Go struct fields; anything below them is a map (Tags) or a nested struct with every field set. */
function lookup(data: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = data;
  path.forEach((name, depth) => {
    if (cur instanceof Map) {
      if (!cur.has(name)) throw fail(`map has no entry for key "${name}"`);
      cur = cur.get(name);
      return;
    }
    if (!isObject(cur)) throw fail(`can't evaluate field ${name} in a value that is not a struct or map`);
    if (!Object.hasOwn(cur, name)) {
      throw fail(depth === 0 ? `can't evaluate field ${name}` : `map has no entry for key "${name}"`);
    }
    cur = cur[name];
  });
  return cur;
}

function evalArg(data: Record<string, unknown>, a: Arg): unknown {
  return a.kind === "string" ? a.value : lookup(data, a.path);
}

function print(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v === undefined || v === null) return "<no value>";
  // Go prints slices as "[a b]" (x509 Subject fields such as Organization are slices).
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return `[${v.join(" ")}]`;
  throw fail("template action renders a value that is not a string or number");
}

/** One parsed action: a single argument, or `index <arg> <key>…`. */
type Action = { kind: "value"; arg: Arg } | { kind: "index"; args: Arg[] };
type Part = { text: string } | { action: Action };

function parseAction(action: string): Action {
  const toks = tokenize(action);
  if (toks.length === 0) throw fail("missing value for command");
  if (toks[0] === "index") {
    if (toks.length < 3) throw fail("wrong number of args for index: want at least 2");
    return { kind: "index", args: toks.slice(1).map(parseArg) };
  }
  if (toks.length !== 1) throw fail(`unsupported template action "${action.trim()}"`);
  return { kind: "value", arg: parseArg(toks[0]!) };
}

function execute(a: Action, data: Record<string, unknown>): string {
  if (a.kind === "value") return print(evalArg(data, a.arg));
  let cur = evalArg(data, a.args[0]!);
  for (const k of a.args.slice(1)) {
    const key = evalArg(data, k);
    if (typeof key !== "string") throw fail("index of a map needs a string key");
    if (cur instanceof Map) {
      if (!cur.has(key)) throw fail(`map has no entry for key "${key}"`);
      cur = cur.get(key);
    } else if (isObject(cur)) {
      if (!Object.hasOwn(cur, key)) throw fail(`map has no entry for key "${key}"`);
      cur = cur[key];
    } else throw fail("can't index item that is not a map");
  }
  return print(cur);
}

/** Splits a template into text and actions, handling `{{-`/`-}}` trimming and Go template comments. */
function parseTemplate(template: string): Part[] {
  const parts: Part[] = [];
  let pos = 0;
  while (pos < template.length) {
    const open = template.indexOf("{{", pos);
    if (open === -1) {
      parts.push({ text: template.slice(pos) });
      break;
    }
    let text = template.slice(pos, open);
    const close = template.indexOf("}}", open + 2);
    if (close === -1) throw fail("unclosed action in template");
    let action = template.slice(open + 2, close);
    if (action.startsWith("- ") || action === "-") {
      text = text.replace(/\s+$/, "");
      action = action.slice(1);
    }
    let trimAfter = false;
    if (action.endsWith(" -")) {
      action = action.slice(0, -1);
      trimAfter = true;
    }
    parts.push({ text });
    if (!/^\s*\/\*[\s\S]*\*\/\s*$/.test(action)) parts.push({ action: parseAction(action) });
    pos = close + 2;
    if (trimAfter) { while (pos < template.length && /\s/.test(template[pos]!)) pos++; }
  }
  return parts;
}

/**
 * Checks a template's syntax without data, so a config can be refused at start as SPIRE's Configure does.
 * @throws {InvalidArgumentError} describing the first syntax problem
 */
export function checkAgentPathTemplate(template: string): void {
  parseTemplate(template);
}

/**
 * Renders an agent path template and prefixes it with `/spire/agent`, as SPIRE's agentpathtemplate + idutil do.
 * @throws {InvalidArgumentError} on a template it cannot parse, a missing field or key, or a result without a leading "/"
 */
export function renderAgentPathTemplate(template: string, data: Record<string, unknown>): string {
  const out = parseTemplate(template).map((p) => ("text" in p ? p.text : execute(p.action, data))).join("");
  if (!out.startsWith("/")) throw fail(`agent path "${out}" must start with "/"`);
  return AGENT_PATH_PREFIX + out;
}
