/**
 * `npm run stack`: the seed's production topology as local processes, with the config files of deploy/ (the same
 * ones deploy/docker-compose.yml uses): the AWS emulator (ACM PCA root → subordinate, KMS), PostgreSQL in a temp dir,
 * wisp-server on PostgreSQL with aws_pca and aws_kms, a wisp-agent, a registered workload. It fetches the workload's
 * SVID, runs the 4-level `openssl verify`, prints timings, and stops everything (or keeps it running with --keep).
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(ROOT, "bin", `${name}.mjs`);

/** The components, in start order; deploy/docker-compose.yml has one service per entry (test/integration/stack.test.ts). */
export const TOPOLOGY = ["aws-emulator", "postgres", "wisp-server", "registrar", "wisp-agent", "workload"];
/** Config files shared with the compose file. */
export const CONFIG_FILES = ["deploy/server.conf", "deploy/agent.conf", "deploy/kms-key-policy.json"];

const say = (msg) => process.stdout.write(`stack: ${msg}\n`);

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** A long-running child whose output goes to a log file-like buffer, kept for failure reports. */
function startProc(name, args, env) {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const p = { name, child, output: "", exited: false };
  child.stdout.on("data", (d) => (p.output += d));
  child.stderr.on("data", (d) => (p.output += d));
  child.once("exit", () => (p.exited = true));
  return p;
}

async function stopProc(p) {
  if (p.exited) return;
  const done = new Promise((r) => p.child.once("exit", r));
  p.child.kill("SIGTERM");
  const t = setTimeout(() => p.child.kill("SIGKILL"), 5000);
  await done;
  clearTimeout(t);
}

function cli(args, o = {}) {
  const argv = o.asUser === undefined
    ? [process.execPath, ...args]
    : ["setpriv", `--reuid=${o.asUser}`, `--regid=${o.asUser}`, "--clear-groups", process.execPath, ...args];
  const r = spawnSync(argv[0], argv.slice(1), { cwd: ROOT, encoding: "utf8", env: { ...process.env, ...o.env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function waitFor(what, fn, timeoutMs, procs = []) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    const dead = procs.find((p) => p.exited);
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}:\n${dead.output.slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GET over the server's admin Unix socket. */
function adminGet(socketPath, path) {
  return new Promise((res, rej) => {
    const req = request({ socketPath, path, method: "GET" }, (r) => {
      let body = "";
      r.on("data", (d) => (body += d)).on("end", () => res({ status: r.statusCode, body }));
    });
    req.once("error", rej);
    req.end();
  });
}

async function startEmulator(dataDir) {
  const p = startProc("aws-emulator", [bin("wisp-aws-emulator"), "-listen", "127.0.0.1:0", "-dataDir", dataDir, "-issuanceDelay", "2s"], {});
  const line = await new Promise((res, rej) => {
    createInterface({ input: p.child.stdout }).once("line", res);
    p.child.once("exit", (code) => rej(new Error(`aws-emulator exited with ${code}: ${p.output}`)));
  });
  return { proc: p, info: JSON.parse(line) };
}

/** PostgreSQL through the test harness (initdb in a temp dir, unix socket only); SQLite when that is impossible. */
async function startDatabase(dir) {
  try {
    const { register } = await import("tsx/esm/api");
    register();
    const { startPostgres } = await import(pathToFileURL(join(ROOT, "test/_pg/postgres.ts")).href);
    const pg = await startPostgres();
    return { kind: "postgres", connectionString: pg.connectionString, stop: () => pg.stop() };
  } catch (err) {
    say(`PostgreSQL could not start (${err.message.split("\n")[0]}); using SQLite instead`);
    return { kind: "sqlite3", connectionString: join(dir, "datastore.sqlite3"), stop: async () => {} };
  }
}

/** Runs the stack; resolves with the measurements once the SVID verified (and, with keep, after SIGINT). */
export async function runStack({ keep = false } = {}) {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  const dir = mkdtempSync(join(tmpdir(), "wisp-stack-"));
  chmodSync(dir, 0o755);
  const procs = [];
  let db;
  try {
    const emu = await startEmulator(join(dir, "emulator"));
    procs.push(emu.proc);
    say(`aws-emulator at ${emu.info.endpoint} (subordinate CA ${emu.info.subordinateCaArn}) after ${ms()} ms`);
    db = await startDatabase(dir);
    say(`${db.kind} ready after ${ms()} ms`);

    const port = await freePort();
    const serverSocket = join(dir, "server", "api.sock");
    let serverConf = join(ROOT, "deploy/server.conf");
    if (db.kind === "sqlite3") {
      serverConf = join(dir, "server.conf");
      const text = readFileSync(join(ROOT, "deploy/server.conf"), "utf8").replace('database_type = "postgres"', 'database_type = "sqlite3"');
      (await import("node:fs")).writeFileSync(serverConf, text);
    }
    const serverEnv = {
      WISP_SERVER_SOCKET: serverSocket,
      WISP_SERVER_DATA: join(dir, "server"),
      WISP_DB_CONNECTION: db.connectionString,
      WISP_KMS_KEY_POLICY: join(ROOT, "deploy/kms-key-policy.json"),
      WISP_PCA_ARN: emu.info.subordinateCaArn,
      AWS_REGION: emu.info.region,
      AWS_ENDPOINT_URL: emu.info.endpoint,
      AWS_ACCESS_KEY_ID: emu.info.accessKeyId,
      AWS_SECRET_ACCESS_KEY: emu.info.secretAccessKey,
    };
    const serverStart = ms();
    const server = startProc("wisp-server", [
      bin("wisp-server"),
      "run",
      "-config",
      serverConf,
      "-expandEnv",
      "-serverPort",
      String(port),
      "-bindAddress",
      "127.0.0.1",
    ], serverEnv);
    procs.push(server);
    await waitFor("wisp-server ready", async () => ((await adminGet(serverSocket, "/health")).status === 200 ? true : undefined), 30_000, procs);
    const firstCA = ms() - serverStart;
    say(`wisp-server ready (first CA from ACM PCA, 2 s issuance delay) after ${firstCA} ms`);

    const uid = process.getuid?.() === 0 ? 1000 : process.getuid?.() ?? 1000;
    const tok = cli([bin("wisp-server"), "token", "generate", "-socketPath", serverSocket, "-spiffeID", "spiffe://example.org/node1", "-output", "json"]);
    if (tok.code !== 0) throw new Error(`token generate failed: ${tok.stderr}`);
    const entry = cli([
      bin("wisp-server"),
      "entry",
      "create",
      "-socketPath",
      serverSocket,
      "-parentID",
      "spiffe://example.org/node1",
      "-spiffeID",
      "spiffe://example.org/ns/prod/svc/test-workload",
      "-selector",
      `unix:uid:${uid}`,
    ]);
    if (entry.code !== 0) throw new Error(`entry create failed: ${entry.stderr}`);
    say(`registrar: join token and entry for unix:uid:${uid} created`);

    const agentSocket = join(dir, "agent", "public", "api.sock");
    mkdirSync(dirname(agentSocket), { recursive: true, mode: 0o755 });
    chmodSync(join(dir, "agent"), 0o755);
    const agent = startProc("wisp-agent", [
      bin("wisp-agent"),
      "run",
      "-config",
      join(ROOT, "deploy/agent.conf"),
      "-expandEnv",
      "-joinToken",
      JSON.parse(tok.stdout).value,
    ], {
      WISP_AGENT_DATA: join(dir, "agent", "data"),
      WISP_AGENT_SOCKET: agentSocket,
      WISP_SERVER_ADDRESS: "127.0.0.1",
      WISP_SERVER_PORT: String(port),
    });
    procs.push(agent);

    const out = join(dir, "workload");
    mkdirSync(out, { mode: 0o777 });
    chmodSync(out, 0o777);
    const asUser = process.getuid?.() === 0 ? uid : undefined;
    await waitFor(
      "the workload's SVID",
      async () => {
        const r = cli([bin("wisp-agent"), "api", "fetch", "x509", "-socketPath", agentSocket, "-write", out], { asUser });
        return r.code === 0 ? true : undefined;
      },
      30_000,
      procs,
    );
    const svid = join(out, "svid.0.pem");
    const v = spawnSync("openssl", ["verify", "-CAfile", join(out, "bundle.0.pem"), "-untrusted", svid, svid], { encoding: "utf8" });
    if (v.status !== 0) throw new Error(`openssl verify failed: ${v.stderr}${v.stdout}`);
    say(`workload: ${v.stdout.trim()} (Root → Sub → wisp intermediate → SVID)`);
    const subjects =
      spawnSync("sh", ["-c", `openssl crl2pkcs7 -nocrl -certfile "${svid}" -certfile "${join(out, "bundle.0.pem")}" | openssl pkcs7 -print_certs -noout`], {
        encoding: "utf8",
      }).stdout;
    for (const l of subjects.split("\n").filter((x) => x.startsWith("subject="))) say(`  ${l}`);
    const stats = await (await fetch(`${emu.info.endpoint}/_emulator/stats`)).json();
    const result = {
      database: db.kind,
      firstCAms: firstCA,
      startMs: ms(),
      pcaCalls: Object.fromEntries(Object.entries(stats).filter(([k]) => k.startsWith("acm-pca:"))),
    };
    say(`stack up and verified after ${result.startMs} ms; ACM PCA calls ${JSON.stringify(result.pcaCalls)}`);
    process.stdout.write(`${JSON.stringify({ stack: result })}\n`);
    if (keep) {
      say(`running; wisp-server socket ${serverSocket}, agent socket ${agentSocket}, emulator ${emu.info.endpoint}; Ctrl-C stops`);
      await new Promise((r) => {
        process.once("SIGINT", r);
        process.once("SIGTERM", r);
      });
    }
    return result;
  } catch (err) {
    for (const p of procs) if (p.output) process.stderr.write(`--- ${p.name} ---\n${p.output.slice(-3000)}\n`);
    throw err;
  } finally {
    for (const p of [...procs].reverse()) await stopProc(p);
    await db?.stop();
    rmSync(dir, { recursive: true, force: true });
    say("stopped");
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runStack({ keep: process.argv.includes("--keep") }).then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`stack: ${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
