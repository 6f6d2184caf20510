/** CA certificates and CA CSRs in SPIRE's profile, checked by our parser, node:crypto and openssl. @module */
import { X509Certificate } from "node:crypto";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { InvalidArgumentError } from "../../../src/core/errors.ts";
import { createCACSR, createSelfSignedCA, signIntermediateCA } from "../../../src/core/x509/ca_cert.ts";
import { parseCertificate } from "../../../src/core/x509/certificate_info.ts";
import { parseAndVerifyCSR } from "../../../src/core/x509/csr.ts";
import { KU_CRL_SIGN, KU_DIGITAL_SIGNATURE, KU_KEY_CERT_SIGN } from "../../../src/core/x509/names.ts";
import { AT, expectError, HOUR, newIntermediateCA, newRootCA, newSigner, NOW, opensslDir } from "./_fixtures.ts";

const CA_KU = KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE;

test("createSelfSignedCA() builds SPIRE's CA profile", async () => {
  const root = await newRootCA("example.org");
  const c = parseCertificate(root.der);
  assert.equal(c.uris, ["spiffe://example.org"]);
  assert.ok(c.isCA && c.basicConstraintsValid);
  assert.is(c.pathLen, undefined);
  assert.is(c.keyUsage, CA_KU);
  assert.ok(c.keyUsageCritical);
  assert.equal(c.issuerDER, c.subjectDER);
  assert.is(c.aki, undefined);
  assert.equal(c.ski, new Uint8Array(await crypto.subtle.digest("SHA-1", root.signer.publicKeySPKI.subarray(26) as BufferSource)));
  assert.equal(c.subject, { C: "US", O: "SPIFFE", serialNumber: BigInt("0x" + c.serialHex).toString(10) });
  const x = new X509Certificate(root.der);
  assert.ok(x.ca);
  assert.ok(x.verify(x.publicKey));
  const o = opensslDir();
  try {
    o.writePEM("ca.pem", [root.der]);
    const text = o.run(["x509", "-in", "ca.pem", "-noout", "-text"]);
    assert.match(text, /Basic Constraints: critical\s+CA:TRUE\n/);
    assert.match(text, /Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    assert.is(o.run(["verify", "-attime", AT, "-CAfile", "ca.pem", "ca.pem"]).trim(), "ca.pem: OK");
  } finally {
    o.cleanup();
  }
});

test("createSelfSignedCA() keeps a given subject and rejects bad input", async () => {
  const signer = await newSigner();
  const der = await createSelfSignedCA({
    signer,
    trustDomain: "td.test",
    notBefore: NOW,
    notAfter: new Date(NOW.getTime() + HOUR),
    subject: { C: "DE", O: "Acme", serialNumber: "7" },
  });
  assert.equal(parseCertificate(der).subject, { C: "DE", O: "Acme", serialNumber: "7" });
  await expectError(
    () => createSelfSignedCA({ signer, trustDomain: "td.test", notBefore: NOW, notAfter: NOW }),
    RangeError,
    "notAfter must be after notBefore",
  );
});

test("signIntermediateCA() chains to the root with pathLen and AKI", async () => {
  const root = await newRootCA();
  const inter = await newIntermediateCA(root, "example.org", 0);
  const c = parseCertificate(inter.der);
  const r = parseCertificate(root.der);
  assert.is(c.pathLen, 0);
  assert.ok(c.isCA);
  assert.equal(c.issuerDER, r.subjectDER);
  assert.equal(c.aki, r.ski);
  assert.ok(new X509Certificate(inter.der).checkIssued(new X509Certificate(root.der)));
  const o = opensslDir();
  try {
    o.writePEM("root.pem", [root.der]);
    o.writePEM("inter.pem", [inter.der]);
    assert.match(o.run(["x509", "-in", "inter.pem", "-noout", "-text"]), /CA:TRUE, pathlen:0/);
    assert.is(o.run(["verify", "-attime", AT, "-CAfile", "root.pem", "inter.pem"]).trim(), "inter.pem: OK");
  } finally {
    o.cleanup();
  }
  const other = await newSigner();
  await expectError(
    () =>
      signIntermediateCA({
        issuerCertDER: root.der,
        issuerSigner: other,
        publicKeySPKI: other.publicKeySPKI,
        trustDomain: "example.org",
        notBefore: NOW,
        notAfter: new Date(NOW.getTime() + HOUR),
      }),
    InvalidArgumentError,
    "issuer signer public key does not match the issuer certificate",
  );
});

test("createCACSR() carries the trust domain URI and no basic constraints", async () => {
  const signer = await newSigner();
  const der = await createCACSR({ signer, trustDomain: "example.org" });
  const csr = await parseAndVerifyCSR(der);
  assert.equal(csr.uris, ["spiffe://example.org"]);
  assert.equal(csr.publicKeySPKI, signer.publicKeySPKI);
  assert.is(csr.subject.C, "US");
  assert.is(csr.subject.O, "SPIFFE");
  assert.match(csr.subject.serialNumber ?? "", /^[1-9][0-9]*$/);
  const o = opensslDir();
  try {
    o.write("csr.der", der);
    const text = o.run(["req", "-in", "csr.der", "-inform", "DER", "-verify", "-noout", "-text"]);
    assert.match(text, /URI:spiffe:\/\/example\.org/);
    assert.not.match(text, /Basic Constraints/);
  } finally {
    o.cleanup();
  }
});

test.run();
