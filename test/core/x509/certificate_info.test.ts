/** parseCertificate against node:crypto's view of our and openssl's certificates. @module */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { formatError, InvalidArgumentError } from "../../../src/core/errors.ts";
import { parseCertificate } from "../../../src/core/x509/certificate_info.ts";
import { KU_CRL_SIGN, KU_DIGITAL_SIGNATURE, KU_KEY_CERT_SIGN } from "../../../src/core/x509/names.ts";
import { expectError, HOUR, newIntermediateCA, newRootCA, newSPKI, NOW, opensslDir } from "./_fixtures.ts";

/** A hex serial as the integer it denotes, written without leading zeros. */
const serialValue = (hex: string) => BigInt("0x" + hex).toString(16);

test("parseCertificate() agrees with node:crypto on our certificates", async () => {
  const root = await newRootCA();
  const inter = await newIntermediateCA(root, "example.org", 1);
  const leaf = await inter.minter.mint({
    spiffeID: "spiffe://example.org/w",
    publicKeySPKI: await newSPKI(),
    notBefore: NOW,
    notAfter: new Date(NOW.getTime() + HOUR),
    dnsNames: ["a.example.org"],
  });
  for (const der of [root.der, inter.der, leaf]) {
    const c = parseCertificate(der);
    const x = new X509Certificate(der);
    // node:crypto prints "0D…" where Deno's node:crypto prints "D…": the same integer, compared without leading zeros.
    assert.is(serialValue(c.serialHex), serialValue(x.serialNumber));
    assert.is(c.notBefore.getTime(), new Date(x.validFrom).getTime());
    assert.is(c.notAfter.getTime(), new Date(x.validTo).getTime());
    assert.is(c.isCA, x.ca);
    assert.equal(c.spki, new Uint8Array(x.publicKey.export({ type: "spki", format: "der" })));
    assert.equal(c.tbs, der.subarray(4, 4 + c.tbs.length));
  }
  const i = parseCertificate(inter.der);
  assert.is(i.pathLen, 1);
  assert.is(i.keyUsage, KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE);
  assert.equal(i.unhandledCriticalExtensions, []);
});

test("parseCertificate() reads an openssl RSA certificate", () => {
  const o = opensslDir();
  try {
    o.run([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "k.pem",
      "-subj",
      "/C=US/O=Acme/CN=root",
      "-days",
      "3",
      "-addext",
      "subjectAltName=DNS:x.test,URI:spiffe://acme.test",
      "-outform",
      "DER",
      "-out",
      "c.der",
    ]);
    const der = new Uint8Array(readFileSync(join(o.dir, "c.der")));
    const c = parseCertificate(der);
    assert.is(c.publicKeyAlgorithm, "1.2.840.113549.1.1.1");
    assert.is(c.signatureAlgorithm, "1.2.840.113549.1.1.11");
    assert.equal(c.subject, { C: "US", O: "Acme", CN: "root" });
    assert.equal(c.uris, ["spiffe://acme.test"]);
    assert.equal(c.dnsNames, ["x.test"]);
    assert.ok(c.isCA);
    assert.equal(c.ski, c.aki);
  } finally {
    o.cleanup();
  }
});

test("parseCertificate() rejects malformed DER with the cause", async () => {
  const root = await newRootCA();
  const truncated = root.der.subarray(0, root.der.length - 1);
  const err = await expectError(() => parseCertificate(truncated), InvalidArgumentError, "malformed certificate", "ERR_INVALID_ARGUMENT");
  assert.match(formatError(err), /^malformed certificate: asn1: /);
  const trailing = new Uint8Array(root.der.length + 2);
  trailing.set(root.der);
  await expectError(() => parseCertificate(trailing), InvalidArgumentError, "malformed certificate");
  const nonMinimal = Uint8Array.of(0x30, 0x81, 0x03, 0x02, 0x01, 0x00);
  await expectError(() => parseCertificate(nonMinimal), InvalidArgumentError, "malformed certificate");
});

test.run();
