/**
 * wisp-server with UpstreamAuthority "aws_pca" and KeyManager "aws_kms" against the AWS emulator process: a
 * four-level chain that openssl verifies, restarts without PCA calls, and PCA outages at start.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fromPEM, parseCertificate, toPEM } from "../../src/core/x509/mod.ts";
import { type RunningEmulator, startEmulator } from "../emulator/emulator_process.ts";
import { type Cluster, joinToken, newCluster, run, startAgent, startServer, waitFor, wispAgent, wispServer } from "./_harness.ts";

let emu: RunningEmulator;
let c: Cluster;
const measured: string[] = [];

function pcaCalls(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (k.startsWith("acm-pca:") && v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}

/** A cluster whose server uses the emulator's subordinate CA and KMS, as the seed's server.conf does. */
async function awsCluster(): Promise<Cluster> {
  const cl = await newCluster({
    keyManager: "aws_kms",
    keyManagerData: `
      region = "${emu.info.region}"
      key_policy_file = "KEY_POLICY_FILE"
      endpoint = "${emu.info.endpoint}"
    `,
    extraServer:
      `ca_ttl = "168h"\n  default_x509_svid_ttl = "1h"\n  ca_subject {\n    country = ["DE"]\n    organization = ["Acme"]\n    common_name = "Acme wisp CA"\n  }`,
    extraServerPlugins: `
  UpstreamAuthority "aws_pca" {
    plugin_data {
      region = "${emu.info.region}"
      certificate_authority_arn = "${emu.info.subordinateCaArn}"
      signing_algorithm = "SHA256WITHECDSA"
      ca_signing_template_arn = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"
      endpoint = "${emu.info.endpoint}"
    }
  }`,
    serverEnv: {
      AWS_ACCESS_KEY_ID: emu.info.accessKeyId,
      AWS_SECRET_ACCESS_KEY: emu.info.secretAccessKey,
      AWS_ENDPOINT_URL_STS: emu.info.endpoint,
    },
  });
  // The seed's KeyManager block names only region and key_policy_file; the server ID file defaults into data_dir.
  const policy = join(cl.dir, "kms-key-policy.json");
  writeFileSync(policy, JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: "*" }, Action: "kms:*", Resource: "*" }] }));
  writeFileSync(cl.serverConf, readFileSync(cl.serverConf, "utf8").replace("KEY_POLICY_FILE", policy));
  return cl;
}

const setPCA = (mode: "ok" | "down") => emu.control("/_emulator/faults", { service: "acm-pca", mode });

test.before(async () => {
  emu = await startEmulator();
  c = await awsCluster();
});

test.after(async () => {
  await c?.cleanup();
  await emu?.stop();
  rmSync(emu.dataDir, { recursive: true, force: true });
  for (const m of measured) process.stdout.write(`  measured: ${m}\n`);
});

test("the server gets its first CA from PCA (2 s issuance delay) and a workload SVID verifies over 4 levels", async () => {
  await emu.control("/_emulator/config", { issuanceDelayMs: 2000 });
  const started = Date.now();
  await startServer(c);
  const at = (msg: string) => Date.parse(c.server!.output.split("\n").find((l) => l.includes(`msg="${msg}"`))?.match(/time="([^"]+)"/)?.[1] ?? "");
  measured.push(
    `with a 2 s PCA issuance delay: process spawn to healthy ${Date.now() - started} ms; "Server starting" to "X509 CA activated" ` +
      `${at("X509 CA activated") - at("Server starting")} ms; IssueCertificate to CA prepared ${
        at("X509 CA prepared") - at("Certificate issuance requested")
      } ms`,
  );
  await emu.control("/_emulator/config", { issuanceDelayMs: 0 });
  const stats = await emu.stats();
  assert.is(stats["acm-pca:IssueCertificate"], 1);
  assert.ok((stats["kms:CreateAlias"] ?? 0) >= 2, "x509-CA-A and JWT-Signer-A aliases were created");

  const token = await joinToken(c, "spiffe://example.org/node1");
  await startAgent(c, token);
  const e = await wispServer([
    "entry",
    "create",
    "-socketPath",
    c.serverSocket,
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/web",
    "-selector",
    "unix:uid:1000",
  ]);
  assert.is(e.code, 0, e.stderr);
  const out = join(c.dir, "svid");
  let last = "";
  await waitFor("SVID for uid 1000", async () => {
    const r = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket, "-write", out], { asUser: 1000 });
    last = r.stderr + r.stdout;
    return r.code === 0 ? r : undefined;
  }, 8000).catch((err) => {
    throw new Error(`${err}\nlast: ${last}\nserver:\n${c.server!.output.slice(-6000)}\nagent:\n${c.agent!.output.slice(-3000)}`);
  });
  const v = await run("openssl", ["verify", "-CAfile", join(out, "bundle.0.pem"), "-untrusted", join(out, "svid.0.pem"), join(out, "svid.0.pem")]);
  assert.is(v.code, 0, v.stderr);
  assert.match(v.stdout, /svid\.0\.pem: OK/);
  const svid = readFileSync(join(out, "svid.0.pem"), "utf8");
  assert.is(svid.match(/BEGIN CERTIFICATE/g)?.length, 3, "leaf, wisp intermediate, PCA subordinate");
  const bundleCNs = fromPEM(readFileSync(join(out, "bundle.0.pem"), "utf8")).map((d) => parseCertificate(d).subject.CN);
  assert.equal(bundleCNs, ["Wisp Emulator Root CA"], "the PCA root is the bundle; intermediates never are");
  const chainCNs = fromPEM(svid).slice(1).map((d) => parseCertificate(d).subject.CN ?? "");
  assert.equal(chainCNs, ["Acme wisp CA", "Wisp Emulator Subordinate CA"], "the wisp intermediate (ca_subject) then the PCA subordinate");
  // server.ca_subject went into the CSR sent to ACM PCA, which kept it on the intermediate it issued.
  const wispCA = toPEM(fromPEM(svid)[1]!, "CERTIFICATE");
  const subject = execFileSync("openssl", ["x509", "-noout", "-subject"], { input: wispCA, encoding: "utf8" }).trim();
  assert.match(subject, /^subject=C = DE, O = Acme, CN = Acme wisp CA, serialNumber = \d+$/);
});

test("a restart reuses the persisted CA (aws_kms keys, journal): zero PCA calls, and it serves while PCA is down", async () => {
  await c.server!.stop();
  await setPCA("down");
  try {
    // The emulator counts a call before applying the fault, so a refused call would still show up here.
    const before = await emu.stats();
    await startServer(c);
    const r = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket], { asUser: 1000 });
    assert.is(r.code, 0, r.stderr);
    assert.equal(pcaCalls(before, await emu.stats()), {});
  } finally {
    await setPCA("ok");
  }
});

test("wisp-server ca rotate mints one new CA through PCA", async () => {
  const before = await emu.stats();
  const r = await wispServer(["ca", "rotate", "-socketPath", c.serverSocket]);
  assert.is(r.code, 0, r.stderr);
  const calls = pcaCalls(before, await emu.stats());
  assert.is(calls["acm-pca:IssueCertificate"], 1);
  measured.push(`PCA calls for one rotation (first after a restart, so DescribeCertificateAuthority runs once): ${JSON.stringify(calls)}`);
  const before2 = await emu.stats();
  const r2 = await wispServer(["ca", "rotate", "-socketPath", c.serverSocket]);
  assert.is(r2.code, 0, r2.stderr);
  measured.push(`PCA calls for a further rotation: ${JSON.stringify(pcaCalls(before2, await emu.stats()))}`);
});

test("PCA down at start with no CA: the server exits 1 with an error naming the PCA endpoint", async () => {
  const fresh = await awsCluster();
  await setPCA("down");
  try {
    const r = await wispServer(["run", "-config", fresh.serverConf], { env: fresh.serverEnv ?? {}, timeoutMs: 30_000 });
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, `Error: failed to describe CertificateAuthority: ACM PCA at "${emu.info.endpoint}" is unreachable`);
  } finally {
    await setPCA("ok");
    await fresh.cleanup();
  }
});

test.run();
