/** The ServerConnector port on undici: mTLS with the agent SVID, server checked by its SPIFFE ID. @module */
import type { Agent as UndiciAgent, Dispatcher } from "undici";
// Only the two parts the connector uses: undici's index also loads fetch, WebSocket, caches and mocks, about 9 MB of
// RSS in an agent that never uses them (scripts/bench/agent_modules.ts). The package has no exports map, so its
// files are public paths; they are typed through the package's own declarations.
// tsc has no types for these files (undici declares only its index); Deno type-checks their JSDoc, so an
// expect-error would fail there: ts-ignore holds for both, and the casts below give the declared types.
// @ts-ignore: untyped for tsc, typed from JSDoc for Deno
import AgentImpl from "undici/lib/dispatcher/agent.js";
// @ts-ignore: untyped for tsc, typed from JSDoc for Deno
import requestImpl from "undici/lib/api/api-request.js";
import type { Readable } from "node:stream";
import type { PeerCertificate } from "node:tls";
import { UnknownAuthorityError } from "../../core/errors.ts";
import type { ServerConnector } from "../../core/ports/server_connector.ts";
import { toPEM } from "../../core/x509/pem.ts";

const Agent = AgentImpl as unknown as typeof UndiciAgent;
/** undici's Dispatcher#request, which its index attaches to the prototype. */
const request = requestImpl as unknown as (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

/** Node's hostname check cannot apply: SVIDs carry a SPIFFE ID URI SAN, so we compare that instead. */
function checkSPIFFEID(expected: string) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const uris = (cert.subjectaltname ?? "").split(", ").filter((s) => s.startsWith("URI:")).map((s) => s.slice(4));
    return uris.length === 1 && uris[0] === expected ? undefined : new Error(`server certificate is not for "${expected}"`);
  };
}

/**
 * A WHATWG body fed by the events of undici's Node Readable body. undici's own fetch() errors its response bodies
 * through node:stream's isReadable(), which on Deno 2.9 answers null for WHATWG streams: such a body never ends when
 * the signal aborts or the server drops the connection, so an agent on Deno would neither stop nor fail over.
 * Readable events behave alike on Node and Deno.
 */
function webBody(body: Readable): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>({
    start(ctl) {
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        f();
      };
      body.on("data", (chunk: Buffer) => {
        if (settled) return;
        ctl.enqueue(new Uint8Array(chunk));
        if ((ctl.desiredSize ?? 1) <= 0) body.pause();
      });
      body.once("end", () => settle(() => ctl.close()));
      body.once("error", (err) => settle(() => ctl.error(err)));
      // Destroyed without an error: the connection went away before the end of the body.
      body.once("close", () => settle(() => ctl.error(new Error("connection closed before the end of the response"))));
    },
    pull() {
      body.resume();
    },
    cancel(reason) {
      settled = true;
      body.destroy(reason instanceof Error ? reason : undefined);
    },
  });
}

// OpenSSL's verdicts (Node, and Deno's node:tls) for a server chain that does not lead to one of the given roots.
const UNKNOWN_AUTHORITY = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
]);

/** Gives a chain the trust bundle does not vouch for SPIRE's "certificate signed by unknown authority". */
function classifyTLSError(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && UNKNOWN_AUTHORITY.has(code) ? new UnknownAuthorityError({ cause: err }) : err;
}

function headerRecord(h: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(h).forEach((v, k) => (out[k] = v));
  return out;
}

/** What BoundFetch callers send: JSON text, bytes or nothing. */
function requestBody(b: BodyInit | null | undefined): string | Uint8Array | undefined {
  if (b === null || b === undefined) return undefined;
  if (typeof b === "string" || b instanceof Uint8Array) return b;
  throw new TypeError("request body must be a string or bytes");
}

export const nodeServerConnector: ServerConnector = {
  connect(o) {
    const insecure = o.roots === "insecure";
    const dispatcher = new Agent({
      connect: {
        ...(insecure ? { rejectUnauthorized: false } : {
          ca: (o.roots as Uint8Array[]).map((r) => toPEM(r, "CERTIFICATE")),
          rejectUnauthorized: true,
          checkServerIdentity: checkSPIFFEID(o.serverID),
        }),
        ...(o.client ? { cert: o.client.chainDER.map((d) => toPEM(d, "CERTIFICATE")).join(""), key: toPEM(o.client.keyPKCS8, "PRIVATE KEY") } : {}),
      },
      // The sync stream is long-lived; keep-alive comments arrive every 15 s.
      bodyTimeout: 0,
      headersTimeout: 30_000,
    });
    const host = o.address.includes(":") ? `[${o.address}]` : o.address;
    const base = `https://${host}:${o.port}`;
    return {
      fetch: async (path, init = {}) => {
        const method = (init.method ?? "GET").toUpperCase() as Dispatcher.HttpMethod;
        const body = requestBody(init.body);
        const url = new URL(base + path);
        const res = await request.call(dispatcher, {
          origin: url.origin,
          path: url.pathname + url.search,
          method,
          headers: headerRecord(init.headers),
          ...(body === undefined ? {} : { body }),
          ...(init.signal ? { signal: init.signal } : {}),
        }).catch((err: unknown) => {
          throw classifyTLSError(err);
        });
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) headers.append(k, one);
        }
        if (method === "HEAD" || res.statusCode === 204 || res.statusCode === 304) {
          res.body.resume();
          return new Response(null, { status: res.statusCode, headers });
        }
        return new Response(webBody(res.body), { status: res.statusCode, headers });
      },
      close: () => dispatcher.close(),
    };
  },
};
