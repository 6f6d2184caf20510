import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { invalidFlagValue, mutuallyExclusiveFlags, requiredFlag } from "../../../src/core/cli/usage_errors.ts";
import { UsageError } from "../../../src/core/errors.ts";

const cases: [string, UsageError, string][] = [
  ["requiredFlag() names the flag", requiredFlag("spiffeID"), "-spiffeID flag is required"],
  [
    "invalidFlagValue() quotes the value and gives the reason",
    invalidFlagValue("x509SVIDTTL", "-1", "must be positive"),
    `invalid value "-1" for flag -x509SVIDTTL: must be positive`,
  ],
  ["mutuallyExclusiveFlags() names both flags", mutuallyExclusiveFlags("data", "spiffeID"), "-data and -spiffeID flags cannot be used together"],
];
for (const [name, err, message] of cases) {
  test(name, () => {
    assert.instance(err, UsageError);
    assert.is(err.code, "ERR_USAGE");
    assert.is(err.status, "INVALID_ARGUMENT");
    assert.is(err.message, message);
  });
}

test.run();
