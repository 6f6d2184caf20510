/**
 * Bridges a node attestor's challenge/response exchange (one long-running `attest` call) onto separate HTTP round
 * trips: the first request starts the attestor, each challenge it sends becomes an answer with a session ID, and the
 * agent's next request with that ID resumes it. Sessions live in memory with a short deadline; SPIRE runs the same
 * exchange on one bidirectional gRPC stream.
 * @module
 */
import { toHex } from "../../core/encoding.ts";
import { InvalidArgumentError, UnavailableError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { ChallengeFn } from "../nodeattestor/node_attestor.ts";

/** What one HTTP round trip answers: the next challenge, or the attestation's outcome. */
export type AttestStep<T> =
  | { kind: "challenge"; sessionID: string; challenge: Uint8Array }
  | { kind: "done"; result: T };

interface Session<T> {
  id: string;
  /** The HTTP call waiting for the next step. */
  waiter?: { resolve: (s: AttestStep<T>) => void; reject: (e: unknown) => void } | undefined;
  /** The attestor waiting for the agent's response. */
  pending?: { resolve: (r: Uint8Array) => void; reject: (e: unknown) => void } | undefined;
  timer?: AbortController | undefined;
}

export class AttestSessions<T> {
  #clock: Clock;
  #timeoutMs: number;
  #max: number;
  #sessions = new Map<string, Session<T>>();

  /** `timeoutMs`: how long a challenge waits for its response (default 30 s); `maxSessions` bounds memory (default 1000). */
  constructor(cfg: { clock: Clock; timeoutMs?: number; maxSessions?: number }) {
    this.#clock = cfg.clock;
    this.#timeoutMs = cfg.timeoutMs ?? 30_000;
    this.#max = cfg.maxSessions ?? 1000;
  }

  /** Sessions waiting for an agent's response. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Runs `attest`; resolves with its first challenge or its result, whichever comes first.
   * @throws {UnavailableError} when too many attestations wait for responses
   */
  start(attest: (challenge: ChallengeFn) => Promise<T>): Promise<AttestStep<T>> {
    if (this.#sessions.size >= this.#max) throw new UnavailableError("too many node attestations in progress; retry later");
    const s: Session<T> = { id: toHex(crypto.getRandomValues(new Uint8Array(16))) };
    const first = this.#nextStep(s);
    const challenge: ChallengeFn = (ch) => {
      const response = new Promise<Uint8Array>((resolve, reject) => (s.pending = { resolve, reject }));
      this.#sessions.set(s.id, s);
      this.#arm(s);
      this.#emit(s, { kind: "challenge", sessionID: s.id, challenge: ch });
      return response;
    };
    let run: Promise<T>;
    try {
      run = attest(challenge);
    } catch (err) {
      run = Promise.reject(err);
    }
    run.then(
      (result) => {
        this.#end(s);
        this.#emit(s, { kind: "done", result });
      },
      (err: unknown) => {
        this.#end(s);
        const w = s.waiter;
        s.waiter = undefined;
        w?.reject(err);
      },
    );
    return first;
  }

  /**
   * Hands the agent's response to the attestor waiting in session `sessionID`; resolves with the next step.
   * @throws {InvalidArgumentError} ERR_ATTEST_SESSION when the session is unknown, expired or not waiting
   */
  respond(sessionID: string, response: Uint8Array): Promise<AttestStep<T>> {
    const s = this.#sessions.get(sessionID);
    const pending = s?.pending;
    if (!s || !pending) {
      throw new InvalidArgumentError(`attestation session "${sessionID}" not found or expired; restart attestation`, { code: "ERR_ATTEST_SESSION" });
    }
    // Out of the map while the attestor works, so a replayed response cannot race the first one.
    this.#sessions.delete(sessionID);
    s.timer?.abort();
    s.pending = undefined;
    const next = this.#nextStep(s);
    pending.resolve(response);
    return next;
  }

  #nextStep(s: Session<T>): Promise<AttestStep<T>> {
    return new Promise<AttestStep<T>>((resolve, reject) => (s.waiter = { resolve, reject }));
  }

  #emit(s: Session<T>, step: AttestStep<T>): void {
    const w = s.waiter;
    s.waiter = undefined;
    w?.resolve(step);
  }

  #arm(s: Session<T>): void {
    s.timer?.abort();
    const timer = new AbortController();
    s.timer = timer;
    this.#clock.sleep(this.#timeoutMs, timer.signal).then(() => {
      if (s.timer !== timer || !s.pending) return;
      const p = s.pending;
      s.pending = undefined;
      this.#sessions.delete(s.id);
      p.reject(new InvalidArgumentError("attestation session expired waiting for the challenge response", { code: "ERR_ATTEST_SESSION" }));
    }, () => {});
  }

  #end(s: Session<T>): void {
    s.timer?.abort();
    this.#sessions.delete(s.id);
  }
}
