/** The bootstrap bundle from trust_bundle_path or trust_bundle_url, in PEM or SPIFFE format. */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBootstrapBundle } from "../../src/agent/bootstrap_bundle.ts";
import { toSPIFFEBundle } from "../../src/core/bundle/spiffe_bundle.ts";
import { InvalidArgumentError, UnavailableError } from "../../src/core/errors.ts";
import { toPEM } from "../../src/core/x509/pem.ts";
import { nodeFS } from "../../src/runtime/node/fs.ts";
import { newRootCA } from "../core/x509/_fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "wisp-bootstrap-"));
const root = await newRootCA();
const pem = toPEM(root.der, "CERTIFICATE");
const spiffe = JSON.stringify(await toSPIFFEBundle({ trustDomain: "example.org", x509Authorities: [root.der], jwtKeys: [], sequence: 1, refreshHint: 300 }));
writeFileSync(join(dir, "b.pem"), pem);
writeFileSync(join(dir, "b.json"), spiffe);
const deps = (body: string, status = 200) => ({ fs: nodeFS, fetch: async () => new Response(body, { status, statusText: status === 200 ? "OK" : "Not Found" }) });

test.after(() => rmSync(dir, { recursive: true, force: true }));

test("loadBootstrapBundle() reads a PEM file and a SPIFFE bundle file", async () => {
  assert.equal(await loadBootstrapBundle({ trustBundlePath: join(dir, "b.pem"), trustBundleFormat: "pem" }, { fs: nodeFS }), [root.der]);
  assert.equal(await loadBootstrapBundle({ trustBundlePath: join(dir, "b.json"), trustBundleFormat: "spiffe" }, { fs: nodeFS }), [root.der]);
});

test("loadBootstrapBundle() downloads trust_bundle_url in either format", async () => {
  const url = new URL("https://bundle.example.org/b");
  assert.equal(await loadBootstrapBundle({ trustBundleURL: url, trustBundleFormat: "pem" }, deps(pem)), [root.der]);
  assert.equal(await loadBootstrapBundle({ trustBundleURL: url, trustBundleFormat: "spiffe" }, deps(spiffe)), [root.der]);
});

test("loadBootstrapBundle() returns undefined for insecure bootstrap", async () => {
  assert.is(await loadBootstrapBundle({ trustBundleFormat: "pem" }, { fs: nodeFS }), undefined);
});

test("loadBootstrapBundle() reports a bundle in the wrong format with SPIRE's words", async () => {
  const err = await loadBootstrapBundle({ trustBundlePath: join(dir, "b.pem"), trustBundleFormat: "spiffe" }, { fs: nodeFS }).catch((e) => e);
  assert.instance(err, InvalidArgumentError);
  assert.is(err.message, `unable to parse SPIFFE trust bundle "${join(dir, "b.pem")}"`);
  const json = await loadBootstrapBundle({ trustBundlePath: join(dir, "b.json"), trustBundleFormat: "pem" }, { fs: nodeFS }).catch((e) => e);
  assert.instance(json, InvalidArgumentError);
  assert.is(json.message, `could not parse trust bundle "${join(dir, "b.json")}"`);
  writeFileSync(join(dir, "empty.json"), `{"keys":[]}`);
  const none = await loadBootstrapBundle({ trustBundlePath: join(dir, "empty.json"), trustBundleFormat: "spiffe" }, { fs: nodeFS }).catch((e) => e);
  assert.instance(none, InvalidArgumentError);
  assert.is(none.message, `no certificates found in trust bundle "${join(dir, "empty.json")}"`);
});

test("loadBootstrapBundle() reports a failed download", async () => {
  const url = new URL("https://bundle.example.org/b");
  const status = await loadBootstrapBundle({ trustBundleURL: url, trustBundleFormat: "pem" }, deps("", 404)).catch((e) => e);
  assert.instance(status, UnavailableError);
  assert.is(status.message, "error downloading trust bundle: 404 Not Found");
  const down = await loadBootstrapBundle({ trustBundleURL: url, trustBundleFormat: "pem" }, {
    fs: nodeFS,
    fetch: () => Promise.reject(new TypeError("fetch failed")),
  }).catch((e) => e);
  assert.instance(down, UnavailableError);
  assert.is(down.message, "unable to fetch trust bundle URL https://bundle.example.org/b");
  assert.is(down.cause.message, "fetch failed");
});

test.run();
