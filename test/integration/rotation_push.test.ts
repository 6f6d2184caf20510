/** Open Workload API streams (Python and grpc-js) receive rotations, pushed entry changes and the final PERMISSION_DENIED. @module */
import { X509Certificate } from "node:crypto";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import * as grpc from "@grpc/grpc-js";
import {
  checkX509SVID,
  createEntry,
  deleteEntry,
  pythonStubs,
  PythonWatcher,
  splitDER,
  type Watch,
  watchX509SVID,
  workloadClient,
  type X509SVIDResponseMsg,
} from "./_clients.ts";
import { type Cluster, joinToken, newCluster, startAgent, startServer, waitFor } from "./_harness.ts";

/** Short enough that the agent rotates every few seconds (half-life ± 10 %). */
const TTL_SECONDS = 4;
const PY_ID = "spiffe://example.org/py";
const JS_ID = "spiffe://example.org/js";

interface PyLine {
  n?: number;
  pid?: number;
  svids?: { spiffe_id: string; serial: string; not_after: string; leaf: string }[];
  error?: { code: string; details: string };
}

let c: Cluster;
let stubs = "";
const entries: Record<string, string> = {};
let py: PythonWatcher;
let client: ReturnType<typeof workloadClient>;
let js: Watch<X509SVIDResponseMsg>;

const pyLines = () => py.lines as PyLine[];
const serialOf = (m: X509SVIDResponseMsg, i = 0) => new X509Certificate(splitDER(m.svids[i]!.x509_svid)[0]!).serialNumber;

test.before(async () => {
  c = await newCluster();
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  [entries[PY_ID], entries[JS_ID], stubs] = await Promise.all([
    createEntry(c, { spiffeID: PY_ID, selector: "unix:uid:1000", ttl: TTL_SECONDS }),
    // The test process itself (root) holds the grpc-js stream.
    createEntry(c, { spiffeID: JS_ID, selector: "unix:uid:0", ttl: TTL_SECONDS }),
    pythonStubs(c.dir),
  ]);
});

test.after(async () => {
  await py?.kill();
  js?.cancel();
  client?.close();
  await c?.cleanup();
});

test("streams held by Python and grpc-js receive rotated SVIDs without reconnecting", async () => {
  // The entries were just created: wait until the agent serves them before holding the streams.
  await waitFor("SVID for uid 0", async () => {
    const w = watchX509SVID(workloadClient(c.agentSocket));
    const m = await w.messagesAtLeast(1, "first").catch(() => undefined);
    w.cancel();
    return m;
  });
  py = new PythonWatcher(stubs, ["--socket", c.agentSocket, "watch", "1000"]);
  client = workloadClient(c.agentSocket);
  js = watchX509SVID(client);

  const distinct = <T>(xs: T[]) => new Set(xs).size;
  await waitFor(
    "two Python SVIDs with different serials",
    async () => distinct(pyLines().filter((l) => l.svids).map((l) => l.svids![0]!.serial)) >= 2 ? true : undefined,
    10_000,
  );
  await waitFor("two grpc-js SVIDs with different serials", async () => {
    if (js.status) throw new Error(`stream ended: ${JSON.stringify(js.status)}`);
    return distinct(js.messages.map((m) => serialOf(m))) >= 2 ? true : undefined;
  }, 10_000);

  // One Python process, one stream: consecutive message numbers and no error in between.
  const lines = pyLines();
  assert.equal(lines.map((l) => l.n), lines.map((_, i) => i + 1));
  assert.equal(new Set(lines.map((l) => l.pid)).size, 1);
  for (const l of lines) {
    assert.is(l.svids!.length, 1);
    assert.is(l.svids![0]!.spiffe_id, PY_ID);
    const leaf = new X509Certificate(Buffer.from(l.svids![0]!.leaf, "base64"));
    assert.is(BigInt(`0x${l.svids![0]!.serial}`), BigInt(`0x${leaf.serialNumber}`));
  }
  assert.is(py.exited, false);

  assert.is(js.status, undefined);
  const notAfters: number[] = [];
  for (const m of js.messages) {
    assert.is(m.svids.length, 1);
    assert.is(m.svids[0]!.spiffe_id, JS_ID);
    notAfters.push(new Date(checkX509SVID(m.svids[0]!).validTo).getTime());
  }
  assert.equal(notAfters, [...notAfters].sort((a, b) => a - b), "each rotation lives longer than the last");
});

test("a second entry for the same uid reaches the open streams as a message with 2 SVIDs", async () => {
  const [py2, js2] = await Promise.all([
    createEntry(c, { spiffeID: `${PY_ID}2`, selector: "unix:uid:1000", ttl: TTL_SECONDS }),
    createEntry(c, { spiffeID: `${JS_ID}2`, selector: "unix:uid:0", ttl: TTL_SECONDS }),
  ]);
  entries[`${PY_ID}2`] = py2;
  entries[`${JS_ID}2`] = js2;

  const pyTwo = await py.line("a Python message with 2 SVIDs", (l) => (l as PyLine).svids?.length === 2, 8000) as PyLine;
  assert.equal(pyTwo.svids!.map((s) => s.spiffe_id).sort(), [PY_ID, `${PY_ID}2`]);

  const jsTwo = await waitFor("a grpc-js message with 2 SVIDs", async () => {
    if (js.status) throw new Error(`stream ended: ${JSON.stringify(js.status)}`);
    return js.messages.find((m) => m.svids.length === 2);
  }, 8000);
  assert.equal(jsTwo.svids.map((s) => s.spiffe_id).sort(), [JS_ID, `${JS_ID}2`]);
  for (const s of jsTwo.svids) checkX509SVID(s);
  assert.is(new Set(pyLines().map((l) => l.pid)).size, 1, "same Python stream");
});

test('deleting every entry of the uid ends the open streams with PERMISSION_DENIED "no identity issued"', async () => {
  await Promise.all([PY_ID, `${PY_ID}2`, JS_ID, `${JS_ID}2`].map((id) => deleteEntry(c, entries[id]!)));

  const end = await py.line("Python stream error", (l) => (l as PyLine).error !== undefined, 8000) as PyLine;
  assert.equal(end.error, { code: "PERMISSION_DENIED", details: "no identity issued" });
  assert.is(await new Promise((r) => (py.exited ? r(py.child.exitCode) : py.child.once("exit", r))), 2);

  const status = await js.ended("grpc-js stream end", 8000);
  assert.equal(status, { code: grpc.status.PERMISSION_DENIED, details: "no identity issued" });
});

test.run();
