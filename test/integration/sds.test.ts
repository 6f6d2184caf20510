/**
 * Envoy SDS v3 on the agent socket, seen by an independent xDS client (Python grpcio, stubs from the vendored Envoy
 * protos): SPIRE's ACK/NACK and nonce rules, resource names, errors, rotation and entry pushes, and secrets that
 * complete a real mutual-TLS handshake between openssl s_server and s_client. The config keys: sds_config.test.ts.
 * @module
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { createEntry, deleteEntry, TRUST_DOMAIN_ID } from "./_clients.ts";
import { type Cluster, freePort, joinToken, newCluster, startAgent, startServer, waitFor, wispServer } from "./_harness.ts";
import {
  checkTLSCertificate,
  opensslHandshake,
  pemCertificates,
  type RequestCmd,
  type ResponseJSON,
  sdsFetchMany,
  sdsOnce,
  SDSStream,
  sdsStubs,
  SECRET_TYPE_URL,
  trustedPEM,
} from "./_sds_client.ts";

const WEB = "spiffe://example.org/web";
const WEB2 = "spiffe://example.org/web2";
const BACKEND = "spiffe://example.org/backend";
const ROTATING = "spiffe://example.org/rotating";
/** Short enough that the agent rotates the SVID every few seconds (half-life ± 10 %). */
const TTL_SECONDS = 4;
const NONCE = /^[0-9a-f]{8}$/;

let c: Cluster;
let stubs = "";
let setupError: unknown;
const streams: SDSStream[] = [];

/** The server's bundle as `bundle show` prints it (PEM). */
let serverBundlePEM = "";

function open(asUser = 1000, socket = c.agentSocket): SDSStream {
  const s = new SDSStream(stubs, socket, asUser);
  streams.push(s);
  return s;
}

/** FetchSecrets until the workload's entries have reached the agent (entries are pushed after creation). */
async function fetchWhenReady(req: RequestCmd, asUser = 1000, socket = c.agentSocket): Promise<ResponseJSON> {
  return waitFor(`FetchSecrets ${JSON.stringify(req.resource_names)} as ${asUser}`, async () => {
    const r = await sdsOnce(stubs, socket, "fetch", req, asUser);
    return r.response;
  });
}

test.before(async () => {
  try {
    c = await newCluster();
    await startServer(c);
    await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
    stubs = await sdsStubs(c.dir);
    // Sequential: the default identity is the oldest entry.
    await createEntry(c, { spiffeID: WEB, selector: "unix:uid:1000" });
    await createEntry(c, { spiffeID: WEB2, selector: "unix:uid:1000" });
    await createEntry(c, { spiffeID: BACKEND, selector: "unix:uid:1001" });
    const r = await wispServer(["bundle", "show", "-socketPath", c.serverSocket]);
    if (r.code !== 0) throw new Error(`bundle show: ${r.stderr}`);
    serverBundlePEM = r.stdout;
    await Promise.all([fetchWhenReady({ resource_names: [WEB, WEB2] }), fetchWhenReady({ resource_names: [BACKEND] }, 1001)]);
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  for (const s of streams) await s.kill();
  await c?.cleanup();
});

function ready(): void {
  if (setupError !== undefined) throw setupError;
}

/** The bundle certificates (DER, hex) of a PEM text, to compare bundles regardless of line wrapping. */
const ders = (pem: string) => pemCertificates(pem).map((x) => x.raw.toString("hex"));

test("StreamSecrets: first response at version 1 with an 8-hex nonce, the echoed type_url and a PEM tls_certificate", async () => {
  ready();
  const s = open();
  s.send({ resource_names: [WEB] });
  const r = await s.response(1);
  assert.is(r.version_info, "1");
  assert.match(r.nonce, NONCE);
  assert.is(r.type_url, SECRET_TYPE_URL);
  assert.is(r.resources.length, 1);
  const sec = r.resources[0]!;
  assert.is(sec.type_url, SECRET_TYPE_URL);
  assert.is(sec.name, WEB);
  const chain = pemCertificates(sec.certificate_chain!);
  checkTLSCertificate(sec, WEB);
  const roots = pemCertificates(serverBundlePEM);
  assert.ok(roots.some((root) => chain.at(-1)!.checkIssued(root) && chain.at(-1)!.verify(root.publicKey)), "chain ends under a bundle root");
  s.close();
  assert.equal(await s.ended(), { code: "OK", details: "" }, "client EOF ends the stream OK");
});

test("ACK sends nothing; a stale nonce is ignored even with new names; a matching nonce with new names answers at the same version", async () => {
  ready();
  const s = open();
  s.send({ resource_names: [WEB] });
  const r1 = await s.response(1);
  s.ack(r1, [WEB]);
  // Stale nonce with different names: SPIRE ignores the whole request, so no response for WEB2 may come from it.
  s.send({ resource_names: [WEB2], version_info: r1.version_info, response_nonce: "00000000" });
  // Matching nonce, new name set: answered at the current version with a fresh nonce.
  s.send({ resource_names: [WEB, WEB2], version_info: r1.version_info, response_nonce: r1.nonce });
  // The responses seen and the agent's SDS lines, so a failure under load says which race it lost.
  const story = () =>
    `responses: ${JSON.stringify(s.responses.map((x) => [x.version_info, x.nonce, x.resources.map((r) => r.name)]))}\n` +
    c.agent!.output.split("\n").filter((l) => /StreamSecrets|unexpected nonce/.test(l)).slice(-20).join("\n");
  let n = 2;
  try {
    // A rotation push (the SVIDs here live 4 s) may land before the name change is read: skip such pushes, and compare
    // versions with the response just before the one answering the name change.
    let r2 = await s.response(n);
    while (r2.resources.length !== 2 && n < 10) {
      // A push made our nonce stale, so SPIRE ignores the name change: send it again with the push's nonce, as Envoy
      // sends every request with the nonce of the last response it saw.
      s.send({ resource_names: [WEB, WEB2], version_info: r2.version_info, response_nonce: r2.nonce });
      r2 = await s.response(++n);
    }
    const before = s.responses[n - 2]!;
    assert.is(r2.version_info, before.version_info, "a name change is not a new version");
    assert.match(r2.nonce, NONCE);
    assert.is.not(r2.nonce, before.nonce);
    // Resources come in identity order (oldest entry first, then entry ID, as SPIRE's cache sorts), not request order;
    // WEB and WEB2 were created within the same second, so their order is their random entry IDs'.
    assert.equal(r2.resources.map((x) => x.name).sort(), [WEB, WEB2].sort());
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${story()}`, { cause: err });
  }
  s.close();
  await s.ended();
  assert.ok(
    s.responses.every((x) => x.resources.length !== 1 || x.resources[0]!.name !== WEB2),
    "the stale-nonce request (WEB2 alone) got no response",
  );
  assert.ok(s.responses.slice(0, n - 1).every((x) => x.resources.length === 1 && x.resources[0]!.name === WEB), "before the name change only WEB was sent");
  await waitFor("stale nonce log", async () => (/Received unexpected nonce; ignoring request/.test(c.agent!.output) ? true : undefined));
});

test("NACK (error_detail, old version) is logged and not answered with the same version; a NACK with new names still answers", async () => {
  ready();
  const s = open();
  s.send({ resource_names: [WEB] });
  const r1 = await s.response(1);
  s.send({ resource_names: [WEB], version_info: "", response_nonce: r1.nonce, error_detail: "bad secret from test" });
  s.send({ resource_names: [WEB2], version_info: "", response_nonce: r1.nonce, error_detail: "still bad" });
  const r2 = await s.response(2);
  assert.equal(r2.resources.map((x) => x.name), [WEB2]);
  s.close();
  await s.ended();
  assert.is(s.responses.length, 2, "the first NACK was not answered");
  await waitFor("NACK logs", async () => {
    const out = c.agent!.output;
    return /Envoy reported errors applying secrets/.test(out) && /bad secret from test/.test(out) &&
        /Client rejected expected version and rolled back/.test(out)
      ? true
      : undefined;
  });
});

test("empty resource names: own bundle (spiffe://example.org) then every identity by SPIFFE ID, no default names", async () => {
  ready();
  const s = open();
  s.send({});
  const r = await s.response(1);
  assert.is(r.resources[0]!.name, TRUST_DOMAIN_ID);
  assert.equal(r.resources.slice(1).map((x) => x.name).sort(), [WEB, WEB2]);
  assert.is(r.resources[0]!.kind, "validation_context");
  for (const x of r.resources.slice(1)) checkTLSCertificate(x, x.name);
  s.close();
  await s.ended();
});

test("default, ROOTCA, ALL and spiffe://<td>: names echoed; SPIFFE validator with the server's bundle; default = first identity", async () => {
  ready();
  const [all, r, td, everything] = (await sdsFetchMany(stubs, c.agentSocket, [
    { resource_names: [] },
    { resource_names: ["default", "ROOTCA"] },
    { resource_names: [TRUST_DOMAIN_ID] },
    { resource_names: ["ALL"] },
  ])).map((x) => x.response!) as [ResponseJSON, ResponseJSON, ResponseJSON, ResponseJSON];
  const first = all.resources[1]!.name;
  assert.is(r.version_info, "");
  assert.is(r.nonce, "");
  assert.equal(r.resources.map((x) => x.name), ["ROOTCA", "default"]);
  const vc = r.resources[0]!;
  assert.is(vc.trusted_ca, undefined);
  assert.is(vc.custom_validator!.name, "envoy.tls.cert_validator.spiffe");
  assert.is(vc.custom_validator!.typed_config_type_url, "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig");
  assert.equal(vc.custom_validator!.trust_domains.map((t) => t.name), ["example.org"]);
  assert.is(vc.custom_validator!.trust_bundles_set, false);
  assert.equal(ders(trustedPEM(vc)), ders(serverBundlePEM));
  checkTLSCertificate(r.resources[1]!, first);

  assert.equal(td.resources.map((x) => x.name), [TRUST_DOMAIN_ID]);
  assert.equal(ders(trustedPEM(td.resources[0]!)), ders(serverBundlePEM));
  assert.equal(everything.resources.map((x) => x.name), ["ALL"]);
  assert.equal(everything.resources[0]!.custom_validator!.trust_domains.map((t) => t.name), ["example.org"]);
});

test("unknown names fail the whole call with SPIRE's InvalidArgument text; only one of {spiffe://td, ROOTCA, ALL} is served", async () => {
  ready();
  const [bad, both] = await sdsFetchMany(stubs, c.agentSocket, [
    { resource_names: ["spiffe://example.org/other", WEB, "zzz"] },
    { resource_names: [TRUST_DOMAIN_ID, "ROOTCA"] },
  ]);
  assert.equal(bad!.status, {
    code: "INVALID_ARGUMENT",
    details: `workload is not authorized for the requested identities ["spiffe://example.org/other" "zzz"]`,
  });
  assert.equal(both!.status, { code: "INVALID_ARGUMENT", details: `workload is not authorized for the requested identities ["ROOTCA"]` });
  // Another workload's identity is not served either; on a stream the error ends it.
  const s = open();
  s.send({ resource_names: [BACKEND] });
  assert.equal(await s.ended(), { code: "INVALID_ARGUMENT", details: `workload is not authorized for the requested identities ["${BACKEND}"]` });
});

test('a caller with no identity gets the bundle for empty names and InvalidArgument for default (SDS never says "no identity issued")', async () => {
  ready();
  const [r, d] = await sdsFetchMany(stubs, c.agentSocket, [{}, { resource_names: ["default"] }], 1003);
  assert.equal(r!.response?.resources.map((x) => x.name), [TRUST_DOMAIN_ID]);
  assert.equal(d!.status, { code: "INVALID_ARGUMENT", details: `workload is not authorized for the requested identities ["default"]` });
});

test("node metadata and Envoy version choose trusted_ca: bool or string override, Envoy 1.17; ALL then fails Internal", async () => {
  ready();
  const disabling = [{ disable_spiffe_cert_validation: true }, { disable_spiffe_cert_validation: "True" }, { disable_spiffe_cert_validation: "1" }];
  const out = await sdsFetchMany(stubs, c.agentSocket, [
    ...disabling.map((metadata) => ({ resource_names: ["ROOTCA"], node: { id: "envoy", metadata } })),
    // A value Go's ParseBool rejects is ignored, so the config's default (SPIFFE validator) stays.
    { resource_names: ["ROOTCA"], node: { metadata: { disable_spiffe_cert_validation: "yes" } } },
    { resource_names: ["ROOTCA"], node: { envoy_version: [1, 17] } },
    { resource_names: ["ROOTCA"], node: { envoy_version: [1, 18] } },
    { resource_names: ["ALL"], node: { envoy_version: [1, 17] } },
  ]);
  disabling.forEach((metadata, i) => {
    const vc = out[i]!.response!.resources[0]!;
    assert.is(vc.custom_validator, undefined, JSON.stringify(metadata));
    assert.equal(ders(vc.trusted_ca!), ders(serverBundlePEM));
  });
  const [ignored, old, recent, all] = out.slice(3);
  assert.ok(ignored!.response!.resources[0]!.custom_validator);
  assert.ok(old!.response!.resources[0]!.trusted_ca);
  assert.ok(recent!.response!.resources[0]!.custom_validator);
  assert.equal(all!.status, { code: "INTERNAL", details: `unable to use "SPIFFE validator" on Envoy below 1.17` });
});

test("the node of the first request is kept for later requests that carry none", async () => {
  ready();
  const s = open();
  s.send({ resource_names: ["ROOTCA"], node: { id: "envoy", metadata: { disable_spiffe_cert_validation: true } } });
  const r1 = await s.response(1);
  assert.ok(r1.resources[0]!.trusted_ca);
  s.send({ resource_names: ["ROOTCA", WEB], version_info: r1.version_info, response_nonce: r1.nonce });
  const r2 = await s.response(2);
  assert.ok(r2.resources[0]!.trusted_ca, "still trusted_ca: node reused");
  s.close();
  await s.ended();
});

test("DeltaSecrets is Unimplemented with SPIRE's text", async () => {
  ready();
  const r = await sdsOnce(stubs, c.agentSocket, "delta");
  assert.equal(r.status, { code: "UNIMPLEMENTED", details: "Method is not implemented" });
});

test("rotation: every new SVID is pushed with the next version and a fresh nonce, whether or not the client ACKed", async () => {
  ready();
  // Its own entry, created here, so the agent does not rotate every few seconds during the other tests.
  const id = await createEntry(c, { spiffeID: ROTATING, selector: "unix:uid:1002", ttl: TTL_SECONDS });
  await fetchWhenReady({ resource_names: [ROTATING] }, 1002);
  const s = open(1002);
  s.send({ resource_names: [ROTATING] });
  const r1 = await s.response(1);
  const serial1 = checkTLSCertificate(r1.resources[0]!, ROTATING).serialNumber;
  s.ack(r1, [ROTATING]);
  const r2 = await s.response(2, "first rotation push", 30_000);
  const serial2 = checkTLSCertificate(r2.resources[0]!, ROTATING).serialNumber;
  assert.is.not(serial2, serial1);
  assert.ok(Number(r2.version_info) > Number(r1.version_info), `${r2.version_info} after ${r1.version_info}`);
  assert.is.not(r2.nonce, r1.nonce);
  // Not ACKed: the next rotation is pushed anyway.
  const r3 = await s.response(3, "second rotation push", 30_000);
  assert.is.not(checkTLSCertificate(r3.resources[0]!, ROTATING).serialNumber, serial2);
  assert.ok(Number(r3.version_info) > Number(r2.version_info));
  s.close();
  await s.ended();
  await deleteEntry(c, id);
});

test("a new entry for the workload is pushed on the open stream (empty names = everything)", async () => {
  ready();
  const s = open(1001);
  s.send({});
  const r1 = await s.response(1);
  assert.equal(r1.resources.map((x) => x.name), [TRUST_DOMAIN_ID, BACKEND]);
  await createEntry(c, { spiffeID: `${BACKEND}-2`, selector: "unix:uid:1001" });
  const r = await waitFor("push with the new entry", async () => s.responses.find((x) => x.resources.some((y) => y.name === `${BACKEND}-2`)));
  assert.ok(Number(r.version_info) > Number(r1.version_info));
  s.close();
  await s.ended();
});

for (const form of ["SPIFFE validator", "trusted_ca"] as const) {
  test(`the secrets complete a mutual-TLS handshake in openssl, verified against the ${form} bundle`, async () => {
    ready();
    const node = form === "trusted_ca" ? { metadata: { disable_spiffe_cert_validation: true } } : { envoy_version: [1, 30] as [number, number] };
    const [web, backend] = await Promise.all([
      fetchWhenReady({ resource_names: [WEB, "ROOTCA"], node }),
      fetchWhenReady({ resource_names: [BACKEND, "ROOTCA"], node }, 1001),
    ]);
    const byName = (r: ResponseJSON, n: string) => r.resources.find((x) => x.name === n)!;
    const webVC = byName(web, "ROOTCA");
    if (form === "trusted_ca") assert.ok(webVC.trusted_ca);
    else assert.ok(webVC.custom_validator);
    const server = { cert: byName(web, WEB).certificate_chain!, key: byName(web, WEB).private_key!, ca: trustedPEM(webVC) };
    const client = { cert: byName(backend, BACKEND).certificate_chain!, key: byName(backend, BACKEND).private_key!, ca: trustedPEM(byName(backend, "ROOTCA")) };
    const { serverOut, client: out } = await opensslHandshake(join(c.dir, `tls-${form.replace(" ", "-")}`), server, client, await freePort());
    assert.is(out.code, 0, out.stdout + out.stderr + serverOut);
    assert.match(out.stdout, /Verify return code: 0 \(ok\)/);
    assert.not.match(serverOut, /verify error/i, serverOut);
  });
}

// Last: it changes the bundle the other tests compare with.
test("a bundle change (a prepared X.509 authority) is pushed on an open stream with the new authorities", async () => {
  ready();
  const s = open(1001);
  s.send({ resource_names: ["ROOTCA"] });
  const r1 = await s.response(1);
  const before = ders(trustedPEM(r1.resources[0]!));
  s.ack(r1, ["ROOTCA"]);
  const prep = await wispServer(["localauthority", "x509", "prepare", "-socketPath", c.serverSocket]);
  assert.is(prep.code, 0, prep.stderr);
  const pushed = await waitFor(
    "push with the new authority",
    async () => s.responses.find((r) => ders(trustedPEM(r.resources[0]!)).length > before.length),
    30_000,
  );
  assert.ok(Number(pushed.version_info) > Number(r1.version_info));
  const after = ders(trustedPEM(pushed.resources[0]!));
  for (const d of before) assert.ok(after.includes(d), "the old authority is still trusted");
  const show = await wispServer(["bundle", "show", "-socketPath", c.serverSocket]);
  assert.equal(after.sort(), ders(show.stdout).sort());
  s.close();
  await s.ended();
});

test.run();
