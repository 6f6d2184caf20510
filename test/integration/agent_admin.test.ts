/**
 * The agent admin API (`admin_socket_path`, `authorized_delegates`) seen by an independent client: Python grpcio with
 * stubs generated from the vendored spire-api-sdk protos (test/clients/admin_client.py). Debug GetInfo, the Logger
 * service changing what the agent logs, and the Delegated Identity API: a delegate authorized by its entry's SPIFFE ID
 * subscribes by selectors or by PID, sees rotation and entry changes, fetches JWT-SVIDs and bundles (federated ones
 * included); other callers get SPIRE's PermissionDenied texts. A misplaced admin socket is a config error.
 * @module
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { type ChildProcess, spawn } from "node:child_process";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createEntry, deleteEntry, PYTHON, splitDER } from "./_clients.ts";
import { type Cluster, joinToken, newCluster, ROOT, run, startAgent, startServer, waitFor, wispAgent, wispServer } from "./_harness.ts";

const ADMIN_CLIENT = join(ROOT, "test/clients/admin_client.py");
const DELEGATE = "spiffe://example.org/delegate";
const OTHER = "spiffe://example.org/other";
const TARGET = "spiffe://example.org/target";
const TARGET2 = "spiffe://example.org/target2";
const BY_PID = "spiffe://example.org/bypid";
const FEDERATED_TD = "spiffe://other.example";
/** uids: the delegate, a workload with an entry that is not a delegate, the subscribed workload, one attested by PID. */
const DELEGATE_UID = 1000;
const OTHER_UID = 1001;
const TARGET_UID = 1002;
const PID_UID = 1003;
const NO_ENTRY_UID = 1004;
/** Short enough that the agent rotates the target's SVID every few seconds (half-life ± 10 %). */
const TTL_SECONDS = 4;

type Msg = Record<string, unknown>;
interface Status {
  code: string;
  details: string;
}
interface Result {
  response?: Msg;
  status?: Status;
}

let c: Cluster;
let admin = "";
let stubs = "";
let setupError: unknown;
let sleeper: ChildProcess | undefined;
let otherCA: X509Certificate;
const streams: AdminStream[] = [];

/** Generates Python stubs for the admin API's spire-api-sdk protos, readable by other uids. */
async function adminStubs(dir: string): Promise<string> {
  const out = join(dir, "admin-py");
  mkdirSync(out, { recursive: true, mode: 0o755 });
  // Only what the admin API uses: Debian's protoc predates proto3 `optional`, which other spire-api-sdk types use.
  const files = [
    "agent/debug/v1/debug",
    "agent/logger/v1/logger",
    "agent/delegatedidentity/v1/delegatedidentity",
    "types/logger",
    "types/selector",
    "types/spiffeid",
    "types/x509svid",
    "types/jwtsvid",
  ].map((f) => `proto/spire/api/${f}.proto`);
  const r = await run(PYTHON, ["-m", "grpc_tools.protoc", "-I", "proto", `--python_out=${out}`, `--grpc_python_out=${out}`, ...files]);
  if (r.code !== 0) throw new Error(`protoc failed: ${r.stderr}`);
  return out;
}

/**
 * The client runs as `uid` with the agent's group (gid 0): SPIRE's admin socket is 0770, so a delegate shares the
 * agent's group. Attestation sees unix:uid:<uid>.
 */
function clientArgs(uid: number, rest: string[]): [string, string[]] {
  return ["setpriv", [`--reuid=${uid}`, "--regid=0", "--clear-groups", PYTHON, ADMIN_CLIENT, "--stubs", stubs, "--socket", admin, ...rest]];
}

async function call(method: string, req: Msg = {}, uid = DELEGATE_UID): Promise<Result> {
  const [cmd, args] = clientArgs(uid, ["call", method, JSON.stringify(req)]);
  const r = await run(cmd, args, { env: { PYTHONDONTWRITEBYTECODE: "1" }, timeoutMs: 30_000 });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  if (line === "") throw new Error(`admin_client printed nothing (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(line) as Result;
}

/** An open server stream: messages and the final status are recorded as they arrive. */
class AdminStream {
  readonly child: ChildProcess;
  readonly responses: Msg[] = [];
  status: Status | undefined;
  stderr = "";
  #partial = "";
  constructor(method: string, req: Msg, uid = DELEGATE_UID) {
    const [cmd, args] = clientArgs(uid, ["stream", method, JSON.stringify(req)]);
    this.child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (d: Buffer) => {
      const parts = (this.#partial + d.toString()).split("\n");
      this.#partial = parts.pop() ?? "";
      for (const p of parts) {
        if (p.trim() === "") continue;
        const m = JSON.parse(p) as Result;
        if (m.response) this.responses.push(m.response);
        if (m.status) this.status = m.status;
      }
    });
    this.child.stderr!.on("data", (d) => (this.stderr += d));
    streams.push(this);
  }
  /** The first message (from index `from` on) that satisfies `pred`. */
  next(what: string, pred: (m: Msg) => boolean = () => true, from = 0, timeoutMs = 30_000): Promise<Msg> {
    return waitFor(what, async () => {
      const m = this.responses.slice(from).find(pred);
      if (m) return m;
      if (this.status) throw new Error(`stream ended ${JSON.stringify(this.status)} ${this.stderr}`);
      return undefined;
    }, timeoutMs);
  }
  ended(): Promise<Status> {
    return waitFor("stream end", async () => this.status);
  }
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    await done;
  }
}

const b64 = (s: unknown) => Buffer.from(String(s), "base64");
const svidIDs = (m: Msg) => (m["x509_svids"] as Msg[]).map((s) => idString((s["x509_svid"] as Msg)["id"] as Msg)).sort();
const idString = (id: Msg) => `spiffe://${String(id["trust_domain"])}${String(id["path"])}`;

test.before(async () => {
  try {
    c = await newCluster({
      extraAgent: `admin_socket_path = "ADMIN"\n  authorized_delegates = ["${DELEGATE}"]`,
    });
    admin = join(c.dir, "private", "admin.sock");
    writeFileSync(c.agentConf, readFileSync(c.agentConf, "utf8").replace("ADMIN", admin));
    await startServer(c);
    // A federated trust domain's bundle, set by hand: entries that federate with it bring it to the agent.
    const key = join(c.dir, "other.key");
    const pem = join(c.dir, "other.pem");
    const ca = await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-out",
      pem,
      "-days",
      "2",
      "-subj",
      "/O=other",
      "-addext",
      `subjectAltName=URI:${FEDERATED_TD}`,
    ]);
    if (ca.code !== 0) throw new Error(`openssl: ${ca.stderr}`);
    otherCA = new X509Certificate(readFileSync(pem));
    const set = await wispServer(["bundle", "set", "-id", FEDERATED_TD, "-path", pem, "-socketPath", c.serverSocket]);
    if (set.code !== 0) throw new Error(`bundle set: ${set.stderr}`);
    // Independent steps run side by side: each CLI call is a process start.
    const [stubDir] = await Promise.all([
      adminStubs(c.dir),
      joinToken(c, "spiffe://example.org/node1").then((t) => startAgent(c, t)),
      createEntry(c, { spiffeID: DELEGATE, selector: `unix:uid:${DELEGATE_UID}` }),
      createEntry(c, { spiffeID: OTHER, selector: `unix:uid:${OTHER_UID}` }),
      createEntry(c, { spiffeID: BY_PID, selector: `unix:uid:${PID_UID}` }),
      wispServer([
        "entry",
        "create",
        "-socketPath",
        c.serverSocket,
        "-parentID",
        "spiffe://example.org/node1",
        "-spiffeID",
        TARGET,
        "-selector",
        `unix:uid:${TARGET_UID}`,
        "-x509SVIDTTL",
        String(TTL_SECONDS),
        "-federatesWith",
        FEDERATED_TD,
      ]).then((r) => {
        if (r.code !== 0) throw new Error(`entry create: ${r.stderr}`);
      }),
    ]);
    stubs = stubDir;
    sleeper = spawn("setpriv", [`--reuid=${PID_UID}`, `--regid=${PID_UID}`, "--clear-groups", "sleep", "300"], { stdio: "ignore" });
    // The delegate's own entry must have reached the agent before anything else is asked.
    await waitFor("delegate authorized", async () => {
      const r = await call("DelegatedIdentity/FetchJWTSVIDs", { audience: ["probe"], pid: sleeper!.pid });
      return r.response ? true : undefined;
    });
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  for (const s of streams) await s.kill();
  sleeper?.kill("SIGKILL");
  await c?.cleanup();
});

function ready(): void {
  if (setupError) throw setupError;
}

test("the admin socket is served with SPIRE's line and mode 0770, outside the Workload API directory", () => {
  ready();
  assert.match(c.agent!.output, new RegExp(`level=info msg="Starting Admin APIs" address=${admin.replaceAll("/", "\\/")} network=unix\\n`));
  assert.match(c.agent!.output, /level=info msg="Logger service configured" launch_log_level=debug/);
  assert.is(statSync(admin).mode & 0o777, 0o770);
});

test("Debug/GetInfo reports the agent SVID chain up to the root, counts and the last sync", async () => {
  ready();
  const r = await call("Debug/GetInfo");
  assert.ok(r.response, JSON.stringify(r));
  const info = r.response!;
  const chain = info["svid_chain"] as Msg[];
  assert.ok(chain.length >= 2, JSON.stringify(info));
  const leafID = chain[0]!["id"] as Msg;
  assert.is(leafID["trust_domain"], "example.org");
  assert.match(String(leafID["path"]), /^\/spire\/agent\/join_token\/[0-9a-f-]+$/);
  assert.is(chain[0]!["subject"], "O=SPIRE,C=US");
  // The last certificate is the trust domain's root, as the server's bundle shows it.
  // startServer wrote `bundle show` to the agent's bootstrap bundle file.
  const bundlePEM = readFileSync(c.bundlePath!, "utf8");
  const roots = bundlePEM.split(/(?=-----BEGIN CERTIFICATE-----)/).filter((p) => p.includes("BEGIN")).map((p) => new X509Certificate(p));
  const last = chain.at(-1)!;
  assert.ok(roots.some((root) => Math.floor(new Date(root.validTo).getTime() / 1000) === Number(last["expires_at"])), JSON.stringify(last));
  assert.equal(last["id"], { trust_domain: "example.org", path: "" });
  assert.ok(Number(info["uptime"]) >= 0);
  assert.ok(Number(info["cached_x509_svids_count"]) >= 4, JSON.stringify(info));
  assert.is(info["svids_count"], info["cached_x509_svids_count"]);
  assert.ok(Number(info["cached_jwt_svids_count"]) >= 1, JSON.stringify(info));
  assert.is(info["cached_svidstore_x509_svids_count"], 0);
  const lastSync = Number(info["last_sync_success"]);
  assert.ok(lastSync > 0 && lastSync <= Date.now() / 1000 + 1, JSON.stringify(info));
});

test("Logger: get, set and reset change the level the agent logs at", async () => {
  ready();
  const got = await call("Logger/GetLogger");
  assert.equal(got.response, { current_level: "DEBUG", launch_level: "DEBUG" });
  const bad = await call("Logger/SetLogLevel", { new_level: "UNSPECIFIED" });
  assert.equal(bad.status, { code: "INVALID_ARGUMENT", details: "newLevel value cannot be LogLevel_UNSPECIFIED" });

  const set = await call("Logger/SetLogLevel", { new_level: "INFO" });
  assert.equal(set.response, { current_level: "INFO", launch_level: "DEBUG" });
  assert.match(c.agent!.output, /level=info msg="SetLogLevel Called" method=SetLogLevel new_log_level=info pid=\d+ service=Logger/);
  const mark = c.agent!.output.length;
  const quiet = await call("DelegatedIdentity/FetchJWTSVIDs", { audience: ["quiet"], selectors: [{ type: "unix", value: `uid:${TARGET_UID}` }] });
  assert.ok(quiet.response, JSON.stringify(quiet));
  const reset = await call("Logger/ResetLogLevel");
  assert.equal(reset.response, { current_level: "DEBUG", launch_level: "DEBUG" });
  // Nothing at debug between the two calls (rotation and sync log at debug every few seconds otherwise).
  const atInfo = c.agent!.output.slice(mark, c.agent!.output.indexOf('msg="ResetLogLevel Called"', mark));
  assert.not.match(atInfo, /level=debug/);
  const loud = await call("DelegatedIdentity/FetchJWTSVIDs", { audience: ["loud"], selectors: [{ type: "unix", value: `uid:${TARGET_UID}` }] });
  assert.ok(loud.response, JSON.stringify(loud));
  await waitFor("debug line after reset", async () => /level=debug msg="Fetched JWT SVID"/.test(c.agent!.output.slice(mark)) ? true : undefined);
});

test("SubscribeToX509SVIDs by selectors: the target's SVIDs with keys, then updates on rotation and on entry changes", async () => {
  ready();
  const s = new AdminStream("DelegatedIdentity/SubscribeToX509SVIDs", { selectors: [{ type: "unix", value: `uid:${TARGET_UID}` }] });
  const first = await s.next("first update", (m) => svidIDs(m).length === 1);
  assert.equal(svidIDs(first), [TARGET]);
  assert.equal(first["federates_with"], [FEDERATED_TD]);
  const w = (first["x509_svids"] as Msg[])[0]!;
  const svid = w["x509_svid"] as Msg;
  const chain = (svid["cert_chain"] as string[]).map((d) => new X509Certificate(b64(d)));
  assert.is(chain[0]!.subjectAltName, `URI:${TARGET}`);
  assert.is(Number(svid["expires_at"]), Math.floor(new Date(chain[0]!.validTo).getTime() / 1000));
  // The key is PKCS#8 for the leaf's public key.
  const pub = createPublicKey(createPrivateKey({ key: b64(w["x509_svid_key"]), format: "der", type: "pkcs8" })).export({ type: "spki", format: "der" });
  assert.equal(Buffer.from(pub), Buffer.from(chain[0]!.publicKey.export({ type: "spki", format: "der" })));

  // Rotation: a message carrying a new certificate for the same entry.
  const serial = chain[0]!.serialNumber;
  const rotated = await s.next("rotated SVID", (m) => {
    const one = (m["x509_svids"] as Msg[])[0];
    return one !== undefined && new X509Certificate(b64(((one["x509_svid"] as Msg)["cert_chain"] as string[])[0])).serialNumber !== serial;
  });
  assert.equal(svidIDs(rotated), [TARGET]);

  // Entry changes: a new entry for the same selectors joins the next update, its deletion leaves it again.
  const id = await createEntry(c, { spiffeID: TARGET2, selector: `unix:uid:${TARGET_UID}` });
  await s.next("second entry", (m) => svidIDs(m).length === 2);
  const at = s.responses.length;
  await deleteEntry(c, id);
  await s.next("second entry removed", (m) => svidIDs(m).length === 1, at);
  assert.is(s.status, undefined);
  await s.kill();
});

test("SubscribeToX509SVIDs and FetchJWTSVIDs by PID attest that process", async () => {
  ready();
  const s = new AdminStream("DelegatedIdentity/SubscribeToX509SVIDs", { pid: sleeper!.pid });
  const first = await s.next("by pid", (m) => svidIDs(m).length > 0);
  assert.equal(svidIDs(first), [BY_PID]);
  assert.equal(first["federates_with"], []);
  await s.kill();

  const r = await call("DelegatedIdentity/FetchJWTSVIDs", { audience: ["aud1", "aud2"], pid: sleeper!.pid });
  const svids = r.response!["svids"] as Msg[];
  assert.is(svids.length, 1);
  assert.equal(idString(svids[0]!["id"] as Msg), BY_PID);
  const claims = JSON.parse(Buffer.from(String(svids[0]!["token"]).split(".")[1]!, "base64url").toString()) as Msg;
  assert.is(claims["sub"], BY_PID);
  assert.equal(claims["aud"], ["aud1", "aud2"]);
  assert.is(Number(svids[0]!["expires_at"]), claims["exp"]);
  assert.is(Number(svids[0]!["issued_at"]), claims["iat"]);
});

test("FetchJWTSVIDs checks its request as SPIRE does", async () => {
  ready();
  assert.equal((await call("DelegatedIdentity/FetchJWTSVIDs", { pid: sleeper!.pid })).status, {
    code: "INVALID_ARGUMENT",
    details: "audience must be specified",
  });
  const both = await call("DelegatedIdentity/FetchJWTSVIDs", { audience: ["a"], pid: sleeper!.pid, selectors: [{ type: "unix", value: "uid:1" }] });
  assert.equal(both.status, { code: "INVALID_ARGUMENT", details: "must provide either selectors or non-zero PID, but not both" });
  const neither = await call("DelegatedIdentity/FetchJWTSVIDs", { audience: ["a"] });
  assert.equal(neither.status, { code: "INVALID_ARGUMENT", details: "must provide either selectors or non-zero PID, but not both" });
  const badSelector = await call("DelegatedIdentity/FetchJWTSVIDs", { audience: ["a"], selectors: [{ type: "unix", value: "" }] });
  assert.equal(badSelector.status, { code: "INVALID_ARGUMENT", details: "could not parse provided selectors" });
  const gone = await call("DelegatedIdentity/FetchJWTSVIDs", { audience: ["a"], pid: 4_000_000 });
  assert.equal(gone.status, { code: "UNAVAILABLE", details: "workload attestation failed" });
  const nobody = await call("DelegatedIdentity/FetchJWTSVIDs", { audience: ["a"], selectors: [{ type: "unix", value: "uid:4242" }] });
  assert.equal(nobody.status, { code: "PERMISSION_DENIED", details: "no identity issued" });
});

test("SubscribeToX509Bundles and SubscribeToJWTBundles carry the own and the federated bundles", async () => {
  ready();
  const x = new AdminStream("DelegatedIdentity/SubscribeToX509Bundles", {});
  const xm = await x.next("x509 bundles");
  const ca = xm["ca_certificates"] as Record<string, string>;
  assert.equal(Object.keys(ca).sort(), ["spiffe://example.org", FEDERATED_TD]);
  const bundlePEM = readFileSync(c.bundlePath!, "utf8");
  const roots = splitDER(b64(ca["spiffe://example.org"])).map((d) => new X509Certificate(d).toString().trim());
  assert.ok(roots.length >= 1 && roots.every((p) => bundlePEM.includes(p)), bundlePEM);
  assert.equal(splitDER(b64(ca[FEDERATED_TD])).map((d) => new X509Certificate(d).fingerprint256), [otherCA.fingerprint256]);
  await x.kill();

  const j = new AdminStream("DelegatedIdentity/SubscribeToJWTBundles", {});
  const jm = await j.next("jwt bundles");
  const bundles = jm["bundles"] as Record<string, string>;
  assert.equal(Object.keys(bundles).sort(), ["spiffe://example.org", FEDERATED_TD]);
  const own = JSON.parse(b64(bundles["spiffe://example.org"]).toString()) as { keys: Msg[] };
  assert.ok(own.keys.length >= 1);
  for (const k of own.keys) {
    assert.is(k["kty"], "EC");
    assert.ok(typeof k["kid"] === "string" && k["kid"] !== "");
    assert.is(k["use"], undefined);
  }
  assert.equal(JSON.parse(b64(bundles[FEDERATED_TD]).toString()), { keys: [] });
  await j.kill();
});

test("callers that are not authorized delegates get SPIRE's PermissionDenied texts", async () => {
  ready();
  const other = await call("DelegatedIdentity/FetchJWTSVIDs", { audience: ["a"], pid: sleeper!.pid }, OTHER_UID);
  assert.equal(other.status, { code: "PERMISSION_DENIED", details: "caller not configured as an authorized delegate" });
  assert.match(
    c.agent!.output,
    new RegExp(`level=error msg="Permission denied; caller not configured as an authorized delegate\\." default_id="${OTHER}" .*num_registered_entries=1`),
  );
  const none = new AdminStream("DelegatedIdentity/SubscribeToX509SVIDs", { pid: sleeper!.pid }, NO_ENTRY_UID);
  assert.equal(await none.ended(), { code: "PERMISSION_DENIED", details: "no identity issued" });
  const bundles = new AdminStream("DelegatedIdentity/SubscribeToX509Bundles", {}, OTHER_UID);
  assert.equal(await bundles.ended(), { code: "PERMISSION_DENIED", details: "caller not configured as an authorized delegate" });
  // The Debug and Logger services are open to anyone who can reach the socket, as in SPIRE.
  assert.ok((await call("Logger/GetLogger", {}, NO_ENTRY_UID)).response);
});

test("a delegate whose entry is deleted loses its open stream at the next update", async () => {
  ready();
  const LATE_UID = 1005;
  const id = await createEntry(c, { spiffeID: DELEGATE, selector: `unix:uid:${LATE_UID}` });
  const s = await waitFor("second delegate entry at the agent", async () => {
    const probe = new AdminStream("DelegatedIdentity/SubscribeToX509SVIDs", { pid: sleeper!.pid }, LATE_UID);
    const got = await Promise.race([probe.next("update", (m) => svidIDs(m).length > 0), probe.ended()]);
    if ("code" in got) return undefined;
    return probe;
  });
  await deleteEntry(c, id);
  assert.equal(await s.ended(), { code: "PERMISSION_DENIED", details: "no identity issued" });
});

test("wisp-agent debug getinfo and logger get|set|reset print what SPIRE's agent CLI prints", async () => {
  ready();
  // Calls that change nothing run side by side: each is a process start.
  const [info, bad, missing] = await Promise.all([
    wispAgent(["debug", "getinfo", "-socketPath", admin]),
    wispAgent(["logger", "set", "-level", "loud", "-socketPath", admin]),
    wispAgent(["logger", "get", "-socketPath", join(c.dir, "nowhere.sock")]),
  ]);
  assert.is(info.code, 0, info.stderr);
  const lines = info.stdout.split("\n");
  const label = (name: string) => `  ${name}:`.padEnd(35);
  assert.is(lines[0], "Agent Debug Info:");
  assert.match(lines[1]!, new RegExp(`^${label("Uptime")}(\\d+h)?(\\d+m)?\\d+s$`));
  assert.match(lines[2]!, new RegExp(`^${label("Last Sync Success")}\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
  assert.match(lines[3]!, new RegExp(`^${label("Cached X.509 SVIDs")}\\d+$`));
  assert.match(lines[4]!, new RegExp(`^${label("Cached JWT SVIDs")}\\d+$`));
  assert.is(lines[5], `${label("Cached SVID Store X.509 SVIDs")}0`);
  assert.is(lines[6], "  SVID Chain:");
  assert.match(lines[7]!, /^ {4}\[0\] SPIFFE ID: {2}spiffe:\/\/example\.org\/spire\/agent\/join_token\/[0-9a-f-]+$/);
  assert.is(lines[8], "        Subject:    O=SPIRE,C=US");
  assert.match(lines[9]!, /^ {8}Expires At: \S+Z$/);
  assert.equal([bad.code, bad.stderr], [1, 'Error: the value "loud" is not a valid setting\n']);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /^Error: error fetching logger: rpc error: code = Unavailable desc = /);

  const set = await wispAgent(["logger", "set", "-level", "WARN", "-socketPath", admin]);
  assert.equal([set.code, set.stdout], [0, "Logger Level : warning\nLaunch Level : debug\n\n"]);
  const asJSON = await wispAgent(["logger", "get", "-socketPath", admin, "-output", "json"]);
  assert.equal(JSON.parse(asJSON.stdout), { current_level: "WARN", launch_level: "DEBUG" });
  const reset = await wispAgent(["logger", "reset", "-socketPath", admin]);
  assert.equal([reset.code, reset.stdout], [0, "Logger Level : debug\nLaunch Level : debug\n\n"]);
});

test("an admin socket inside the Workload API socket's directory is a config error", async () => {
  ready();
  const conf = join(c.dir, "bad-admin.conf");
  const text = readFileSync(c.agentConf, "utf8").replace(admin, join(c.dir, "public", "sub", "admin.sock"));
  writeFileSync(conf, text);
  const r = await wispAgent(["run", "-config", conf]);
  assert.is(r.code, 1);
  assert.match(r.stderr + r.stdout, /admin socket cannot be in the same directory or a subdirectory as that containing the Workload API socket/);
});

test.run();
