/**
 * A workload that holds one FetchX509SVID stream open (run as another uid through setpriv) and prints one JSON line
 * per message: each SVID's SPIFFE ID, serial and issuer (AKI), whether it verifies against the bundle that came with
 * it, and the bundle's roots (SKIs) whenever the bundle changed. The soak test reads these lines.
 * Usage: _svid_watcher.ts <socket>
 * @module
 */
import { X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { checkX509SVID, headerMetadata, splitDER, workloadClient, type X509SVIDResponseMsg } from "../integration/_clients.ts";
import { parseCertificate } from "../../src/core/x509/mod.ts";
import { toHex } from "../../src/core/encoding.ts";

const [socketPath] = process.argv.slice(2);
const client = workloadClient(socketPath!);
const call = client["FetchX509SVID"]!({}, headerMetadata("true")) as grpc.ClientReadableStream<X509SVIDResponseMsg>;
const verified = new Set<string>();
let bundle = "";
call.on("data", (m: X509SVIDResponseMsg) => {
  const now = Date.now();
  const b = m.svids[0] ? Buffer.from(m.svids[0].bundle).toString("base64") : "";
  const changed = b !== bundle;
  bundle = b;
  const svids = m.svids.map((s) => {
    const der = splitDER(s.x509_svid)[0]!;
    const leaf = new X509Certificate(der);
    let error: string | undefined;
    // A new SVID, or any SVID whose bundle changed, is checked against the bundle it came with.
    if (changed || !verified.has(leaf.serialNumber)) {
      try {
        checkX509SVID(s);
        verified.add(leaf.serialNumber);
      } catch (err) {
        const roots = splitDER(s.bundle).map((r) => toHex(parseCertificate(r).ski!));
        error = `${(err as Error).message} (issuer ${toHex(parseCertificate(der).aki!)}, bundle of ${roots.length} roots, last ${roots.at(-1)})`;
      }
    }
    return {
      id: s.spiffe_id,
      serial: leaf.serialNumber,
      aki: toHex(parseCertificate(der).aki!),
      lateMs: now - Date.parse(leaf.validTo),
      ...(error ? { error } : {}),
    };
  });
  const roots = changed && m.svids[0] ? splitDER(m.svids[0].bundle).map((r) => toHex(parseCertificate(r).ski!)) : undefined;
  process.stdout.write(JSON.stringify({ svids, ...(roots ? { roots } : {}) }) + "\n");
});
call.on("error", (e: grpc.ServiceError) => {
  process.stdout.write(JSON.stringify({ end: { code: e.code, details: e.details } }) + "\n");
  client.close();
});
