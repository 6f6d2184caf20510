/** Direct calls to a server's admin API over its Unix socket, without a CLI process per call (fault loops). @module */
import { Agent, fetch } from "undici";

export interface AdminHTTP {
  call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export function adminHTTP(socketPath: string): AdminHTTP {
  const dispatcher = new Agent({ connect: { socketPath }, headersTimeout: 15_000, bodyTimeout: 15_000 });
  return {
    async call<T>(method: string, path: string, body?: unknown) {
      const res = await fetch(`http://localhost${path}`, {
        method,
        dispatcher,
        ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as T };
    },
    close: () => dispatcher.close(),
  };
}
