/** Every kind of unix selector, matched for real workloads started as other users and groups through the agent. */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { AGENT_BIN, binCommand, type Cluster, joinToken, newCluster, run, startAgent, startServer, waitFor, wispServer } from "./_harness.ts";

let c: Cluster;

// Each workload gets exactly one entry, keyed by one selector kind; ids are chosen so no other entry matches it.
const cases: { name: string; selector: string; setpriv: string[] }[] = [
  { name: "uid", selector: "unix:uid:2101", setpriv: ["--reuid=2101", "--regid=2101", "--clear-groups"] },
  { name: "user", selector: "unix:user:nobody", setpriv: ["--reuid=65534", "--regid=2102", "--clear-groups"] },
  { name: "gid", selector: "unix:gid:2103", setpriv: ["--reuid=2203", "--regid=2103", "--clear-groups"] },
  { name: "group", selector: "unix:group:nogroup", setpriv: ["--reuid=2204", "--regid=65534", "--clear-groups"] },
  { name: "supplementary_gid", selector: "unix:supplementary_gid:2105", setpriv: ["--reuid=2205", "--regid=2205", "--groups=2105,2106"] },
  { name: "supplementary_group", selector: "unix:supplementary_group:nogroup", setpriv: ["--reuid=2206", "--regid=2206", "--groups=65534"] },
];

test.before(async () => {
  c = await newCluster();
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  for (const k of cases) {
    const r = await wispServer([
      "entry",
      "create",
      "-socketPath",
      c.serverSocket,
      "-parentID",
      "spiffe://example.org/node1",
      "-spiffeID",
      `spiffe://example.org/${k.name}`,
      "-selector",
      k.selector,
    ]);
    assert.is(r.code, 0, r.stderr);
  }
});

test.after(async () => {
  await c?.cleanup();
});

const fetchAs = (setpriv: string[]) =>
  run("setpriv", [...setpriv, ...binCommand(AGENT_BIN).flat(), "api", "fetch", "x509", "-socketPath", c.agentSocket, "-output", "json"]);

for (const k of cases) {
  test(`a workload matching only ${k.selector} gets spiffe://example.org/${k.name} and nothing else`, async () => {
    const r = await waitFor(k.selector, async () => {
      const r = await fetchAs(k.setpriv);
      return r.code === 0 ? r : undefined;
    });
    const ids = (JSON.parse(r.stdout) as { svids: { spiffe_id: string }[] }).svids.map((s) => s.spiffe_id);
    assert.equal(ids, [`spiffe://example.org/${k.name}`]);
  });
}

test("a workload matching none of them (uid 2999, gid 2999, no groups) gets PermissionDenied", async () => {
  const r = await fetchAs(["--reuid=2999", "--regid=2999", "--clear-groups"]);
  assert.is(r.code, 1);
  assert.match(r.stdout, /no identity issued/);
});

test.run();
