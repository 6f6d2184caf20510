/**
 * Who gets into the console. On a non-loopback bind address (here 0.0.0.0, reached through 127.0.0.1) the listener is
 * HTTPS and only a client presenting an X509-SVID of the trust domain whose SPIFFE ID is in `admin_ids` gets a page;
 * no certificate, another ID, or a certificate from a foreign CA are refused. On loopback no certificate is asked.
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import * as https from "node:https";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { exportPKCS8, generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../../src/core/crypto/signer.ts";
import { createSelfSignedCA } from "../../../src/core/x509/ca_cert.ts";
import { toPEM } from "../../../src/core/x509/mod.ts";
import { isLoopbackAddress } from "../../../src/server/console/console_access.ts";
import { freePort, newCluster, startServer, wispServer } from "../../integration/_harness.ts";
import { type ConsoleServer, startConsoleServer } from "./_console_server.ts";

const ADMIN = "spiffe://example.org/admin";
let s: ConsoleServer;
let setupError: unknown;
const certs: Record<string, { cert: string; key: string }> = {};

async function mint(name: string, id: string, socketPath = s.socketPath, dir = s.dir): Promise<void> {
  const out = join(dir, name);
  mkdirSync(out);
  const r = await wispServer(["x509", "mint", "-spiffeID", id, "-socketPath", socketPath, "-write", out]);
  if (r.code !== 0) throw new Error(`x509 mint ${id} failed: ${r.stderr}`);
  certs[name] = { cert: readFileSync(join(out, "svid.pem"), "utf8"), key: readFileSync(join(out, "key.pem"), "utf8") };
}

test.before(async () => {
  try {
    // admin_ids as the server's config gives them to the console.
    s = await startConsoleServer({ bindAddress: "0.0.0.0", adminIDs: [ADMIN] });
    await mint("admin", ADMIN);
    await mint("other", "spiffe://example.org/web");
    const pair = await generateKeyPair(true);
    const now = Date.now();
    const foreign = await createSelfSignedCA({
      signer: await webCryptoSigner(pair),
      trustDomain: "example.org",
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 3_600_000),
    });
    certs["foreign"] = { cert: toPEM(foreign, "CERTIFICATE"), key: toPEM(await exportPKCS8(pair.privateKey), "PRIVATE KEY") };
  } catch (err) {
    setupError = err;
  }
});
test.after(async () => {
  await s?.stop();
});

/** GET over HTTPS through 127.0.0.1, optionally with a client certificate; the server's certificate is not the point here. */
function get(
  path: string,
  client?: { cert: string; key: string },
  port = Number(s?.consoleURL && new URL(s.consoleURL).port),
): Promise<{ status: number; body: string }> {
  if (setupError) return Promise.reject(setupError);
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port, path, rejectUnauthorized: false, ...(client ?? {}) }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("a non-loopback console is HTTPS and serves every page to an admin_ids SVID", async () => {
  if (setupError) throw setupError;
  assert.match(s.consoleURL, /^https:\/\/0\.0\.0\.0:\d+\/$/);
  for (const p of ["/", "/ca", "/agents", "/entries", "/bundle", "/activity", "/bundle.pem"]) {
    const r = await get(p, certs["admin"]);
    assert.is(r.status, 200, `${p}: ${r.body.slice(0, 200)}`);
  }
});

test("without a client certificate: 401 with the reason", async () => {
  const r = await get("/");
  assert.is(r.status, 401);
  assert.is(r.body, "a client certificate (an X509-SVID listed in admin_ids) is required");
});

test("an SVID of the trust domain whose ID is not in admin_ids: 403, and the refusal is logged", async () => {
  const r = await get("/ca", certs["other"]);
  assert.is(r.status, 403);
  assert.is(r.body, 'caller "spiffe://example.org/web" is not an admin (admin_ids)');
  assert.ok(s.logs.some((l) => l.msg === "Console access refused" && l.level === "warn"));
});

test("a certificate that does not chain to the trust bundle: 401, even with the admin ID's trust domain", async () => {
  const r = await get("/bundle.pem", certs["foreign"]);
  assert.is(r.status, 401);
  assert.is(r.body, "client certificate is not a valid X509-SVID of this trust domain");
});

test("the event stream is refused the same way", async () => {
  assert.is((await get("/events")).status, 401);
  assert.is((await get("/events", certs["other"])).status, 403);
});

test("isLoopbackAddress() accepts 127.0.0.0/8, ::1 and localhost, and rejects the rest", () => {
  for (const a of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]) assert.ok(isLoopbackAddress(a), a);
  for (const a of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.5", "example.org", "128.0.0.1"]) assert.not.ok(isLoopbackAddress(a), a);
});

test("wisp-server run with server.conf's console { bind_address bind_port } and admin_ids: mTLS admin in, others out", async () => {
  if (setupError) throw setupError;
  const port = await freePort();
  const c = await newCluster({
    extraServer: `admin_ids = ["${ADMIN}"]\n  console {\n    bind_address = "0.0.0.0"\n    bind_port = "${port}"\n  }`,
  });
  try {
    await startServer(c);
    await mint("proc-admin", ADMIN, c.serverSocket, c.dir);
    await mint("proc-other", "spiffe://example.org/web", c.serverSocket, c.dir);
    assert.match(c.server!.output, `msg="Starting console" access="mTLS admin_ids" address="0.0.0.0:${port}"`);
    assert.is((await get("/ca", certs["proc-admin"], port)).status, 200);
    assert.is((await get("/ca", certs["proc-other"], port)).status, 403);
    assert.is((await get("/ca", undefined, port)).status, 401);
  } finally {
    await c.cleanup();
  }
});

test.run();
