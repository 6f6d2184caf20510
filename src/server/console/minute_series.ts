/**
 * Per-minute history of a monotonically growing counter: a ring of the last 60 one-minute buckets, filled by sampling
 * the counter's total (from the metrics registry) and adding what it grew since the last sample to the current minute.
 * @module
 */
import type { Clock } from "../../core/ports/clock.ts";

/** Buckets kept: one hour of minutes. */
export const MINUTES = 60;

export class MinuteSeries {
  #read: () => number;
  #clock: Clock;
  #buckets: number[] = new Array<number>(MINUTES).fill(0);
  /** Minute index (ms / 60 000) of the newest bucket. */
  #minute: number;
  #lastTotal = 0;

  /** `read` returns the counter's total now; counts made before the first sample land in the first sampled minute. */
  constructor(read: () => number, clock: Clock) {
    this.#read = read;
    this.#clock = clock;
    this.#minute = Math.floor(clock.now().getTime() / 60_000);
  }

  /** Adds the counter's growth since the last sample to the current minute, rolling the ring forward first. */
  sample(): void {
    const minute = Math.floor(this.#clock.now().getTime() / 60_000);
    const steps = Math.min(minute - this.#minute, MINUTES);
    for (let i = 0; i < steps; i++) {
      this.#buckets.shift();
      this.#buckets.push(0);
    }
    if (minute > this.#minute) this.#minute = minute;
    const total = this.#read();
    // A counter only grows; a smaller total means a new registry, whose whole value is new.
    const delta = total >= this.#lastTotal ? total - this.#lastTotal : total;
    this.#lastTotal = total;
    this.#buckets[MINUTES - 1]! += delta;
  }

  /** The last 60 minutes, oldest first, the current (partial) minute last; samples first. */
  values(): number[] {
    this.sample();
    return [...this.#buckets];
  }

  /** Start of the newest bucket. */
  get newestMinute(): Date {
    return new Date(this.#minute * 60_000);
  }
}
