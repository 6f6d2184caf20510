/**
 * x509pop end to end in process: the agent attestor (key files on disk) against the server attestor, with RSA and
 * ECDSA keys, SPIRE's selectors and agent IDs, and every refusal with SPIRE's text.
 * @module
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { InternalError, InvalidArgumentError, PermissionDeniedError, type ServiceError } from "../../../src/core/errors.ts";
import { ManualClock } from "../../../src/core/ports/clock.ts";
import * as pop from "../../../src/core/x509pop/protocol.ts";
import { x509 } from "../../../src/core/x509/_peculiar.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";
import { X509PoPNodeAttestor } from "../../../src/agent/nodeattestor/x509pop.ts";
import type { ChallengeFn } from "../../../src/server/nodeattestor/node_attestor.ts";
import { X509PoPAttestor } from "../../../src/server/nodeattestor/x509pop/x509pop.ts";
import { buildX509PoPServerConfig, type X509PoPServerConfig } from "../../../src/server/nodeattestor/x509pop/x509pop_config.ts";
import { ConfigSection, ConfigStatus } from "../../../src/core/config/mod.ts";
import { TD, tempDir } from "../_fixtures.ts";
import { type Issued, newCA, newNodeCert, pem } from "./_pki.ts";

const tmp = tempDir();
const clock = new ManualClock(new Date());
const rootRSA = await newCA({ keyType: "rsa", name: "edge root rsa" });
const rootEC = await newCA({ keyType: "ecdsa", name: "edge root ec" });
const interEC = await newCA({ keyType: "ecdsa", name: "edge intermediate", issuer: rootEC });
const foreign = await newCA({ keyType: "ecdsa", name: "someone else" });

function config(data: Record<string, unknown> = {}): X509PoPServerConfig {
  const status = new ConfigStatus();
  const c = buildX509PoPServerConfig(new ConfigSection("plugin_data", { ca_bundle_path: "/unused", ...data }, status), status);
  status.throwIfErrors();
  return c;
}

function server(roots: Issued[], cfg: Partial<Record<string, unknown>> = {}) {
  return new X509PoPAttestor({ config: config(cfg), trustDomain: TD, clock, roots: async () => roots.map((r) => r.der) });
}

let n = 0;
async function agentFor(leaf: Issued, intermediates: Issued[] = []) {
  const dir = join(tmp.dir, String(n++));
  await nodeFS.mkdir(dir);
  writeFileSync(join(dir, "cert.pem"), pem.cert(leaf));
  writeFileSync(join(dir, "key.pem"), pem.key(leaf));
  if (intermediates.length > 0) writeFileSync(join(dir, "inter.pem"), pem.cert(...intermediates));
  return new X509PoPNodeAttestor(nodeFS, {
    name: "x509pop",
    certificatePath: join(dir, "cert.pem"),
    privateKeyPath: join(dir, "key.pem"),
    ...(intermediates.length > 0 ? { intermediatesPath: join(dir, "inter.pem") } : {}),
  });
}

/** Runs one attestation through the protocol bytes, as the agent API bridges them. */
async function attest(s: X509PoPAttestor, a: X509PoPNodeAttestor, tamper?: (response: Uint8Array) => Uint8Array) {
  const challenge: ChallengeFn = async (c) => {
    const r = await a.challenge(c);
    return tamper ? tamper(r) : r;
  };
  return s.attest(await a.payload(), challenge, { clientIP: "127.0.0.1" });
}

async function refused(p: Promise<unknown>, cls: new (...a: never[]) => ServiceError, message: string) {
  try {
    await p;
  } catch (err) {
    assert.instance(err, cls);
    assert.is((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected "${message}"`);
}

test.after(() => tmp.cleanup());

test("x509pop attests an RSA node: agent ID from the leaf fingerprint, SPIRE's selectors, re-attestable", async () => {
  const leaf = await newNodeCert(rootRSA, { keyType: "rsa", cn: "edge-1", serialHex: "0abc" });
  const r = await attest(server([rootRSA]), await agentFor(leaf));
  assert.is(r.agentID.toString(), `spiffe://example.org/spire/agent/x509pop/${pop.fingerprint(leaf.der)}`);
  assert.is(r.canReattest, true);
  assert.equal(r.selectors.map((s) => `${s.type}:${s.value}`), [
    `x509pop:ca:fingerprint:${pop.fingerprint(rootRSA.der)}`,
    "x509pop:serialnumber:0abc",
    "x509pop:subject:cn:edge-1",
  ]);
});

test("x509pop attests ECDSA nodes (P-256, P-384) through an intermediate sent by the agent", async () => {
  for (const keyType of ["ecdsa", "ecdsa-p384"] as const) {
    const leaf = await newNodeCert(interEC, { keyType, cn: `edge-${keyType}`, uris: ["x509pop://example.org/datacenter/us-east-1"] });
    const r = await attest(server([rootEC]), await agentFor(leaf, [interEC]));
    assert.is(r.agentID.toString(), `spiffe://example.org/spire/agent/x509pop/${pop.fingerprint(leaf.der)}`);
    const values = r.selectors.map((s) => s.value);
    assert.ok(values.includes(`ca:fingerprint:${pop.fingerprint(interEC.der)}`));
    assert.ok(values.includes(`ca:fingerprint:${pop.fingerprint(rootEC.der)}`), "the root is a selector too");
    assert.ok(values.includes("san:datacenter:us-east-1"));
    assert.ok(values.includes(`subject:cn:edge-${keyType}`));
  }
});

test("x509pop agent_path_template sees the certificate", async () => {
  const leaf = await newNodeCert(rootEC, { cn: "edge-7" });
  const r = await attest(server([rootEC], { agent_path_template: "/x509pop/{{ .Subject.CommonName }}/{{ .SerialNumberHex }}" }), await agentFor(leaf));
  assert.is(r.agentID.toString(), `spiffe://example.org/spire/agent/x509pop/edge-7/${leaf.cert.serialNumber.toLowerCase()}`);
});

test("x509pop refuses a foreign chain, an expired leaf and a leaf not meant for signatures, with SPIRE's texts", async () => {
  const stranger = await newNodeCert(foreign, { cn: "intruder" });
  await refused(
    attest(server([rootEC]), await agentFor(stranger)),
    PermissionDeniedError,
    "certificate verification failed: x509: certificate signed by unknown authority",
  );
  const old = await newNodeCert(rootEC, { cn: "old", notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
  const agent = await agentFor(old);
  try {
    await attest(server([rootEC]), agent);
    assert.unreachable("expired leaf accepted");
  } catch (err) {
    assert.instance(err, PermissionDeniedError);
    assert.match((err as Error).message, /^certificate verification failed: x509: certificate has expired or is not yet valid: current time \S+ is after \S+$/);
  }
  const noSig = await newNodeCert(rootEC, { cn: "enc", usages: x509.KeyUsageFlags.keyEncipherment });
  await refused(
    attest(server([rootEC]), await agentFor(noSig)),
    InternalError,
    "unable to generate challenge: certificate not intended for digital signature use",
  );
});

test("x509pop refuses bad signatures and wrong nonce sizes in the challenge response", async () => {
  for (const [root, keyType, what] of [[rootRSA, "rsa", "RSA"], [rootEC, "ecdsa", "ECDSA"]] as const) {
    const leaf = await newNodeCert(root, { keyType, cn: "edge" });
    const agent = await agentFor(leaf);
    const flip = (r: Uint8Array) => {
      const o = JSON.parse(new TextDecoder().decode(r));
      const k = keyType === "rsa" ? o.rsa_signature : o.ecdsa_signature;
      const field = keyType === "rsa" ? "signature" : "s";
      const b = Uint8Array.from(atob(k[field]), (c) => c.charCodeAt(0));
      b[b.length - 1]! ^= 1;
      k[field] = btoa(String.fromCharCode(...b));
      return new TextEncoder().encode(JSON.stringify(o));
    };
    await refused(attest(server([root]), agent, flip), PermissionDeniedError, `challenge response verification failed: ${what} signature verify failed`);
    const shortNonce = (r: Uint8Array) => {
      const o = JSON.parse(new TextDecoder().decode(r));
      (keyType === "rsa" ? o.rsa_signature : o.ecdsa_signature).nonce = btoa("short");
      return new TextEncoder().encode(JSON.stringify(o));
    };
    await refused(attest(server([root]), agent, shortNonce), PermissionDeniedError, "challenge response verification failed: invalid response nonce");
    const wrongKind = () => new TextEncoder().encode('{"rsa_signature":null,"ecdsa_signature":null}');
    await refused(attest(server([root]), agent, wrongKind), PermissionDeniedError, `challenge response verification failed: expecting ${what} response`);
  }
});

test("x509pop protocol: JSON byte-exact to Go, PSS with the largest salt, verification of any salt length", async () => {
  const nonce = new Uint8Array(32).fill(7);
  assert.is(
    new TextDecoder().decode(pop.encodeChallenge({ rsa_signature: { nonce }, ecdsa_signature: null })),
    `{"rsa_signature":{"nonce":"${btoa(String.fromCharCode(...nonce))}"},"ecdsa_signature":null}`,
  );
  assert.is(new TextDecoder().decode(pop.encodeAttestationData([new Uint8Array([1, 2])])), '{"certificates":["AQI="]}');
  assert.is(pop.maxPSSSaltLength(2048), 222);
  assert.is(pop.maxPSSSaltLength(3072), 350);

  const leaf = await newNodeCert(rootRSA, { keyType: "rsa", cn: "pss" });
  const info = (await import("../../../src/core/x509/mod.ts")).parseCertificate(leaf.der);
  const priv = await crypto.subtle.importKey("pkcs8", leaf.pkcs8 as BufferSource, { name: "RSA-PSS", hash: "SHA-256" }, false, ["sign"]);
  const challenge = pop.generateChallenge(info);
  const response = await pop.calculateResponse({ kind: "rsa", privateKey: priv, modulusBits: 2048 }, challenge);
  await pop.verifyChallengeResponse(info, challenge, response);
  // Signers other than Go often use a salt as long as the hash; Go's verifier (salt auto) accepts those too.
  const data = new Uint8Array([...challenge.rsa_signature!.nonce, ...response.rsa_signature!.nonce]);
  for (const saltLength of [0, 32]) {
    const signature = new Uint8Array(await crypto.subtle.sign({ name: "RSA-PSS", saltLength }, priv, data));
    await pop.verifyChallengeResponse(info, challenge, { rsa_signature: { nonce: response.rsa_signature!.nonce, signature }, ecdsa_signature: null });
  }
  await refused(
    pop.calculateResponse({ kind: "rsa", privateKey: priv, modulusBits: 2048 }, { rsa_signature: { nonce: new Uint8Array(31) }, ecdsa_signature: null }),
    InvalidArgumentError,
    "invalid challenge nonce",
  );
  await refused(
    pop.calculateResponse({ kind: "rsa", privateKey: priv, modulusBits: 2048 }, { rsa_signature: null, ecdsa_signature: { nonce } }),
    InvalidArgumentError,
    "expecting RSA challenge",
  );
});

test("x509pop limits: intermediates, RSA key size, client IP, malformed data", async () => {
  const leaf = await newNodeCert(interEC, { cn: "edge", ips: ["10.1.2.3"] });
  await refused(
    attest(server([rootEC], { max_intermediates: 0 }), await agentFor(leaf, [interEC])),
    InvalidArgumentError,
    "too many intermediate certificates",
  );
  const rsa = await newNodeCert(rootRSA, { keyType: "rsa", cn: "big" });
  await refused(attest(server([rootRSA], { max_rsa_key_size: 1024 }), await agentFor(rsa)), InvalidArgumentError, "leaf certificate key size too large");
  await refused(
    attest(server([rootEC], { verify_client_ip: true }), await agentFor(leaf, [interEC])),
    PermissionDeniedError,
    "client IP 127.0.0.1 does not match any certificate IP SAN",
  );
  const local = await newNodeCert(rootEC, { cn: "local", ips: ["127.0.0.1"] });
  assert.ok((await attest(server([rootEC], { verify_client_ip: true }), await agentFor(local))).canReattest);
  const s = server([rootEC]);
  const never: ChallengeFn = () => Promise.reject(new Error("no challenge expected"));
  await refused(s.attest(new TextEncoder().encode('{"certificates":[]}'), never), InvalidArgumentError, "no certificate to attest");
  try {
    await s.attest(new TextEncoder().encode("{"), never);
    assert.unreachable("malformed data accepted");
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    // The rest is the JSON parser's own text, which differs between runtimes.
    assert.match((err as Error).message, /^failed to unmarshal data: /);
  }
});

test("x509pop spiffe mode: the SVID path after spiffe_prefix names the agent; other certificates are refused", async () => {
  const spiffe = (o: Record<string, unknown> = {}) => {
    const status = new ConfigStatus();
    const cfg = buildX509PoPServerConfig(new ConfigSection("p", { mode: "spiffe", ...o }, status), status);
    status.throwIfErrors();
    return new X509PoPAttestor({ config: cfg, trustDomain: TD, clock, roots: async () => [rootEC.der] });
  };
  const svid = await newNodeCert(rootEC, { cn: "n", uris: ["spiffe://example.org/spire-exchange/edge/n1"] });
  const r = await attest(spiffe(), await agentFor(svid));
  assert.is(r.agentID.toString(), "spiffe://example.org/spire/agent/x509pop/edge/n1");
  await refused(attest(spiffe(), await agentFor(await newNodeCert(rootEC, { cn: "plain" }))), PermissionDeniedError, "valid SVID x509 cert not found");
  await refused(attest(spiffe({ spiffe_prefix: "/other" }), await agentFor(svid)), PermissionDeniedError, "x509 cert doesnt match SVID prefix");
});

test("x509pop server config: SPIRE's keys, defaults and refusals", () => {
  const c = config();
  assert.equal(c, {
    name: "x509pop",
    mode: "external_pki",
    caBundlePaths: ["/unused"],
    spiffePrefix: "/spire-exchange/",
    agentPathTemplate: "/{{ .PluginName }}/{{ .Fingerprint }}",
    maxIntermediates: 4,
    maxRSAKeySize: 8192,
    verifyClientIP: false,
  });
  const status = new ConfigStatus();
  buildX509PoPServerConfig(new ConfigSection("x", { mode: "spiffe", ca_bundle_path: "/a" }, status), status);
  buildX509PoPServerConfig(new ConfigSection("y", { ca_bundle_path: "/a", ca_bundle_paths: ["/b"] }, status), status);
  buildX509PoPServerConfig(new ConfigSection("z", {}, status), status);
  buildX509PoPServerConfig(new ConfigSection("w", { mode: "pki", spiffe_prefix: "/p" }, status), status);
  buildX509PoPServerConfig(new ConfigSection("t", { ca_bundle_path: "/a", agent_path_template: "/{{ .Subject.CommonName" }, status), status);
  assert.equal(status.errors, [
    'x: ca_bundle_path and ca_bundle_paths can only be used in "external_pki" mode',
    "y: only one of ca_bundle_path or ca_bundle_paths can be configured, not both",
    "z: one of ca_bundle_path or ca_bundle_paths must be configured",
    'w.mode: mode can only be either "external_pki" or "spiffe", got "pki"',
    "w: one of ca_bundle_path or ca_bundle_paths must be configured",
    'w.spiffe_prefix can only be used in "spiffe" mode',
    "t.agent_path_template: unclosed action in template",
  ]);
  const spiffe = new ConfigStatus();
  const sc = buildX509PoPServerConfig(new ConfigSection("s", { mode: "spiffe", spiffe_prefix: "/edge" }, spiffe), spiffe);
  assert.is(sc.spiffePrefix, "/edge/");
  assert.is(sc.agentPathTemplate, "/{{ .PluginName }}/{{ .SVIDPathTrimmed }}");
});

test.run();
