/**
 * One instance's metadata service (IMDS), as the AWS SDK and SPIRE's agent use it: IMDSv2 session tokens
 * (PUT /latest/api/token, echoing the TTL header) and the instance-identity document with its two signatures.
 * Each instance gets its own listener, because clients replace the endpoint's path with /latest/….
 * @module
 */
import { randomBytes } from "node:crypto";
import { Hono } from "hono";
import type { IIDSigner } from "./iid_signer.ts";
import type { InstanceRecord } from "./instances.ts";

const TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER = "x-aws-ec2-metadata-token";
const MAX_TTL = 21600;

export interface ImdsOptions {
  /** The instance as currently defined; undefined once it is deleted. */
  instance: () => InstanceRecord | undefined;
  signer: IIDSigner;
  /** The emulator clock, in epoch ms. */
  now: () => number;
  /** Counts requests in the emulator's stats ("imds:GET /latest/…"). */
  count: (name: string) => void;
}

const text = (body: string, status = 200, headers: Record<string, string> = {}) =>
  new Response(body, { status, headers: { "content-type": "text/plain", ...headers } });

/** Builds the IMDS app of one instance. */
export function createImdsApp(o: ImdsOptions): Hono {
  const tokens = new Map<string, number>();
  const signed = new Map<string, { signature: string; rsa2048: string }>();
  const app = new Hono();

  app.put("/latest/api/token", (c) => {
    o.count("imds:PutToken");
    if (c.req.header("x-forwarded-for") !== undefined) return text("", 403);
    const ttlText = c.req.header(TTL_HEADER);
    const ttl = ttlText !== undefined && /^\d+$/.test(ttlText) ? Number(ttlText) : NaN;
    if (!(ttl >= 1 && ttl <= MAX_TTL)) return text("", 400);
    const now = o.now();
    for (const [t, exp] of tokens) if (exp <= now) tokens.delete(t);
    const token = randomBytes(42).toString("base64url");
    tokens.set(token, now + ttl * 1000);
    return text(token, 200, { [TTL_HEADER]: String(ttl) });
  });

  app.use("/latest/*", async (c, next) => {
    if (c.req.method !== "GET") return text("", 405);
    const inst = o.instance();
    if (!inst) return text("", 404);
    const token = c.req.header(TOKEN_HEADER);
    if (token !== undefined) {
      const exp = tokens.get(token);
      if (exp === undefined || exp <= o.now()) return text("", 401);
    } else if (inst.imdsTokens === "required") {
      return text("", 401);
    }
    await next();
    return undefined;
  });

  const identity = async (inst: InstanceRecord) => {
    let s = signed.get(inst.document);
    if (!s) {
      const doc = new TextEncoder().encode(inst.document);
      s = { signature: await o.signer.signature(doc), rsa2048: await o.signer.rsa2048(doc, new Date(o.now())) };
      signed.set(inst.document, s);
    }
    return s;
  };
  app.get("/latest/dynamic/instance-identity/document", () => {
    o.count("imds:GetDocument");
    return text(o.instance()!.document);
  });
  app.get("/latest/dynamic/instance-identity/signature", async () => {
    o.count("imds:GetSignature");
    return text((await identity(o.instance()!)).signature);
  });
  app.get("/latest/dynamic/instance-identity/rsa2048", async () => {
    o.count("imds:GetRSA2048");
    return text((await identity(o.instance()!)).rsa2048);
  });
  app.get("/latest/meta-data/instance-id", () => text(o.instance()!.instanceId));
  app.get("/latest/meta-data/placement/region", () => text(o.instance()!.region));
  app.notFound(() => text("", 404));
  return app;
}
