import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { ConfigStatus } from "../../../src/core/config/status.ts";
import { ConfigError } from "../../../src/core/errors.ts";

test("ConfigStatus.throwIfErrors() does nothing with only infos", () => {
  const s = new ConfigStatus();
  s.info("a note");
  s.throwIfErrors();
  assert.equal(s.infos, ["a note"]);
  assert.is(s.hasErrors, false);
});

test("ConfigStatus.throwIfErrors() throws one ConfigError listing every error", () => {
  const s = new ConfigStatus();
  s.error("server.trust_domain must be configured");
  s.info("a note");
  s.error(`unknown configuration key "server.foo"`);
  try {
    s.throwIfErrors();
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ConfigError);
    const e = err as ConfigError;
    assert.is(e.code, "ERR_CONFIG_INVALID");
    assert.equal(e.issues, ["server.trust_domain must be configured", `unknown configuration key "server.foo"`]);
    assert.is(e.message, `configuration has 2 problems: server.trust_domain must be configured; unknown configuration key "server.foo"`);
  }
  assert.equal(s.notes.map((n) => n.level), ["error", "info", "error"]);
});

test.run();
