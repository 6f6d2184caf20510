/** SO_PEERCRED on Deno: reads a unix socket peer's pid/uid/gid through Deno.dlopen → libc getsockopt. @module */
import { UnauthenticatedError, UnavailableError } from "../../core/errors.ts";
import type { PeerCredentials, PeerCredReader } from "../../core/ports/grpc_server.ts";

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const UCRED_SIZE = 12; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: three 32-bit ints on Linux

// The few Deno FFI declarations used here, so this file type-checks without Deno's lib.
declare const Deno: {
  build: { arch: string };
  dlopen(
    path: string,
    symbols: { getsockopt: { parameters: string[]; result: string } },
  ): { symbols: { getsockopt(...args: unknown[]): number } };
};

/** libc file names to try: glibc first, then musl's (Alpine) names. */
export function libcNames(arch: string = Deno.build.arch): string[] {
  return ["libc.so.6", `libc.musl-${arch}.so.1`, `ld-musl-${arch}.so.1`, "libc.so"];
}

/**
 * Opens libc once and returns a reader of SO_PEERCRED for a socket fd. Only `node:net` sockets have an OS fd
 * (`socket._handle.fd`) in Deno; Deno.listen's unix connections expose none (node-deno-facts spike 5 (d)).
 * Needs --allow-ffi.
 * @throws {UnavailableError} when no libc can be opened
 */
export function peerCredReader(): PeerCredReader {
  const errors: string[] = [];
  let getsockopt: ((...args: unknown[]) => number) | undefined;
  for (const name of libcNames()) {
    try {
      const lib = Deno.dlopen(name, {
        getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
      });
      getsockopt = lib.symbols.getsockopt;
      break;
    } catch (err) {
      errors.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (getsockopt === undefined) {
    throw new UnavailableError(`failed to load libc for peer credentials: ${errors.join("; ")}`);
  }
  const fn = getsockopt;
  return (fd: number): PeerCredentials => {
    if (!Number.isInteger(fd) || fd < 0) throw new UnauthenticatedError(`cannot read peer credentials of fd "${fd}"`);
    const buf = new Uint8Array(UCRED_SIZE);
    const len = new Uint32Array([UCRED_SIZE]);
    if (fn(fd, SOL_SOCKET, SO_PEERCRED, buf, len) !== 0) {
      throw new UnauthenticatedError("failed to read peer credentials");
    }
    const v = new DataView(buf.buffer);
    const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1; // native byte order, as the kernel wrote it
    return { pid: v.getInt32(0, le), uid: v.getUint32(4, le), gid: v.getUint32(8, le) };
  };
}
