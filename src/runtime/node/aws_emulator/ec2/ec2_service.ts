/**
 * EC2 DescribeInstances on the ec2 query protocol (form POST, Version=2016-11-15, XML without a Result wrapper),
 * answering for the emulated instances that belong to the caller's account and the signing region.
 * @module
 */
import { AwsError, xmlEscape } from "../aws_error.ts";
import type { CallContext } from "../operation.ts";
import { type InstanceRecord, type Instances, STATE_CODE } from "./instances.ts";

export const EC2_VERSION = "2016-11-15";
const NS = `http://ec2.amazonaws.com/doc/${EC2_VERSION}/`;

/** An EC2 operation reads form parameters and returns the whole XML response document. */
export type Ec2Operation = (params: URLSearchParams, ctx: CallContext) => string;

/** Collects `Prefix.1`, `Prefix.2`, … in index order. */
function indexed(params: URLSearchParams, prefix: string): string[] {
  const out: [number, string][] = [];
  for (const [k, v] of params) {
    const m = new RegExp(`^${prefix.replace(/\./g, "\\.")}\\.(\\d+)$`).exec(k);
    if (m) out.push([Number(m[1]), v]);
  }
  return out.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

function filters(params: URLSearchParams): { name: string; values: string[] }[] {
  const out: { name: string; values: string[] }[] = [];
  for (let n = 1; params.has(`Filter.${n}.Name`); n++) {
    out.push({ name: params.get(`Filter.${n}.Name`)!, values: indexed(params, `Filter.${n}.Value`) });
  }
  return out;
}

function matches(i: InstanceRecord, f: { name: string; values: string[] }): boolean {
  const any = (v: string | undefined) => v !== undefined && f.values.includes(v);
  if (f.name === "instance-state-name") return any(i.state);
  if (f.name === "instance-id") return any(i.instanceId);
  if (f.name === "availability-zone") return any(i.availabilityZone);
  if (f.name === "image-id") return any(i.imageId);
  if (f.name === "instance-type") return any(i.instanceType);
  if (f.name === "tag-key") return Object.keys(i.tags).some((k) => f.values.includes(k));
  if (f.name.startsWith("tag:")) return any(i.tags[f.name.slice(4)]);
  throw new AwsError("InvalidParameterValue", `The filter '${f.name}' is invalid`);
}

const el = (name: string, value: string | number | boolean) => `<${name}>${xmlEscape(String(value))}</${name}>`;

function instanceXml(i: InstanceRecord): string {
  const items = (xs: string[]) => xs.map((x) => `<item>${x}</item>`).join("");
  const tags = Object.entries(i.tags).map(([k, v]) => el("key", k) + el("value", v));
  const groups = i.securityGroups.map((g) => el("groupId", g.id) + el("groupName", g.name));
  const profile = i.instanceProfile
    ? `<iamInstanceProfile>${el("arn", `arn:aws:iam::${i.account}:instance-profile/${i.instanceProfile.name}`)}${
      el("id", profileId(i.instanceProfile.name))
    }</iamInstanceProfile>`
    : "";
  const bdm = i.blockDeviceMappings.map((b) =>
    el("deviceName", b.deviceName) +
    `<ebs>${el("volumeId", b.volumeId)}${el("status", "attached")}${el("attachTime", b.attachTime)}${el("deleteOnTermination", true)}</ebs>`
  );
  const enis = i.networkInterfaces.map((n) =>
    el("networkInterfaceId", n.networkInterfaceId) + el("ownerId", i.account) + el("status", "in-use") + el("privateIpAddress", i.privateIp) +
    `<attachment>${el("attachmentId", n.networkInterfaceId.replace("eni-", "eni-attach-"))}${el("deviceIndex", n.deviceIndex)}` +
    `${el("status", "attached")}${el("attachTime", n.attachTime)}${el("deleteOnTermination", true)}</attachment>` +
    `<groupSet>${items(groups)}</groupSet>`
  );
  return (
    el("instanceId", i.instanceId) + el("imageId", i.imageId) +
    `<instanceState>${el("code", STATE_CODE[i.state])}${el("name", i.state)}</instanceState>` +
    el("privateDnsName", `ip-${i.privateIp.replace(/\./g, "-")}.ec2.internal`) + el("instanceType", i.instanceType) +
    el("launchTime", i.launchTime) +
    `<placement>${el("availabilityZone", i.availabilityZone)}${el("tenancy", "default")}</placement>` +
    el("privateIpAddress", i.privateIp) + el("architecture", i.architecture) +
    el("rootDeviceType", i.rootDeviceType) + el("rootDeviceName", i.rootDeviceName) +
    `<blockDeviceMapping>${items(bdm)}</blockDeviceMapping>` +
    profile +
    `<tagSet>${items(tags)}</tagSet>` +
    `<groupSet>${items(groups)}</groupSet>` +
    `<networkInterfaceSet>${items(enis)}</networkInterfaceSet>`
  );
}

/** A stable instance-profile ID ("AIPA…") per name. */
export function profileId(name: string): string {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return "AIPA" + h.toString(36).toUpperCase().padStart(17, "Q").slice(0, 17);
}

/** Renders an error as the ec2 query `<Response><Errors>` document. */
export function ec2ErrorResponse(err: AwsError, requestId: string): Response {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>${el("Code", err.code)}${el("Message", err.message)}</Error></Errors>${
    el("RequestID", requestId)
  }</Response>`;
  return new Response(body, { status: err.status, headers: { "content-type": "text/xml;charset=UTF-8", "x-amzn-requestid": requestId } });
}

/** Builds the EC2 operations over the defined instances. */
export function ec2Operations(instances: Instances): Record<string, Ec2Operation> {
  return {
    DescribeInstances: (params, ctx) => {
      const ids = indexed(params, "InstanceId");
      for (const id of ids) if (!/^i-[0-9a-f]{8,17}$/.test(id)) throw new AwsError("InvalidInstanceID.Malformed", `Invalid id: "${id}"`);
      const visible = instances.all().filter((i) => i.account === ctx.principal.account && i.region === ctx.region);
      const missing = ids.filter((id) => !visible.some((i) => i.instanceId === id));
      if (missing.length) {
        throw new AwsError(
          "InvalidInstanceID.NotFound",
          `The instance ID${missing.length > 1 ? "s" : ""} '${missing.join(", ")}' ${missing.length > 1 ? "do" : "does"} not exist`,
        );
      }
      const fs = filters(params);
      const selected = visible.filter((i) => (ids.length === 0 || ids.includes(i.instanceId)) && fs.every((f) => matches(i, f)));
      const reservations = selected.map((i) =>
        `<item>${el("reservationId", `r-${i.instanceId.slice(2)}`)}${el("ownerId", i.account)}<groupSet/>` +
        `<instancesSet><item>${instanceXml(i)}</item></instancesSet></item>`
      );
      return `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="${NS}">${el("requestId", ctx.requestId)}` +
        `<reservationSet>${reservations.join("")}</reservationSet></DescribeInstancesResponse>`;
    },
  };
}
