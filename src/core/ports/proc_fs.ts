/** The process-information port: what the unix workload attestor and the PID-reuse guard read about a process. @module */

/** Ids from /proc/<pid>/status; `uids`/`gids` are real, effective, saved set, filesystem. */
export interface ProcStatus {
  uids: number[];
  gids: number[];
  /** Supplementary group ids (the "Groups:" line). */
  groups: number[];
}

/** Read-only access to process facts (Linux /proc and the user and group databases). */
export interface ProcFS {
  /**
   * Start time of the process in clock ticks since boot (field 22 of /proc/<pid>/stat).
   * @throws {NotFoundError} when the process does not exist
   */
  startTime(pid: number): Promise<number>;
  /** @throws {NotFoundError} when the process does not exist */
  status(pid: number): Promise<ProcStatus>;
  /**
   * Path of the process's executable as the kernel reports it.
   * @throws {NotFoundError} when the process does not exist
   * @throws {PermissionDeniedError} when this process may not inspect it
   */
  exePath(pid: number): Promise<string>;
  /** A path that opens the process's executable even when the file was replaced or is in another mount namespace. */
  exeFile(pid: number): string;
  /**
   * Lowercase hex SHA-256 of a file. `sizeLimit` > 0 refuses larger files; 0 means no limit.
   * @throws {FailedPreconditionError} when the file is larger than `sizeLimit`
   */
  sha256(path: string, sizeLimit: number): Promise<string>;
  /** User name of `uid`, or undefined when the user database has none. */
  userName(uid: number): Promise<string | undefined>;
  /** Group name of `gid`, or undefined when the group database has none. */
  groupName(gid: number): Promise<string | undefined>;
  /**
   * Owner of /proc/<pid> (the process's effective uid and gid).
   * @throws {NotFoundError} when the process does not exist
   */
  ownerOf(pid: number): Promise<{ uid: number; gid: number }>;
}
