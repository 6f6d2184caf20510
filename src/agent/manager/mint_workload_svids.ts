/** Getting workload X509-SVIDs from the server: WebCrypto keys, CSRs, batches of at most 500. @module */
import { exportPKCS8, generateKeyPair } from "../../core/crypto/ec_p256.ts";
import { formatError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { createCSR } from "../../core/x509/mod.ts";
import type { ServerClient } from "../client/server_client.ts";
import { type CachedEntry, type CachedSVID, rotationTime } from "./svid_cache.ts";

const BATCH = 500;

export async function mintWorkloadSVIDs(o: {
  client: ServerClient;
  entries: CachedEntry[];
  clock: Clock;
  random: () => number;
  logger: Logger;
}): Promise<Map<string, CachedSVID>> {
  const out = new Map<string, CachedSVID>();
  for (let i = 0; i < o.entries.length; i += BATCH) {
    const chunk = o.entries.slice(i, i + BATCH);
    const keys = await Promise.all(chunk.map(async (e) => {
      const pair = await generateKeyPair(true);
      return { entry: e, pair, csr: await createCSR(pair) };
    }));
    const results = await o.client.batchSign(keys.map((k) => ({ entryID: k.entry.id, csr: k.csr })));
    const issuedAt = o.clock.now();
    await Promise.all(results.map(async (r, j) => {
      const k = keys[j]!;
      if (!r.svid) {
        o.logger.warn("Server did not sign a workload SVID", { [F.ENTRY_ID]: r.entryID, [F.ERROR]: formatError(r.error) });
        return;
      }
      out.set(r.entryID, {
        chain: r.svid.chain,
        keyPKCS8: await exportPKCS8(k.pair.privateKey),
        issuedAt,
        notAfter: r.svid.notAfter,
        rotateAt: rotationTime(issuedAt, r.svid.notAfter, o.random),
        revision: k.entry.revisionNumber,
      });
    }));
  }
  if (out.size > 0) o.logger.debug("Workload SVIDs minted", { [F.COUNT]: out.size });
  return out;
}
