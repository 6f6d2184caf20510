/** The CLI's client of the admin API on the server's Unix socket. @module */
import { errorFromJSON, UnavailableError } from "../../core/errors.ts";
import type { BoundFetch } from "../../core/ports/http_server.ts";

/** SPIRE's default path, with our binary's name. */
export const DEFAULT_SERVER_SOCKET = "/tmp/wisp-server/private/api.sock";

export const SOCKET_FLAG = {
  name: "socketPath",
  kind: "string",
  default: DEFAULT_SERVER_SOCKET,
  usage: "Path to the SPIRE Server API socket",
  placeholder: "string",
} as const;

export class AdminClient {
  #fetch: BoundFetch;
  constructor(fetch: BoundFetch) {
    this.#fetch = fetch;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#fetch(path, {
      method,
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new UnavailableError(`server answered ${res.status} with a body that is not JSON`, { cause });
    }
    if (!res.ok && (json as { message?: unknown }).message !== undefined) throw errorFromJSON(json as { status?: string });
    return json as T;
  }
}

/** How commands reach the admin API; bins bind it to a runtime's Unix-socket fetch. */
export type AdminDialer = (socketPath: string) => AdminClient;
