/**
 * Two trust domains, one.example and two.example, each with its own server and agent, federated as SPIRE does:
 * one.example fetches two.example's bundle over https_spiffe (bootstrapped with `bundle set`), two.example fetches
 * one.example's over https_web (a test CA trusted through NODE_EXTRA_CA_CERTS). Workloads in each fetch their SVIDs
 * and federated bundles through the Workload API (`fetch x509 -write`) and complete mTLS across the trust domains
 * with openssl; a CA rotation in two.example reaches one.example's workloads without a restart.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, freePort, joinToken, newCluster, run, startAgent, startServer, waitFor, wispAgent, wispServer } from "./_harness.ts";

let one: Cluster;
let two: Cluster;
let setupError: unknown;
let oneBundlePort = 0;
let twoBundlePort = 0;
const UID = 1000;

const countCerts = (pem: string) => (pem.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;

/** A test CA and a `localhost` serving certificate from it, for two.example's https_web fetch of one.example. */
async function webPKI(dir: string): Promise<{ caPath: string; certPath: string; keyPath: string }> {
  const caKey = join(dir, "web-ca.key");
  const caPath = join(dir, "web-ca.pem");
  const keyPath = join(dir, "web.key");
  const csr = join(dir, "web.csr");
  const certPath = join(dir, "web.pem");
  const ext = join(dir, "web.ext");
  writeFileSync(ext, "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n");
  const steps: string[][] = [
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      caKey,
      "-out",
      caPath,
      "-subj",
      "/CN=wisp federation test CA",
      "-days",
      "2",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyPath, "-out", csr, "-subj", "/CN=localhost"],
    ["x509", "-req", "-in", csr, "-CA", caPath, "-CAkey", caKey, "-CAcreateserial", "-out", certPath, "-days", "1", "-extfile", ext],
  ];
  for (const s of steps) {
    const r = await run("openssl", s);
    if (r.code !== 0) throw new Error(`openssl ${s[0]} failed: ${r.stderr}`);
  }
  return { caPath, certPath, keyPath };
}

async function fetchWrite(c: Cluster, out: string): Promise<string> {
  const r = await waitFor(`SVID in ${c.dir}`, async () => {
    const r = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket, "-write", out], { asUser: UID });
    return r.code === 0 && existsSync(join(out, "federated_bundle.0.0.pem")) ? r : undefined;
  }, 60_000);
  return r.stdout;
}

async function health(c: Cluster): Promise<Record<string, unknown>> {
  const r = await wispServer(["healthcheck", "-verbose", "-socketPath", c.serverSocket]);
  const m = /Server health details: (.*)\n/.exec(r.stdout);
  if (!m) throw new Error(`no health details: ${r.stdout}${r.stderr}`);
  return JSON.parse(m[1]!) as Record<string, unknown>;
}

test.before(async () => {
  try {
    [oneBundlePort, twoBundlePort] = [await freePort(), await freePort()];
    const probe = await newCluster({ trustDomain: "one.example" });
    const pki = await webPKI(probe.dir);
    one = await newCluster({
      trustDomain: "one.example",
      extraServer: `
  federation {
    bundle_endpoint {
      address = "127.0.0.1"
      port = ${oneBundlePort}
      refresh_hint = "2s"
      profile "https_web" {
        serving_cert_file {
          cert_file_path = "${pki.certPath}"
          key_file_path = "${pki.keyPath}"
          file_sync_interval = "1h"
        }
      }
    }
    federates_with "two.example" {
      bundle_endpoint_url = "https://127.0.0.1:${twoBundlePort}"
      bundle_endpoint_profile "https_spiffe" {
        endpoint_spiffe_id = "spiffe://two.example/spire/server"
      }
    }
  }`,
    });
    two = await newCluster({
      trustDomain: "two.example",
      serverEnv: { NODE_EXTRA_CA_CERTS: pki.caPath },
      extraServer: `
  federation {
    bundle_endpoint {
      address = "127.0.0.1"
      port = ${twoBundlePort}
      refresh_hint = "2s"
      profile "https_spiffe" {}
    }
    federates_with "one.example" {
      bundle_endpoint_url = "https://localhost:${oneBundlePort}/"
      bundle_endpoint_profile "https_web" {}
    }
  }`,
    });
    // The probe only lent its directory to the PKI files; keep it until the end.
    const cleanupOne = one.cleanup;
    one.cleanup = async () => {
      await cleanupOne();
      await probe.cleanup();
    };
    // One after the other: two cold starts at once on a loaded machine can outlast startServer's wait.
    await startServer(one);
    await startServer(two);
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await one?.cleanup();
  await two?.cleanup();
});

test("https_spiffe is bootstrapped with bundle set; both servers then hold each other's bundle", async () => {
  if (setupError) throw setupError;
  // Before bootstrap one.example cannot authenticate two.example's endpoint: the health says why.
  const before = await waitFor("failed fetch in health", async () => {
    const h = await health(one);
    const fed = h["federated_bundles"] as { trustDomain: string; lastError?: string }[] | undefined;
    return fed?.find((f) => f.trustDomain === "two.example" && f.lastError) ? h : undefined;
  });
  assert.is(before["status"], "degraded");
  assert.match(JSON.stringify(before["federated_bundles"]), /can't perform SPIFFE Authentication: local copy of bundle not found/);

  const doc = await wispServer(["bundle", "show", "-format", "spiffe", "-socketPath", two.serverSocket]);
  assert.is(doc.code, 0, doc.stderr);
  const docPath = join(one.dir, "two.json");
  writeFileSync(docPath, doc.stdout);
  const set = await wispServer(["bundle", "set", "-id", "spiffe://two.example", "-format", "spiffe", "-path", docPath, "-socketPath", one.serverSocket]);
  assert.is(set.code, 0, set.stderr);
  assert.is(set.stdout, "bundle set.\n");

  await waitFor("one.example fetched two.example over https_spiffe", async () => {
    const h = await health(one);
    const fed = h["federated_bundles"] as { trustDomain: string; lastError?: string; lastSuccess?: string }[];
    return fed.find((f) => f.trustDomain === "two.example" && f.lastSuccess && !f.lastError) ? true : undefined;
  });
  // two.example trusts one.example's endpoint through the Web PKI (test CA in NODE_EXTRA_CA_CERTS): no bootstrap.
  await waitFor("two.example fetched one.example over https_web", async () => {
    const r = await wispServer(["bundle", "list", "-id", "spiffe://one.example", "-socketPath", two.serverSocket]);
    return r.code === 0 && r.stdout.includes("BEGIN CERTIFICATE") ? true : undefined;
  });
  const oneBundle = await wispServer(["bundle", "show", "-socketPath", one.serverSocket]);
  const listed = await wispServer(["bundle", "list", "-socketPath", two.serverSocket]);
  assert.is(listed.stdout, `****************************************\n* one.example\n****************************************\n${oneBundle.stdout}`);
  const count = await wispServer(["bundle", "count", "-socketPath", two.serverSocket]);
  assert.is(count.stdout, "2 bundles\n");
});

test("workloads in each trust domain get the other's bundle and complete mTLS authorised by SPIFFE ID", async () => {
  if (setupError) throw setupError;
  const [t1, t2] = await Promise.all([joinToken(one, "spiffe://one.example/node"), joinToken(two, "spiffe://two.example/node")]);
  await Promise.all([startAgent(one, t1), startAgent(two, t2)]);
  const e1 = await wispServer([
    "entry",
    "create",
    "-socketPath",
    one.serverSocket,
    "-parentID",
    "spiffe://one.example/node",
    "-spiffeID",
    "spiffe://one.example/client",
    "-selector",
    `unix:uid:${UID}`,
    "-federatesWith",
    "spiffe://two.example",
  ]);
  assert.is(e1.code, 0, e1.stderr);
  assert.match(e1.stdout, /FederatesWith\s+: two.example/);
  const e2 = await wispServer([
    "entry",
    "create",
    "-socketPath",
    two.serverSocket,
    "-parentID",
    "spiffe://two.example/node",
    "-spiffeID",
    "spiffe://two.example/server",
    "-selector",
    `unix:uid:${UID}`,
    "-federatesWith",
    "spiffe://one.example",
  ]);
  assert.is(e2.code, 0, e2.stderr);
  const shown = await wispServer(["entry", "show", "-federatesWith", "spiffe://two.example", "-socketPath", one.serverSocket]);
  assert.match(shown.stdout, /Found 1 entry/);

  const out1 = join(one.dir, "client");
  const out2 = join(two.dir, "server-svid");
  const [w1] = await Promise.all([fetchWrite(one, out1), fetchWrite(two, out2)]);
  assert.match(w1, /Writing federated bundle #0 for trust domain spiffe:\/\/two.example to file/);
  // The federated bundle one.example's workload got is two.example's own bundle, and vice versa.
  const twoBundle = await wispServer(["bundle", "show", "-socketPath", two.serverSocket]);
  assert.is(readFileSync(join(out1, "federated_bundle.0.0.pem"), "utf8"), twoBundle.stdout);
  const oneBundle = await wispServer(["bundle", "show", "-socketPath", one.serverSocket]);
  assert.is(readFileSync(join(out2, "federated_bundle.0.0.pem"), "utf8"), oneBundle.stdout);

  const port = await freePort();
  const server = spawn("openssl", [
    "s_server",
    "-accept",
    `127.0.0.1:${port}`,
    "-cert",
    join(out2, "svid.0.pem"),
    "-key",
    join(out2, "svid.0.key"),
    "-CAfile",
    join(out2, "federated_bundle.0.0.pem"),
    "-Verify",
    "2",
    "-verify_return_error",
    "-naccept",
    "1",
  ], { stdio: ["pipe", "pipe", "pipe"] });
  let serverOut = "";
  server.stdout.on("data", (d) => (serverOut += d));
  server.stderr.on("data", (d) => (serverOut += d));
  try {
    await waitFor("s_server listening", async () => (serverOut.includes("ACCEPT") ? true : undefined));
    const client = await run("sh", [
      "-c",
      `echo federated | openssl s_client -connect 127.0.0.1:${port} -cert ${join(out1, "svid.0.pem")} -key ${join(out1, "svid.0.key")} ` +
      `-CAfile ${join(out1, "federated_bundle.0.0.pem")} -verify_return_error -showcerts 2>&1`,
    ], { timeoutMs: 30_000 });
    assert.is(client.code, 0, client.stdout);
    assert.match(client.stdout, /Verify return code: 0 \(ok\)/);
    // Authorise by SPIFFE ID: the peer's URI SAN must be the expected workload of the other trust domain.
    const peerPEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(client.stdout)![0];
    const peerPath = join(one.dir, "peer.pem");
    writeFileSync(peerPath, peerPEM);
    const san = await run("openssl", ["x509", "-in", peerPath, "-noout", "-ext", "subjectAltName"]);
    assert.match(san.stdout, /URI:spiffe:\/\/two.example\/server/);
    // s_server required and verified the client's certificate against one.example's bundle (-Verify, -verify_return_error).
    await waitFor("s_server finished", async () => (server.exitCode !== null ? true : undefined));
    assert.is(server.exitCode, 0, serverOut);
    assert.not.match(serverOut, /verify error/);
  } finally {
    if (server.exitCode === null) server.kill();
  }
});

test("a CA rotation in two.example reaches one.example's workloads without a restart", async () => {
  if (setupError) throw setupError;
  const out1 = join(one.dir, "client-after");
  // SPIRE's rotation: the next authority is published in the bundle first (prepare), used later (activate). The
  // prepared root must reach one.example before two.example's bundle endpoint serves an SVID that chains to it.
  const prep = await wispServer(["localauthority", "x509", "prepare", "-output", "json", "-socketPath", two.serverSocket]);
  assert.is(prep.code, 0, prep.stderr);
  const authorityID = (JSON.parse(prep.stdout) as { prepared_authority: { authority_id: string } }).prepared_authority.authority_id;
  const twoBundle = await wispServer(["bundle", "show", "-socketPath", two.serverSocket]);
  assert.is(countCerts(twoBundle.stdout), 2, "the bundle holds the active and the prepared root");
  const got = await waitFor("rotated federated bundle at one.example's workload", async () => {
    await fetchWrite(one, out1);
    const pem = readFileSync(join(out1, "federated_bundle.0.0.pem"), "utf8");
    return countCerts(pem) === 2 ? pem : undefined;
  }, 90_000);
  assert.is(got, twoBundle.stdout);

  const act = await wispServer(["localauthority", "x509", "activate", "-authorityID", authorityID, "-socketPath", two.serverSocket]);
  assert.is(act.code, 0, act.stderr);
  // two.example's endpoint now serves an SVID from the new authority; one.example still authenticates it, with the
  // bundle it fetched, without a restart.
  await waitFor("refresh over https_spiffe after activation", async () => {
    const r = await wispServer(["federation", "refresh", "-id", "two.example", "-socketPath", one.serverSocket]);
    return r.code === 0 && r.stdout === "Bundle refreshed\n" ? true : undefined;
  }, 60_000);
  assert.ok(!one.server!.exited && !one.agent!.exited);
});

test("bundle and federation commands answer as SPIRE's", async () => {
  if (setupError) throw setupError;
  const list = await wispServer(["federation", "list", "-socketPath", one.serverSocket]);
  assert.is(list.code, 0, list.stderr);
  assert.is(
    list.stdout,
    "Found 1 federation relationship\n\n" +
      "Trust domain              : two.example\n" +
      `Bundle endpoint URL       : https://127.0.0.1:${twoBundlePort}\n` +
      "Bundle endpoint profile   : https_spiffe\n" +
      "Endpoint SPIFFE ID        : spiffe://two.example/spire/server\n",
  );
  const created = await wispServer([
    "federation",
    "create",
    "-trustDomain",
    "three.example",
    "-bundleEndpointURL",
    "https://127.0.0.1:1/",
    "-bundleEndpointProfile",
    "https_web",
    "-socketPath",
    one.serverSocket,
  ]);
  assert.is(created.code, 0, created.stderr);
  assert.is(
    created.stdout,
    "\nTrust domain              : three.example\nBundle endpoint URL       : https://127.0.0.1:1/\nBundle endpoint profile   : https_web\n",
  );
  const dup = await wispServer([
    "federation",
    "create",
    "-trustDomain",
    "three.example",
    "-bundleEndpointURL",
    "https://127.0.0.1:1/",
    "-bundleEndpointProfile",
    "https_web",
    "-socketPath",
    one.serverSocket,
  ]);
  assert.is(dup.code, 1);
  assert.match(
    dup.stderr,
    /^Failed to create the following federation relationship \(code: AlreadyExists, msg: "failed to create federation relationship: federation relationship already exists"\):/,
  );
  const show = await wispServer(["federation", "show", "-trustDomain", "three.example", "-socketPath", one.serverSocket]);
  assert.match(show.stdout, /^Found a federation relationship with trust domain three.example:\n\nTrust domain {14}: three.example\n/);
  // Unreachable endpoint: the refresh fails with the reason, and the failure shows in health.
  const refresh = await wispServer(["federation", "refresh", "-id", "three.example", "-socketPath", one.serverSocket]);
  assert.is(refresh.code, 1);
  assert.match(refresh.stderr, /unable to fetch bundle: /);
  const del = await wispServer(["federation", "delete", "-id", "three.example", "-socketPath", one.serverSocket]);
  assert.is(del.stdout, "federation relationship deleted.\n");
  const gone = await wispServer(["federation", "refresh", "-id", "three.example", "-socketPath", one.serverSocket]);
  assert.match(gone.stderr, /no relationship with trust domain \\?"three.example\\?"/);

  // -data as SPIRE's: the relationship and its bootstrap bundle (spiffe format) in one JSON document.
  const twoDoc = await wispServer(["bundle", "show", "-format", "spiffe", "-socketPath", two.serverSocket]);
  const dataPath = join(one.dir, "rels.json");
  writeFileSync(
    dataPath,
    JSON.stringify({
      federationRelationships: [{
        trustDomain: "five.example",
        bundleEndpointURL: "https://127.0.0.1:1/",
        bundleEndpointProfile: "https_web",
        trustDomainBundle: JSON.parse(twoDoc.stdout),
        trustDomainBundleFormat: "spiffe",
      }],
    }),
  );
  const fromData = await wispServer(["federation", "create", "-data", dataPath, "-socketPath", one.serverSocket]);
  assert.is(fromData.code, 0, fromData.stderr);
  const five = await wispServer(["bundle", "list", "-id", "spiffe://five.example", "-socketPath", one.serverSocket]);
  const twoPEM = await wispServer(["bundle", "show", "-socketPath", two.serverSocket]);
  assert.is(five.stdout, twoPEM.stdout);
  const both = await wispServer(["federation", "update", "-data", dataPath, "-trustDomain", "five.example", "-socketPath", one.serverSocket]);
  assert.is(both.stderr, "Error: cannot use other flags to specify relationship fields when 'data' flag is set\n");

  // A bundle in use by an entry is not deleted in restrict mode.
  const restricted = await wispServer(["bundle", "delete", "-id", "spiffe://two.example", "-socketPath", one.serverSocket]);
  assert.is(restricted.code, 1);
  assert.match(restricted.stderr, /cannot delete bundle; federated with 1 registration entries/);
  const bad = await wispServer(["bundle", "set", "-id", "spiffe://four.example", "-path", one.serverConf, "-socketPath", one.serverSocket]);
  assert.is(bad.code, 1);
  assert.is(bad.stderr, "Error: unable to parse bundle data: no PEM blocks\n");
});

test("a JWT-SVID of two.example validates at one.example's agent against the federated JWT keys, which FetchJWTBundles serves", async () => {
  if (setupError) throw setupError;
  const fetched = await waitFor("JWT-SVID in two.example", async () => {
    const r = await wispAgent(["api", "fetch", "jwt", "-audience", "one", "-socketPath", two.agentSocket], { asUser: UID });
    return r.code === 0 ? r : undefined;
  });
  const token = /^token\(spiffe:\/\/two\.example\/server\):\n\t(\S+)\n/.exec(fetched.stdout)![1]!;
  // The other trust domain's bundle is listed beside the own one for a workload that federates with it.
  assert.match(fetched.stdout, /bundle\(spiffe:\/\/one\.example\):\n\t\{"keys":\[\{/);
  assert.match(fetched.stdout, /bundle\(spiffe:\/\/two\.example\):\n/);
  const v = await wispAgent(["api", "validate", "jwt", "-audience", "one", "-svid", token, "-socketPath", one.agentSocket], { asUser: UID });
  assert.is(v.code, 0, v.stderr);
  assert.is(v.stdout.split("\n")[1], "SPIFFE ID : spiffe://two.example/server");
});

test.run();
