/** P-256 SPKI validation and the JS SHA-1 behind subject key identifiers. @module */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { isP256SPKI, sha1, subjectKeyId } from "../../../src/core/x509/spki.ts";
import { newSPKI } from "./_fixtures.ts";

test("sha1() equals crypto.subtle SHA-1 around every padding boundary", async () => {
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000]) {
    const data = crypto.getRandomValues(new Uint8Array(n));
    assert.equal(sha1(data), new Uint8Array(await crypto.subtle.digest("SHA-1", data)), `length ${n}`);
  }
});

test("subjectKeyId() hashes the public key bit string (RFC 5280 method 1)", async () => {
  const spki = await newSPKI();
  assert.equal(subjectKeyId(spki), new Uint8Array(await crypto.subtle.digest("SHA-1", spki.slice(26))));
});

test("isP256SPKI() accepts real keys and rejects off-curve points and other shapes", async () => {
  const spki = await newSPKI();
  assert.ok(isP256SPKI(spki));
  const off = spki.slice();
  off[90]! ^= 1;
  assert.not.ok(isP256SPKI(off));
  assert.not.ok(isP256SPKI(spki.subarray(0, 90)));
  const compressedTag = spki.slice();
  compressedTag[26] = 0x02;
  assert.not.ok(isP256SPKI(compressedTag));
});

test.run();
