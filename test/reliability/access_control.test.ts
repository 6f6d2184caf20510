/**
 * Access control of a real server over its real transports. The admin socket: uid 1000 without the socket's group is
 * refused by the kernel (mode 0770, root:root) and the CLI says so; with the group it is served. The agent API over
 * real mTLS on TCP (node:https, certificates from real attestation and from openssl): no client certificate, a
 * client certificate from a foreign CA (also one that claims a real agent's SPIFFE ID), an expired agent SVID and an
 * evicted agent are each refused with the status and text the server sends, while a valid agent is served.
 *
 * Covered elsewhere: key file modes, secrets in logs and an evicted agent process losing its sync stream
 * (security.test.ts); other uids on the Workload API (end_to_end, python_client, deno_agent); the same refusals
 * in process (test/server/api/agent_app.test.ts).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { exportPKCS8, generateKeyPair } from "../../src/core/crypto/ec_p256.ts";
import { fromBase64, toBase64 } from "../../src/core/encoding.ts";
import { createCSR, toPEM } from "../../src/core/x509/mod.ts";
import { adminHTTP } from "./_admin.ts";
import { type Cluster, joinToken, newCluster, NODE, run, SERVER_BIN, startServer, tempDir, waitFor, wispServer } from "../integration/_harness.ts";

/** Short enough that the expired-SVID case waits only this long. */
const AGENT_TTL_S = 10;

let c: Cluster;
let bundlePEM = "";
let setupError: unknown;

test.before(async () => {
  try {
    c = await newCluster({ extraServer: `agent_ttl = "${AGENT_TTL_S}s"` });
    // The admin socket in a directory of its own that anyone may traverse (the data directory is 0700), so what
    // decides who connects is the socket's own mode and group.
    const socketPath = join(c.dir, "admin", "api.sock");
    writeFileSync(c.serverConf, readFileSync(c.serverConf, "utf8").replace(`socket_path = "${c.serverSocket}"`, `socket_path = "${socketPath}"`));
    c.serverSocket = socketPath;
    await startServer(c);
    const b = await wispServer(["bundle", "show", "-socketPath", c.serverSocket]);
    if (b.code !== 0) throw new Error(b.stderr);
    bundlePEM = b.stdout;
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await c?.cleanup();
});

interface Creds {
  keyPEM: string;
  certPEM: string;
}

/** One agent API call over real mTLS; the server is verified against the trust bundle (its SPIFFE ID, not a hostname). */
function agentCall(path: string, o: { method?: string; body?: unknown; creds?: Creds } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const data = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = https.request({
      host: "127.0.0.1",
      port: c.port,
      path,
      method: o.method ?? "POST",
      ca: bundlePEM,
      checkServerIdentity: () => undefined,
      ...(o.creds ? { key: o.creds.keyPEM, cert: o.creds.certPEM } : {}),
      headers: data === undefined ? {} : { "content-type": "application/json" },
      agent: false,
    }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
        } catch {
          reject(new Error(`${path} answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on("error", reject);
    req.end(data);
  });
}

/** Attests with a join token as an agent would (its own key, a CSR) and returns its agent SVID and key. */
async function attest(token: string): Promise<Creds & { id: string; notAfter: number }> {
  const keys = await generateKeyPair();
  const res = await agentCall("/agent/v1/attest", {
    body: { attestation_data: { type: "join_token", payload: toBase64(new TextEncoder().encode(token)) }, csr: toBase64(await createCSR(keys)) },
  });
  assert.is(res.status, 200, JSON.stringify(res.body));
  const svid = res.body.svid as { id: string; cert_chain: string[]; expires_at: number };
  return {
    id: svid.id,
    notAfter: svid.expires_at,
    keyPEM: toPEM(await exportPKCS8(keys.privateKey), "PRIVATE KEY"),
    certPEM: svid.cert_chain.map((b) => toPEM(fromBase64(b), "CERTIFICATE")).join(""),
  };
}

const batch = (creds?: Creds) => agentCall("/svid/v1/batch", { body: { params: [] }, ...(creds ? { creds } : {}) });

test("the admin socket is 0770 root:root: uid 1000 is refused by the kernel and the CLI says so; with the group it is served", async () => {
  if (setupError) throw setupError;
  const st = statSync(c.serverSocket);
  assert.equal({ mode: (st.mode & 0o777).toString(8), uid: st.uid, gid: st.gid }, { mode: "770", uid: 0, gid: 0 });
  assert.is((statSync(join(c.dir, "admin")).mode & 0o005).toString(8), "5", "others may traverse the socket's directory");
  // The CLI runs on Node here: what is tested is the server's socket, and Deno as uid 1000 has no cache directory.
  const outsider = await wispServer(["agent", "list", "-socketPath", c.serverSocket], { asUser: 1000, runtime: "node" });
  assert.equal({ code: outsider.code, stdout: outsider.stdout }, { code: 1, stdout: "" });
  assert.is(
    outsider.stderr,
    `Error: rpc error: code = Unavailable desc = connection error: desc = "transport: error while dialing: dial unix ${c.serverSocket}: connect: permission denied"\n`,
  );
  const token = await wispServer(["token", "generate", "-socketPath", c.serverSocket], { asUser: 1000, runtime: "node" });
  assert.is(token.code, 1, "a refused user cannot mint join tokens either");
  // Same uid with the socket's group (gid 0) as a supplementary group: the mode lets it in.
  const member = await run("setpriv", ["--reuid=1000", "--regid=1000", "--groups=0", NODE, SERVER_BIN, "agent", "list", "-socketPath", c.serverSocket]);
  assert.equal({ code: member.code, stderr: member.stderr }, { code: 0, stderr: "" });
  assert.match(member.stdout, /^No attested agents found\n$/);
});

test("agent API over mTLS: no client certificate and a certificate from a foreign CA are refused; a real agent is served", async () => {
  if (setupError) throw setupError;
  const agent = await attest(await joinToken(c));
  assert.equal(await batch(agent), { status: 200, body: { results: [] } });
  assert.equal(await batch(), { status: 401, body: { status: "UNAUTHENTICATED", code: "ERR_UNAUTHENTICATED", message: "agent SVID is required" } });

  // A foreign CA (openssl) signs two agent certificates: one with a made-up agent ID, one claiming the real agent's.
  const dir = tempDir("wisp-foreign-");
  const ossl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  ossl(
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
    "1",
    "-subj",
    "/O=Foreign CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  for (const [name, id] of [["madeup", "spiffe://example.org/spire/agent/join_token/forged"], ["impostor", agent.id]] as const) {
    writeFileSync(
      join(dir, `${name}.ext`),
      `subjectAltName=URI:${id}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n`,
    );
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", "/O=SPIRE");
    ossl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.pem`,
    );
    const creds = {
      keyPEM: ossl("pkey", "-in", `${name}.key`).toString(),
      certPEM: ossl("x509", "-in", `${name}.pem`).toString() + ossl("x509", "-in", "ca.pem").toString(),
    };
    assert.equal(await batch(creds), { status: 401, body: { status: "UNAUTHENTICATED", code: "ERR_UNAUTHENTICATED", message: "invalid agent SVID" } }, name);
    const sync = await agentCall("/agent/v1/sync", { method: "GET", creds });
    assert.equal(sync, { status: 401, body: { status: "UNAUTHENTICATED", code: "ERR_UNAUTHENTICATED", message: "invalid agent SVID" } }, `${name} sync`);
  }
  assert.match(c.server!.output, /msg="Agent attestation request completed"/);
});

test(`agent API over mTLS: an agent SVID past its expiry (agent_ttl ${AGENT_TTL_S}s) is refused`, async () => {
  if (setupError) throw setupError;
  const agent = await attest(await joinToken(c));
  assert.equal(await batch(agent), { status: 200, body: { results: [] } });
  await waitFor("the agent SVID to expire", async () => (Date.now() / 1000 > agent.notAfter + 1 ? true : undefined), (AGENT_TTL_S + 5) * 1000);
  // SPIRE's AgentAuthorizer: an expired SVID of a known agent is PermissionDenied with reason AGENT_EXPIRED, which
  // tells a re-attestable agent to attest again.
  const expired = {
    status: 403,
    body: { status: "PERMISSION_DENIED", code: "ERR_PERMISSION_DENIED", message: `agent "${agent.id}" SVID is expired`, reason: "AGENT_EXPIRED" },
  };
  assert.equal(await batch(agent), expired);
  const renew = await agentCall("/agent/v1/renew", { body: { csr: toBase64(await createCSR(await generateKeyPair())) }, creds: agent });
  assert.equal(
    renew,
    expired,
    "an expired agent cannot renew itself either",
  );
});

test("agent API over mTLS: an evicted agent is refused, its still-valid SVID notwithstanding", async () => {
  if (setupError) throw setupError;
  // Tokens first: the CLI is the slow part, and the agent SVIDs live only ${AGENT_TTL_S} s.
  const tokens = [await joinToken(c), await joinToken(c)];
  const agent = await attest(tokens[0]!);
  const other = await attest(tokens[1]!);
  assert.equal(await batch(agent), { status: 200, body: { results: [] } });
  // Evicted through the admin API on its socket rather than the CLI: a CLI start could outlast the short agent SVID.
  const admin = adminHTTP(c.serverSocket);
  const r = await admin.call("DELETE", `/agent/v1/agents?spiffeID=${encodeURIComponent(agent.id)}`);
  await admin.close();
  assert.is(r.status, 200, JSON.stringify(r.body));
  // 403 AGENT_NOT_ATTESTED (SPIRE's text and reason), not 401 "invalid agent SVID": the SVID still verifies, the
  // server no longer knows the agent.
  const refused = {
    status: 403,
    body: { status: "PERMISSION_DENIED", code: "ERR_PERMISSION_DENIED", message: `agent "${agent.id}" is not attested`, reason: "AGENT_NOT_ATTESTED" },
  };
  assert.equal(await batch(agent), refused);
  assert.equal(await agentCall("/agent/v1/sync", { method: "GET", creds: agent }), refused);
  assert.equal(await batch(other), { status: 200, body: { results: [] } }, "another agent is unaffected");
});

test.run();
