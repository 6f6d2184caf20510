/** The HTTPGet port on undici (Node and Deno): the agent's `trust_bundle_url` download. @module */
import { STATUS_CODES } from "node:http";
import { Agent, getGlobalDispatcher, request } from "undici";
import type { HTTPGet } from "../../core/ports/http_get.ts";

// A bundle is a few kilobytes; anything past this is not a trust bundle and must not fill the agent's memory.
const MAX_BODY = 4 << 20;

export const nodeHTTPGet: HTTPGet = async (url, o = {}) => {
  const dispatcher = o.unixSocket ? new Agent({ connect: { socketPath: o.unixSocket } }) : getGlobalDispatcher();
  try {
    const res = await request(url, {
      method: "GET",
      dispatcher,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > MAX_BODY) {
        res.body.destroy();
        throw new Error(`response body is larger than ${MAX_BODY} bytes`);
      }
      chunks.push(chunk);
    }
    const body = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      body.set(c, at);
      at += c.length;
    }
    return { status: res.statusCode, statusText: `${res.statusCode} ${STATUS_CODES[res.statusCode] ?? ""}`.trim(), body };
  } finally {
    if (o.unixSocket) await (dispatcher as Agent).close();
  }
};
