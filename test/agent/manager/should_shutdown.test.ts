import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { errorFromJSON, PermissionDeniedError, UnavailableError } from "../../../src/core/errors.ts";
import { shouldAgentShutdown } from "../../../src/agent/manager/should_shutdown.ts";

test("shouldAgentShutdown() is true only for PermissionDenied with reason AGENT_BANNED, also when wrapped", () => {
  const banned = errorFromJSON({ status: "PERMISSION_DENIED", code: "ERR_PERMISSION_DENIED", message: 'agent "x" is banned', reason: "AGENT_BANNED" });
  assert.is(banned.reason, "AGENT_BANNED");
  assert.is(shouldAgentShutdown(banned), true);
  assert.is(shouldAgentShutdown(new UnavailableError("failed to sync", { cause: banned })), true);
  assert.is(shouldAgentShutdown(new PermissionDeniedError("agent is banned")), false, "no reason, no shutdown");
  assert.is(shouldAgentShutdown(new PermissionDeniedError("x", { reason: "AGENT_EXPIRED" })), false);
  assert.is(shouldAgentShutdown(new UnavailableError("x", { reason: "AGENT_BANNED" })), false);
  assert.is(shouldAgentShutdown(new Error("agent is banned")), false);
  assert.is(shouldAgentShutdown(undefined), false);
});

test.run();
