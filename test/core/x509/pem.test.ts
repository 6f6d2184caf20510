/** PEM armour and concatenated DER lists. @module */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { InvalidArgumentError } from "../../../src/core/errors.ts";
import { concatDER, fromPEM, splitDER, toPEM } from "../../../src/core/x509/pem.ts";
import { newRootCA, opensslDir } from "./_fixtures.ts";

const a = await newRootCA();
const b = await newRootCA();

test("toPEM() output is read back by fromPEM() and openssl", () => {
  const pem = toPEM(a.der, "CERTIFICATE");
  assert.ok(pem.split("\n").every((l) => l.length <= 64));
  assert.equal(fromPEM(pem), [a.der]);
  const o = opensslDir();
  try {
    o.write("a.pem", pem);
    assert.match(o.run(["x509", "-in", "a.pem", "-noout", "-subject"]), /O = SPIFFE/);
  } finally {
    o.cleanup();
  }
});

test("fromPEM() tolerates CRLF, indentation and text between blocks", () => {
  const text = "subject=x\r\n" + toPEM(a.der, "CERTIFICATE").replace(/\n/g, "\r\n  ") + "\ncomment\n" +
    toPEM(b.der, "CERTIFICATE");
  assert.equal(fromPEM(text, "CERTIFICATE"), [a.der, b.der]);
});

test("fromPEM() rejects garbage, bad base64, wrong labels and unterminated blocks", () => {
  assert.throws(() => fromPEM("garbage"), (e: Error) => e instanceof InvalidArgumentError && e.message === "no PEM data found");
  const pem = toPEM(a.der, "CERTIFICATE");
  assert.throws(() => fromPEM(pem.replace("M", "*")), /invalid base64 in PEM block "CERTIFICATE"/);
  assert.throws(() => fromPEM(pem, "PRIVATE KEY"), /expected PEM block type "PRIVATE KEY", got "CERTIFICATE"/);
  assert.throws(() => fromPEM(pem + "-----BEGIN CERTIFICATE-----\nAAAA\n"), /unterminated PEM block/);
  assert.throws(() => fromPEM(pem.replace("END CERTIFICATE", "END X")), /unterminated PEM block|ends with/);
});

test("splitDER() undoes concatDER() and rejects trailing garbage", () => {
  const joined = concatDER([a.der, b.der]);
  assert.equal(splitDER(joined), [a.der, b.der]);
  assert.equal(splitDER(new Uint8Array(0)), []);
  const bad = concatDER([joined, Uint8Array.of(0x30, 0x05, 0x01)]);
  assert.throws(
    () => splitDER(bad),
    (e: Error) => e instanceof InvalidArgumentError && e.message === "malformed DER certificate list" && e.cause instanceof Error,
  );
  assert.throws(() => splitDER(Uint8Array.of(0x04, 0x00)), /malformed DER certificate list/);
});

test.run();
