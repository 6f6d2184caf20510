/** loadSEAAddon outside a single executable (inside one, test/integration/release.test.ts checks what it maps). */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { UnavailableError } from "../../../src/core/errors.ts";
import { KOFFI_ASSET, LIBSQL_ASSET, loadSEAAddon } from "../../../src/runtime/node/sea_addon.ts";

for (const asset of [KOFFI_ASSET, LIBSQL_ASSET]) {
  test(`${asset}: a plain node process is refused with UnavailableError, naming the asset`, () => {
    try {
      loadSEAAddon(asset);
      assert.unreachable("loadSEAAddon returned");
    } catch (err) {
      assert.instance(err, UnavailableError);
      assert.is((err as UnavailableError).code, "ERR_UNAVAILABLE");
      assert.is((err as Error).message, `${asset} is not embedded: not running as a single executable application`);
    }
  });
}

test.run();
