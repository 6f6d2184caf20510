/**
 * Managed config end to end with real processes: `wisp-server config set|get`, a running self-signed server moving to
 * ACM PCA (the emulator) at the next rotation without a restart, old SVIDs still verifying, both roots pushed to the
 * agent.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fromPEM, parseCertificate } from "../../src/core/x509/mod.ts";
import { unixFetch } from "../../src/runtime/node/unix_fetch.ts";
import { type RunningEmulator, startEmulator } from "../emulator/emulator_process.ts";
import { type Cluster, joinToken, newCluster, run, startAgent, startServer, waitFor, wispAgent, wispServer } from "./_harness.ts";

let emu: RunningEmulator;
let c: Cluster;

const pcaCalls = async () => (await emu.stats())["acm-pca:IssueCertificate"] ?? 0;

function writeDoc(name: string, body: string): string {
  const p = join(c.dir, name);
  writeFileSync(p, body);
  return p;
}

async function fetchSVID(uid: number, dir: string): Promise<{ svid: string; bundle: string }> {
  let last = "";
  await waitFor(`SVID for uid ${uid}`, async () => {
    const r = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket, "-write", dir], { asUser: uid });
    last = r.stderr + r.stdout;
    return r.code === 0 ? true : undefined;
  }, 10_000).catch((err) => {
    throw new Error(`${err}\nlast: ${last}\nserver:\n${c.server!.output.slice(-4000)}`);
  });
  return { svid: join(dir, "svid.0.pem"), bundle: join(dir, "bundle.0.pem") };
}

const verify = (bundle: string, svid: string) => run("openssl", ["verify", "-CAfile", bundle, "-untrusted", svid, svid]);
const cns = (file: string) => fromPEM(readFileSync(file, "utf8")).map((d) => parseCertificate(d).subject.CN ?? parseCertificate(d).subject.O ?? "");

test.before(async () => {
  emu = await startEmulator();
  c = await newCluster({
    serverEnv: { AWS_ACCESS_KEY_ID: emu.info.accessKeyId, AWS_SECRET_ACCESS_KEY: emu.info.secretAccessKey },
  });
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  const e = await wispServer([
    "entry",
    "create",
    "-socketPath",
    c.serverSocket,
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/old",
    "-selector",
    "unix:uid:1000",
  ]);
  assert.is(e.code, 0, e.stderr);
});

test.after(async () => {
  await c?.cleanup();
  await emu?.stop();
  rmSync(emu.dataDir, { recursive: true, force: true });
});

test("config set refuses an invalid document listing every problem, and stores nothing", async () => {
  const bad = writeDoc(
    "bad.yaml",
    `section: UpstreamAuthority
schema: v2
spec:
  extensions:
    awsPca:
      certificateAuthorityArn: arn:aws:acm-pca:us-east-1:123:certificate-authority/nope
      colour: red
`,
  );
  const r = await wispServer(["config", "set", "-socketPath", c.serverSocket, bad]);
  assert.is(r.code, 1);
  assert.is(
    r.stderr,
    `Error: configuration has 3 problems: schema must be "v1", got "v2"; spec.extensions.awsPca.certificateAuthorityArn ` +
      `"arn:aws:acm-pca:us-east-1:123:certificate-authority/nope" is not an ACM PCA certificate authority ARN ` +
      `(arn:aws:acm-pca:<region>:<12-digit account>:certificate-authority/<uuid>); unknown configuration key "spec.extensions.awsPca.colour"\n`,
  );
  const g = await wispServer(["config", "get", "-socketPath", c.serverSocket]);
  assert.is(g.code, 1);
  assert.is(g.stderr, `Error: no managed config is set for section "UpstreamAuthority"\n`);
});

test("self-signed → ACM PCA: config set, then the next rotation mints through PCA; old SVIDs stay valid; both roots reach the agent", async () => {
  const old = await fetchSVID(1000, join(c.dir, "old"));
  assert.equal(cns(old.bundle).length, 1, "one self-signed root before the move");

  const doc = writeDoc(
    "ua.yaml",
    `section: UpstreamAuthority
schema: v1
spec:
  extensions:
    awsPca:
      certificateAuthorityArn: "${emu.info.subordinateCaArn}"
      region: "${emu.info.region}"
      signingAlgorithm: SHA256WITHECDSA
      assumeRoleArn: ""
      endpoint: "${emu.info.endpoint}"
`,
  );
  const set = await wispServer(["config", "set", "-socketPath", c.serverSocket, "-output", "json", doc]);
  assert.is(set.code, 0, set.stderr);
  const stored = JSON.parse(set.stdout) as { section: string; version: number; updated_at: number };
  assert.equal([stored.section, stored.version], ["UpstreamAuthority", 1]);
  const got = await wispServer(["config", "get", "-socketPath", c.serverSocket]);
  assert.match(got.stdout, /^# section UpstreamAuthority, version 1, updated \S+\n/);
  assert.is(got.stdout.slice(got.stdout.indexOf("\n") + 1), readFileSync(doc, "utf8") + (readFileSync(doc, "utf8").endsWith("\n") ? "" : "\n"));

  await waitFor("server picked the document up", async () => (c.server!.output.includes("Managed UpstreamAuthority config loaded") ? true : undefined), 15_000);
  assert.is(await pcaCalls(), 0, "nothing is minted before the next rotation");
  const rot = await wispServer(["ca", "rotate", "-socketPath", c.serverSocket]);
  assert.is(rot.code, 0, rot.stderr);
  assert.is(await pcaCalls(), 1);

  const e = await wispServer([
    "entry",
    "create",
    "-socketPath",
    c.serverSocket,
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/new",
    "-selector",
    "unix:uid:1001",
  ]);
  assert.is(e.code, 0, e.stderr);
  const fresh = await fetchSVID(1001, join(c.dir, "new"));
  assert.is(readFileSync(fresh.svid, "utf8").match(/BEGIN CERTIFICATE/g)?.length, 3, "leaf, wisp intermediate, PCA subordinate");
  const v = await verify(fresh.bundle, fresh.svid);
  assert.is(v.code, 0, v.stderr);
  assert.ok(cns(fresh.bundle).includes("Wisp Emulator Root CA"), "the PCA root is in the pushed bundle");
  assert.is(cns(fresh.bundle).length, 2, "the old self-signed root is still there");
  const stillOld = await verify(fresh.bundle, old.svid);
  assert.is(stillOld.code, 0, `an SVID from the old CA verifies against the new bundle: ${stillOld.stderr}`);

  const h = (await (await unixFetch(c.serverSocket)("/health")).json()) as { details: Record<string, unknown> };
  assert.equal([h.details["status"], h.details["ca_upstream_authority"], h.details["managed_config_version"]], ["healthy", "aws_pca", 1]);
});

test.run();
