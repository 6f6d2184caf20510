/** The file-system port: the few file operations portable code needs. @module */

export interface FS {
  /** @throws {NotFoundError} when the file does not exist */
  readFile(path: string): Promise<Uint8Array>;
  /** Writes via a temp file and rename, so a crash never leaves a half-written file; `mode` applies to the new file. */
  writeFileAtomic(path: string, data: Uint8Array | string, mode: number): Promise<void>;
  exists(path: string): Promise<boolean>;
  mkdir(path: string, mode?: number): Promise<void>;
  remove(path: string): Promise<void>;
  /** Permission bits of a file (e.g. 0o600). @throws {NotFoundError} */
  mode(path: string): Promise<number>;
  join(...parts: string[]): string;
  dirname(path: string): string;
  resolve(path: string): string;
}
