/**
 * Fuzz of the server's two HTTP APIs in process (hono `app.request`): the agent API with random JSON, mutated CSRs,
 * certificate chains and headers, and the admin API with random entries, filters, tokens and config documents. No
 * answer may be a 500, every error answer must be a JSON {status, code, message}, and a legitimate agent and admin
 * are still served at the end.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { FUZZ_SEED, mutateBytes, mutateString, Rand, randomJSON, Tally } from "./_fuzz.ts";
import { generateKeyPair } from "../../src/core/crypto/ec_p256.ts";
import { fromBase64, toBase64 } from "../../src/core/encoding.ts";
import { nullLogger } from "../../src/core/log/logger.ts";
import { ManualClock } from "../../src/core/ports/clock.ts";
import * as spiffeid from "../../src/core/spiffeid/mod.ts";
import { createCSR } from "../../src/core/x509/mod.ts";
import { adminApp } from "../../src/server/api/admin_app.ts";
import { agentApp } from "../../src/server/api/agent_app.ts";
import { JoinTokenAttestor } from "../../src/server/nodeattestor/join_token.ts";
import { SyncHub } from "../../src/server/api/sync_hub.ts";
import { CAManager } from "../../src/server/ca/ca_manager.ts";
import { JWTSVIDSigner } from "../../src/server/ca/jwt_signer.ts";
import { ServerCA } from "../../src/server/ca/server_ca.ts";
import { SQLStore } from "../../src/server/datastore/sql/sql_store.ts";
import { MemoryKeyManager } from "../../src/server/keymanager/memory.ts";
import { SQLiteDriver } from "../../src/runtime/node/sqlite_driver.ts";

const TD = spiffeid.trustDomainFromString("example.org");
/** encodeURIComponent, except that a lone surrogate becomes an invalid percent sequence: bad input either way. */
const enc = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return "%ED%A0%80%";
  }
};
const AGENT_INPUTS = 12_000;
const ADMIN_INPUTS = 12_000;

/** A 4xx/5xx must be our JSON error body; hono's own "404 Not Found" for an unknown route is the one text answer. */
async function checkAnswer(res: Response): Promise<string | undefined> {
  if (res.status === 500) return `500 ${await res.text()}`;
  if (res.status < 400) {
    await res.body?.cancel();
    return undefined;
  }
  const text = await res.text();
  if (res.status === 404 && text === "404 Not Found") return undefined;
  try {
    const b = JSON.parse(text) as Record<string, unknown>;
    if (typeof b.status !== "string" || typeof b.code !== "string" || typeof b.message !== "string" || b.message === "") {
      return `${res.status} without status/code/message: ${text.slice(0, 200)}`;
    }
  } catch {
    return `${res.status} with a body that is not JSON: ${text.slice(0, 200)}`;
  }
  return undefined;
}

test("agent API and admin API: random and mutated requests get a 2xx or a clear 4xx/503, never a 500", async () => {
  const r = new Rand(FUZZ_SEED + 1);
  const t = new Tally();
  const clock = new ManualClock(new Date());
  const ds = await SQLStore.open({ driver: await SQLiteDriver.open(":memory:"), clock });
  const manager = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * 3600_000 });
  await manager.initialize();
  const ca = new ServerCA({ manager, clock, defaultX509SVIDTTL: 3600_000 });
  const jwt = new JWTSVIDSigner({ keys: manager, clock, defaultTTL: 300_000, issuer: undefined });
  const hub = new SyncHub({ ds, trustDomain: TD.name, logger: nullLogger, clock });
  const nodeAttestors = new Map([["join_token", new JoinTokenAttestor({ ds, clock, trustDomain: TD })]]);
  const agent = agentApp({ ds, ca, jwt, hub, clock, logger: nullLogger, trustDomain: TD, agentTTL: 3600, keepAliveMs: 60_000, nodeAttestors });
  const admin = adminApp({ ds, caManager: manager, hub, clock, logger: nullLogger, trustDomain: TD, health: () => ({ live: true, ready: true, details: {} }) });
  const started = performance.now();

  // One legitimate agent with entries, so authenticated routes get past authentication.
  const csr = toBase64(await createCSR(await generateKeyPair()));
  const tokens = Array.from({ length: 200 }, (_, i) => `tok-${i}`);
  for (const token of tokens) await ds.createJoinToken({ token, expiresAt: Math.floor(clock.now().getTime() / 1000) + 3600 });
  const attest = await agent.request("/agent/v1/attest", {
    method: "POST",
    body: JSON.stringify({ attestation_data: { type: "join_token", payload: toBase64(new TextEncoder().encode("tok-0")) }, csr }),
  });
  const body = (await attest.json()) as { svid: { id: string; cert_chain: string[] } };
  const chain = body.svid.cert_chain.map(fromBase64);
  const entryIDs: string[] = [];
  for (let i = 0; i < 5; i++) {
    const e = await ds.createEntry({
      spiffeID: `spiffe://example.org/w${i}`,
      parentID: body.svid.id,
      selectors: [{ type: "unix", value: `uid:${i}` }],
      x509SVIDTTL: 0,
      jwtSVIDTTL: 0,
      dnsNames: [],
      hint: "",
      admin: false,
      downstream: false,
    });
    entryIDs.push(e.id);
  }

  const agentPaths = ["/agent/v1/attest", "/agent/v1/renew", "/svid/v1/batch", "/svid/v1/jwt", "/bundle/v1/bundle", "/agent/v1/sync"];
  const agentVocab = ["attestation_data", "type", "payload", "csr", "params", "entry_id", "audience", "join_token", "session_id", "challenge_response"];
  const agentSamples = ["join_token", ...tokens.slice(1, 20), csr, ...entryIDs, "aud", "spiffe://example.org/w1", ""];
  for (let i = 0; i < AGENT_INPUTS; i++) {
    const path = r.chance(0.9) ? r.pick(agentPaths) : mutateString(r, r.pick(agentPaths));
    const method = r.chance(0.85) ? (path.includes("bundle") || path.includes("sync") ? "GET" : "POST") : r.pick(["GET", "PUT", "DELETE", "PATCH"]);
    const bodyText = method === "GET" ? undefined : r.chance(0.7)
      ? JSON.stringify(
        r.chance(0.3)
          ? {
            attestation_data: { type: "join_token", payload: r.chance(0.5) ? toBase64(new TextEncoder().encode(r.pick(agentSamples))) : r.pick(agentSamples) },
            csr: r.chance(0.5) ? csr : toBase64(mutateBytes(r, fromBase64(csr))),
          }
          : randomJSON(r, agentVocab, agentSamples),
      )
      : r.chance(0.5)
      ? mutateString(r, `{"params":[{"entry_id":"${r.pick(entryIDs)}","csr":"${csr}"}]}`)
      : Buffer.from(r.bytes(r.int(200))).toString("latin1");
    const peer = r.int(5);
    const env = peer < 2
      ? { peerCertChain: chain }
      : peer === 2
      ? { peerCertChain: chain.map((c) => mutateBytes(r, c)) }
      : peer === 3
      ? { peerCertChain: [r.bytes(r.int(300))] }
      : {};
    const ac = new AbortController();
    await t.run("agent_api", { path, method, body: bodyText?.slice(0, 200), peer }, async () => {
      const res = await agent.request(path, {
        method,
        ...(bodyText === undefined ? {} : { body: bodyText }),
        headers: { "content-type": r.pick(["application/json", "text/plain", ""]) },
        signal: ac.signal,
      }, env);
      const problem = await checkAnswer(res);
      ac.abort();
      return problem;
    }, (p) => p);
  }

  const adminRoutes: [string, string][] = [
    ["POST", "/entry/v1/entries"],
    ["GET", "/entry/v1/entries"],
    ["GET", "/entry/v1/entries/ID"],
    ["DELETE", "/entry/v1/entries/ID"],
    ["GET", "/agent/v1/agents"],
    ["DELETE", "/agent/v1/agents"],
    ["POST", "/agent/v1/join_tokens"],
    ["GET", "/bundle/v1/bundle"],
    ["GET", "/health"],
    ["PUT", "/config/v1/sections/upstream_authority"],
    ["GET", "/config/v1/sections/upstream_authority"],
  ];
  const adminVocab = [
    "entries",
    "spiffe_id",
    "parent_id",
    "selectors",
    "type",
    "value",
    "x509_svid_ttl",
    "jwt_svid_ttl",
    "dns_names",
    "hint",
    "admin",
    "downstream",
    "ttl",
    "agent_id",
    "trust_domain",
    "path",
    "plugin",
    "plugin_data",
    "document",
  ];
  const adminSamples = ["spiffe://example.org/a", "spiffe://example.org/spire/agent/x", "/a/b", "example.org", "unix", "uid:0", "aws_pca", 3600, [{
    type: "unix",
    value: "uid:1",
  }], ...entryIDs];
  for (let i = 0; i < ADMIN_INPUTS; i++) {
    let [method, path] = r.chance(0.99) ? r.pick(adminRoutes) : ["POST", "/ca/v1/rotate"];
    path = path.replace("ID", r.chance(0.5) ? r.pick(entryIDs) : enc(mutateString(r, "ID")));
    if (method === "GET" && path === "/entry/v1/entries" && r.chance(0.7)) {
      const q = new URLSearchParams();
      for (let k = r.int(4); k > 0; k--) q.append(r.pick(["parentID", "spiffeID", "selector", "format"]), mutateString(r, String(r.pick(adminSamples))));
      path += `?${q}`;
    }
    if (method === "DELETE" && path === "/agent/v1/agents") path += `?spiffeID=${enc(mutateString(r, "spiffe://example.org/spire/agent/x"))}`;
    if (r.chance(0.05)) path = mutateString(r, path);
    const bodyText = method === "GET" || method === "DELETE"
      ? undefined
      : r.chance(0.8)
      ? JSON.stringify(randomJSON(r, adminVocab, adminSamples, 4))
      : mutateString(
        r,
        '{"entries":[{"spiffe_id":"spiffe://example.org/a","parent_id":"spiffe://example.org/b","selectors":[{"type":"unix","value":"uid:1"}]}]}',
      );
    await t.run("admin_api", { method, path, body: bodyText?.slice(0, 200) }, async () => {
      const res = await admin.request(path, { method, ...(bodyText === undefined ? {} : { body: bodyText, headers: { "content-type": "application/json" } }) });
      return checkAnswer(res);
    }, (p) => p);
  }

  // Still serving legitimate callers.
  // (The fuzz may have deleted the first entries and renewed the agent: a fresh entry, the agent's first chain.)
  const fresh = await ds.createEntry({
    spiffeID: "spiffe://example.org/after",
    parentID: body.svid.id,
    selectors: [{ type: "unix", value: "uid:9" }],
    x509SVIDTTL: 0,
    jwtSVIDTTL: 0,
    dnsNames: [],
    hint: "",
    admin: false,
    downstream: false,
  });
  const batch = await agent.request("/svid/v1/batch", { method: "POST", body: JSON.stringify({ params: [{ entry_id: fresh.id, csr }] }) }, {
    peerCertChain: chain,
  });
  const renewedOrOld = batch.status === 200
    ? ((await batch.json()) as { results: { status: { status: string } }[] }).results[0]!.status.status
    : `HTTP ${batch.status}`;
  const list = await admin.request("/entry/v1/entries");
  await ds.close();
  const secs = (performance.now() - started) / 1000;
  console.log(
    `[figure] fuzz_apis: ${t.total()} requests in ${secs.toFixed(1)} s (seed ${
      FUZZ_SEED + 1
    }): ${t.summary()}; 500s/bad error bodies/hangs ${t.failures.length}`,
  );
  assert.equal(t.failures, []);
  assert.ok(renewedOrOld === "OK" || renewedOrOld === "HTTP 403", renewedOrOld);
  assert.is(list.status, 200);
});

test.run();
