/**
 * Fuzz of the parsers every untrusted byte goes through: SPIFFE IDs, selectors, durations, PEM and DER lists,
 * certificates, CSRs, X509-SVID chains, JWTs, PostgreSQL connection strings and both config files (HCL and JSON).
 * Seeded mutations of valid samples; each input must parse or fail with a ServiceError that has a message, in time.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { ROOT } from "../integration/_harness.ts";
import { FUZZ_SEED, mutateBytes, mutateString, Rand, randomJSON, Tally } from "./_fuzz.ts";
import { loadAgentConfig } from "../../src/agent/config.ts";
import { parseDuration } from "../../src/core/config/duration.ts";
import { parsePGConnString } from "../../src/core/config/pg_conn.ts";
import { generateKeyPair } from "../../src/core/crypto/ec_p256.ts";
import { parseJWT } from "../../src/core/jwtsvid/parse.ts";
import { nullLogger } from "../../src/core/log/logger.ts";
import { ManualClock } from "../../src/core/ports/clock.ts";
import { parseSelector } from "../../src/core/selector.ts";
import * as spiffeid from "../../src/core/spiffeid/mod.ts";
import { concatDER, createCSR, fromPEM, parseAndVerifyCSR, parseCertificate, splitDER, toPEM, verifyX509SVID } from "../../src/core/x509/mod.ts";
import { CAManager } from "../../src/server/ca/ca_manager.ts";
import { ServerCA } from "../../src/server/ca/server_ca.ts";
import { loadServerConfig } from "../../src/server/config.ts";
import { SQLStore } from "../../src/server/datastore/sql/sql_store.ts";
import { MemoryKeyManager } from "../../src/server/keymanager/memory.ts";
import { SQLiteDriver } from "../../src/runtime/node/sqlite_driver.ts";

const TD = spiffeid.trustDomainFromString("example.org");
const N = {
  spiffeID: 30_000,
  trustDomain: 8_000,
  selector: 10_000,
  duration: 8_000,
  pem: 4_000,
  derList: 4_000,
  certificate: 12_000,
  csr: 6_000,
  svidChain: 3_000,
  jwt: 8_000,
  pgConnString: 4_000,
  serverConfig: 3_000,
  agentConfig: 3_000,
  jsonConfig: 2_000,
};

test("core parsers and config loaders: every malformed input fails with a ServiceError and a message", async () => {
  const r = new Rand(FUZZ_SEED);
  const t = new Tally();
  const started = performance.now();

  const ids = [
    "spiffe://example.org/a/b",
    "spiffe://example.org",
    "spiffe://td-1.example_2.org/p/q/r",
    "spiffe://example.org/spire/agent/join_token/0f1e",
    "spiffe://x/%41",
  ];
  for (let i = 0; i < N.spiffeID; i++) {
    const s = mutateString(r, r.pick(ids));
    await t.run("spiffe_id", s, () => spiffeid.fromString(s));
  }
  for (let i = 0; i < N.trustDomain; i++) {
    const s = mutateString(r, r.pick(["example.org", "spiffe://example.org", "a-b_c.d"]));
    await t.run("trust_domain", s, () => spiffeid.trustDomainFromString(s));
  }
  for (let i = 0; i < N.selector; i++) {
    const s = mutateString(r, r.pick(["unix:uid:1000", "unix:path:/usr/bin/x", "spiffe_id:spiffe://example.org/a", "k8s:ns:default"]));
    await t.run("selector", s, () => parseSelector(s));
  }
  for (let i = 0; i < N.duration; i++) {
    const s = mutateString(r, r.pick(["1h30m", "24h", "300ms", "1.5s", "10", "-1m", "2562047h"]));
    await t.run("duration", s, () => parseDuration(s));
  }

  // Real certificates and CSRs from a real CA, mutated.
  const clock = new ManualClock(new Date());
  const ds = await SQLStore.open({ driver: await SQLiteDriver.open(":memory:"), clock });
  const manager = new CAManager({ trustDomain: TD, keyManager: new MemoryKeyManager(), ds, clock, logger: nullLogger, caTTL: 24 * 3600_000 });
  await manager.initialize();
  const ca = new ServerCA({ manager, clock, defaultX509SVIDTTL: 3600_000 });
  const key = await generateKeyPair();
  const csr = await createCSR(key);
  const spki = (await parseAndVerifyCSR(csr)).publicKeySPKI;
  const svid = await ca.signX509SVID({ spiffeID: "spiffe://example.org/w", publicKeySPKI: spki, ttl: 3600, dnsNames: ["w.example.org"] });
  const roots = (await ds.fetchBundle("example.org"))!.x509Authorities;
  const certs = [...svid.chain, ...roots];
  const pems = [toPEM(svid.chain[0]!, "CERTIFICATE"), certs.map((d) => toPEM(d, "CERTIFICATE")).join(""), toPEM(csr, "CERTIFICATE REQUEST")];

  for (let i = 0; i < N.pem; i++) {
    const s = mutateString(r, r.pick(pems));
    await t.run("pem", s, () => fromPEM(s, r.chance(0.5) ? "CERTIFICATE" : undefined));
  }
  for (let i = 0; i < N.derList; i++) {
    const b = mutateBytes(r, concatDER(certs));
    await t.run("der_list", b, () => splitDER(b));
  }
  for (let i = 0; i < N.certificate; i++) {
    const b = mutateBytes(r, r.pick(certs));
    await t.run("certificate", b, () => parseCertificate(b));
  }
  for (let i = 0; i < N.csr; i++) {
    const b = mutateBytes(r, csr);
    await t.run("csr", b, () => parseAndVerifyCSR(b));
  }
  for (let i = 0; i < N.svidChain; i++) {
    const chain = svid.chain.map((c) => (r.chance(0.6) ? mutateBytes(r, c) : c));
    await t.run("x509_svid_chain", chain, () => verifyX509SVID(chain, roots, clock.now()));
  }
  const jwt = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGxlLm9yZy93IiwiYXVkIjpbImEiXSwiZXhwIjo0MTAyNDQ0ODAwfQ.c2ln";
  for (let i = 0; i < N.jwt; i++) {
    const s = mutateString(r, jwt);
    await t.run("jwt", s, () => parseJWT(s));
  }
  for (let i = 0; i < N.pgConnString; i++) {
    const s = mutateString(
      r,
      r.pick([
        "host=/tmp port=5432 user=wisp dbname=wisp sslmode=disable",
        "postgres://u:p@h:5432/d?sslmode=require&connect_timeout=3",
        "dbname='a b' password='x\\'y'",
      ]),
    );
    await t.run("pg_connection_string", s, () => parsePGConnString(s));
  }

  const serverConf = readFileSync(join(ROOT, "conf/server.conf"), "utf8");
  const agentConf = readFileSync(join(ROOT, "conf/agent.conf"), "utf8");
  for (let i = 0; i < N.serverConfig; i++) {
    const s = mutateString(r, serverConf);
    await t.run("server_config_hcl", s.length, () => loadServerConfig({ text: s }));
  }
  for (let i = 0; i < N.agentConfig; i++) {
    const s = mutateString(r, agentConf);
    await t.run("agent_config_hcl", s.length, () => loadAgentConfig({ text: s }));
  }
  const vocab = [
    "server",
    "agent",
    "plugins",
    "trust_domain",
    "bind_port",
    "server_address",
    "server_port",
    "data_dir",
    "ca_ttl",
    "agent_ttl",
    "log_level",
    "insecure_bootstrap",
    "KeyManager",
    "DataStore",
    "NodeAttestor",
    "plugin_data",
    "health_checks",
    "connection_string",
    "database_type",
    "directory",
  ];
  const samples = ["example.org", "8081", "1h", "sql", "disk", "postgres", "127.0.0.1:8081", true, 5432, "DEBUG", ["a:1", "b"]];
  for (let i = 0; i < N.jsonConfig; i++) {
    const doc = JSON.stringify(randomJSON(r, vocab, samples, 4));
    const which = r.chance(0.5);
    await t.run(
      which ? "server_config_json" : "agent_config_json",
      doc,
      () => which ? loadServerConfig({ text: doc, filename: "s.json" }) : loadAgentConfig({ text: doc, filename: "a.json" }),
    );
  }
  await ds.close();

  const secs = (performance.now() - started) / 1000;
  console.log(`[figure] fuzz_parsers: ${t.total()} inputs in ${secs.toFixed(1)} s (seed ${FUZZ_SEED}): ${t.summary()}; failures ${t.failures.length}`);
  assert.equal(t.failures, []);
});

test.run();
