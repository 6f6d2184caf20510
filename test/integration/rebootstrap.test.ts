/**
 * rebootstrap_mode "auto" against real processes: the server is rebuilt with a new CA under a running x509pop agent;
 * the agent tolerates unknown-authority errors for rebootstrap_delay, then deletes its SVID and bundle and exits as
 * SPIRE does; started again with the new bootstrap bundle it attests afresh and serves.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { newCA, newNodeCert } from "../server/nodeattestor/_pki.ts";
import { type Cluster, startServer, waitFor, wispServer } from "./_harness.ts";
import { type EdgeAgent, startEdgeAgent, x509popAgent, x509popCluster } from "./_x509pop.ts";

/** The cluster's own bootstrap line (trust_bundle_path by default), which these tests replace with theirs. */
const BOOTSTRAP_LINE = /insecure_bootstrap = true|trust_bundle_path = "[^"]*"/;

let c: Cluster;
let edge: EdgeAgent;
let bundlePath: string;
let setupError: unknown;
const root = await newCA({ keyType: "ecdsa", name: "edge root" });
const leaf = await newNodeCert(root, { keyType: "ecdsa", cn: "edge-1" });

async function writeBundle(): Promise<string> {
  const b = await wispServer(["bundle", "show", "-socketPath", c.serverSocket]);
  writeFileSync(bundlePath, b.stdout);
  return b.stdout;
}

test.before(async () => {
  try {
    c = await x509popCluster([root]);
    await startServer(c);
    bundlePath = join(c.dir, "bootstrap.pem");
    await writeBundle();
    edge = x509popAgent(c, "edge", leaf);
    writeFileSync(
      edge.conf,
      readFileSync(edge.conf, "utf8").replace(
        BOOTSTRAP_LINE,
        `trust_bundle_path = "${bundlePath}"\n  rebootstrap_mode = "auto"\n  rebootstrap_delay = "2s"`,
      ),
    );
    await startEdgeAgent(edge);
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await edge?.proc?.stop();
  await c?.cleanup();
});

test("a server rebuilt with a new CA: the agent waits rebootstrap_delay, removes its SVID and bundle, exits, and bootstraps again", async () => {
  if (setupError) throw setupError;
  const oldBundle = readFileSync(bundlePath, "utf8");
  await c.server!.stop();
  rmSync(join(c.dir, "server"), { recursive: true, force: true });
  await startServer(c);
  assert.is.not(await writeBundle(), oldBundle, "the rebuilt server has a new CA");

  assert.is(await edge.proc!.waitExit(), 1, edge.proc!.output.slice(-2000));
  const out = edge.proc!.output;
  assert.match(out, /level=warning msg="Trust bundle and server don't agree; ignoring for now"/);
  assert.match(out, /level=warning msg="Agent needs to rebootstrap. shutting down"/);
  assert.match(out, /Error: shutting down for rebootstrapping/);
  assert.not.ok(existsSync(join(edge.dataDir, "agent-data.json")), "SVID, key and bundle were removed");

  await startEdgeAgent(edge);
  assert.match(edge.proc!.output, /msg="SVID is not found. Starting node attestation"/);
  await waitFor("attested to the new server", async () => (/msg="Node attestation was successful"/.test(edge.proc!.output) ? true : undefined));
});

test.run();
