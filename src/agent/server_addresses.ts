/** The agent's list of servers: `server_address` as one string, a comma-separated string or a list, ports optional. @module */
import type { ConfigStatus } from "../core/config/mod.ts";

/** One server the agent may talk to. */
export interface ServerEndpoint {
  /** Host name or IP address, IPv6 without brackets. */
  address: string;
  port: number;
}

/**
 * Reads every `host`, `host:port`, `[ipv6]`, `[ipv6]:port` or bare IPv6 address of `value`, in order; entries without a
 * port get `defaultPort`. Several servers sharing one datastore are interchangeable, so the order is only a preference.
 * Problems go to `status` under `key`; duplicates are dropped.
 *
 * @example parseServerAddresses(["a:8081", "b"], 9000, "agent.server_address", status) // a:8081, b:9000
 */
export function parseServerAddresses(value: string[], defaultPort: number, key: string, status: ConfigStatus): ServerEndpoint[] {
  const out: ServerEndpoint[] = [];
  for (const part of value.flatMap((v) => v.split(","))) {
    const text = part.trim();
    if (text === "") continue;
    const e = parseOne(text, defaultPort);
    if (typeof e === "string") {
      status.error(`${key}: ${e}`);
      continue;
    }
    if (!out.some((o) => o.address === e.address && o.port === e.port)) out.push(e);
  }
  return out;
}

function parseOne(text: string, defaultPort: number): ServerEndpoint | string {
  let address = text;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) return `invalid server address "${text}": missing "]"`;
    address = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return `invalid server address "${text}"`;
      portText = rest.slice(1);
    }
  } else {
    const colons = text.split(":").length - 1;
    // One colon is host:port; more is a bare IPv6 address, which cannot carry a port without brackets.
    if (colons === 1) [address, portText] = text.split(":") as [string, string];
  }
  if (address === "" || /[\s/@?#]/.test(address)) return `invalid server address "${text}"`;
  if (portText === undefined) return { address, port: defaultPort };
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return `invalid port in server address "${text}": must be between 1 and 65535`;
  return { address, port };
}
