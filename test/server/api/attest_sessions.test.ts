/** AttestSessions: an attestor's challenge/response exchange bridged onto separate round trips. @module */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { InvalidArgumentError, PermissionDeniedError } from "../../../src/core/errors.ts";
import { ManualClock } from "../../../src/core/ports/clock.ts";
import { AttestSessions } from "../../../src/server/api/attest_sessions.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

test("start() answers the result at once when the attestor sends no challenge", async () => {
  const s = new AttestSessions<string>({ clock: new ManualClock(new Date()) });
  assert.equal(await s.start(async () => "agent"), { kind: "done", result: "agent" });
  assert.is(s.size, 0);
});

test("respond() carries each response to the attestor and answers the next challenge, then the result", async () => {
  const s = new AttestSessions<string>({ clock: new ManualClock(new Date()) });
  const first = await s.start(async (challenge) => {
    const a = text(await challenge(bytes("c1")));
    const b = text(await challenge(bytes("c2")));
    return `${a}+${b}`;
  });
  assert.is(first.kind, "challenge");
  if (first.kind !== "challenge") return;
  assert.is(text(first.challenge), "c1");
  const second = await s.respond(first.sessionID, bytes("r1"));
  assert.is(second.kind, "challenge");
  if (second.kind !== "challenge") return;
  assert.is(text(second.challenge), "c2");
  assert.equal(await s.respond(second.sessionID, bytes("r2")), { kind: "done", result: "r1+r2" });
  assert.is(s.size, 0);
});

test("respond() rejects with the attestor's error; a replayed or unknown session is refused", async () => {
  const s = new AttestSessions<string>({ clock: new ManualClock(new Date()) });
  const first = await s.start(async (challenge) => {
    await challenge(bytes("c"));
    throw new PermissionDeniedError("challenge response verification failed: ECDSA signature verify failed");
  });
  if (first.kind !== "challenge") throw new Error("expected a challenge");
  try {
    await s.respond(first.sessionID, bytes("bad"));
    assert.unreachable();
  } catch (err) {
    assert.instance(err, PermissionDeniedError);
    assert.is((err as Error).message, "challenge response verification failed: ECDSA signature verify failed");
  }
  for (const id of [first.sessionID, "nope"]) {
    try {
      await s.respond(id, bytes("again"));
      assert.unreachable();
    } catch (err) {
      assert.instance(err, InvalidArgumentError);
      assert.is((err as InvalidArgumentError).code, "ERR_ATTEST_SESSION");
      assert.is((err as Error).message, `attestation session "${id}" not found or expired; restart attestation`);
    }
  }
});

test("a challenge left unanswered past the deadline ends the session and fails the attestor", async () => {
  const clock = new ManualClock(new Date());
  const s = new AttestSessions<string>({ clock, timeoutMs: 5000 });
  let attestorError: unknown;
  const first = await s.start(async (challenge) => {
    try {
      return text(await challenge(bytes("c")));
    } catch (err) {
      attestorError = err;
      throw err;
    }
  });
  if (first.kind !== "challenge") throw new Error("expected a challenge");
  assert.is(s.size, 1);
  clock.advance(5001);
  await new Promise((r) => setTimeout(r, 10));
  assert.is(s.size, 0);
  assert.instance(attestorError, InvalidArgumentError);
  assert.is((attestorError as Error).message, "attestation session expired waiting for the challenge response");
  try {
    await s.respond(first.sessionID, bytes("late"));
    assert.unreachable();
  } catch (err) {
    assert.is((err as InvalidArgumentError).code, "ERR_ATTEST_SESSION");
  }
});

test("start() refuses new attestations beyond maxSessions", async () => {
  const s = new AttestSessions<string>({ clock: new ManualClock(new Date()), maxSessions: 1 });
  await s.start(async (challenge) => text(await challenge(bytes("c"))));
  assert.throws(() => s.start(async () => "x"), (err: Error) => err.message === "too many node attestations in progress; retry later");
});

test.run();
