/** The HTTP face of the emulator: AWS wire dispatch on POST / and the /_emulator control endpoints. @module */
import { randomUUID } from "node:crypto";
import type { HttpBindings } from "@hono/node-server";
import { type Context, Hono } from "hono";
import { AwsError, jsonErrorResponse, xmlErrorResponse } from "./aws_error.ts";
import { EC2_VERSION, ec2ErrorResponse, type Ec2Operation, ec2Operations } from "./ec2/ec2_service.ts";
import type { Emulator } from "./emulator.ts";
import type { ServiceName } from "./faults.ts";
import { IAM_NS, IAM_VERSION, type IamOperation, iamOperations, iamResponse } from "./iam/iam_service.ts";
import { evaluatePolicy } from "./iam_policy.ts";
import type { CallContext, Operation } from "./operation.ts";
import { verifySigV4 } from "./sigv4.ts";
import { type QueryOperation, queryResponse, stsOperations } from "./sts/sts_service.ts";

type Env = { Bindings: HttpBindings };

/** How a request is encoded and how its errors must be rendered. */
type Wire = "json" | "sts" | "ec2" | "iam";

interface Routed {
  service: ServiceName;
  operation: string;
  wire: Wire;
  /** Decoded JSON members (acm-pca, kms) or form parameters (query services). */
  input: Record<string, unknown>;
  form?: URLSearchParams;
}

const TARGETS: Record<string, ServiceName> = { ACMPrivateCA: "acm-pca", TrentService: "kms" };
const THROTTLE: Record<ServiceName, [string, string]> = {
  "acm-pca": ["ThrottlingException", "Rate exceeded"],
  kms: ["ThrottlingException", "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."],
  sts: ["Throttling", "Rate exceeded"],
  ec2: ["RequestLimitExceeded", "Request limit exceeded."],
  iam: ["Throttling", "Rate exceeded"],
};
/** The query services share one endpoint; the form's Version names the API, as each service's own host would. */
const QUERY_VERSIONS: Record<string, "ec2" | "iam"> = { [EC2_VERSION]: "ec2", [IAM_VERSION]: "iam" };

function wireOf(headers: Headers, body: Uint8Array): Wire {
  if (headers.get("x-amz-target")) return "json";
  if ((headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) {
    return QUERY_VERSIONS[new URLSearchParams(Buffer.from(body).toString("utf8")).get("Version") ?? ""] ?? "sts";
  }
  return "json";
}

function route(headers: Headers, body: Uint8Array, wire: Wire): Routed {
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
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      throw new AwsError("SerializationException", "The request body must be a JSON object.");
    }
    return { service, operation: target.slice(dot + 1), wire: "json", input: input as Record<string, unknown> };
  }
  if (wire !== "json") {
    const form = new URLSearchParams(Buffer.from(body).toString("utf8"));
    return { service: wire, operation: form.get("Action") ?? "", wire, input: Object.fromEntries(form), form };
  }
  throw new AwsError("UnknownOperationException", "the request names no operation: expected an X-Amz-Target header or a form-encoded Action");
}

function resourceOf(r: Routed, region: string, account: string): string {
  const i = r.input;
  if (r.service === "acm-pca") return typeof i["CertificateAuthorityArn"] === "string" ? i["CertificateAuthorityArn"] : "*";
  if (r.service === "sts") return typeof i["RoleArn"] === "string" ? i["RoleArn"] : "*";
  if (r.service === "iam") return typeof i["InstanceProfileName"] === "string" ? `arn:aws:iam::${account}:instance-profile/${i["InstanceProfileName"]}` : "*";
  if (r.service === "ec2") return "*";
  const key = i["KeyId"] ?? i["TargetKeyId"];
  if (typeof key !== "string") return "*";
  return key.startsWith("arn:") ? key : `arn:aws:kms:${region}:${account}:${key.startsWith("alias/") ? key : `key/${key}`}`;
}

function accessDenied(r: Routed, principalArn: string, resource: string, reason: string): AwsError {
  const action = `${r.service}:${r.operation}`;
  if (r.wire === "ec2") return new AwsError("UnauthorizedOperation", "You are not authorized to perform this operation.", 403);
  const msg = `User: ${principalArn} is not authorized to perform: ${action} on resource: ${resource} because ${reason.replace("%s", action)}`;
  return r.wire === "json" ? new AwsError("AccessDeniedException", msg, 400) : new AwsError("AccessDenied", msg, 403);
}

function unknownOperation(r: Routed): AwsError {
  if (r.wire === "json") return new AwsError("UnknownOperationException", `unknown operation "${r.operation}"`);
  if (r.wire === "ec2") return new AwsError("InvalidAction", `The action ${r.operation} is not valid for this web service.`);
  return new AwsError("InvalidAction", `Could not find operation ${r.operation} for version ${r.wire === "iam" ? IAM_VERSION : "2011-06-15"}`);
}

async function dispatch(emu: Emulator, c: Context<Env>, body: Uint8Array, wire: Wire, requestId: string): Promise<Response> {
  const r = route(c.req.raw.headers, body, wire);
  const ops: Record<string, Operation | QueryOperation | Ec2Operation | IamOperation> = r.service === "acm-pca"
    ? emu.pca.operations
    : r.service === "kms"
    ? emu.kms.operations
    : r.service === "ec2"
    ? ec2Operations(emu.instances)
    : r.service === "iam"
    ? iamOperations(emu.instances)
    : stsOperations(emu.identity);
  const op = ops[r.operation];
  if (!op) throw unknownOperation(r);
  const name = `${r.service}:${r.operation}`;
  emu.count(name);
  const fault = emu.faults.get(r.service);
  if (fault.mode === "down") {
    c.env.incoming.socket.destroy();
    return new Response(null, { status: 503 });
  }
  if (fault.mode === "slow") await new Promise((res) => setTimeout(res, fault.delayMs));
  if (fault.mode === "error") {
    throw new AwsError(
      r.wire === "ec2" ? "InternalError" : "InternalFailure",
      "The request processing has failed because of an unknown error, exception or failure.",
      500,
    );
  }

  const url = new URL(c.req.url);
  const now = emu.now();
  // IAM is global and EC2 answers for whichever region the request was signed for; the others live in one region.
  const globalScope = r.service === "ec2" || r.service === "iam";
  const accessKeyId = verifySigV4(
    { method: c.req.method, path: url.pathname, query: url.search.slice(1), headers: c.req.raw.headers, body },
    {
      service: r.service,
      region: globalScope ? undefined : emu.region,
      now,
      protocol: r.wire === "json" ? "json" : "query",
      lookup: (id) => emu.identity.lookup(id),
    },
  );
  const region = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(c.req.header("authorization") ?? "")?.[1] ?? emu.region;
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
  if (!emu.throttler.take(name, Date.now())) throw new AwsError(...THROTTLE[r.service], r.wire === "ec2" ? 503 : 400);
  const ctx: CallContext = { principal, now, requestId, region };
  emu.logger.debug("AWS request", { operation: name, principal: principal.arn, request_id: requestId });
  if (r.wire === "ec2") {
    return new Response((op as Ec2Operation)(r.form!, ctx), {
      status: 200,
      headers: { "content-type": "text/xml;charset=UTF-8", "x-amzn-requestid": requestId },
    });
  }
  if (r.wire === "iam") {
    return new Response(iamResponse(r.operation, (op as IamOperation)(r.form!, ctx), requestId), {
      status: 200,
      headers: { "content-type": "text/xml", "x-amzn-requestid": requestId },
    });
  }
  if (r.wire === "sts") {
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
  app.get("/_emulator/instances", (c) => c.json(emu.instances.all().map((i) => emu.instanceView(i))));
  app.post("/_emulator/instances", async (c) => {
    const got = await emu.defineInstance(await readJson(c));
    if ("problems" in got) return c.json({ error: got.problems.join("; ") }, 400);
    return c.json(got);
  });
  app.get("/_emulator/instances/:id", (c) => {
    const i = emu.instances.get(c.req.param("id"));
    return i ? c.json(emu.instanceView(i)) : c.json({ error: `unknown instance "${c.req.param("id")}"` }, 404);
  });
  app.patch("/_emulator/instances/:id", async (c) => {
    const got = await emu.updateInstance(c.req.param("id"), await readJson(c));
    if ("problems" in got) return c.json({ error: got.problems.join("; ") }, got.problems[0]!.startsWith("unknown instance") ? 404 : 400);
    return c.json(got);
  });
  app.delete("/_emulator/instances/:id", async (c) => {
    const ok = await emu.deleteInstance(c.req.param("id"));
    return ok ? c.json({}) : c.json({ error: `unknown instance "${c.req.param("id")}"` }, 404);
  });
  app.post("/", async (c) => {
    const requestId = randomUUID();
    const res = await answer(c, requestId);
    // The SDK corrects its clock skew from Date, so it must carry the emulator's (possibly offset) clock.
    res.headers.set("date", emu.now().toUTCString());
    return res;
  });
  async function answer(c: Context<Env>, requestId: string): Promise<Response> {
    const body = new Uint8Array(await c.req.arrayBuffer());
    const wire = wireOf(c.req.raw.headers, body);
    try {
      return await dispatch(emu, c, body, wire, requestId);
    } catch (err) {
      let aws: AwsError;
      if (err instanceof AwsError) {
        aws = err;
      } else {
        emu.logger.error("Request failed", { error: err, request_id: requestId });
        aws = new AwsError(
          wire === "ec2" ? "InternalError" : "InternalFailure",
          "The request processing has failed because of an unknown error, exception or failure.",
          500,
        );
      }
      if (wire === "ec2") return ec2ErrorResponse(aws, requestId);
      if (wire === "iam") return xmlErrorResponse(aws, requestId, IAM_NS);
      return wire === "sts" ? xmlErrorResponse(aws, requestId) : jsonErrorResponse(aws, requestId);
    }
  }
  return app;
}
