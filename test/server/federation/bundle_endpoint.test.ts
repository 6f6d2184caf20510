/** The bundle endpoint's answers (SPIRE's pkg/server/endpoints/bundle/server.go): only GET /, SPIFFE bundle JSON. */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { nullLogger } from "../../../src/core/log/logger.ts";
import { parseBundleDocument } from "../../../src/core/bundle/parse_bundle_document.ts";
import { x509 } from "../../../src/core/x509/_peculiar.ts";
import { bundleEndpointApp } from "../../../src/server/federation/bundle_endpoint.ts";
import { memoryStore, newClock } from "../_fixtures.ts";

test("GET / serves the local bundle as a SPIFFE bundle document with sequence and refresh hint; other methods and paths are refused", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const app = bundleEndpointApp({ ds, trustDomain: "one.example", refreshHintSeconds: 300, logger: nullLogger });
  const missing = await app.fetch(new Request("https://x/"));
  assert.is(missing.status, 500);
  assert.is(await missing.text(), "unable to retrieve local bundle\n");

  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=one",
    keys,
    signingAlgorithm: alg,
    notBefore: new Date(clock.now().getTime() - 1000),
    notAfter: new Date(clock.now().getTime() + 86400_000),
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  await ds.appendBundle({
    trustDomain: "one.example",
    x509Authorities: [new Uint8Array(root.rawData)],
    jwtKeys: [{ kid: "kid1", publicKey: spki, notAfter: 0 }],
  });

  const res = await app.fetch(new Request("https://x/"));
  assert.is(res.status, 200);
  assert.is(res.headers.get("content-type"), "application/json");
  const text = await res.text();
  assert.ok(text.startsWith('{\n    "keys": [\n'), "4-space indent as SPIRE");
  const doc = JSON.parse(text) as { keys: { use: string; kid?: string }[]; spiffe_sequence: number; spiffe_refresh_hint: number };
  assert.equal(doc.keys.map((k) => k.use), ["x509-svid", "jwt-svid"]);
  assert.is(doc.keys[1]!.kid, "kid1");
  assert.is(doc.spiffe_sequence, 1);
  assert.is(doc.spiffe_refresh_hint, 300);
  // What we serve, our own fetcher accepts.
  const parsed = await parseBundleDocument(text, "one.example", clock.now());
  assert.equal(parsed.x509Authorities, [new Uint8Array(root.rawData)]);
  assert.equal(parsed.jwtKeys.map((k) => k.kid), ["kid1"]);

  const post = await app.fetch(new Request("https://x/", { method: "POST" }));
  assert.is(post.status, 405);
  assert.is(await post.text(), "method not allowed\n");
  const other = await app.fetch(new Request("https://x/other"));
  assert.is(other.status, 404);
  assert.is(await other.text(), "404 page not found\n");
});

test.run();
