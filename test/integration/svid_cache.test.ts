/**
 * x509_svid_cache_max_size with real processes: an agent whose cache holds 1 SVID, authorized for 5 entries. It
 * serves as soon as it has synced, and a workload matching 4 of them gets all 4 SVIDs (the ones beyond the cache
 * are minted when it asks); another workload's entries still work afterwards.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { AGENT_BIN, binCommand, type Cluster, joinToken, newCluster, run, startAgent, startServer, wispAgent, wispServer } from "./_harness.ts";

let c: Cluster;
let setupError: unknown;
const uid = process.getuid?.() ?? 0;

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

test.run();
