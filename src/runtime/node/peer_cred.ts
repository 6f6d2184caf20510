/** SO_PEERCRED on Node: reads a unix socket peer's pid/uid/gid through koffi → libc getsockopt. @module */
import koffi from "koffi";
import { endianness } from "node:os";
import { UnauthenticatedError, UnavailableError } from "../../core/errors.ts";
import type { PeerCredentials, PeerCredReader } from "../../core/ports/grpc_server.ts";

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const UCRED_SIZE = 12; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: three 32-bit ints on Linux

/** libc file names to try: glibc first, then musl's (Alpine) names. */
export function libcNames(arch: string = process.arch): string[] {
  const m = arch === "x64" ? "x86_64" : arch === "arm64" ? "aarch64" : arch;
  return ["libc.so.6", `libc.musl-${m}.so.1`, `ld-musl-${m}.so.1`, "libc.so"];
}

/**
 * Loads libc's getsockopt once and returns a reader of SO_PEERCRED for a socket fd
 * (an accepted `node:net` socket's `_handle.fd`).
 * @throws {UnavailableError} when no libc can be loaded (the agent cannot identify callers without it)
 */
export function peerCredReader(): PeerCredReader {
  const errors: string[] = [];
  let getsockopt: ((...args: unknown[]) => unknown) | undefined;
  for (const name of libcNames()) {
    try {
      // The buffer is passed as void* so no named koffi struct is registered (a second registration would throw).
      getsockopt = koffi.load(name).func("int getsockopt(int, int, int, void *, _Inout_ uint32_t *)");
      break;
    } catch (err) {
      errors.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (getsockopt === undefined) {
    throw new UnavailableError(`failed to load libc for peer credentials: ${errors.join("; ")}`);
  }
  const fn = getsockopt;
  const le = endianness() === "LE";
  return (fd: number): PeerCredentials => {
    if (!Number.isInteger(fd) || fd < 0) throw new UnauthenticatedError(`cannot read peer credentials of fd "${fd}"`);
    const buf = Buffer.alloc(UCRED_SIZE);
    const len = [UCRED_SIZE];
    if (fn(fd, SOL_SOCKET, SO_PEERCRED, buf, len) !== 0) {
      throw new UnauthenticatedError(`failed to read peer credentials: errno ${koffi.errno()}`);
    }
    return le
      ? { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) }
      : { pid: buf.readInt32BE(0), uid: buf.readUInt32BE(4), gid: buf.readUInt32BE(8) };
  };
}
