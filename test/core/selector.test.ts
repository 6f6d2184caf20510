/** parseSelector() and formatSelector(): SPIRE's type:value grammar. @module */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { InvalidArgumentError } from "../../src/core/errors.ts";
import { formatSelector, parseSelector } from "../../src/core/selector.ts";

test("parseSelector() splits at the first colon", () => {
  assert.equal(parseSelector("unix:uid:1000"), { type: "unix", value: "uid:1000" });
  assert.equal(parseSelector("k8s:ns:a:b"), { type: "k8s", value: "ns:a:b" });
  assert.equal(parseSelector("spiffe_id:spiffe://example.org/a"), { type: "spiffe_id", value: "spiffe://example.org/a" });
});

for (const bad of ["unix", "", ":uid:1000", "unix:"]) {
  test(`parseSelector() rejects ${JSON.stringify(bad)}`, () => {
    try {
      parseSelector(bad);
      assert.unreachable("should have thrown");
    } catch (err) {
      assert.instance(err, InvalidArgumentError);
      assert.is((err as InvalidArgumentError).code, "ERR_SELECTOR_INVALID");
      assert.is((err as Error).message, `selector "${bad}" must be formatted as type:value`);
    }
  });
}

test("formatSelector() round-trips parseSelector()", () => {
  assert.is(formatSelector(parseSelector("unix:supplementary_group:a b")), "unix:supplementary_group:a b");
});

test.run();
