/**
 * Benchmark of the SVID signing hot path against raw WebCrypto and openssl on the same machine.
 * Run: node --import tsx scripts/bench/mint.ts [--seconds N]   (N per phase, default 3; 1 is a smoke run)
 * Writes bench-results/mint.json.
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateKeyPair, rawToDER, signRaw } from "../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../src/core/crypto/signer.ts";
import { x509 } from "../../src/core/x509/_peculiar.ts";
import { createSelfSignedCA } from "../../src/core/x509/ca_cert.ts";
import { parseCertificate } from "../../src/core/x509/certificate_info.ts";
import { createCSR, parseAndVerifyCSR } from "../../src/core/x509/csr.ts";
import { LeafMinter } from "../../src/core/x509/leaf_minter.ts";
import { measureRate, type RateResult, rssSampler, table } from "./lib/measure.ts";

function argSeconds(): number {
  const i = process.argv.findIndex((a) => a === "--seconds" || a === "-seconds");
  const v = i >= 0 ? Number(process.argv[i + 1]) : 3;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`invalid --seconds "${process.argv[i + 1]}"`);
  return v;
}

function opensslSpeed(seconds: number): { sign: number; verify: number } | undefined {
  try {
    const out = execFileSync("openssl", ["speed", "-seconds", String(Math.max(1, Math.round(seconds))), "ecdsap256"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const m = out.match(/256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)\s+([\d.]+)/);
    return m ? { sign: Number(m[1]), verify: Number(m[2]) } : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const seconds = argSeconds();
  const rss = rssSampler(() => process.memoryUsage().rss);
  const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
  const key = await generateKeyPair(false);
  const data = crypto.getRandomValues(new Uint8Array(400));
  const sig = await signRaw(key.privateKey, data);

  const signer = await webCryptoSigner(await generateKeyPair(false));
  const now = new Date();
  const caDER = await createSelfSignedCA({
    signer,
    trustDomain: "bench.test",
    notBefore: now,
    notAfter: new Date(now.getTime() + 86400_000),
  });
  const minter = await LeafMinter.create({ caCertDER: caDER, signer });
  const csrs: Uint8Array[] = [];
  for (let i = 0; i < 128; i++) {
    csrs.push(await createCSR(await generateKeyPair(), { spiffeID: `spiffe://bench.test/workload/${i}` }));
  }
  const mintOne = async (i: number) => {
    const csr = await parseAndVerifyCSR(csrs[i % csrs.length]!);
    return minter.mint({
      spiffeID: csr.uris[0]!,
      publicKeySPKI: csr.publicKeySPKI,
      notBefore: now,
      notAfter: new Date(now.getTime() + 3600_000),
    });
  };
  const leafDER = await mintOne(0);
  const verifyKey = key.publicKey;

  const r: Record<string, RateResult> = {};
  const run = async (name: string, c: number, op: (i: number) => Promise<unknown>, lat = false, s = seconds) => {
    r[name] = await measureRate(s, c, op, lat);
    process.stderr.write(`  ${name}: ${Math.round(r[name]!.perSec)}/s\n`);
  };
  process.stderr.write(`wisp mint benchmark, ${seconds}s per phase\n`);
  await run("webcrypto_sign_c1", 1, () => crypto.subtle.sign(SIGN, key.privateKey, data));
  await run("webcrypto_sign_c64", 64, () => crypto.subtle.sign(SIGN, key.privateKey, data));
  const pair = async () => {
    await crypto.subtle.verify(SIGN, verifyKey, sig as BufferSource, data);
    return rawToDER(await signRaw(key.privateKey, data));
  };
  await run("webcrypto_verify_sign_c1", 1, pair);
  await run("webcrypto_verify_sign_c64", 64, pair);
  await run("mint_c1", 1, mintOne, true);
  await run("mint_c64", 64, mintOne, true);
  const spki = (await parseAndVerifyCSR(csrs[0]!)).publicKeySPKI;
  const mintOnly = () => minter.mint({ spiffeID: "spiffe://bench.test/w", publicKeySPKI: spki, notBefore: now, notAfter: new Date(now.getTime() + 3600_000) });
  await run("mint_only_c64", 64, mintOnly);
  const short = Math.max(0.5, seconds / 3);
  await run("csr_verify_c1", 1, (i) => parseAndVerifyCSR(csrs[i % csrs.length]!), false, short);
  await run("csr_create_c1", 1, () => createCSR(key, { spiffeID: "spiffe://bench.test/agent" }), false, short);
  await run("parse_wisp_c1", 1, async () => parseCertificate(leafDER), false, short);
  await run("parse_peculiar_c1", 1, async () => new x509.X509Certificate(leafDER as BufferSource), false, short);
  const ossl = opensslSpeed(seconds);
  const peakRSS = rss.stop();

  const combined = ossl ? 1 / (1 / ossl.sign + 1 / ossl.verify) : undefined;
  const ratios = {
    mint_c1_over_webcrypto_pairs_c1: r.mint_c1!.perSec / r.webcrypto_verify_sign_c1!.perSec,
    mint_c64_over_webcrypto_pairs_c64: r.mint_c64!.perSec / r.webcrypto_verify_sign_c64!.perSec,
    mint_c1_over_openssl_combined: combined ? r.mint_c1!.perSec / combined : undefined,
    mint_c64_over_openssl_combined: combined ? r.mint_c64!.perSec / combined : undefined,
    parse_wisp_over_peculiar: r.parse_wisp_c1!.perSec / r.parse_peculiar_c1!.perSec,
  };
  const rows = Object.entries(r).map(([k, v]) => [k, v.perSec, v.p50Ms?.toFixed(3) ?? "", v.p99Ms?.toFixed(3) ?? ""]);
  if (ossl) {
    rows.push(["openssl_speed_sign", ossl.sign, "", ""], ["openssl_speed_verify", ossl.verify, "", ""]);
    rows.push(["openssl_combined (1/(1/s+1/v))", combined!, "", ""]);
  } else rows.push(["openssl", "unavailable", "", ""]);
  console.log(table(["measurement", "ops/s", "p50 ms", "p99 ms"], rows));
  console.log("\nratios:");
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${k}: ${v === undefined ? "n/a" : v.toFixed(3)}`);
  console.log(`\npeak RSS: ${(peakRSS / 1048576).toFixed(1)} MB`);

  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  mkdirSync(join(root, "bench-results"), { recursive: true });
  const out = {
    benchmark: "mint",
    date: new Date().toISOString(),
    node: process.version,
    secondsPerPhase: seconds,
    results: r,
    openssl: ossl ? { ...ossl, combined } : null,
    ratios,
    peakRSSBytes: peakRSS,
  };
  writeFileSync(join(root, "bench-results", "mint.json"), JSON.stringify(out, null, 2) + "\n");
}

await main();
