/**
 * A well-behaved Workload API client for the fuzz suite, run as its own Node process (so it is the same grpc-js
 * client whichever runtime serves the socket): it holds one FetchX509SVID stream open and, until stdin closes, keeps
 * making unary FetchJWTSVID calls and opening fresh FetchX509Bundles streams. Prints one JSON line per event:
 *   {"ev":"x509","ids":[…],"serials":[…]}   an update on the held stream
 *   {"ev":"x509_end","code":N,"details":"…"} the held stream ended (it never should)
 *   {"ev":"jwt"|"bundles","ok":true|false,"ms":N,"error":"…"}
 * Usage: node --import tsx test/reliability/_steady_client.ts <socketPath>
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { X509Certificate } from "node:crypto";
import { headerMetadata, workloadClient, type X509SVIDResponseMsg } from "../integration/_clients.ts";

const DEADLINE_MS = 5000;
const socketPath = process.argv[2];
if (!socketPath) throw new Error("usage: _steady_client.ts <socketPath>");
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

const held = workloadClient(socketPath, { ownConnection: true });
const calls = workloadClient(socketPath, { ownConnection: true });
const stream = held["FetchX509SVID"]!({}, headerMetadata("true")) as grpc.ClientReadableStream<X509SVIDResponseMsg>;
stream.on("data", (m: X509SVIDResponseMsg) => {
  say({ ev: "x509", ids: m.svids.map((s) => s.spiffe_id), serials: m.svids.map((s) => new X509Certificate(s.x509_svid).serialNumber) });
});
stream.on("error", (e: grpc.ServiceError) => say({ ev: "x509_end", code: e.code, details: e.details }));

let stopping = false;
process.stdin.on("end", () => (stopping = true));
process.stdin.resume();

function jwt(): Promise<void> {
  const started = performance.now();
  return new Promise((resolve) => {
    const fn = calls["FetchJWTSVID"] as unknown as (
      req: unknown,
      md: grpc.Metadata,
      o: grpc.CallOptions,
      cb: (e: grpc.ServiceError | null, r?: { svids: unknown[] }) => void,
    ) => void;
    fn.call(calls, { audience: ["fuzz"] }, headerMetadata("true"), { deadline: Date.now() + DEADLINE_MS }, (err, res) => {
      const ms = Math.round(performance.now() - started);
      if (err) say({ ev: "jwt", ok: false, ms, error: `${err.code} ${err.details}` });
      else say({ ev: "jwt", ok: (res?.svids.length ?? 0) > 0, ms, ...(res?.svids.length ? {} : { error: "no JWT-SVID" }) });
      resolve();
    });
  });
}

function bundles(): Promise<void> {
  const started = performance.now();
  return new Promise((resolve) => {
    const open = calls["FetchX509Bundles"] as unknown as (req: unknown, md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;
    const s = open.call(calls, {}, headerMetadata("true"), { deadline: Date.now() + DEADLINE_MS });
    let done = false;
    const finish = (ok: boolean, error?: string) => {
      if (done) return;
      done = true;
      say({ ev: "bundles", ok, ms: Math.round(performance.now() - started), ...(error ? { error } : {}) });
      s.cancel();
      resolve();
    };
    s.on("data", () => finish(true));
    s.on("error", (e: grpc.ServiceError) => finish(false, `${e.code} ${e.details}`));
  });
}

while (!stopping) {
  await jwt();
  await bundles();
  await new Promise((r) => setTimeout(r, 50));
}
stream.cancel();
held.close();
calls.close();
process.exit(0);
