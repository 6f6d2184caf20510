/**
 * Bookkeeping of failed CA rotations: counters for health, retry backoff on the rotation tick, and a warning that
 * names how long the active CA has left and turns into an error once the next CA should already be active.
 * @module
 */
import { formatError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";

/** "5h12m", "12m", "40s": how long an operator has left. */
export function formatRemaining(ms: number): string {
  if (ms <= 0) return "0s";
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  if (h > 0) return `${h}h${m}m`;
  return m > 0 ? `${m}m` : `${Math.ceil(ms / 1000)}s`;
}

/** The active CA as far as failure reports need it. */
interface ActiveCA {
  authorityID: string;
  issuedAt: Date;
  notAfter: Date;
}

export class RotationHealth {
  #clock: Clock;
  #log: Logger;
  #every: number;
  #max: number;
  #failed = 0;
  #consecutive = 0;
  #nextAttemptAt = 0;
  #lastError = "";
  #lastErrorAt: Date | undefined;

  /** `rotateInterval` is the tick (default 10 s); waits double per failure up to `retryBackoffMax` (default 60 s). */
  constructor(o: { clock: Clock; logger: Logger; rotateInterval?: number | undefined; retryBackoffMax?: number | undefined }) {
    this.#clock = o.clock;
    this.#log = o.logger;
    this.#every = o.rotateInterval ?? 10_000;
    this.#max = o.retryBackoffMax ?? 60_000;
  }

  /** Whether this tick may try again (false while backing off after failures). */
  due(): boolean {
    return this.#clock.now().getTime() >= this.#nextAttemptAt;
  }

  /** Counts a failure, schedules the retry and logs it with the active CA's remaining life. */
  failed(err: unknown, current: ActiveCA | undefined): void {
    this.#failed++;
    this.#consecutive++;
    this.#lastError = formatError(err);
    this.#lastErrorAt = this.#clock.now();
    const wait = Math.min(this.#every * 2 ** (this.#consecutive - 1), Math.max(this.#max, this.#every));
    const now = this.#clock.now().getTime();
    // Half a tick early, so the tick that lands just after the wait retries rather than the one after it.
    this.#nextAttemptAt = now + wait - this.#every / 2;
    const fields = { [F.ERROR]: this.#lastError, consecutive_failures: this.#consecutive, retry_in_seconds: Math.round(wait / 1000) };
    if (!current) {
      this.#log.error("X509 CA rotation failed; no active CA", fields);
      return;
    }
    const left = current.notAfter.getTime() - now;
    const lifetime = current.notAfter.getTime() - current.issuedAt.getTime();
    const msg = `X509 CA rotation failed; active CA expires in ${formatRemaining(left)}`;
    const more = {
      ...fields,
      [F.AUTHORITY_ID]: current.authorityID,
      [F.EXPIRATION]: current.notAfter.toISOString(),
      remaining_seconds: Math.round(left / 1000),
    };
    // Below a sixth of its life the next CA should already be signing (SPIRE's activation threshold).
    if (left < lifetime / 6) this.#log.error(msg, more);
    else this.#log.warn(msg, more);
  }

  succeeded(): void {
    if (this.#consecutive > 0) this.#log.info("X509 CA rotation recovered", { consecutive_failures: this.#consecutive });
    this.#consecutive = 0;
    this.#nextAttemptAt = 0;
    this.#lastError = "";
  }

  snapshot(): { failedRotations: number; consecutiveFailures: number; lastError: string } {
    return { failedRotations: this.#failed, consecutiveFailures: this.#consecutive, lastError: this.#lastError };
  }

  /** When the last rotation attempt failed (kept after recovery, for the console's history). */
  get lastErrorAt(): Date | undefined {
    return this.#lastErrorAt;
  }
}
