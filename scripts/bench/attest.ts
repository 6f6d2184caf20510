/**
 * Node attestation time, join_token against x509pop (RSA-2048 and ECDSA P-256 node keys): the agent's ServerClient
 * and node attestor against the server's agent API in one process (no TLS, so only attestation work is measured:
 * payload, chain verification, nonce signature and check, agent SVID signing, datastore write).
 * Run: npm run bench -- attest [--runs 25]
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServerClient } from "../../src/agent/client/server_client.ts";
import { JoinTokenNodeAttestor } from "../../src/agent/nodeattestor/join_token.ts";
import type { AgentNodeAttestor } from "../../src/agent/nodeattestor/node_attestor.ts";
import { X509PoPNodeAttestor } from "../../src/agent/nodeattestor/x509pop.ts";
import { generateKeyPair } from "../../src/core/crypto/ec_p256.ts";
import { nullLogger } from "../../src/core/log/logger.ts";
import { systemClock } from "../../src/core/ports/clock.ts";
import * as spiffeid from "../../src/core/spiffeid/mod.ts";
import { createCSR } from "../../src/core/x509/mod.ts";
import { nodeFS } from "../../src/runtime/node/fs.ts";
import { SQLiteDriver } from "../../src/runtime/node/sqlite_driver.ts";
import { agentApp } from "../../src/server/api/agent_app.ts";
import { SyncHub } from "../../src/server/api/sync_hub.ts";
import { CAManager } from "../../src/server/ca/ca_manager.ts";
import { ServerCA } from "../../src/server/ca/server_ca.ts";
import { SQLStore } from "../../src/server/datastore/sql/sql_store.ts";
import { MemoryKeyManager } from "../../src/server/keymanager/memory.ts";
import { JoinTokenAttestor } from "../../src/server/nodeattestor/join_token.ts";
import type { ServerNodeAttestor } from "../../src/server/nodeattestor/node_attestor.ts";
import { X509PoPAttestor } from "../../src/server/nodeattestor/x509pop/x509pop.ts";
import { X509POP_DEFAULT_TEMPLATES } from "../../src/server/nodeattestor/x509pop/x509pop_config.ts";
import { newCA, newNodeCert, pem } from "../../test/server/nodeattestor/_pki.ts";
import { Flags, log, writeResult } from "./lib/bench_env.ts";
import { table } from "./lib/measure.ts";

const flags = new Flags();
const runs = flags.num("runs", 25);
const TD = spiffeid.trustDomainFromString("example.org");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const ds = await SQLStore.open({ driver: await SQLiteDriver.open(":memory:"), clock: systemClock });
const manager = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock: systemClock, logger: nullLogger, caTTL: 24 * 3600_000 });
await manager.initialize();
const ca = new ServerCA({ manager, clock: systemClock, defaultX509SVIDTTL: 3600_000 });
const hub = new SyncHub({ ds, trustDomain: TD.name, logger: nullLogger, clock: systemClock });
const rootRSA = await newCA({ keyType: "rsa", name: "bench rsa" });
const rootEC = await newCA({ keyType: "ecdsa", name: "bench ec" });
const x509popConfig = {
  name: "x509pop" as const,
  mode: "external_pki" as const,
  caBundlePaths: [],
  spiffePrefix: "/spire-exchange/",
  agentPathTemplate: X509POP_DEFAULT_TEMPLATES.external_pki,
  maxIntermediates: 4,
  maxRSAKeySize: 8192,
  verifyClientIP: false,
};
const app = agentApp({
  ds,
  ca,
  hub,
  clock: systemClock,
  logger: nullLogger,
  trustDomain: TD,
  agentTTL: 3600,
  nodeAttestors: new Map<string, ServerNodeAttestor>([
    ["join_token", new JoinTokenAttestor({ ds, clock: systemClock, trustDomain: TD })],
    ["x509pop", new X509PoPAttestor({ config: x509popConfig, trustDomain: TD, clock: systemClock, roots: async () => [rootRSA.der, rootEC.der] })],
  ]),
});
const client = new ServerClient({
  connector: { connect: () => ({ fetch: (path, init) => Promise.resolve(app.request(path, init)), close: async () => {} }) },
  address: "127.0.0.1",
  port: 8081,
  trustDomain: TD,
});

const dir = mkdtempSync(join(tmpdir(), "wisp-bench-attest-"));
async function x509popAttestor(keyType: "rsa" | "ecdsa", root: typeof rootRSA): Promise<AgentNodeAttestor> {
  const leaf = await newNodeCert(root, { keyType, cn: `bench-${keyType}` });
  writeFileSync(join(dir, `${keyType}.pem`), pem.cert(leaf));
  writeFileSync(join(dir, `${keyType}.key`), pem.key(leaf));
  return new X509PoPNodeAttestor(nodeFS, { name: "x509pop", certificatePath: join(dir, `${keyType}.pem`), privateKeyPath: join(dir, `${keyType}.key`) });
}

let token = 0;
const cases: [string, () => Promise<AgentNodeAttestor>][] = [
  ["join_token", async () => {
    const t = `bench-${token++}`;
    await ds.createJoinToken({ token: t, expiresAt: Math.floor(Date.now() / 1000) + 600 });
    return new JoinTokenNodeAttestor(async () => t);
  }],
  ["x509pop RSA-2048", () => x509popAttestor("rsa", rootRSA)],
  ["x509pop ECDSA P-256", () => x509popAttestor("ecdsa", rootEC)],
];

const results: Record<string, number> = {};
for (const [name, make] of cases) {
  const times: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const attestor = await make();
    const csr = await createCSR(await generateKeyPair());
    const t = performance.now();
    await client.attest(attestor, csr);
    if (i >= 3) times.push(performance.now() - t); // the first runs warm up JIT and key caches
  }
  results[name] = median(times);
  log(`${name}: median ${results[name]!.toFixed(2)} ms over ${runs}`);
}
const base = results["join_token"]!;
process.stdout.write(table(["attestor", "median ms", "× join_token"], Object.entries(results).map(([k, v]) => [k, v.toFixed(2), (v / base).toFixed(2)])));
writeResult("attest", { runs, medianMs: results });
rmSync(dir, { recursive: true, force: true });
await ds.close();
