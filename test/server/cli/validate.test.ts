/** `wisp-server validate` and `wisp-agent validate`: SPIRE texts, streams and exit codes (its cmd/spire-server/cli/validate). */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateCommand as agentValidate } from "../../../src/agent/cli/validate.ts";
import { type CLIEnv, runCLI } from "../../../src/core/cli/command.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";
import { validateCommand as serverValidate } from "../../../src/server/cli/validate.ts";

const dir = mkdtempSync(join(tmpdir(), "wisp-validate-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

async function run(bin: "wisp-server" | "wisp-agent", args: string[], vars: Record<string, string> = {}) {
  const out = { stdout: "", stderr: "", code: -1 };
  const env: CLIEnv = {
    stdout: (s) => void (out.stdout += s),
    stderr: (s) => void (out.stderr += s),
    getenv: (k) => vars[k],
    cwd: dir,
    signal: new AbortController().signal,
  };
  const commands = [bin === "wisp-server" ? serverValidate(nodeFS) : agentValidate(nodeFS)];
  out.code = await runCLI({ name: bin, commands, argv: ["validate", ...args], env });
  return out;
}

const SERVER_OK = `server { trust_domain = "example.org" data_dir = "${dir}" }\nplugins { KeyManager "memory" { plugin_data {} } }\n`;
const AGENT_OK = `agent { trust_domain = "example.org" server_address = "127.0.0.1" insecure_bootstrap = true }\n`;

test("server: a valid file prints SPIRE's line on stdout and exits 0", async () => {
  assert.equal(await run("wisp-server", ["-config", file("ok.conf", SERVER_OK)]), {
    stdout: "SPIRE server configuration file is valid.\n",
    stderr: "",
    code: 0,
  });
});

test("server: config errors print every problem after SPIRE's prefix on stderr and exit 1", async () => {
  assert.equal(await run("wisp-server", ["-config", file("bad.conf", `server { bogus = 1 }\n`)]), {
    stdout: "",
    stderr:
      `SPIRE server configuration file is invalid: configuration has 2 problems: server.trust_domain must be configured; unknown configuration key "server.bogus"\n`,
    code: 1,
  });
});

test("server: problems only in plugin data use SPIRE's 'Validation errors' list, grouped by plugin", async () => {
  const conf = file(
    "plugin.conf",
    `server { trust_domain = "example.org" }
plugins { UpstreamAuthority "disk" { plugin_data { cert_file_path = "c.pem" } } }\n`,
  );
  assert.equal(await run("wisp-server", ["-config", conf]), {
    stdout: "",
    stderr:
      `SPIRE server configuration file is invalid.\nValidation errors:\n\tUpstreamAuthority "disk":\n\t\tplugin configuration is missing the key_file_path\n`,
    code: 1,
  });
});

test("server: a missing file gives SPIRE's 'use the -config flag' text", async () => {
  assert.equal(await run("wisp-server", ["-config", "nope.conf"]), {
    stdout: "",
    stderr: `SPIRE server configuration file is invalid: could not find config file ${join(dir, "nope.conf")}: please use the -config flag\n`,
    code: 1,
  });
});

test("server: takes run's flags (-expandEnv, -trustDomain) so it checks what run would run", async () => {
  const conf = file("env.conf", `server { trust_domain = "$TD" }\n`);
  assert.is((await run("wisp-server", ["-config", conf, "-expandEnv"], { TD: "example.org" })).code, 0);
  assert.is((await run("wisp-server", ["-config", file("nota.conf", "server {}\n"), "-trustDomain", "example.org"])).code, 0);
  const bad = await run("wisp-server", ["-config", conf]);
  assert.equal([bad.code, bad.stderr], [
    1,
    `SPIRE server configuration file is invalid: server.trust_domain: invalid trust domain "$TD": trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores\n`,
  ]);
});

test("agent: valid and invalid, SPIRE's texts", async () => {
  assert.equal(await run("wisp-agent", ["-config", file("a.conf", AGENT_OK)]), { stdout: "SPIRE agent configuration file is valid.\n", stderr: "", code: 0 });
  assert.equal(await run("wisp-agent", ["-config", file("a.conf", AGENT_OK), "-trustBundleFormat", "der"]), {
    stdout: "",
    stderr: `SPIRE agent configuration file is invalid: invalid value for agent.trust_bundle_format, expected "pem" or "spiffe"\n`,
    code: 1,
  });
});

test("validate -h shows run's flags", async () => {
  const h = await run("wisp-agent", ["-h"]);
  assert.is(h.code, 0);
  for (const flag of ["-config", "-expandEnv", "-logFormat", "-logFile", "-trustBundleUrl", "-trustBundleFormat", "-allowUnauthenticatedVerifiers"]) {
    assert.ok(h.stdout.includes(flag), flag);
  }
  assert.match(h.stdout, /Validates a SPIRE agent configuration file/);
});

test.run();
