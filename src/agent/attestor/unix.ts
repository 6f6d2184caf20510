/** The unix workload attestor: SPIRE's "unix" selectors for the process behind a Workload API connection. @module */
import type { PeerCredentials } from "../../core/ports/grpc_server.ts";
import type { ProcFS } from "../../core/ports/proc_fs.ts";
import type { Selector } from "../../core/selector.ts";

/** Configuration, with SPIRE's keys (pkg/agent/plugin/workloadattestor/unix). */
export interface UnixAttestorConfig {
  proc: ProcFS;
  /** `discover_workload_path`: add path: and sha256: selectors (default false in SPIRE). */
  discoverWorkloadPath: boolean;
  /** `workload_size_limit` in bytes for the sha256: selector: 0 = no limit, negative = never hash. */
  workloadSizeLimit: number;
}

const TYPE = "unix";

/** Produces uid/user/gid/group/supplementary_gid/supplementary_group (and path/sha256) selectors for a process. */
export class UnixAttestor {
  readonly #cfg: UnixAttestorConfig;

  constructor(cfg: UnixAttestorConfig) {
    this.#cfg = cfg;
  }

  /**
   * Attests the process `peer.pid`, reading its ids from /proc as SPIRE does (not from the socket credentials, which
   * only the PID-reuse guard compares).
   * @throws {NotFoundError} when the process is gone
   * @throws {PermissionDeniedError|InternalError} when /proc or the executable cannot be read
   * @throws {FailedPreconditionError} when the executable is larger than `workloadSizeLimit`
   */
  async attest(peer: PeerCredentials): Promise<Selector[]> {
    const { proc } = this.#cfg;
    const st = await proc.status(peer.pid);
    // Uid:/Gid: list real, effective, saved, fs ids; like SPIRE (gopsutil Uids()[1]) use the effective one.
    const uid = st.uids.length > 1 ? st.uids[1]! : st.uids[0]!;
    const gid = st.gids.length > 1 ? st.gids[1]! : st.gids[0]!;
    const out: Selector[] = [];
    const add = (kind: string, value: string | number) => out.push({ type: TYPE, value: `${kind}:${value}` });

    add("uid", uid);
    const user = await proc.userName(uid);
    if (user !== undefined) add("user", user);
    add("gid", gid);
    const group = await proc.groupName(gid);
    if (group !== undefined) add("group", group);
    for (const sg of st.groups) {
      add("supplementary_gid", sg);
      const name = await proc.groupName(sg);
      if (name !== undefined) add("supplementary_group", name);
    }

    if (this.#cfg.discoverWorkloadPath) {
      add("path", await proc.exePath(peer.pid));
      if (this.#cfg.workloadSizeLimit >= 0) {
        // Hash through /proc/<pid>/exe, not the path: it is the running image even if the file was replaced.
        add("sha256", await proc.sha256(proc.exeFile(peer.pid), this.#cfg.workloadSizeLimit));
      }
    }
    return out;
  }
}
