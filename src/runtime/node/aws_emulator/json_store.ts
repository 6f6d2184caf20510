/** Owner-only JSON files in the emulator's data directory, written atomically so a crash never leaves half a file. @module */
import * as fs from "node:fs";
import * as path from "node:path";

/** Reads and writes whole JSON documents by name under one directory; every file is mode 0600. */
export class JsonStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** Returns the parsed document, or undefined when the file does not exist yet. */
  read<T>(name: string): T | undefined {
    const file = path.join(this.dir, name);
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new Error(`failed to parse emulator state file "${file}"`, { cause });
    }
  }

  /** Replaces the document: write to a temp file, fsync-free rename (the data is test state, not a ledger). */
  write(name: string, value: unknown): void {
    const file = path.join(this.dir, name);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n", { mode: 0o600 });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
  }
}
