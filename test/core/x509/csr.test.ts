/** CSR creation and verification, against openssl-made CSRs and tampered or foreign ones. @module */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { exportSPKI, generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { formatError, InvalidArgumentError } from "../../../src/core/errors.ts";
import { createCSR, parseAndVerifyCSR } from "../../../src/core/x509/csr.ts";
import { expectError, opensslDir } from "./_fixtures.ts";

function opensslCSR(newkey: string[], san?: string): Uint8Array {
  const o = opensslDir();
  try {
    o.run([
      "req",
      "-new",
      "-nodes",
      "-keyout",
      "k.pem",
      "-subj",
      "/C=US/O=Acme/CN=svc",
      ...newkey,
      ...(san ? ["-addext", `subjectAltName=${san}`] : []),
      "-outform",
      "DER",
      "-out",
      "csr.der",
    ]);
    return new Uint8Array(readFileSync(join(o.dir, "csr.der")));
  } finally {
    o.cleanup();
  }
}
const P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

test("createCSR() output verifies in parseAndVerifyCSR and openssl", async () => {
  const key = await generateKeyPair();
  const der = await createCSR(key, { spiffeID: "spiffe://example.org/w", dnsNames: ["a.example.org"] });
  const csr = await parseAndVerifyCSR(der);
  assert.equal(csr.publicKeySPKI, await exportSPKI(key.publicKey));
  assert.equal(csr.uris, ["spiffe://example.org/w"]);
  assert.equal(csr.dnsNames, ["a.example.org"]);
  assert.equal(csr.subject, {});
  const o = opensslDir();
  try {
    o.write("csr.der", der);
    const text = o.run(["req", "-in", "csr.der", "-inform", "DER", "-verify", "-noout", "-text"]);
    assert.match(text, /DNS:a\.example\.org, URI:spiffe:\/\/example\.org\/w/);
  } finally {
    o.cleanup();
  }
});

test("createCSR() without names has an empty subject and no attributes", async () => {
  const csr = await parseAndVerifyCSR(await createCSR(await generateKeyPair(), { subject: { O: "Acme" } }));
  assert.equal(csr.uris, []);
  assert.equal(csr.subject, { O: "Acme" });
});

test("parseAndVerifyCSR() accepts an openssl P-256 CSR", async () => {
  const csr = await parseAndVerifyCSR(opensslCSR(P256, "URI:spiffe://example.org/x,DNS:b.example.org"));
  assert.equal(csr.uris, ["spiffe://example.org/x"]);
  assert.equal(csr.dnsNames, ["b.example.org"]);
  assert.equal(csr.subject, { C: "US", O: "Acme", CN: "svc" });
});

test("parseAndVerifyCSR() rejects a tampered CSR", async () => {
  const der = await createCSR(await generateKeyPair(), { spiffeID: "spiffe://example.org/w" });
  const i = new TextDecoder("latin1").decode(der).indexOf("example.org");
  der[i] = "E".charCodeAt(0);
  await expectError(() => parseAndVerifyCSR(der), InvalidArgumentError, "invalid CSR signature", "ERR_CSR_INVALID");
});

test("parseAndVerifyCSR() rejects garbage as malformed, with the cause", async () => {
  const garbage = crypto.getRandomValues(new Uint8Array(200));
  garbage[0] = 0x30;
  const err = await expectError(() => parseAndVerifyCSR(garbage), InvalidArgumentError, "malformed CSR", "ERR_CSR_INVALID");
  assert.ok(err.cause instanceof Error);
  assert.match(formatError(err), /^malformed CSR: asn1: /);
  await expectError(() => parseAndVerifyCSR(new Uint8Array(0)), InvalidArgumentError, "malformed CSR");
  const good = await createCSR(await generateKeyPair());
  const trailing = new Uint8Array(good.length + 1);
  trailing.set(good);
  await expectError(() => parseAndVerifyCSR(trailing), InvalidArgumentError, "malformed CSR");
});

test("parseAndVerifyCSR() rejects RSA and P-384 keys by name", async () => {
  await expectError(
    () => parseAndVerifyCSR(opensslCSR(["-newkey", "rsa:2048"])),
    InvalidArgumentError,
    'unsupported CSR public key algorithm "RSA"',
    "ERR_CSR_INVALID",
  );
  await expectError(
    () => parseAndVerifyCSR(opensslCSR(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"])),
    InvalidArgumentError,
    'unsupported CSR public key algorithm "ECDSA P-384"',
    "ERR_CSR_INVALID",
  );
});

test("parseAndVerifyCSR() rejects a P-256 CSR signed with SHA-384", async () => {
  await expectError(
    () => parseAndVerifyCSR(opensslCSR([...P256, "-sha384"])),
    InvalidArgumentError,
    'unsupported CSR signature algorithm "1.2.840.10045.4.3.3"',
    "ERR_CSR_INVALID",
  );
});

test.run();
