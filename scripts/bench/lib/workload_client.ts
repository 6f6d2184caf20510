/**
 * A Workload API client for load generation: grpc-js with its own subchannel pool per client, so each client is one
 * HTTP/2 connection (grpc-js otherwise shares one connection per target across every client in the process).
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { FETCH_X509_SVID } from "../../../src/agent/workload/codec.ts";
import { X509SVIDResponseSchema } from "../../../src/agent/workload/proto/workload_pb.ts";

const ser = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const de = (b: Buffer): Uint8Array => b;
const EMPTY = new Uint8Array();

export interface StreamHandle {
  cancel(): void;
  /** Resolves when the stream ends for any reason (the status or error). */
  done: Promise<grpc.StatusObject | Error>;
}

export class BenchWorkloadClient {
  readonly #c: grpc.Client;
  readonly #md: grpc.Metadata;
  constructor(socketPath: string) {
    this.#c = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
      "grpc.use_local_subchannel_pool": 1,
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
    });
    this.#md = new grpc.Metadata();
    this.#md.set("workload.spiffe.io", "true");
  }

  /** Opens a server stream on `path` and calls `onMessage` for each message. */
  open(path: string, onMessage: (m: Uint8Array) => void): StreamHandle {
    const call = this.#c.makeServerStreamRequest(path, ser, de, EMPTY, this.#md);
    call.on("data", onMessage);
    const done = new Promise<grpc.StatusObject | Error>((resolve) => {
      call.on("error", resolve);
      call.on("status", resolve);
    });
    return { cancel: () => call.cancel(), done };
  }

  /** Open stream → first message → cancel: the latency a workload sees for its first response, ms. */
  async firstMessage(path = FETCH_X509_SVID): Promise<{ ms: number; bytes: number }> {
    const t = performance.now();
    return new Promise((resolve, reject) => {
      let got = false;
      const h = this.open(path, (m) => {
        if (got) return;
        got = true;
        const ms = performance.now() - t;
        h.cancel();
        resolve({ ms, bytes: m.length });
      });
      void h.done.then((s) => {
        if (!got) reject(new Error(`stream ended before a message: ${"details" in s ? s.details : String(s)}`));
      });
    });
  }

  /** Waits until the connection is ready (so connect time is not counted in per-call latency). */
  ready(timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => this.#c.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    this.#c.close();
  }
}

/** SPIFFE IDs in an X509SVIDResponse. */
export function svidIDs(m: Uint8Array): string[] {
  return fromBinary(X509SVIDResponseSchema, m).svids.map((s) => s.spiffeId);
}
