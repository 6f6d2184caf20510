/** verifyX509SVID and verifyCAChain: SPIFFE X509-SVID validation accept/reject table. @module */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../../src/core/crypto/signer.ts";
import { InvalidArgumentError } from "../../../src/core/errors.ts";
import { x509 } from "../../../src/core/x509/_peculiar.ts";
import { verifyCAChain, verifyX509SVID } from "../../../src/core/x509/verify.ts";
import { HOUR, newIntermediateCA, newRootCA, newSPKI, NOW } from "./_fixtures.ts";

const root = await newRootCA();
const inter = await newIntermediateCA(root);
const otherRoot = await newRootCA();
const at = (h: number) => new Date(NOW.getTime() + h * HOUR);

async function leafFrom(ca: typeof root, spiffeID = "spiffe://example.org/w"): Promise<Uint8Array> {
  return ca.minter.mint({ spiffeID, publicKeySPKI: await newSPKI(), notBefore: NOW, notAfter: at(1) });
}

/** A leaf with a profile LeafMinter refuses to produce, made with @peculiar/x509 and signed by `ca`. */
async function oddLeaf(ca: typeof root, o: { uris: string[]; isCA?: boolean; usages?: number }) {
  const caCert = new x509.X509Certificate(ca.der as BufferSource);
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "01",
    issuer: caCert.subject,
    subject: "CN=odd",
    notBefore: NOW,
    notAfter: at(1),
    publicKey: keys.publicKey,
    signingKey: ca.signer.privateKey!,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [
      new x509.BasicConstraintsExtension(o.isCA ?? false, undefined, true),
      new x509.KeyUsagesExtension(o.usages ?? x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectAlternativeNameExtension(o.uris.map((value) => ({ type: "url" as const, value }))),
    ],
  });
  return { der: new Uint8Array(cert.rawData), keys };
}

const ok = async (chain: Uint8Array[], roots: Uint8Array[], now = NOW) => verifyX509SVID(chain, roots, now);
async function rejects(chain: Uint8Array[], roots: Uint8Array[], message: string, now = NOW) {
  try {
    await verifyX509SVID(chain, roots, now);
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.is((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected "${message}"`);
}

test("verifyX509SVID() accepts a leaf signed by a root", async () => {
  const leaf = await leafFrom(root);
  const r = await ok([leaf], [otherRoot.der, root.der]);
  assert.is(r.spiffeID, "spiffe://example.org/w");
  assert.equal(r.chain, [leaf, root.der]);
});

test("verifyX509SVID() accepts a leaf through an intermediate", async () => {
  const leaf = await leafFrom(inter);
  const r = await ok([leaf, inter.der], [root.der]);
  assert.is(r.chain.length, 3);
});

test("verifyX509SVID() rejects expired and not-yet-valid leaves", async () => {
  const leaf = await leafFrom(root);
  await rejects(
    [leaf],
    [root.der],
    "x509svid: could not verify leaf certificate: x509: certificate has expired or is not yet valid: " +
      "current time 2030-06-01T13:00:01Z is after 2030-06-01T13:00:00Z",
    new Date(at(1).getTime() + 1000),
  );
  await rejects(
    [leaf],
    [root.der],
    "x509svid: could not verify leaf certificate: x509: certificate has expired or is not yet valid: " +
      "current time 2030-06-01T11:59:59Z is before 2030-06-01T12:00:00Z",
    new Date(NOW.getTime() - 1000),
  );
});

test("verifyX509SVID() rejects an expired intermediate", async () => {
  const leaf = await inter.minter.mint({
    spiffeID: "spiffe://example.org/w",
    publicKeySPKI: await newSPKI(),
    notBefore: NOW,
    notAfter: at(20),
  });
  await rejects(
    [leaf, inter.der],
    [root.der],
    "x509svid: could not verify leaf certificate: x509: certificate has expired or is not yet valid: " +
      "current time 2030-06-02T00:30:00Z is after 2030-06-02T00:00:00Z",
    at(12.5),
  );
});

test("verifyX509SVID() rejects the wrong root and a missing intermediate", async () => {
  await rejects([await leafFrom(root)], [otherRoot.der], "x509svid: could not verify leaf certificate: x509: certificate signed by unknown authority");
  await rejects([await leafFrom(inter)], [root.der], "x509svid: could not verify leaf certificate: x509: certificate signed by unknown authority");
});

test("verifyX509SVID() rejects a bad signature", async () => {
  const leaf = await leafFrom(root);
  leaf[leaf.length - 3]! ^= 0x01;
  await rejects([leaf], [root.der], "x509svid: could not verify leaf certificate: x509: ECDSA verification failure");
});

test("verifyX509SVID() rejects leaves outside the SVID profile", async () => {
  await rejects(
    [(await oddLeaf(root, { uris: ["spiffe://example.org/w"], isCA: true })).der],
    [root.der],
    "x509svid: leaf certificate with CA flag set to true",
  );
  const certSign = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign;
  await rejects(
    [(await oddLeaf(root, { uris: ["spiffe://example.org/w"], usages: certSign })).der],
    [root.der],
    "x509svid: leaf certificate with KeyCertSign key usage",
  );
  const crlSign = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.cRLSign;
  await rejects(
    [(await oddLeaf(root, { uris: ["spiffe://example.org/w"], usages: crlSign })).der],
    [root.der],
    "x509svid: leaf certificate with KeyCrlSign key usage",
  );
  await rejects(
    [(await oddLeaf(root, { uris: ["spiffe://example.org/a", "spiffe://example.org/b"] })).der],
    [root.der],
    "x509svid: could not get leaf SPIFFE ID: certificate contains more than one URI SAN",
  );
  await rejects([(await oddLeaf(root, { uris: [] })).der], [root.der], "x509svid: could not get leaf SPIFFE ID: certificate contains no URI SAN");
  await rejects(
    [(await oddLeaf(root, { uris: ["spiffe://example.org"] })).der],
    [root.der],
    'x509svid: leaf certificate SPIFFE ID "spiffe://example.org" has no path',
  );
  await rejects(
    [(await oddLeaf(root, { uris: ["https://example.org/w"] })).der],
    [root.der],
    "x509svid: could not get leaf SPIFFE ID: scheme is missing or invalid",
  );
});

test("verifyX509SVID() rejects an intermediate that is not a CA", async () => {
  const notCA = await oddLeaf(root, { uris: ["spiffe://example.org/x"], usages: x509.KeyUsageFlags.keyCertSign });
  const signer = await webCryptoSigner(notCA.keys);
  const leafCert = await x509.X509CertificateGenerator.create({
    serialNumber: "02",
    issuer: "CN=odd",
    subject: "CN=leaf",
    notBefore: NOW,
    notAfter: at(1),
    publicKey: (await generateKeyPair()).publicKey,
    signingKey: signer.privateKey!,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://example.org/w" }])],
  });
  await rejects(
    [new Uint8Array(leafCert.rawData), notCA.der],
    [root.der],
    "x509svid: could not verify leaf certificate: x509: certificate is not authorized to sign other certificates",
  );
});

test("verifyX509SVID() enforces pathLenConstraint", async () => {
  const constrained = await newIntermediateCA(root, "example.org", 0);
  const below = await newIntermediateCA(constrained);
  const leaf = await leafFrom(below);
  await rejects(
    [leaf, below.der, constrained.der],
    [root.der],
    "x509svid: could not verify leaf certificate: x509: too many intermediates for path length constraint",
  );
  assert.is((await ok([await leafFrom(constrained), constrained.der], [root.der])).chain.length, 3);
});

test("verifyX509SVID() rejects an empty chain and garbage", async () => {
  await rejects([], [root.der], "x509svid: empty certificates chain");
  await rejects([Uint8Array.of(0x30, 0x03, 1, 2)], [root.der], "x509svid: could not parse certificate chain");
});

test("verifyCAChain() accepts an intermediate and rejects a foreign one", async () => {
  assert.equal(await verifyCAChain([inter.der], [root.der], NOW), [inter.der, root.der]);
  assert.equal(await verifyCAChain([root.der], [root.der], NOW), [root.der]);
  try {
    await verifyCAChain([inter.der], [otherRoot.der], NOW);
    assert.unreachable();
  } catch (err) {
    assert.is((err as Error).message, "could not verify CA chain: x509: certificate signed by unknown authority");
  }
});

test.run();
