/**
 * A throwaway PostgreSQL server for tests: initdb into a temp dir, listening only on a unix socket there. Run as
 * root, the server runs as the `postgres` system user (initdb refuses root). PostgreSQL missing is a failure, not a
 * skip: CI installs it (.ci/run).
 * @module
 */
import { execFile, execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface PGInstance {
  /** Directory holding the socket `.s.PGSQL.<port>`; libpq's `host`. */
  socketDir: string;
  port: number;
  /** Superuser created by initdb (trust authentication). */
  user: string;
  database: string;
  /** `host=<socketDir> port=<port> user=<user> dbname=<database> sslmode=disable` */
  connectionString: string;
  /** Milliseconds spent in initdb and the first start. */
  startupMs: number;
  /** `pg_ctl stop -m fast`: the data stays, clients see the server go away. */
  halt(): Promise<void>;
  /**
   * `pg_ctl stop -m immediate`: every server process quits at once without a checkpoint, as in a crash; the next
   * start replays the WAL. Only a `durable` instance promises that committed data survives it.
   */
  crash(): Promise<void>;
  /** Starts the halted server again on the same socket. */
  resume(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** The bin directory of the newest installed PostgreSQL (Debian layout). */
function findBinDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions[0] === undefined) {
    throw new Error(
      "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb (install it: apt-get install postgresql)",
    );
  }
  return join(root, versions[0], "bin");
}

export interface StartPostgresOptions {
  /**
   * fsync and synchronous_commit on (PostgreSQL's defaults), for tests that crash the server and count on every
   * acknowledged commit being on disk. Off by default: other tests trade durability for speed.
   */
  durable?: boolean;
}

/** Starts a fresh server; the caller must `stop()` it. */
export async function startPostgres(o: StartPostgresOptions = {}): Promise<PGInstance> {
  const bin = findBinDir();
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "wisp-pg-"));
  const dataDir = join(dir, "data");
  const logFile = join(dir, "server.log");
  const port = 5432;
  const user = "wisp";
  if (asRoot) {
    try {
      const uid = Number((await run("id", ["-u", "postgres"])).stdout.trim());
      const gid = Number((await run("id", ["-g", "postgres"])).stdout.trim());
      chownSync(dir, uid, gid);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error('running as root needs the "postgres" system user to run PostgreSQL', { cause: err });
    }
  }
  // Under root the tools run as "postgres"; otherwise as the current user, who may run initdb directly.
  const tool = (name: string, args: string[]) => asRoot ? run("runuser", ["-u", "postgres", "--", join(bin, name), ...args]) : run(join(bin, name), args);
  const withLog = async (what: string, p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : "(no log)";
      throw new Error(`${what} failed; server log:\n${log}`, { cause: err });
    }
  };
  // Tests that never crash the server trade durability for speed (fsync off).
  const durability = o.durable ? "-c fsync=on -c synchronous_commit=on -c full_page_writes=on" : "-c fsync=off";
  const settings = `-c listen_addresses='' -c unix_socket_directories='${dir}' -c port=${port} ${durability}`;
  const start = () => withLog("pg_ctl start", tool("pg_ctl", ["-D", dataDir, "-l", logFile, "-w", "-t", "30", "-o", settings, "start"]));
  const started = performance.now();
  try {
    await withLog(
      "initdb",
      tool("initdb", ["-D", dataDir, "-U", user, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
    );
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const startupMs = performance.now() - started;
  const halt = () => withLog("pg_ctl stop", tool("pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "stop"]));
  const crash = () => withLog("pg_ctl stop -m immediate", tool("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "stop"]));
  let stopped = false;
  // A test file that crashes must not leave a server running: stop it hard on the way out.
  const onExit = () => {
    if (stopped) return;
    const args = [join(bin, "pg_ctl"), "-D", dataDir, "-m", "immediate", "-w", "stop"];
    try {
      if (asRoot) execFileSync("runuser", ["-u", "postgres", "--", ...args], { stdio: "ignore" });
      else execFileSync(args[0]!, args.slice(1), { stdio: "ignore" });
    } catch {
      // Already stopped.
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);
  return {
    socketDir: dir,
    port,
    user,
    database: "postgres",
    connectionString: `host=${dir} port=${port} user=${user} dbname=postgres sslmode=disable`,
    startupMs,
    halt,
    crash,
    resume: start,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener("exit", onExit);
      if (existsSync(join(dataDir, "postmaster.pid"))) await halt().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
