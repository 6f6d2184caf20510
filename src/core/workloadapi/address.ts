/**
 * Workload API endpoint addresses: the SPIFFE_ENDPOINT_SOCKET URI forms and plain socket paths.
 * https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE_Workload_Endpoint.md#4-locating-the-endpoint
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";

/** Where a Workload API server listens. */
export type WorkloadAddress =
  | { network: "unix"; path: string }
  | { network: "tcp"; host: string; port: number };

// Texts are go-spiffe's (workloadapi/addr.go, addr_posix.go) so users of both see the same words.
export const ERR_INVALID_SCHEME = 'workload endpoint socket URI must have a "tcp" or "unix" scheme';

// RFC 3986 appendix B: scheme, authority, path, query, fragment.
const URI_RE = /^(?:([^:/?#]+):)?(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/s;
const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Parses a Workload API address.
 * - `unix:///abs/path` (also `unix:/abs/path`) and `tcp://<IP>:<port>` as the SPIFFE Workload Endpoint spec and
 *   go-spiffe accept them; opaque URIs, user info, query and fragment are rejected. Unlike go-spiffe, a unix URI with
 *   an authority (`unix://host/path`) is rejected too, because the spec forbids it and gRPC cannot dial it.
 * - With `allowPath`, a value without a URI scheme is a file-system path (the CLI's `-socketPath`).
 * @throws {InvalidArgumentError} naming what is wrong with the address
 */
export function parseAddress(addr: string, opts: { allowPath?: boolean } = {}): WorkloadAddress {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(addr)) {
    throw new InvalidArgumentError("workload endpoint socket is not a valid URI: invalid control character in URL");
  }
  const m = URI_RE.exec(addr);
  const scheme = m?.[1];
  if (m === null || scheme === undefined || !SCHEME_RE.test(scheme)) {
    if (opts.allowPath && addr !== "") return { network: "unix", path: addr };
    if (addr === "") throw new InvalidArgumentError("workload endpoint socket address cannot be empty");
    throw new InvalidArgumentError(ERR_INVALID_SCHEME);
  }
  const parts = { authority: m[2], path: m[3] ?? "", query: m[4], fragment: m[5] };
  switch (scheme.toLowerCase()) {
    case "unix":
      return parseUnix(parts);
    case "tcp":
      return parseTCP(parts);
    default:
      throw new InvalidArgumentError(ERR_INVALID_SCHEME);
  }
}

interface URIParts {
  authority: string | undefined;
  path: string;
  query: string | undefined;
  fragment: string | undefined;
}

function parseUnix(u: URIParts): WorkloadAddress {
  const bad = (what: string) => new InvalidArgumentError(`workload endpoint unix socket URI ${what}`);
  if (u.authority === undefined && u.path !== "" && !u.path.startsWith("/")) throw bad("must not be opaque");
  if (u.authority?.includes("@")) throw bad("must not include user info");
  if (!u.authority && u.path === "") throw bad("must include a path");
  if (u.query !== undefined) throw bad("must not include query values");
  if (u.fragment !== undefined) throw bad("must not include a fragment");
  if (u.authority) throw bad("must not include an authority (use unix:///absolute/path)");
  return { network: "unix", path: decodePath(u.path) };
}

function parseTCP(u: URIParts): WorkloadAddress {
  const bad = (what: string) => new InvalidArgumentError(`workload endpoint tcp socket URI ${what}`);
  if (u.authority === undefined && u.path !== "" && !u.path.startsWith("/")) throw bad("must not be opaque");
  if (u.authority?.includes("@")) throw bad("must not include user info");
  if (!u.authority) throw bad("must include a host");
  if (u.path !== "") throw bad("must not include a path");
  if (u.query !== undefined) throw bad("must not include query values");
  if (u.fragment !== undefined) throw bad("must not include a fragment");
  const hp = /^(?:\[([^\]]*)\]|([^:]*))(?::(.*))?$/.exec(u.authority);
  const host = hp?.[1] ?? hp?.[2] ?? "";
  const isV6 = hp?.[1] !== undefined && /^[0-9A-Fa-f:.]+$/.test(host) && host.includes(":");
  if (!IPV4_RE.test(host) && !isV6) throw bad("host component must be an IP:port");
  const port = hp?.[3];
  if (port === undefined || port === "") throw bad("host component must include a port");
  const n = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
  if (!(n >= 0 && n <= 65535)) throw bad(`port "${port}" is not a valid port number`);
  return { network: "tcp", host, port: n };
}

function decodePath(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch (cause) {
    throw new InvalidArgumentError(`workload endpoint socket URI path "${p}" has invalid percent-encoding`, { cause });
  }
}

/** The gRPC target string for an address ("unix:///abs", "unix:relative" or "ip:port"). */
export function grpcTarget(a: WorkloadAddress): string {
  if (a.network === "unix") return a.path.startsWith("/") ? `unix://${a.path}` : `unix:${a.path}`;
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
