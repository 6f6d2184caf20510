/** A fetch over a Unix socket (the CLI's path to the server admin API), on undici. @module */
import { Agent, fetch as undiciFetch } from "undici";
import { UnavailableError } from "../../core/errors.ts";
import type { BoundFetch } from "../../core/ports/http_server.ts";

export function unixFetch(socketPath: string): BoundFetch & { close(): Promise<void> } {
  const dispatcher = new Agent({ connect: { socketPath } });
  const f = async (path: string, init?: RequestInit) => {
    try {
      return (await undiciFetch(`http://localhost${path}`, { ...(init as object), dispatcher })) as unknown as Response;
    } catch (cause) {
      throw new UnavailableError(`failed to connect to the server API socket "${socketPath}"`, { cause });
    }
  };
  return Object.assign(f, { close: () => dispatcher.close() });
}
