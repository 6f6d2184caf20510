/** A tiny IAM identity-policy evaluator: Allow/Deny, Action/Resource wildcards and String* conditions. @module */

/** One statement of an identity policy, normalised to lists. */
interface Statement {
  effect: "Allow" | "Deny";
  actions: string[];
  notActions: string[];
  resources: string[];
  notResources: string[];
  conditions: Array<{ operator: string; key: string; values: string[] }>;
}

/** A parsed identity policy. */
export interface IamPolicy {
  statements: Statement[];
}

/** What is being asked: `action` like "acm-pca:IssueCertificate", the resource ARN and condition keys. */
export interface PolicyRequest {
  action: string;
  resource: string;
  /** Condition keys present in the request; absent keys are simply not listed. */
  context: Record<string, string>;
}

export type PolicyDecision = "allow" | "explicit_deny" | "implicit_deny";

const OPERATORS = ["StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike"];

function list(v: unknown, what: string): string[] {
  if (v === undefined) return [];
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  throw new Error(`policy ${what} must be a string or a list of strings`);
}

/**
 * Parses an IAM policy document (the JSON object, not text).
 * @throws {Error} when the document has a shape this evaluator cannot honour faithfully
 */
export function parsePolicy(doc: unknown): IamPolicy {
  if (typeof doc !== "object" || doc === null) throw new Error("policy must be a JSON object");
  const raw = (doc as Record<string, unknown>)["Statement"];
  const stmts = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  const statements = stmts.map((s, i): Statement => {
    if (typeof s !== "object" || s === null) throw new Error(`policy statement ${i} must be an object`);
    const st = s as Record<string, unknown>;
    if (st["Effect"] !== "Allow" && st["Effect"] !== "Deny") throw new Error(`policy statement ${i} has Effect "${String(st["Effect"])}"`);
    const conditions: Statement["conditions"] = [];
    const cond = st["Condition"];
    if (cond !== undefined) {
      if (typeof cond !== "object" || cond === null) throw new Error(`policy statement ${i} Condition must be an object`);
      for (const [operator, block] of Object.entries(cond)) {
        const base = operator.replace(/IfExists$/, "");
        if (!OPERATORS.includes(base)) throw new Error(`policy statement ${i} uses unsupported condition operator "${operator}"`);
        if (typeof block !== "object" || block === null) throw new Error(`policy statement ${i} condition "${operator}" must be an object`);
        for (const [key, values] of Object.entries(block)) conditions.push({ operator, key, values: list(values, `condition "${key}"`) });
      }
    }
    return {
      effect: st["Effect"],
      actions: list(st["Action"], "Action"),
      notActions: list(st["NotAction"], "NotAction"),
      resources: list(st["Resource"], "Resource"),
      notResources: list(st["NotResource"], "NotResource"),
      conditions,
    };
  });
  return { statements };
}

/** IAM glob: `*` any run, `?` one character. */
function glob(pattern: string, value: string, ignoreCase: boolean): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`, ignoreCase ? "is" : "s").test(value);
}

function conditionHolds(c: Statement["conditions"][number], context: Record<string, string>): boolean {
  const ifExists = c.operator.endsWith("IfExists");
  const op = c.operator.replace(/IfExists$/, "");
  const key = Object.keys(context).find((k) => k.toLowerCase() === c.key.toLowerCase());
  const negated = op.includes("Not");
  // IAM: a missing key fails a positive operator and satisfies a negated one; IfExists makes any operator pass.
  if (key === undefined) return ifExists || negated;
  const v = context[key]!;
  const matchOne = (want: string): boolean => {
    switch (op) {
      case "StringEquals":
      case "StringNotEquals":
        return v === want;
      case "StringEqualsIgnoreCase":
      case "StringNotEqualsIgnoreCase":
        return v.toLowerCase() === want.toLowerCase();
      default:
        return glob(want, v, false);
    }
  };
  const any = c.values.some(matchOne);
  return negated ? !any : any;
}

function applies(s: Statement, req: PolicyRequest): boolean {
  const actionOk = s.actions.length > 0
    ? s.actions.some((a) => glob(a, req.action, true))
    : s.notActions.length > 0 && !s.notActions.some((a) => glob(a, req.action, true));
  if (!actionOk) return false;
  const resourceOk = s.resources.length > 0
    ? s.resources.some((r) => glob(r, req.resource, false))
    : s.notResources.length > 0 && !s.notResources.some((r) => glob(r, req.resource, false));
  return resourceOk && s.conditions.every((c) => conditionHolds(c, req.context));
}

/** Evaluates like IAM does for one identity policy: an explicit Deny wins, then any Allow, else implicit deny. */
export function evaluatePolicy(policy: IamPolicy, req: PolicyRequest): PolicyDecision {
  const hits = policy.statements.filter((s) => applies(s, req));
  if (hits.some((s) => s.effect === "Deny")) return "explicit_deny";
  return hits.some((s) => s.effect === "Allow") ? "allow" : "implicit_deny";
}
