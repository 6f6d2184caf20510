/** ProcFS on Linux for Node and Deno: /proc/<pid>, /etc/passwd and /etc/group. @module */
import { createHash } from "node:crypto";
import { open, readFile, readlink, stat } from "node:fs/promises";
import { FailedPreconditionError, InternalError, NotFoundError, PermissionDeniedError, type ServiceError } from "../../core/errors.ts";
import type { ProcFS, ProcStatus } from "../../core/ports/proc_fs.ts";

/** Where to read from; the defaults are the host's own files. */
export interface NodeProcFSOptions {
  /** The proc mount; SPIRE reads $HOST_PROC when set (default "/proc"). */
  procRoot?: string;
  /** Default "/etc/passwd". */
  passwdFile?: string;
  /** Default "/etc/group". */
  groupFile?: string;
}

interface NameDB {
  mtimeMs: number;
  size: number;
  names: Map<number, string>;
}

/** Reads process facts from /proc and names from the local user and group files (no NSS: LDAP users stay unnamed). */
export class NodeProcFS implements ProcFS {
  readonly #proc: string;
  readonly #passwd: string;
  readonly #group: string;
  // Parsed once and re-read only when the file changes, because attestation looks up several names per call.
  readonly #dbs = new Map<string, NameDB>();
  // The check under way, per file: lookups that arrive while it runs share its stat (and read, when the file
  // changed). 500 workloads connecting at once, each with a user, a group and supplementary groups, cost one stat.
  readonly #checks = new Map<string, Promise<NameDB | undefined>>();

  constructor(opts: NodeProcFSOptions = {}) {
    this.#proc = opts.procRoot ?? "/proc";
    this.#passwd = opts.passwdFile ?? "/etc/passwd";
    this.#group = opts.groupFile ?? "/etc/group";
  }

  async startTime(pid: number): Promise<number> {
    const text = await this.#read(pid, "stat");
    // comm (field 2) is in parentheses and may itself contain spaces and ")", so parse after the LAST ")".
    const end = text.lastIndexOf(")");
    const rest = end < 0 ? [] : text.slice(end + 1).trim().split(/\s+/);
    const v = rest[22 - 3]; // rest[0] is field 3 (state)
    if (v === undefined || !/^\d+$/.test(v)) {
      throw new InternalError(`failed to parse "${this.#path(pid, "stat")}": no start time`);
    }
    return Number(v);
  }

  async status(pid: number): Promise<ProcStatus> {
    const text = await this.#read(pid, "status");
    const ids = (key: string): number[] | undefined => {
      const line = text.split("\n").find((l) => l.startsWith(key + ":"));
      if (line === undefined) return undefined;
      return line.slice(key.length + 1).trim().split(/\s+/).filter((s) => s !== "").map(Number);
    };
    const uids = ids("Uid");
    const gids = ids("Gid");
    if (uids === undefined || gids === undefined || uids.length === 0 || gids.length === 0) {
      throw new InternalError(`failed to parse "${this.#path(pid, "status")}": no Uid or Gid line`);
    }
    return { uids, gids, groups: ids("Groups") ?? [] };
  }

  async exePath(pid: number): Promise<string> {
    const p = this.#path(pid, "exe");
    try {
      return await readlink(p);
    } catch (err) {
      throw fsError(err, p, pid);
    }
  }

  exeFile(pid: number): string {
    return this.#path(pid, "exe");
  }

  async sha256(path: string, sizeLimit: number): Promise<string> {
    let fh;
    try {
      fh = await open(path, "r");
    } catch (err) {
      throw fsError(err, path);
    }
    try {
      if (sizeLimit > 0) {
        const { size } = await fh.stat();
        if (size > sizeLimit) {
          throw new FailedPreconditionError(`workload "${path}" exceeds size limit (${size} > ${sizeLimit})`);
        }
      }
      const hash = createHash("sha256");
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
      }
      return hash.digest("hex");
    } catch (err) {
      if (err instanceof FailedPreconditionError) throw err;
      throw new InternalError(`failed to hash "${path}"`, { cause: err });
    } finally {
      await fh.close();
    }
  }

  userName(uid: number): Promise<string | undefined> {
    return this.#lookup(this.#passwd, uid);
  }

  groupName(gid: number): Promise<string | undefined> {
    return this.#lookup(this.#group, gid);
  }

  async ownerOf(pid: number): Promise<{ uid: number; gid: number }> {
    const p = `${this.#proc}/${pid}`;
    try {
      const st = await stat(p);
      return { uid: st.uid, gid: st.gid };
    } catch (err) {
      throw fsError(err, p, pid);
    }
  }

  #path(pid: number, name: string): string {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
    return `${this.#proc}/${pid}/${name}`;
  }

  async #read(pid: number, name: string): Promise<string> {
    const p = this.#path(pid, name);
    try {
      return await readFile(p, "utf8");
    } catch (err) {
      throw fsError(err, p, pid);
    }
  }

  async #lookup(file: string, id: number): Promise<string | undefined> {
    let check = this.#checks.get(file);
    if (check === undefined) {
      check = this.#current(file).finally(() => this.#checks.delete(file));
      this.#checks.set(file, check);
    }
    return (await check)?.names.get(id);
  }

  async #current(file: string): Promise<NameDB | undefined> {
    let st;
    try {
      st = await stat(file);
    } catch {
      return undefined; // no database (minimal containers): ids simply have no names
    }
    let db = this.#dbs.get(file);
    if (db === undefined || db.mtimeMs !== st.mtimeMs || db.size !== st.size) {
      db = { mtimeMs: st.mtimeMs, size: st.size, names: parseNameDB(await readFile(file, "utf8")) };
      this.#dbs.set(file, db);
    }
    return db;
  }
}

/** Parses passwd/group lines "name:x:id:…"; the first line for an id wins, as getpwuid(3) does. */
function parseNameDB(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    const name = f[0];
    const id = f[2];
    if (!name || id === undefined || !/^\d+$/.test(id)) continue;
    const n = Number(id);
    if (!names.has(n)) names.set(n, name);
  }
  return names;
}

function fsError(err: unknown, path: string, pid?: number): ServiceError {
  const code = (err as { code?: string } | null)?.code;
  if (code === "ENOENT" || code === "ESRCH") {
    return pid === undefined ? new NotFoundError(`file "${path}" not found`, { cause: err }) : new NotFoundError(`process "${pid}" not found`, { cause: err });
  }
  if (code === "EACCES" || code === "EPERM") {
    return new PermissionDeniedError(`permission denied reading "${path}"`, { cause: err });
  }
  return new InternalError(`failed to read "${path}"`, { cause: err });
}
