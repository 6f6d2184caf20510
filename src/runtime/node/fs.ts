/** The FS port on node:fs. @module */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { InternalError, NotFoundError } from "../../core/errors.ts";
import type { FS } from "../../core/ports/fs.ts";

function wrap(err: unknown, what: string, p: string): never {
  if ((err as NodeJS.ErrnoException)?.code === "ENOENT") throw new NotFoundError(`file "${p}" does not exist`, { cause: err });
  throw new InternalError(`failed to ${what} "${p}"`, { cause: err });
}

export const nodeFS: FS = {
  async readFile(p) {
    try {
      return new Uint8Array(await fsp.readFile(p));
    } catch (err) {
      wrap(err, "read", p);
    }
  },
  async writeFileAtomic(p, data, mode) {
    const tmp = `${p}.${process.pid}.${Date.now()}.tmp`;
    try {
      const fh = await fsp.open(tmp, "wx", mode);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.chmod(tmp, mode);
      await fsp.rename(tmp, p);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      wrap(err, "write", p);
    }
  },
  async exists(p) {
    try {
      await fsp.stat(p);
      return true;
    } catch {
      return false;
    }
  },
  async mkdir(p, mode) {
    try {
      await fsp.mkdir(p, { recursive: true, ...(mode === undefined ? {} : { mode }) });
    } catch (err) {
      wrap(err, "create directory", p);
    }
  },
  async remove(p) {
    await fsp.rm(p, { force: true, recursive: true });
  },
  async mode(p) {
    try {
      return (await fsp.stat(p)).mode & 0o777;
    } catch (err) {
      wrap(err, "stat", p);
    }
  },
  join: (...parts) => path.join(...parts),
  dirname: (p) => path.dirname(p),
  resolve: (p) => path.resolve(p),
};
