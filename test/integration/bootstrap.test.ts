/**
 * How an agent comes to trust its server at first contact, against real processes: trust_bundle_path (the harness'
 * default), a bundle without the server's CA (refused with SPIRE's text, the join token left unused),
 * insecure_bootstrap, KeyManager "disk" `directory`, and the server's ca_subject on the bundle. trust_bundle_url is in
 * bootstrap_url.test.ts.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { AGENT_BIN, agentConf, type Cluster, joinToken, newCluster, Proc, startServer, waitFor, wispAgent } from "./_harness.ts";

let c: Cluster;
let failure: unknown;
const agents: Proc[] = [];

test.before(async () => {
  try {
    // The server's own CA subject, checked on the bundle the agents bootstrap from.
    c = await newCluster({ extraServer: `ca_subject {\n    country = ["US", "FR"]\n    organization = ["Acme"]\n    common_name = "Acme wisp CA"\n  }` });
    await startServer(c);
  } catch (err) {
    failure = err;
  }
});

test.after(async () => {
  for (const a of agents) await a.stop();
  await c?.cleanup();
});

function startAgent(conf: string, token: string, env: Record<string, string> = {}): Proc {
  const p = new Proc(AGENT_BIN, ["run", "-config", conf, "-joinToken", token], env);
  agents.push(p);
  return p;
}

async function healthy(p: Proc, socket: string): Promise<void> {
  await waitFor("agent healthy", async () => {
    if (p.exited) throw new Error(`agent exited: ${p.output}`);
    return (await wispAgent(["healthcheck", "-socketPath", socket])).code === 0 ? true : undefined;
  });
}
test("trust_bundle_path: the default cluster bootstraps securely from the server's bundle show", async () => {
  if (failure) throw failure;
  const a = agentConf(c, "path", `trust_bundle_path = "${c.bundlePath}"`);
  const p = startAgent(a.conf, await joinToken(c));
  await healthy(p, a.socket);
  assert.match(p.output, /Node attestation was successful/);
  assert.not.match(p.output, /Insecure bootstrap/);
  await p.stop();
});

test("server.ca_subject: the self-signed CA in bundle show carries it (openssl x509 -subject)", () => {
  if (failure) throw failure;
  const subject = execFileSync("openssl", ["x509", "-in", c.bundlePath!, "-noout", "-subject"], { encoding: "utf8" }).trim();
  assert.match(subject, /^subject=C = FR \+ C = US, O = Acme, CN = Acme wisp CA, serialNumber = \d+$/);
});

test("a bundle without the server's CA: the agent refuses the server with SPIRE's text and never attests; the token stays good", async () => {
  if (failure) throw failure;
  const token = await joinToken(c);
  // A well-formed bundle of a CA that never signed this server.
  const wrong = join(c.dir, "wrong.crt");
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    join(c.dir, "wrong.key"),
    "-out",
    wrong,
    "-days",
    "1",
    "-subj",
    "/CN=not the server CA",
  ], { stdio: "ignore" });
  const bad = agentConf(c, "wrong", `trust_bundle_path = "${wrong}"`);
  const p = startAgent(bad.conf, token);
  await waitFor("the server refused", async () => (p.output.includes("Trust Bundle and Server don't agree, bootstrapping again") ? true : undefined));
  assert.match(p.output, /x509svid: could not verify leaf certificate: x509: certificate signed by unknown authority/);
  assert.not.match(p.output, /Node attestation was successful/);
  await p.stop();
  assert.not.ok(existsSync(join(bad.dataDir, "agent-data.json")), "no SVID was persisted");

  // The token was never sent, so an agent with the right bundle attests with it.
  const good = agentConf(c, "after-wrong", `trust_bundle_path = "${c.bundlePath}"`);
  const q = startAgent(good.conf, token);
  await healthy(q, good.socket);
  assert.match(q.output, new RegExp(`Node attestation was successful.*spiffe://example.org/spire/agent/join_token/${token}`));
  await q.stop();
});

test("insecure_bootstrap: the agent attests without a bundle and says so", async () => {
  if (failure) throw failure;
  const a = agentConf(c, "insecure", "insecure_bootstrap = true");
  const p = startAgent(a.conf, await joinToken(c));
  await healthy(p, a.socket);
  assert.match(p.output, /Insecure bootstrap enabled/);
  await p.stop();
});

test('KeyManager "disk" directory: the agent key and SVID live there (0700 dir, 0600 file), not in data_dir', async () => {
  if (failure) throw failure;
  const keys = join(c.dir, "km", "agent-keys");
  const a = agentConf(c, "km", `trust_bundle_path = "${c.bundlePath}"`, `\n      directory = "${keys}"\n    `);
  const p = startAgent(a.conf, await joinToken(c));
  await healthy(p, a.socket);
  await p.stop();
  assert.is(statSync(keys).mode & 0o777, 0o700);
  assert.is(statSync(join(keys, "agent-data.json")).mode & 0o777, 0o600);
  assert.not.ok(existsSync(a.dataDir) && readdirSync(a.dataDir).includes("agent-data.json"), "nothing persisted under data_dir");
  // A restart without a join token comes back on what the directory holds.
  const again = new Proc(AGENT_BIN, ["run", "-config", a.conf]);
  agents.push(again);
  await healthy(again, a.socket);
  assert.match(again.output, /Reusing persisted agent SVID/);
  await again.stop();
});

test.run();
