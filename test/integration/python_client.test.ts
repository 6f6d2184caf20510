/** The Workload API seen by an independent Python grpcio client running as another uid: bytes, bundles, header and status rules. @module */
import { X509Certificate } from "node:crypto";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { checkX509SVID, createEntry, pythonStubs, runPython, splitDER, TRUST_DOMAIN_ID } from "./_clients.ts";
import { type Cluster, joinToken, newCluster, startAgent, startServer, waitFor, wispServer } from "./_harness.ts";

const ID = "spiffe://example.org/py";
let c: Cluster;
let stubs = "";

interface PySVID {
  spiffe_id: string;
  x509_svid: string;
  x509_svid_key: string;
  bundle: string;
  hint: string;
}

const b64 = (s: string) => Buffer.from(s, "base64");

/** The trust bundle as the server publishes it (`bundle show`), as concatenated DER. */
async function serverBundleDER(): Promise<Buffer> {
  const r = await wispServer(["bundle", "show", "-socketPath", c.serverSocket]);
  assert.is(r.code, 0, r.stderr);
  const blocks = [...r.stdout.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
  return Buffer.concat(blocks.map((m) => Buffer.from(m[1]!.replace(/\s+/g, ""), "base64")));
}

function pyError(stdout: string): { code: string; details: string } {
  return (JSON.parse(stdout) as { error: { code: string; details: string } }).error;
}

test.before(async () => {
  c = await newCluster();
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  await createEntry(c, { spiffeID: ID, selector: "unix:uid:1000" });
  stubs = await pythonStubs(c.dir);
});

test.after(async () => {
  await c?.cleanup();
});

test("FetchX509SVID as uid 1000: leaf-first DER chain with the entry's SPIFFE ID, matching PKCS#8 key, DER bundle", async () => {
  const r = await waitFor("python SVID", async () => {
    const r = await runPython(stubs, ["--socket", c.agentSocket, "fetch"]);
    return r.code === 0 ? r : undefined;
  });
  const out = JSON.parse(r.stdout) as { svids: PySVID[]; crl: string[]; federated_bundles: Record<string, string> };
  assert.is(out.svids.length, 1);
  const s = out.svids[0]!;
  assert.is(s.spiffe_id, ID);
  assert.is(s.hint, "");
  const leaf = checkX509SVID({ spiffe_id: s.spiffe_id, x509_svid: b64(s.x509_svid), x509_svid_key: b64(s.x509_svid_key), bundle: b64(s.bundle) });
  assert.ok(new Date(leaf.validTo).getTime() > Date.now());
  assert.ok(b64(s.bundle).equals(await serverBundleDER()), "bundle equals the server's bundle");
  assert.equal(out.crl, []);
  assert.equal(out.federated_bundles, {});
});

test("FetchX509Bundles as uid 1000: one bundle keyed by the trust domain, the same DER the SVID carries", async () => {
  const r = await runPython(stubs, ["--socket", c.agentSocket, "bundles"]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const out = JSON.parse(r.stdout) as { bundles: Record<string, string> };
  assert.equal(Object.keys(out.bundles), [TRUST_DOMAIN_ID]);
  const der = b64(out.bundles[TRUST_DOMAIN_ID]!);
  assert.ok(der.equals(await serverBundleDER()));
  for (const d of splitDER(der)) assert.ok(new X509Certificate(d).ca);
});

test("watch mode reads the SVID serial and notAfter exactly as node:crypto does", async () => {
  const r = await runPython(stubs, ["--socket", c.agentSocket, "watch", "1"]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const lines = r.stdout.trim().split("\n").map((l) =>
    JSON.parse(l) as { n: number; svids: { spiffe_id: string; serial: string; not_after: string; leaf: string }[] }
  );
  assert.is(lines.length, 1);
  const s = lines[0]!.svids[0]!;
  assert.is(s.spiffe_id, ID);
  const leaf = new X509Certificate(b64(s.leaf));
  assert.is(BigInt(`0x${s.serial}`), BigInt(`0x${leaf.serialNumber}`));
  // UTCTime YYMMDDHHMMSSZ, as RFC 5280 requires before 2050.
  const m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s.not_after);
  assert.ok(m, s.not_after);
  const [, yy, mo, dd, hh, mi, ss] = m!;
  assert.is(Date.UTC(2000 + Number(yy), Number(mo) - 1, Number(dd), Number(hh), Number(mi), Number(ss)), new Date(leaf.validTo).getTime());
});

test('no security header: INVALID_ARGUMENT "security header missing from request" on both RPCs', async () => {
  for (const mode of ["fetch", "bundles"]) {
    const r = await runPython(stubs, ["--socket", c.agentSocket, "--no-header", mode]);
    assert.is(r.code, 2, r.stderr);
    assert.equal(pyError(r.stdout), { code: "INVALID_ARGUMENT", details: "security header missing from request" });
  }
});

test('wrong header values ("false", "TRUE", two values) are rejected like a missing header', async () => {
  for (const values of [["false"], ["TRUE"], ["true", "true"], ["true", "false"]]) {
    const r = await runPython(stubs, ["--socket", c.agentSocket, ...values.flatMap((v) => ["--header", v]), "fetch"]);
    assert.is(r.code, 2, `${JSON.stringify(values)}: ${r.stderr}`);
    assert.equal(pyError(r.stdout), { code: "INVALID_ARGUMENT", details: "security header missing from request" }, JSON.stringify(values));
  }
});

test('a uid with no entry (1001) gets PERMISSION_DENIED "no identity issued"', async () => {
  for (const mode of ["fetch", "bundles"]) {
    const r = await runPython(stubs, ["--socket", c.agentSocket, mode], 1001);
    assert.is(r.code, 2, r.stderr);
    assert.equal(pyError(r.stdout), { code: "PERMISSION_DENIED", details: "no identity issued" });
  }
});

test.run();
