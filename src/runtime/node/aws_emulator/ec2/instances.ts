/**
 * Emulated EC2 instances, defined through POST /_emulator/instances: what DescribeInstances and GetInstanceProfile
 * report, and the identity document each instance's IMDS serves. Persisted in ec2_instances.json.
 * @module
 */
import { randomBytes } from "node:crypto";
import type { JsonStore } from "../json_store.ts";

export type InstanceState = "pending" | "running" | "shutting-down" | "terminated" | "stopping" | "stopped";
const STATE_CODES: Record<InstanceState, number> = { pending: 0, running: 16, "shutting-down": 32, terminated: 48, stopping: 64, stopped: 80 };
export const INSTANCE_STATES = Object.keys(STATE_CODES) as InstanceState[];

/** One emulated instance. Times are ISO-8601 strings as EC2 answers them. */
export interface InstanceRecord {
  instanceId: string;
  account: string;
  region: string;
  availabilityZone: string;
  imageId: string;
  instanceType: string;
  architecture: string;
  privateIp: string;
  launchTime: string;
  state: InstanceState;
  tags: Record<string, string>;
  securityGroups: { id: string; name: string }[];
  /** The instance profile and the names of its roles; absent when the instance has none. */
  instanceProfile?: { name: string; roles: string[] };
  rootDeviceType: "ebs" | "instance-store";
  rootDeviceName: string;
  blockDeviceMappings: { deviceName: string; volumeId: string; attachTime: string }[];
  networkInterfaces: { networkInterfaceId: string; deviceIndex: number; attachTime: string }[];
  /** "required" is IMDSv2 only (tokenless GETs get 401); "optional" also answers IMDSv1 GETs. */
  imdsTokens: "required" | "optional";
  /** The identity document bytes (UTF-8 JSON, pretty-printed as IMDS serves it); fixed at definition. */
  document: string;
}

export const STATE_CODE = STATE_CODES;
const FILE = "ec2_instances.json";

function hexId(prefix: string, bytes: number): string {
  return prefix + randomBytes(bytes).toString("hex").slice(0, bytes * 2 - (bytes === 9 ? 1 : 0));
}

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Reads an optional field of a definition; records a problem when it has the wrong type. */
class Reader {
  readonly problems: string[] = [];
  readonly #b: Record<string, unknown>;
  constructor(b: Record<string, unknown>) {
    this.#b = b;
  }
  string(key: string, pattern?: RegExp): string | undefined {
    const v = this.#b[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || (pattern && !pattern.test(v))) {
      this.problems.push(`${key} must be a string${pattern ? ` matching ${pattern.source}` : ""}`);
      return undefined;
    }
    return v;
  }
  time(key: string, fallback: string): string {
    const v = this.#b[key];
    if (v === undefined) return fallback;
    if (typeof v !== "string" || Number.isNaN(Date.parse(v))) {
      this.problems.push(`${key} must be an RFC 3339 time`);
      return fallback;
    }
    return isoSeconds(new Date(v));
  }
}

/** Parses a definition body, filling AWS-like defaults; returns problems instead of throwing. */
export function parseInstance(body: unknown, o: { account: string; region: string; now: Date }): InstanceRecord | { problems: string[] } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return { problems: ["instance definition must be a JSON object"] };
  const b = body as Record<string, unknown>;
  const known = [
    "instanceId",
    "account",
    "region",
    "availabilityZone",
    "imageId",
    "instanceType",
    "architecture",
    "privateIp",
    "launchTime",
    "state",
    "tags",
    "securityGroups",
    "instanceProfile",
    "rootDeviceType",
    "rootDeviceName",
    "blockDeviceMappings",
    "networkInterfaces",
    "imdsTokens",
  ];
  const r = new Reader(b);
  for (const k of Object.keys(b)) if (!known.includes(k)) r.problems.push(`unknown instance field "${k}"`);
  const region = r.string("region", /^[a-z]{2}(-[a-z]+)+-\d+$/) ?? o.region;
  const launchTime = r.time("launchTime", isoSeconds(o.now));
  const state = (r.string("state") ?? "running") as InstanceState;
  if (!INSTANCE_STATES.includes(state)) r.problems.push(`state must be one of ${INSTANCE_STATES.join(", ")}`);
  const tags: Record<string, string> = {};
  if (b["tags"] !== undefined) {
    if (typeof b["tags"] !== "object" || b["tags"] === null || Object.values(b["tags"]).some((v) => typeof v !== "string")) {
      r.problems.push("tags must map tag keys to string values");
    } else Object.assign(tags, b["tags"]);
  }
  const list = <T>(key: string, item: (x: Record<string, unknown>, i: number) => T | undefined, fallback: T[]): T[] => {
    const v = b[key];
    if (v === undefined) return fallback;
    if (!Array.isArray(v)) {
      r.problems.push(`${key} must be an array`);
      return fallback;
    }
    const out: T[] = [];
    v.forEach((x, i) => {
      const got = typeof x === "object" && x !== null ? item(x as Record<string, unknown>, i) : undefined;
      if (got === undefined) r.problems.push(`${key}[${i}] is not valid`);
      else out.push(got);
    });
    return out;
  };
  const timeOf = (x: Record<string, unknown>) =>
    x["attachTime"] === undefined
      ? launchTime
      : typeof x["attachTime"] === "string" && !Number.isNaN(Date.parse(x["attachTime"]))
      ? isoSeconds(new Date(x["attachTime"]))
      : undefined;
  const securityGroups = list(
    "securityGroups",
    (x) => typeof x["id"] === "string" && typeof x["name"] === "string" ? { id: x["id"], name: x["name"] } : undefined,
    [{ id: hexId("sg-", 9), name: "default" }],
  );
  const rootDeviceName = r.string("rootDeviceName") ?? "/dev/xvda";
  const blockDeviceMappings = list("blockDeviceMappings", (x) => {
    const t = timeOf(x);
    return typeof x["deviceName"] === "string" && t ? { deviceName: x["deviceName"], volumeId: hexId("vol-", 9), attachTime: t } : undefined;
  }, [{ deviceName: rootDeviceName, volumeId: hexId("vol-", 9), attachTime: launchTime }]);
  const networkInterfaces = list("networkInterfaces", (x) => {
    const t = timeOf(x);
    return typeof x["deviceIndex"] === "number" && Number.isInteger(x["deviceIndex"]) && t
      ? { networkInterfaceId: hexId("eni-", 9), deviceIndex: x["deviceIndex"], attachTime: t }
      : undefined;
  }, [{ networkInterfaceId: hexId("eni-", 9), deviceIndex: 0, attachTime: launchTime }]);
  let instanceProfile: InstanceRecord["instanceProfile"];
  const ip = b["instanceProfile"];
  if (ip !== undefined && ip !== null) {
    const p = ip as Record<string, unknown>;
    if (typeof p["name"] !== "string" || !Array.isArray(p["roles"]) || p["roles"].some((x) => typeof x !== "string")) {
      r.problems.push('instanceProfile must be {"name": string, "roles": [role names]}');
    } else instanceProfile = { name: p["name"], roles: p["roles"] as string[] };
  }
  const rootDeviceType = (r.string("rootDeviceType") ?? "ebs") as InstanceRecord["rootDeviceType"];
  if (rootDeviceType !== "ebs" && rootDeviceType !== "instance-store") r.problems.push(`rootDeviceType must be "ebs" or "instance-store"`);
  const imdsTokens = (r.string("imdsTokens") ?? "required") as InstanceRecord["imdsTokens"];
  if (imdsTokens !== "required" && imdsTokens !== "optional") r.problems.push(`imdsTokens must be "required" or "optional"`);
  const rec: Omit<InstanceRecord, "document"> = {
    instanceId: r.string("instanceId", /^i-[0-9a-f]{8,17}$/) ?? hexId("i-", 9),
    account: r.string("account", /^\d{12}$/) ?? o.account,
    region,
    availabilityZone: r.string("availabilityZone") ?? `${region}a`,
    imageId: r.string("imageId", /^ami-[0-9a-f]{8,17}$/) ?? hexId("ami-", 9),
    instanceType: r.string("instanceType") ?? "t3.micro",
    architecture: r.string("architecture") ?? "x86_64",
    privateIp: r.string("privateIp") ?? `10.0.${randomBytes(1)[0]}.${1 + (randomBytes(1)[0]! % 254)}`,
    launchTime,
    state,
    tags,
    securityGroups,
    ...(instanceProfile ? { instanceProfile } : {}),
    rootDeviceType,
    rootDeviceName,
    blockDeviceMappings,
    networkInterfaces,
    imdsTokens,
  };
  if (r.problems.length) return { problems: r.problems };
  return { ...rec, document: identityDocument(rec) };
}

/** The document as IMDS serves it: AWS's field order and its " : " pretty-printing. */
function identityDocument(i: Omit<InstanceRecord, "document">): string {
  const doc = {
    accountId: i.account,
    architecture: i.architecture,
    availabilityZone: i.availabilityZone,
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    imageId: i.imageId,
    instanceId: i.instanceId,
    instanceType: i.instanceType,
    kernelId: null,
    pendingTime: i.launchTime,
    privateIp: i.privateIp,
    ramdiskId: null,
    region: i.region,
    version: "2017-09-30",
  };
  return JSON.stringify(doc, null, 2).replace(/^(\s*"[^"]+"):/gm, "$1 :");
}

/** The defined instances, persisted as one JSON file. */
export class Instances {
  readonly #store: JsonStore;
  readonly #byId: Map<string, InstanceRecord>;

  constructor(store: JsonStore) {
    this.#store = store;
    this.#byId = new Map(Object.entries(store.read<Record<string, InstanceRecord>>(FILE) ?? {}));
  }

  get(id: string): InstanceRecord | undefined {
    return this.#byId.get(id);
  }

  all(): InstanceRecord[] {
    return [...this.#byId.values()];
  }

  put(rec: InstanceRecord): void {
    this.#byId.set(rec.instanceId, rec);
    this.#save();
  }

  delete(id: string): boolean {
    const had = this.#byId.delete(id);
    if (had) this.#save();
    return had;
  }

  #save(): void {
    this.#store.write(FILE, Object.fromEntries(this.#byId));
  }
}
