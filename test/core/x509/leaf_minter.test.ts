/** LeafMinter: SPIRE's leaf profile, checked by our parser, @peculiar/x509, node:crypto and openssl. @module */
import { X509Certificate } from "node:crypto";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { InvalidArgumentError, SPIFFEIDError } from "../../../src/core/errors.ts";
import { parseCertificate } from "../../../src/core/x509/certificate_info.ts";
import { LeafMinter, type MintParams } from "../../../src/core/x509/leaf_minter.ts";
import { x509 } from "../../../src/core/x509/_peculiar.ts";
import { KU_DIGITAL_SIGNATURE, KU_KEY_AGREEMENT, KU_KEY_ENCIPHERMENT } from "../../../src/core/x509/names.ts";
import { AT, expectError, HOUR, newIntermediateCA, newRootCA, newSigner, newSPKI, NOW, opensslDir } from "./_fixtures.ts";

const root = await newRootCA();
const later = (h: number) => new Date(NOW.getTime() + h * HOUR);
const params = async (o: Partial<MintParams> = {}): Promise<MintParams> => ({
  spiffeID: "spiffe://example.org/workload",
  publicKeySPKI: await newSPKI(),
  notBefore: NOW,
  notAfter: later(1),
  ...o,
});

test("mint() produces SPIRE's leaf profile", async () => {
  const p = await params({ dnsNames: ["web.example.org", "api.example.org"] });
  const c = parseCertificate(await root.minter.mint(p));
  const ca = parseCertificate(root.der);
  assert.is(c.version, 3);
  assert.is(c.signatureAlgorithm, "1.2.840.10045.4.3.2");
  assert.equal(c.issuerDER, ca.subjectDER);
  assert.equal(c.subject, { C: "US", O: "SPIRE", CN: "web.example.org" });
  assert.equal(c.uris, ["spiffe://example.org/workload"]);
  assert.equal(c.dnsNames, ["web.example.org", "api.example.org"]);
  assert.ok(c.basicConstraintsValid && !c.isCA);
  assert.is(c.keyUsage, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT);
  assert.ok(c.keyUsageCritical);
  assert.equal(c.extKeyUsage, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
  const ski = new Uint8Array(await crypto.subtle.digest("SHA-1", p.publicKeySPKI.subarray(26) as BufferSource));
  assert.equal(c.ski, ski);
  assert.equal(c.aki, ca.ski);
  assert.equal(c.spki, p.publicKeySPKI);
  assert.equal(c.notBefore, NOW);
  assert.equal(c.notAfter, later(1));
  assert.is(c.serial.length >= 16 && c.serial.length <= 17, true);
  assert.is(c.serial[0]! & 0x80, 0);
});

test("mint() uses C=US, O=SPIRE without CN when there are no DNS names", async () => {
  const c = parseCertificate(await root.minter.mint(await params()));
  assert.equal(c.subject, { C: "US", O: "SPIRE" });
  assert.is(c.sanCritical, false);
});

test("mint() marks the SAN critical when the subject is empty", async () => {
  const c = parseCertificate(await root.minter.mint(await params({ subject: {} })));
  assert.is(c.subjectDER.length, 2);
  assert.is(c.sanCritical, true);
});

test("mint() output verifies in node:crypto, @peculiar/x509 and openssl", async () => {
  const der = await root.minter.mint(await params({ dnsNames: ["web.example.org"] }));
  const leaf = new X509Certificate(der);
  const ca = new X509Certificate(root.der);
  assert.ok(leaf.checkIssued(ca));
  assert.ok(leaf.verify(ca.publicKey));
  assert.is(leaf.subjectAltName, "DNS:web.example.org, URI:spiffe://example.org/workload");
  assert.is(leaf.ca, false);

  const pLeaf = new x509.X509Certificate(der as BufferSource);
  const pCA = new x509.X509Certificate(root.der as BufferSource);
  assert.ok(await pLeaf.verify({ publicKey: pCA.publicKey, date: later(0.5) }));
  assert.is(
    pLeaf.getExtension(x509.KeyUsagesExtension)?.usages,
    x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyAgreement,
  );
  // The EKU is read here and by openssl below, not by X509Certificate.keyUsage: Node returns the EKU OIDs there,
  // Deno's node:crypto the key usage names.
  assert.equal([...(pLeaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])], ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);

  const o = opensslDir();
  try {
    o.writePEM("ca.pem", [root.der]);
    o.writePEM("leaf.pem", [der]);
    const text = o.run(["x509", "-in", "leaf.pem", "-noout", "-text"]);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment, Key Agreement/);
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
    assert.is(o.run(["verify", "-attime", AT, "-CAfile", "ca.pem", "leaf.pem"]).trim(), "leaf.pem: OK");
  } finally {
    o.cleanup();
  }
});

test("mint() through an intermediate verifies with openssl -untrusted", async () => {
  const inter = await newIntermediateCA(root, "example.org", 0);
  const der = await inter.minter.mint(await params());
  const o = opensslDir();
  try {
    o.writePEM("root.pem", [root.der]);
    o.writePEM("inter.pem", [inter.der]);
    o.writePEM("leaf.pem", [der]);
    const out = o.run(["verify", "-attime", AT, "-CAfile", "root.pem", "-untrusted", "inter.pem", "leaf.pem"]);
    assert.is(out.trim(), "leaf.pem: OK");
  } finally {
    o.cleanup();
  }
});

test("mint() encodes a 2048-byte SPIFFE ID and 20 DNS names with long-form lengths", async () => {
  const prefix = "spiffe://example.org/";
  const id = prefix + "a".repeat(2048 - prefix.length);
  const dnsNames = Array.from({ length: 20 }, (_, i) => `host-${i}.${"x".repeat(40)}.example.org`);
  const der = await root.minter.mint(await params({ spiffeID: id, dnsNames }));
  const c = parseCertificate(der);
  assert.equal(c.uris, [id]);
  assert.equal(c.dnsNames, dnsNames);
  const leaf = new X509Certificate(der);
  assert.ok(leaf.verify(new X509Certificate(root.der).publicKey));
  assert.ok(leaf.subjectAltName!.includes(`URI:${id}`));
  assert.equal(new x509.X509Certificate(der as BufferSource).getExtension(x509.SubjectAlternativeNameExtension)!.names.items.length, 21);
  const o = opensslDir();
  try {
    o.writePEM("ca.pem", [root.der]);
    o.writePEM("leaf.pem", [der]);
    assert.is(o.run(["verify", "-attime", AT, "-CAfile", "ca.pem", "leaf.pem"]).trim(), "leaf.pem: OK");
  } finally {
    o.cleanup();
  }
});

test("mint() pads a serial whose high bit is set", async () => {
  const serial = Uint8Array.of(0xff, 0x01, 0x02, 0x03);
  const der = await root.minter.mint(await params({ serial }));
  const c = parseCertificate(der);
  assert.equal(Array.from(c.serial), [0, 0xff, 1, 2, 3]);
  assert.is(c.serialHex, "ff010203");
  assert.is(new X509Certificate(der).serialNumber, "FF010203");
});

test("mint() switches to GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)", async () => {
  const signer = await newSigner();
  const { createSelfSignedCA } = await import("../../../src/core/x509/ca_cert.ts");
  const caDER = await createSelfSignedCA({
    signer,
    trustDomain: "example.org",
    notBefore: new Date("2049-01-01T00:00:00Z"),
    notAfter: new Date("2060-01-01T00:00:00Z"),
  });
  const minter = await LeafMinter.create({ caCertDER: caDER, signer });
  const nb = new Date("2049-12-31T23:59:59Z");
  const na = new Date("2050-01-01T00:00:00Z");
  const der = await minter.mint(await params({ notBefore: nb, notAfter: na }));
  const c = parseCertificate(der);
  assert.equal([c.notBefore, c.notAfter], [nb, na]);
  const hex = Buffer.from(der).toString("hex");
  assert.ok(hex.includes(Buffer.from("491231235959Z").toString("hex")), "UTCTime for 2049");
  assert.ok(hex.includes(Buffer.from("20500101000000Z").toString("hex")), "GeneralizedTime for 2050");
  assert.is(new Date(new X509Certificate(der).validTo).toISOString(), na.toISOString());
  const o = opensslDir();
  try {
    o.writePEM("ca.pem", [caDER]);
    o.writePEM("leaf.pem", [der]);
    const at = String(nb.getTime() / 1000);
    assert.is(o.run(["verify", "-attime", at, "-CAfile", "ca.pem", "leaf.pem"]).trim(), "leaf.pem: OK");
  } finally {
    o.cleanup();
  }
});

test("mint() draws distinct positive random serials", async () => {
  const p = await params();
  const ders = await root.minter.mintBatch(Array.from({ length: 50 }, () => p));
  const serials = new Set(ders.map((d) => parseCertificate(d).serialHex));
  assert.is(serials.size, 50);
});

test("mintBatch() keeps the input order", async () => {
  const spki = await newSPKI();
  const ps = Array.from({ length: 130 }, (_, i) => ({
    spiffeID: `spiffe://example.org/w/${i}`,
    publicKeySPKI: spki,
    notBefore: NOW,
    notAfter: later(1),
  }));
  const ders = await root.minter.mintBatch(ps);
  assert.equal(ders.map((d) => parseCertificate(d).uris[0]), ps.map((p) => p.spiffeID));
});

test("mint() rejects bad input", async () => {
  await expectError(async () => root.minter.mint(await params({ notAfter: NOW })), RangeError, "notAfter must be after notBefore");
  const bad = await newSPKI();
  bad[60]! ^= 1;
  await expectError(
    async () => root.minter.mint(await params({ publicKeySPKI: bad })),
    InvalidArgumentError,
    "public key must be an ECDSA P-256 key",
    "ERR_CSR_INVALID",
  );
  await expectError(
    async () => root.minter.mint(await params({ spiffeID: "spiffe://example.org/a/" })),
    SPIFFEIDError,
    "path cannot have a trailing slash",
    "ERR_SPIFFEID_INVALID",
  );
  await expectError(
    async () => root.minter.mint(await params({ spiffeID: "spiffe://example.org" })),
    InvalidArgumentError,
    'X509-SVID ID "spiffe://example.org" must have a path',
  );
  await expectError(async () => root.minter.mint(await params({ dnsNames: ["a b"] })), InvalidArgumentError, 'invalid DNS name "a b"');
  await expectError(async () => root.minter.mint(await params({ serial: new Uint8Array(3) })), RangeError, "serial number must be positive");
  await expectError(async () => root.minter.mint(await params({ serial: new Uint8Array(20).fill(0xff) })), RangeError, "serial number must fit in 20 octets");
});

test("create() rejects a non-CA certificate and a signer that does not match", async () => {
  const leaf = await root.minter.mint(await params());
  await expectError(() => LeafMinter.create({ caCertDER: leaf, signer: root.signer }), InvalidArgumentError, "issuer certificate is not a CA");
  const other = await newSigner();
  await expectError(
    () => LeafMinter.create({ caCertDER: root.der, signer: other }),
    InvalidArgumentError,
    "signer public key does not match the CA certificate",
  );
});

test.run();
