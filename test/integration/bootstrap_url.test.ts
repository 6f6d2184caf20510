/**
 * The agent's bootstrap bundle from a URL, against real processes: trust_bundle_url over HTTPS verified with
 * NODE_EXTRA_CA_CERTS, a host the runtime does not trust, a bundle without the server's CA, a failing download that is
 * retried, trust_bundle_format "spiffe", and trust_bundle_unix_socket with SPIRE's query parameters.
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { AGENT_BIN, agentConf, type Cluster, joinToken, newCluster, Proc, startServer, waitFor, wispAgent, wispServer } from "./_harness.ts";

let c: Cluster;
let failure: unknown;
/** What the local bundle server answers, by path; absent paths get 404. */
const served = new Map<string, string>();
const requests: string[] = [];
let httpsServer: https.Server | undefined;
let httpsPort = 0;
let unixServer: http.Server | undefined;
let unixSocket = "";
let caPEM = "";
const agents: Proc[] = [];

const handler: http.RequestListener = (req, res) => {
  requests.push(req.url ?? "");
  const body = served.get(new URL(req.url ?? "/", "http://x").pathname);
  res.writeHead(body === undefined ? 404 : 200, { "content-type": "application/x-pem-file" });
  res.end(body ?? "not found");
};

/** A CA and a localhost certificate it signs, for the HTTPS bundle server (what an operator's web server has). */
function httpsCredentials(dir: string): { key: string; cert: string; ca: string } {
  const o = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  o([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=bundle host CA",
  ]);
  o(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "host.key", "-out", "host.csr", "-subj", "/CN=localhost"]);
  writeFileSync(join(dir, "host.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  o(["x509", "-req", "-in", "host.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "host.pem", "-days", "2", "-extfile", "host.ext"]);
  const r = (f: string) => readFileSync(join(dir, f), "utf8");
  return { key: r("host.key"), cert: r("host.pem"), ca: r("ca.pem") };
}

test.before(async () => {
  try {
    c = await newCluster();
    await startServer(c);
    const tls = join(c.dir, "tls");
    mkdirSync(tls);
    const creds = httpsCredentials(tls);
    caPEM = join(tls, "ca.pem");
    httpsServer = https.createServer({ key: creds.key, cert: creds.cert }, handler);
    await new Promise<void>((r) => httpsServer!.listen(0, "127.0.0.1", r));
    httpsPort = (httpsServer.address() as AddressInfo).port;
    unixSocket = join(c.dir, "bundle.sock");
    unixServer = http.createServer(handler);
    await new Promise<void>((r) => unixServer!.listen(unixSocket, r));
    served.set("/bundle.pem", readFileSync(c.bundlePath!, "utf8"));
    const spiffe = await wispServer(["bundle", "show", "-socketPath", c.serverSocket, "-format", "spiffe"]);
    if (spiffe.code !== 0) throw new Error(`bundle show -format spiffe failed: ${spiffe.stderr}`);
    served.set("/bundle.json", spiffe.stdout);
    // A well-formed bundle of a CA that never signed this server (the HTTPS host's CA).
    served.set("/other.pem", creds.ca);
  } catch (err) {
    failure = err;
  }
});

test.after(async () => {
  for (const a of agents) await a.stop();
  await new Promise((r) => httpsServer?.close(r) ?? r(undefined));
  await new Promise((r) => unixServer?.close(r) ?? r(undefined));
  await c?.cleanup();
});

function startAgent(conf: string, token: string, env: Record<string, string> = {}): Proc {
  const p = new Proc(AGENT_BIN, ["run", "-config", conf, "-joinToken", token], env);
  agents.push(p);
  return p;
}

async function healthy(p: Proc, socket: string): Promise<void> {
  await waitFor("agent healthy", async () => {
    if (p.exited) throw new Error(`agent exited: ${p.output}`);
    return (await wispAgent(["healthcheck", "-socketPath", socket])).code === 0 ? true : undefined;
  });
}
test("trust_bundle_url: the bundle is downloaded over HTTPS checked with NODE_EXTRA_CA_CERTS and authenticates the server", async () => {
  if (failure) throw failure;
  const a = agentConf(c, "url", `trust_bundle_url = "https://localhost:${httpsPort}/bundle.pem"`);
  const p = startAgent(a.conf, await joinToken(c), { NODE_EXTRA_CA_CERTS: caPEM });
  await healthy(p, a.socket);
  assert.match(p.output, /Server attestation attempt 1\. Started /);
  assert.match(p.output, /Node attestation was successful/);
  assert.ok(requests.includes("/bundle.pem"));
  await p.stop();
});

test("trust_bundle_url: an HTTPS host the runtime does not trust is a clear error, retried", async () => {
  if (failure) throw failure;
  const a = agentConf(c, "url-untrusted", `trust_bundle_url = "https://localhost:${httpsPort}/bundle.pem"`);
  const p = startAgent(a.conf, await joinToken(c));
  await waitFor("download refused", async () => (p.output.includes("Server attestation attempt 2.") ? true : undefined));
  assert.match(
    p.output,
    new RegExp(`unable to fetch trust bundle URL https://localhost:${httpsPort}/bundle\\.pem: [^"]*(unable to verify the first certificate|certificate)`),
  );
  assert.not.match(p.output, /Node attestation was successful/);
  await p.stop();
});

test("trust_bundle_url: a bundle without the server's CA makes the agent refuse the server", async () => {
  if (failure) throw failure;
  const a = agentConf(c, "url-wrong", `trust_bundle_url = "https://localhost:${httpsPort}/other.pem"`);
  const p = startAgent(a.conf, await joinToken(c), { NODE_EXTRA_CA_CERTS: caPEM });
  await waitFor("the server refused", async () => (p.output.includes("Trust Bundle and Server don't agree, bootstrapping again") ? true : undefined));
  assert.match(p.output, /x509: certificate signed by unknown authority/);
  assert.not.match(p.output, /Node attestation was successful/);
  await p.stop();
});

test("trust_bundle_url: a failed download (404) is retried, and the bundle published later is used", async () => {
  if (failure) throw failure;
  const a = agentConf(c, "url-late", `trust_bundle_url = "https://localhost:${httpsPort}/late.pem"`);
  const p = startAgent(a.conf, await joinToken(c), { NODE_EXTRA_CA_CERTS: caPEM });
  try {
    await waitFor("first download failed", async () => (p.output.includes("error downloading trust bundle: 404 Not Found") ? true : undefined));
    assert.not.ok(p.exited);
    served.set("/late.pem", served.get("/bundle.pem")!);
    await healthy(p, a.socket);
    assert.match(p.output, /Node attestation was successful/);
  } finally {
    served.delete("/late.pem");
    await p.stop();
  }
});

test('trust_bundle_format "spiffe": a SPIFFE bundle document bootstraps the agent', async () => {
  if (failure) throw failure;
  const a = agentConf(c, "spiffe", `trust_bundle_url = "https://localhost:${httpsPort}/bundle.json"\n  trust_bundle_format = "spiffe"`);
  const p = startAgent(a.conf, await joinToken(c), { NODE_EXTRA_CA_CERTS: caPEM });
  await healthy(p, a.socket);
  assert.match(p.output, /Node attestation was successful/);
  await p.stop();
});

test("trust_bundle_unix_socket: the URL is fetched over the socket with SPIRE's spire-* and spiffe-* parameters", async () => {
  if (failure) throw failure;
  requests.length = 0;
  const a = agentConf(c, "unix", `trust_bundle_url = "http://localhost/bundle.pem?site=lab"\n  trust_bundle_unix_socket = "${unixSocket}"`);
  const p = startAgent(a.conf, await joinToken(c));
  await healthy(p, a.socket);
  const url = new URL(requests.find((r) => r.startsWith("/bundle.pem"))!, "http://localhost");
  assert.is(url.searchParams.get("site"), "lab");
  assert.is(url.searchParams.get("spire-attest-mode"), "bootstrap");
  assert.is(url.searchParams.get("spire-connection-attempts"), "1");
  assert.match(url.searchParams.get("spire-attest-start-time") ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.is(url.searchParams.get("spire-server-address"), "127.0.0.1");
  assert.is(url.searchParams.get("spire-server-port"), String(c.port));
  assert.is(url.searchParams.get("spiffe-trust-domain"), "example.org");
  await p.stop();
});

test.run();
