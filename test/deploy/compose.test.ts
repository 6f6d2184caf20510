/**
 * deploy/docker-compose.yml cannot run here (no Docker), so everything short of running it is checked: it parses, every
 * file it and its scripts name exists, every wisp command line they use is one our CLIs accept, and its services are
 * the topology `npm run stack` starts with the same config files.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { NODE, ROOT, run } from "../integration/_harness.ts";

// A plain-JS script: imported through a variable so the type-check does not look for declarations.
const stackScript = "../../scripts/stack.mjs";
const { CONFIG_FILES, TOPOLOGY } = (await import(stackScript)) as { CONFIG_FILES: string[]; TOPOLOGY: string[] };

interface Service {
  image: string;
  command?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: unknown;
}
const compose = parse(readFileSync(join(ROOT, "deploy/docker-compose.yml"), "utf8"), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
/** Maps a path inside the containers (the repo is mounted at /wisp) to the repo. */
const inRepo = (p: string) => join(ROOT, p.replace(/^\/wisp\//, ""));

/** The shell scripts services run, and their text. */
const scripts = Object.values(services)
  .map((s) => s.command?.[1])
  .filter((p): p is string => typeof p === "string" && p.endsWith(".sh"))
  .map((p) => ({ path: p, text: readFileSync(inRepo(p), "utf8") }));

test("the compose file has one service per component of the stack, in a valid dependency order", () => {
  assert.equal(Object.keys(services), TOPOLOGY);
  for (const [name, s] of Object.entries(services)) {
    assert.ok(s.image, `${name} has an image`);
    const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys((s.depends_on ?? {}) as object);
    for (const d of deps as string[]) assert.ok(TOPOLOGY.indexOf(d) < TOPOLOGY.indexOf(name), `${name} starts after ${d}`);
  }
  assert.is(services["workload"]!.environment?.["WISP_AGENT_SOCKET"], services["wisp-agent"]!.environment?.["WISP_AGENT_SOCKET"]);
  assert.is(services["wisp-server"]!.environment?.["AWS_ENDPOINT_URL"], "http://aws-emulator:4566");
});

test("every file the compose file and its scripts reference exists; the stack uses the same config files", () => {
  assert.is(scripts.length, 5);
  const referenced = new Set<string>();
  for (const { text } of scripts) for (const m of text.matchAll(/\/wisp\/([\w./-]+\.(?:mjs|conf|json|sh))/g)) referenced.add(m[1]!);
  for (const s of Object.values(services)) {
    for (const v of [...(s.command ?? []), ...Object.values(s.environment ?? {})]) {
      const m = /^\/wisp\/(.+)$/.exec(v);
      if (m) referenced.add(m[1]!);
    }
  }
  for (const f of referenced) assert.ok(existsSync(join(ROOT, f)), `${f} exists`);
  for (const f of CONFIG_FILES) assert.ok(referenced.has(f), `compose uses ${f}, as the stack does`);
});

/** `node /wisp/bin/<name>.mjs <words> <flags>` in a script, with line continuations joined. */
function invocations(): { bin: string; words: string[]; flags: string[] }[] {
  const out = [];
  for (const { text } of scripts) {
    const joined = text.replace(/^[A-Z]+="node [^"]+"$/gm, "").replace(/\\\n\s*/g, " ").replace(/\$SERVER/g, "node /wisp/bin/wisp-server.mjs").replace(
      /\$AGENT/g,
      "node /wisp/bin/wisp-agent.mjs",
    );
    for (const m of joined.matchAll(/node \/wisp\/bin\/(wisp-[a-z-]+)\.mjs((?:[ \t]+(?![|;&>])[^\s;|&]+)*)/g)) {
      const args = m[2]!.trim().split(/\s+/).filter(Boolean);
      const words: string[] = [];
      while (args.length > 0 && !args[0]!.startsWith("-")) words.push(args.shift()!);
      out.push({ bin: m[1]!, words, flags: args.filter((a) => /^-[a-zA-Z]/.test(a)) });
    }
  }
  return out;
}

test("every wisp command line in the scripts names a real command and only flags it accepts (checked with -h)", async () => {
  const calls = invocations();
  assert.equal(calls.map((c) => [c.bin, ...c.words].join(" ")).sort(), [
    "wisp-agent api fetch x509",
    "wisp-agent run",
    "wisp-aws-emulator",
    "wisp-server entry create",
    "wisp-server healthcheck",
    "wisp-server run",
    "wisp-server token generate",
  ]);
  const helps = await Promise.all(calls.map((c) => run(NODE, [join(ROOT, "bin", `${c.bin}.mjs`), ...c.words, "-h"])));
  for (const [i, c] of calls.entries()) {
    const r = helps[i]!;
    const help = r.stdout + r.stderr;
    if (c.bin !== "wisp-aws-emulator") assert.is(r.code, 0, `${c.bin} ${c.words.join(" ")} -h: ${help}`);
    for (const f of c.flags) assert.ok(new RegExp(`(^|\\s)${f}(\\s|$)`, "m").test(help), `${c.bin} ${c.words.join(" ")} accepts ${f}:\n${help}`);
  }
});

test("the config files the stack and compose share load in wisp-server and wisp-agent (validate with the stack's env)", async () => {
  const { loadServerConfig } = await import("../../src/server/config.ts");
  const env: Record<string, string> = {
    WISP_SERVER_SOCKET: "/run/wisp/server/api.sock",
    WISP_SERVER_DATA: "/var/lib/wisp-server",
    WISP_DB_CONNECTION: "postgresql://wisp:wisp@postgres:5432/wisp?sslmode=disable",
    WISP_KMS_KEY_POLICY: "/wisp/deploy/kms-key-policy.json",
    WISP_PCA_ARN: "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
    AWS_REGION: "us-east-1",
  };
  const cfg = loadServerConfig({
    text: readFileSync(join(ROOT, "deploy/server.conf"), "utf8"),
    filename: "server.conf",
    expandEnv: true,
    getenv: (n) => env[n],
  });
  assert.is(cfg.dataStore.databaseType, "postgres");
  assert.equal([cfg.upstreamAuthority?.name, cfg.keyManager.name, cfg.caTTL], ["aws_pca", "aws_kms", 168 * 3_600_000]);
  JSON.parse(readFileSync(join(ROOT, "deploy/kms-key-policy.json"), "utf8"));
});

test.run();
