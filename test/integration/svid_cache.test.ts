/**
 * x509_svid_cache_max_size with real processes: an agent whose cache holds 1 SVID, authorized for 6 entries. It
 * serves as soon as it has synced, and a workload matching 4 of them gets all 4 SVIDs (the ones beyond the cache
 * are minted when it asks); another workload's entries still work afterwards; an Envoy asking SDS for an identity
 * beyond the cache gets it, with the bundle of the trust domain its entry federates with.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { AGENT_BIN, binCommand, type Cluster, joinToken, newCluster, run, startAgent, startServer, wispAgent, wispServer } from "./_harness.ts";
import { pemCertificates, sdsOnce, sdsStubs, trustedPEM } from "./_sds_client.ts";

let c: Cluster;
let setupError: unknown;
let stubs = "";
let foreignPEM = "";
const uid = process.getuid?.() ?? 0;
/** The SDS workload's uid and identity, beyond the cache from the start. */
const ENVOY_UID = 2302;
const ENVOY_ID = "spiffe://example.org/envoy";

test.before(async () => {
  try {
    c = await newCluster({ extraAgent: "x509_svid_cache_max_size = 1" });
    await startServer(c);
    const token = await joinToken(c, "spiffe://example.org/node1");
    // Created first, so the background pass fills the 1-SVID cache with it, not with the workload's entries.
    const entries: [string, string][] = [["other", "unix:uid:2301"], ...["a", "b", "c", "d"].map((n): [string, string] => [n, `unix:uid:${uid}`])];
    for (const [name, selector] of entries) {
      const r = await wispServer([
        "entry",
        "create",
        "-socketPath",
        c.serverSocket,
        "-parentID",
        "spiffe://example.org/node1",
        "-spiffeID",
        `spiffe://example.org/${name}`,
        "-selector",
        selector,
      ]);
      assert.is(r.code, 0, r.stderr);
    }
    // A foreign trust domain's bundle (any CA will do; this server's own root) for the SDS workload's entry.
    const shown = await wispServer(["bundle", "show", "-socketPath", c.serverSocket]);
    assert.is(shown.code, 0, shown.stderr);
    foreignPEM = shown.stdout;
    writeFileSync(join(c.dir, "fed.pem"), foreignPEM);
    const set = await wispServer(["bundle", "set", "-id", "spiffe://fed.example", "-path", join(c.dir, "fed.pem"), "-socketPath", c.serverSocket]);
    assert.is(set.code, 0, set.stderr);
    const envoy = await wispServer([
      "entry",
      "create",
      "-socketPath",
      c.serverSocket,
      "-parentID",
      "spiffe://example.org/node1",
      "-spiffeID",
      ENVOY_ID,
      "-selector",
      `unix:uid:${ENVOY_UID}`,
      "-federatesWith",
      "spiffe://fed.example",
    ]);
    assert.is(envoy.code, 0, envoy.stderr);
    stubs = await sdsStubs(c.dir);
    await startAgent(c, token);
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await c?.cleanup();
});

const fetchJSON = (setpriv?: string[]) =>
  setpriv
    ? run("setpriv", [...setpriv, ...binCommand(AGENT_BIN).flat(), "api", "fetch", "x509", "-socketPath", c.agentSocket, "-output", "json"])
    : wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket, "-output", "json"]);

test("a workload whose entries are beyond the cache gets every SVID it is entitled to", async () => {
  if (setupError) throw setupError;
  const r = await fetchJSON();
  assert.is(r.code, 0, r.stderr + r.stdout);
  const ids = (JSON.parse(r.stdout) as { svids: { spiffe_id: string }[] }).svids.map((s) => s.spiffe_id).sort();
  assert.equal(ids, ["a", "b", "c", "d"].map((n) => `spiffe://example.org/${n}`));
  assert.match(c.agent!.output, /msg="Creating X509-SVID" .*spiffe_id="?spiffe:\/\/example.org\/d/);
});

test("after that, a workload of another uid still gets its own SVID", async () => {
  if (setupError) throw setupError;
  const r = await fetchJSON(["--reuid=2301", "--regid=2301", "--clear-groups"]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.equal((JSON.parse(r.stdout) as { svids: { spiffe_id: string }[] }).svids.map((s) => s.spiffe_id), ["spiffe://example.org/other"]);
});

test("SDS: an identity beyond the cache is minted when Envoy asks, and its federated bundle is served", async () => {
  if (setupError) throw setupError;
  assert.not.match(c.agent!.output, new RegExp(`msg="Creating X509-SVID" .*spiffe_id="?${ENVOY_ID}`), "not minted before it was asked for");
  const r = await sdsOnce(stubs, c.agentSocket, "fetch", { resource_names: [ENVOY_ID, "spiffe://fed.example"] }, ENVOY_UID);
  assert.ok(r.response, JSON.stringify(r.status));
  const byName = new Map(r.response.resources.map((s) => [s.name, s]));
  assert.equal([...byName.keys()].sort(), [ENVOY_ID, "spiffe://fed.example"]);
  assert.is(byName.get(ENVOY_ID)!.kind, "tls_certificate");
  assert.match(byName.get(ENVOY_ID)!.certificate_chain ?? "", /BEGIN CERTIFICATE/);
  const fingerprints = (pem: string) => pemCertificates(pem).map((x) => x.fingerprint256);
  assert.equal(fingerprints(trustedPEM(byName.get("spiffe://fed.example")!, "fed.example")), fingerprints(foreignPEM));
  assert.match(c.agent!.output, new RegExp(`msg="Creating X509-SVID" .*spiffe_id="?${ENVOY_ID}`));
});

test.run();
