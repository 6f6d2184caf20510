/**
 * The federated bundle refresher against bad bundle endpoints: garbage, oversized, expired and badly signed
 * documents, a server answering an error, and an https_spiffe endpoint whose SVID is not the configured
 * endpoint_spiffe_id (real TLS through the runtime's connector). Each is refused with a clear error, reported in the
 * status the health check shows, and the last good bundle stays in the datastore.
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { nullLogger } from "../../../src/core/log/logger.ts";
import { Registry } from "../../../src/core/metrics/registry.ts";
import type { HTTPGetResponse } from "../../../src/core/ports/http_get.ts";
import { toPEM } from "../../../src/core/x509/pem.ts";
import { x509 } from "../../../src/core/x509/_peculiar.ts";
import { nodeServerConnector } from "../../../src/runtime/node/server_connector.ts";
import { bundleDocument } from "../../../src/server/federation/bundle_endpoint.ts";
import { BundleRefresher } from "../../../src/server/federation/bundle_refresher.ts";
import { ManualClock } from "../../../src/core/ports/clock.ts";
import { memoryStore, newClock } from "../_fixtures.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const FED = "two.example";

async function keys(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** A self-signed CA valid from `from` to `to`. */
async function root(from: Date, to: Date, k?: CryptoKeyPair): Promise<{ der: Uint8Array; keys: CryptoKeyPair; cert: x509.X509Certificate }> {
  const pair = k ?? await keys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=two root",
    keys: pair,
    signingAlgorithm: ALG,
    notBefore: from,
    notAfter: to,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { der: new Uint8Array(cert.rawData), keys: pair, cert };
}

const ok = (body: string | Uint8Array): HTTPGetResponse => ({
  status: 200,
  statusText: "200 OK",
  body: typeof body === "string" ? new TextEncoder().encode(body) : body,
});

async function setup() {
  const clock = newClock();
  const ds = await memoryStore(clock);
  let answer: HTTPGetResponse = ok("");
  const metrics = new Registry();
  const refresher = new BundleRefresher({
    ds,
    clock,
    logger: nullLogger,
    metrics,
    configured: [{ trustDomain: FED, bundleEndpointURL: "https://two.example:8443", profile: { type: "https_web" } }],
    connector: nodeServerConnector,
    httpGet: async () => answer,
  });
  return { clock, ds, refresher, metrics, serve: (r: HTTPGetResponse) => (answer = r) };
}

async function refused(s: Awaited<ReturnType<typeof setup>>, message: RegExp): Promise<void> {
  const err = await s.refresher.refresh(FED).then(() => undefined, (e: unknown) => e as Error);
  assert.ok(err instanceof Error, "the refresh must fail");
  assert.match(err.message, message);
  const st = s.refresher.status().find((x) => x.trustDomain === FED)!;
  assert.match(st.lastError ?? "", message);
  assert.ok(st.consecutiveFailures >= 1);
}

test("a good document is stored; garbage, oversized, expired, badly signed and non-CA documents are refused and the last good bundle stays", async () => {
  const s = await setup();
  const now = s.clock.now();
  const good = await root(new Date(now.getTime() - 3600_000), new Date(now.getTime() + 86400_000));
  s.serve(ok(await bundleDocument({ trustDomain: FED, x509Authorities: [good.der], jwtKeys: [], sequence: 7 }, 60)));
  await s.refresher.refresh(FED);
  const stored = await s.ds.fetchBundle(FED);
  assert.equal(stored?.x509Authorities, [good.der]);
  assert.is(stored?.refreshHint, 60);
  assert.is(s.refresher.status()[0]!.lastError, undefined);

  s.serve(ok("<html>not a bundle</html>"));
  await refused(s, /^unable to decode bundle: /);
  s.serve(ok(JSON.stringify({ keys: [{ use: "x509-svid", kty: "EC", x5c: ["AAAA"] }] })));
  await refused(s, /^unable to parse certificate in key entry 0/);
  s.serve(ok(JSON.stringify({ keys: [{ use: "what", kty: "EC" }] })));
  await refused(s, /^unrecognized use "what" for key entry 0$/);
  s.serve(ok(JSON.stringify({ keys: [], pad: "x".repeat(2 << 20) })));
  await refused(s, /^bundle document is too large: \d+ bytes \(limit 1048576\)$/);

  const expired = await root(new Date(now.getTime() - 2 * 86400_000), new Date(now.getTime() - 86400_000));
  s.serve(ok(await bundleDocument({ trustDomain: FED, x509Authorities: [expired.der], jwtKeys: [], sequence: 8 }, 60)));
  await refused(s, /^certificate in key entry 0 has expired/);

  // The same root with its signature bytes flipped: a self-signature that does not verify.
  const forged = new Uint8Array(good.der);
  forged[forged.length - 3]! ^= 0xff;
  s.serve(ok(await bundleDocument({ trustDomain: FED, x509Authorities: [forged], jwtKeys: [], sequence: 9 }, 60)));
  await refused(s, /^certificate in key entry 0 is not validly signed/);

  s.serve({ status: 503, statusText: "503 Service Unavailable", body: new TextEncoder().encode("down for maintenance") });
  await refused(s, /^unexpected status 503 fetching bundle: down for maintenance$/);

  s.serve(ok(JSON.stringify({ keys: [] })));
  await refused(s, /^bundle has no X.509 authorities$/);

  assert.equal(await s.ds.fetchBundle(FED), stored, "the last good bundle is kept");
  assert.match(String(s.metrics.render()), /wisp_server_federated_bundle_fetch_failing 1/);
  assert.match(String(s.metrics.render()), /wisp_server_federated_bundle_fetch_failures_total\{trust_domain="two.example"\} \d+/);

  // A good document again: the failure clears.
  const rotated = await root(new Date(now.getTime() - 3600_000), new Date(now.getTime() + 86400_000));
  s.serve(ok(await bundleDocument({ trustDomain: FED, x509Authorities: [good.der, rotated.der], jwtKeys: [], sequence: 10 }, 60)));
  await s.refresher.refresh(FED);
  assert.equal((await s.ds.fetchBundle(FED))?.x509Authorities, [good.der, rotated.der]);
  assert.is(s.refresher.status()[0]!.consecutiveFailures, 0);
  assert.match(String(s.metrics.render()), /wisp_server_federated_bundle_fetch_failing 0/);
});

test("refresh of a trust domain without a relationship is NotFound with SPIRE's text", async () => {
  const s = await setup();
  const err = await s.refresher.refresh("three.example").then(() => undefined, (e: unknown) => e as Error & { code: string });
  assert.is(err?.code, "ERR_NOT_FOUND");
  assert.is(err?.message, 'there is no federation relationship with trust domain "three.example"');
});

test("https_spiffe: no local bundle, then a wrong endpoint_spiffe_id, are refused; the right ID fetches", async () => {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const now = new Date();
  const ca = await root(new Date(now.getTime() - 3600_000), new Date(now.getTime() + 86400_000));
  const leafKeys = await keys();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "02",
    subject: "CN=server",
    issuer: ca.cert.subject,
    publicKey: leafKeys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 3600_000),
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://two.example/spire/server" }], true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.BasicConstraintsExtension(false, undefined, true),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", leafKeys.privateKey));
  const doc = await bundleDocument({ trustDomain: FED, x509Authorities: [ca.der], jwtKeys: [], sequence: 3 }, 30);
  const server = createServer({ cert: toPEM(new Uint8Array(leaf.rawData), "CERTIFICATE"), key: toPEM(pkcs8, "PRIVATE KEY") }, (_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(doc);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const make = (endpointSPIFFEID: string) =>
      new BundleRefresher({
        ds,
        clock: new ManualClock(new Date()),
        logger: nullLogger,
        configured: [{ trustDomain: FED, bundleEndpointURL: url, profile: { type: "https_spiffe", endpointSPIFFEID } }],
        connector: nodeServerConnector,
        httpGet: () => Promise.reject(new Error("not used")),
      });
    const noBundle = await make("spiffe://two.example/spire/server").refresh(FED).then(() => undefined, (e: unknown) => e as Error);
    assert.is(noBundle?.message, "can't perform SPIFFE Authentication: local copy of bundle not found");

    // Bootstrap (as `bundle set` does) with a bundle that lacks JWT keys and has hint 0: the fetch must replace it.
    await ds.setBundle({ trustDomain: FED, x509Authorities: [ca.der], jwtKeys: [], refreshHint: 0 });
    const wrong = await make("spiffe://two.example/not-the-server").refresh(FED).then(() => undefined, (e: unknown) => e as Error);
    assert.ok(wrong instanceof Error);
    assert.match(wrong.message, /^unable to fetch bundle: /);
    assert.match(String((wrong.cause as Error | undefined)?.message ?? wrong.message) + wrong.message, /spiffe:\/\/two.example\/not-the-server|SPIFFE ID/);
    assert.is((await ds.fetchBundle(FED))?.refreshHint, 0, "nothing was stored from the unauthenticated endpoint");

    await make("spiffe://two.example/spire/server").refresh(FED);
    assert.is((await ds.fetchBundle(FED))?.refreshHint, 30);
  } finally {
    server.close();
  }
});

test.run();
