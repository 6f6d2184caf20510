/** The IMDS listeners, one loopback port per defined instance, opened on definition and closed on delete or stop. @module */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { Logger } from "../../../../core/log/logger.ts";
import { createImdsApp } from "./imds.ts";
import type { IIDSigner } from "./iid_signer.ts";
import type { Instances } from "./instances.ts";

type Server = ReturnType<typeof serve>;

/** Opens and closes per-instance IMDS listeners on `host`. */
export class ImdsServers {
  readonly #servers = new Map<string, { server: Server; endpoint: string }>();
  readonly #o: { host: string; instances: Instances; signer: IIDSigner; now: () => number; count: (n: string) => void; logger: Logger };

  constructor(o: { host: string; instances: Instances; signer: IIDSigner; now: () => number; count: (n: string) => void; logger: Logger }) {
    this.#o = o;
  }

  /** The IMDS endpoint of an instance, when its listener is open. */
  endpoint(instanceId: string): string | undefined {
    return this.#servers.get(instanceId)?.endpoint;
  }

  /** Opens the instance's listener (once) and returns its endpoint, e.g. "http://127.0.0.1:40123". */
  async open(instanceId: string): Promise<string> {
    const have = this.#servers.get(instanceId);
    if (have) return have.endpoint;
    const app = createImdsApp({
      instance: () => this.#o.instances.get(instanceId),
      signer: this.#o.signer,
      now: this.#o.now,
      count: this.#o.count,
    });
    const server = await new Promise<Server>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: this.#o.host, port: 0 }, () => resolve(s));
      s.once("error", reject);
    });
    const addr = server.address() as AddressInfo;
    const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    const endpoint = `http://${host}:${addr.port}`;
    this.#servers.set(instanceId, { server, endpoint });
    this.#o.logger.info("Instance metadata service listening", { instance_id: instanceId, endpoint });
    return endpoint;
  }

  /** Closes one instance's listener. */
  async close(instanceId: string): Promise<void> {
    const s = this.#servers.get(instanceId);
    if (!s) return;
    this.#servers.delete(instanceId);
    await closeServer(s.server);
  }

  /** Closes every listener (emulator shutdown). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#servers.keys()].map((id) => this.close(id)));
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}
