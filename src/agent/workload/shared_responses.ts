/**
 * One built Workload API message per selector set and cache state, shared by every open stream of workloads with
 * those selectors (many replicas of one service on a node): a change builds the message once, and the codec, which
 * remembers the bytes of a message object, encodes it once.
 * @module
 */
import type { Selector } from "../../core/selector.ts";

interface Slot<T> {
  state: string;
  message: T | undefined;
  streams: number;
}

export interface SharedSlot<T> {
  /** The message for `state`, built by the first stream that asks for it. */
  get(state: string, build: () => T): T;
  /** Ends this stream's use; the slot goes when its last stream ends. */
  release(): void;
}

export class SharedResponses<T> {
  #bySelectors = new Map<string, Slot<T>>();

  /** A stream of a workload with these selectors starts. */
  join(selectors: Selector[]): SharedSlot<T> {
    const key = selectors.map((s) => `${s.type}:${s.value}`).sort().join("\n");
    let slot = this.#bySelectors.get(key);
    if (!slot) this.#bySelectors.set(key, slot = { state: "", message: undefined, streams: 0 });
    slot.streams++;
    const s = slot;
    let released = false;
    return {
      get: (state, build) => {
        if (s.message === undefined || s.state !== state) {
          s.message = build();
          s.state = state;
        }
        return s.message;
      },
      release: () => {
        if (released) return;
        released = true;
        if (--s.streams === 0 && this.#bySelectors.get(key) === s) this.#bySelectors.delete(key);
      },
    };
  }

  /** Selector sets with an open stream (metrics, tests). */
  get size(): number {
    return this.#bySelectors.size;
  }
}
