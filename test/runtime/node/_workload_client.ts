/** An independent Workload API client (grpc-js + proto-loader from proto/workload.proto) run as a child process. @module */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

// Usage: _workload_client.ts <socket> <first|hold> [noheader]
// first: prints {"pid", "first": <first FetchX509SVID message>} or {"pid", "error": {code, details}} and exits.
// hold: prints {"pid", "first"} and keeps the stream open until killed.
const [socketPath, mode, header] = process.argv.slice(2);
const proto = fileURLToPath(new URL("../../../proto/workload.proto", import.meta.url));
const def = protoLoader.loadSync(proto, { keepCase: true, longs: String, bytes: String, defaults: true });
const pkg = grpc.loadPackageDefinition(def) as unknown as { SpiffeWorkloadAPI: grpc.ServiceClientConstructor };
const client = new pkg.SpiffeWorkloadAPI(`unix://${socketPath}`, grpc.credentials.createInsecure());
const md = new grpc.Metadata();
if (header !== "noheader") md.set("workload.spiffe.io", "true");
const call = client["FetchX509SVID"]!({}, md) as grpc.ClientReadableStream<unknown>;
const out = (o: unknown) => process.stdout.write(JSON.stringify({ pid: process.pid, ...(o as object) }) + "\n");
call.once("data", (m: unknown) => {
  out({ first: m });
  if (mode !== "hold") {
    call.cancel();
    client.close();
  }
});
call.on("error", (e: grpc.ServiceError) => {
  if (e.code === grpc.status.CANCELLED) return;
  out({ error: { code: e.code, details: e.details } });
  client.close();
});
