/** TrustBundleSource: the agent's bootstrap bundle from a file or a URL, in PEM or SPIFFE format, with SPIRE's errors. */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair } from "../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../src/core/crypto/signer.ts";
import { toSPIFFEBundle } from "../../src/core/bundle/spiffe_bundle.ts";
import { FailedPreconditionError, InvalidArgumentError, UnavailableError } from "../../src/core/errors.ts";
import { nullLogger } from "../../src/core/log/logger.ts";
import { systemClock } from "../../src/core/ports/clock.ts";
import type { HTTPGet } from "../../src/core/ports/http_get.ts";
import { createSelfSignedCA, toPEM } from "../../src/core/x509/mod.ts";
import { nodeFS } from "../../src/runtime/node/fs.ts";
import { parseTrustBundle, TrustBundleSource, type TrustBundleSourceConfig } from "../../src/agent/trust_bundle_source.ts";

const enc = new TextEncoder();

async function newCA(): Promise<Uint8Array> {
  const signer = await webCryptoSigner(await generateKeyPair(true));
  const now = Date.now();
  return createSelfSignedCA({ signer, trustDomain: "example.org", notBefore: new Date(now - 1000), notAfter: new Date(now + 3_600_000) });
}

function source(o: Partial<TrustBundleSourceConfig>): TrustBundleSource {
  return new TrustBundleSource({
    format: "pem",
    trustDomain: "example.org",
    serverAddress: "10.0.0.1",
    serverPort: 8081,
    fs: nodeFS,
    httpGet: () => Promise.reject(new Error("no network in this test")),
    clock: systemClock,
    logger: nullLogger,
    ...o,
  });
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

test("parseTrustBundle() reads PEM and SPIFFE bundles and rejects one without certificates", async () => {
  const ca = await newCA();
  assert.equal(parseTrustBundle(enc.encode(toPEM(ca, "CERTIFICATE")), "pem"), [ca]);
  const doc = await toSPIFFEBundle({ trustDomain: "example.org", x509Authorities: [ca], jwtKeys: [], sequence: 1, refreshHint: 300 });
  assert.equal(parseTrustBundle(enc.encode(JSON.stringify(doc)), "spiffe"), [ca]);
  for (
    const [bytes, format, msg] of [
      [JSON.stringify(doc), "pem", "no certificates found in trust bundle"],
      ["{not json", "spiffe", "unable to parse SPIFFE trust bundle: "],
      [JSON.stringify({ keys: [] }), "spiffe", "no certificates found in trust bundle"],
    ] as const
  ) {
    let err: unknown;
    try {
      parseTrustBundle(enc.encode(bytes), format);
    } catch (e) {
      err = e;
    }
    assert.instance(err, InvalidArgumentError);
    assert.ok((err as Error).message.startsWith(msg), (err as Error).message);
  }
});

test("get() from trust_bundle_path: a missing file is a FailedPrecondition, not retried", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wisp-tbs-"));
  try {
    const ca = await newCA();
    writeFileSync(join(dir, "b.pem"), toPEM(ca, "CERTIFICATE"));
    assert.equal(await source({ path: join(dir, "b.pem") }).get(), [ca]);
    const err = await rejection(source({ path: join(dir, "missing.pem") }).get());
    assert.instance(err, FailedPreconditionError);
    assert.is(err.message, "could not parse trust bundle");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("get() from trust_bundle_url: SPIRE's errors for no answer and for an HTTP error, both retryable", async () => {
  const url = new URL("https://bundle.example.org/b.pem");
  const down = await rejection(source({ url, httpGet: () => Promise.reject(new Error("connect ECONNREFUSED")) }).get());
  assert.instance(down, UnavailableError);
  assert.is(down.message, "unable to fetch trust bundle URL https://bundle.example.org/b.pem: connect ECONNREFUSED");
  const missing = await rejection(source({ url, httpGet: async () => ({ status: 404, statusText: "404 Not Found", body: new Uint8Array() }) }).get());
  assert.instance(missing, UnavailableError);
  assert.is(missing.message, "error downloading trust bundle: 404 Not Found");
});

test("get() over trust_bundle_unix_socket adds SPIRE's query parameters and counts attempts", async () => {
  const ca = await newCA();
  const seen: { url: string; unixSocket: string | undefined }[] = [];
  const httpGet: HTTPGet = async (u, o) => {
    seen.push({ url: u, unixSocket: o?.unixSocket });
    return { status: 200, statusText: "200 OK", body: enc.encode(toPEM(ca, "CERTIFICATE")) };
  };
  const s = source({ url: new URL("http://localhost/b?site=lab"), unixSocket: "/run/b.sock", httpGet });
  await s.get();
  await s.get();
  assert.equal(seen.map((x) => x.unixSocket), ["/run/b.sock", "/run/b.sock"]);
  const q = new URL(seen[1]!.url).searchParams;
  assert.equal([...q.keys()], [
    "site",
    "spire-attest-mode",
    "spire-connection-attempts",
    "spire-attest-start-time",
    "spire-server-address",
    "spire-server-port",
    "spiffe-trust-domain",
  ]);
  assert.is(q.get("spire-connection-attempts"), "2");
  assert.is(q.get("spire-server-address"), "10.0.0.1");
  assert.is(q.get("spire-server-port"), "8081");
  assert.is(q.get("spiffe-trust-domain"), "example.org");
});

test.run();
