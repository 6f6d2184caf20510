/** The HTTP face of the emulator: AWS wire dispatch on POST / and the /_emulator control endpoints. @module */
import { randomUUID } from "node:crypto";
import type { HttpBindings } from "@hono/node-server";
import { Hono, type Context } from "hono";
import { AwsError, jsonErrorResponse, xmlErrorResponse, type WireProtocol } from "./aws_error.ts";
import type { Emulator } from "./emulator.ts";
import type { ServiceName } from "./faults.ts";
import { evaluatePolicy } from "./iam_policy.ts";
import type { CallContext, Operation } from "./operation.ts";
import { verifySigV4 } from "./sigv4.ts";
import { queryResponse, stsOperations, type QueryOperation } from "./sts/sts_service.ts";

type Env = { Bindings: HttpBindings };

interface Routed {
  service: ServiceName;
  operation: string;
  protocol: WireProtocol;
  /** Decoded JSON members (acm-pca, kms) or form parameters (sts). */
  input: Record<string, unknown>;
  form?: URLSearchParams;
}

const TARGETS: Record<string, ServiceName> = { ACMPrivateCA: "acm-pca", TrentService: "kms" };
const THROTTLE_MESSAGE: Record<ServiceName, string> = {
  "acm-pca": "Rate exceeded",
  kms: "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
  sts: "Rate exceeded",
};

function route(headers: Headers, body: Uint8Array): Routed {
  const target = headers.get("x-amz-target");
  if (target) {
    const dot = target.indexOf(".");
    const service = TARGETS[target.slice(0, dot)];
    if (dot < 0 || !service) throw new AwsError("UnknownOperationException", `unknown target "${target}"`);
    let input: unknown = {};
    const text = Buffer.from(body).toString("utf8");
    if (text.trim() !== "") {
      try {
        input = JSON.parse(text);
      } catch {
        throw new AwsError("SerializationException", "Start of structure or map found where not expected.");
      }
    }
    if (typeof input !== "object" || input === null || Array.isArray(input)) throw new AwsError("SerializationException", "The request body must be a JSON object.");
    return { service, operation: target.slice(dot + 1), protocol: "json", input: input as Record<string, unknown> };
  }
  if ((headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) {
    const form = new URLSearchParams(Buffer.from(body).toString("utf8"));
    return { service: "sts", operation: form.get("Action") ?? "", protocol: "query", input: Object.fromEntries(form), form };
  }
  throw new AwsError("UnknownOperationException", "the request names no operation: expected an X-Amz-Target header or a form-encoded Action");
}

function resourceOf(r: Routed, region: string, account: string): string {
  const i = r.input;
  if (r.service === "acm-pca") return typeof i["CertificateAuthorityArn"] === "string" ? i["CertificateAuthorityArn"] : "*";
  if (r.service === "sts") return typeof i["RoleArn"] === "string" ? i["RoleArn"] : "*";
  const key = i["KeyId"] ?? i["TargetKeyId"];
  if (typeof key !== "string") return "*";
  return key.startsWith("arn:") ? key : `arn:aws:kms:${region}:${account}:${key.startsWith("alias/") ? key : `key/${key}`}`;
}

function accessDenied(r: Routed, principalArn: string, resource: string, reason: string): AwsError {
  const action = `${r.service}:${r.operation}`;
  const msg = `User: ${principalArn} is not authorized to perform: ${action} on resource: ${resource} because ${reason.replace("%s", action)}`;
  return r.protocol === "query" ? new AwsError("AccessDenied", msg, 403) : new AwsError("AccessDeniedException", msg, 400);
}

async function dispatch(emu: Emulator, c: Context<Env>, requestId: string): Promise<Response> {
  const body = new Uint8Array(await c.req.arrayBuffer());
  const r = route(c.req.raw.headers, body);
  const ops: Record<string, Operation | QueryOperation> =
    r.service === "acm-pca" ? emu.pca.operations : r.service === "kms" ? emu.kms.operations : stsOperations(emu.identity);
  const op = ops[r.operation];
  if (!op) {
    throw r.protocol === "query"
      ? new AwsError("InvalidAction", `Could not find operation ${r.operation} for version 2011-06-15`)
      : new AwsError("UnknownOperationException", `unknown operation "${r.operation}"`);
  }
  const name = `${r.service}:${r.operation}`;
  emu.count(name);
  const fault = emu.faults.get(r.service);
  if (fault.mode === "down") {
    c.env.incoming.socket.destroy();
    return new Response(null, { status: 503 });
  }
  if (fault.mode === "slow") await new Promise((res) => setTimeout(res, fault.delayMs));
  if (fault.mode === "error") throw new AwsError("InternalFailure", "The request processing has failed because of an unknown error, exception or failure.", 500);

  const url = new URL(c.req.url);
  const now = emu.now();
  const accessKeyId = verifySigV4(
    { method: c.req.method, path: url.pathname, query: url.search.slice(1), headers: c.req.raw.headers, body },
    { service: r.service, region: emu.region, now, protocol: r.protocol, lookup: (id) => emu.identity.lookup(id) },
  );
  const principal = emu.identity.principal(accessKeyId);
  const resource = resourceOf(r, emu.region, principal.account);
  if (fault.mode === "access_denied") throw accessDenied(r, principal.arn, resource, "no identity-based policy allows the %s action");
  if (r.service === "acm-pca" && emu.policy) {
    const context: Record<string, string> = {};
    if (r.operation === "IssueCertificate" && typeof r.input["TemplateArn"] === "string") context["acm-pca:TemplateArn"] = r.input["TemplateArn"];
    const decision = evaluatePolicy(emu.policy, { action: name, resource, context });
    if (decision === "explicit_deny") throw accessDenied(r, principal.arn, resource, "with an explicit deny in an identity-based policy");
    if (decision === "implicit_deny") throw accessDenied(r, principal.arn, resource, "no identity-based policy allows the %s action");
  }
  if (!emu.throttler.take(name, Date.now())) {
    throw new AwsError(r.protocol === "query" ? "Throttling" : "ThrottlingException", THROTTLE_MESSAGE[r.service]);
  }
  const ctx: CallContext = { principal, now, requestId };
  emu.logger.debug("AWS request", { operation: name, principal: principal.arn, request_id: requestId });
  if (r.protocol === "query") {
    const xml = queryResponse(r.operation, (op as QueryOperation)(r.form!, ctx), requestId);
    return new Response(xml, { status: 200, headers: { "content-type": "text/xml", "x-amzn-requestid": requestId } });
  }
  const out = await (op as Operation)(r.input, ctx);
  return new Response(JSON.stringify(out ?? {}), {
    status: 200,
    headers: { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": requestId },
  });
}

async function readJson(c: Context<Env>): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    return undefined;
  }
}

/** Builds the hono app serving every emulated service on one port. */
export function createApp(emu: Emulator): Hono<Env> {
  const app = new Hono<Env>();
  app.get("/_emulator/stats", (c) => c.json(emu.statsSnapshot()));
  app.delete("/_emulator/stats", (c) => {
    emu.stats.clear();
    return c.json({});
  });
  app.post("/_emulator/faults", async (c) => {
    const problem = emu.faults.apply(await readJson(c));
    if (problem) return c.json({ error: problem }, 400);
    emu.logger.info("Fault switched", { faults: emu.faults.snapshot() });
    return c.json(emu.faults.snapshot());
  });
  app.post("/_emulator/config", async (c) => {
    const problem = emu.applyConfig(await readJson(c));
    if (problem) return c.json({ error: problem }, 400);
    return c.json({ issuanceDelayMs: emu.issuanceDelayMs, idempotencyWindowMs: emu.idempotencyWindowMs, clockOffsetMs: emu.clockOffsetMs });
  });
  app.post("/", async (c) => {
    const requestId = randomUUID();
    const res = await answer(c, requestId);
    // The SDK corrects its clock skew from Date, so it must carry the emulator's (possibly offset) clock.
    res.headers.set("date", emu.now().toUTCString());
    return res;
  });
  async function answer(c: Context<Env>, requestId: string): Promise<Response> {
    try {
      return await dispatch(emu, c, requestId);
    } catch (err) {
      const isQuery = (c.req.header("content-type") ?? "").startsWith("application/x-www-form-urlencoded") && !c.req.header("x-amz-target");
      let aws: AwsError;
      if (err instanceof AwsError) {
        aws = err;
      } else {
        emu.logger.error("Request failed", { error: err, request_id: requestId });
        aws = new AwsError("InternalFailure", "The request processing has failed because of an unknown error, exception or failure.", 500);
      }
      return isQuery ? xmlErrorResponse(aws, requestId) : jsonErrorResponse(aws, requestId);
    }
  }
  return app;
}
