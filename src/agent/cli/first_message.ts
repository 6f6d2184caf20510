/** Opens a server stream and resolves with its first message, within a timeout. @module */
import { UnavailableError } from "../../core/errors.ts";
import type { WorkloadConn } from "../../core/ports/workload_client.ts";
import { DeadlineExceededError } from "./deadline.ts";

export function firstMessage(conn: WorkloadConn, path: string, req: Uint8Array, md: Record<string, string>, timeoutMs: number): Promise<Uint8Array> {
  const ac = new AbortController();
  return new Promise<Uint8Array>((resolve, reject) => {
    let got = false;
    const timer = setTimeout(() => {
      ac.abort();
      reject(new DeadlineExceededError(timeoutMs));
    }, timeoutMs);
    conn.serverStream(path, req, md, (m) => {
      if (got) return;
      got = true;
      clearTimeout(timer);
      resolve(m);
      ac.abort();
    }, ac.signal).then(() => {
      clearTimeout(timer);
      if (!got) reject(new UnavailableError("stream ended before the first message"));
    }, (err) => {
      clearTimeout(timer);
      if (!got) reject(err);
    });
  });
}
