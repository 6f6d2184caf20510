/** IAM GetInstanceProfile (awsQuery, Version=2010-05-08) over the instance profiles of the emulated instances. @module */
import { AwsError, xmlEscape } from "../aws_error.ts";
import { profileId } from "../ec2/ec2_service.ts";
import type { Instances } from "../ec2/instances.ts";
import type { CallContext } from "../operation.ts";

export const IAM_VERSION = "2010-05-08";
export const IAM_NS = `https://iam.amazonaws.com/doc/${IAM_VERSION}/`;

/** An IAM operation returns the inner XML of its `<Op>Result>` element. */
export type IamOperation = (params: URLSearchParams, ctx: CallContext) => string;

const el = (name: string, value: string) => `<${name}>${xmlEscape(value)}</${name}>`;

/**
 * Wraps a result in the awsQuery envelope without whitespace between elements: the SDK's schema-based XML reader
 * drops a result whose element mixes indentation text with child elements.
 */
export function iamResponse(action: string, resultXml: string, requestId: string): string {
  return `<${action}Response xmlns="${IAM_NS}"><${action}Result>${resultXml}</${action}Result>` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
}

/** A stable role ID ("AROA…") per role ARN. */
function roleId(arn: string): string {
  let h = 7;
  for (const c of arn) h = (h * 33 + c.charCodeAt(0)) >>> 0;
  return "AROA" + h.toString(36).toUpperCase().padStart(17, "X").slice(0, 17);
}

/** Builds the IAM operations. Profiles are those named by instances of the caller's account. */
export function iamOperations(instances: Instances): Record<string, IamOperation> {
  return {
    GetInstanceProfile: (params, ctx) => {
      const name = params.get("InstanceProfileName");
      if (name === null) {
        throw new AwsError(
          "ValidationError",
          "1 validation error detected: Value null at 'instanceProfileName' failed to satisfy constraint: Member must not be null",
        );
      }
      const owner = instances.all().find((i) => i.account === ctx.principal.account && i.instanceProfile?.name === name);
      if (!owner?.instanceProfile) throw new AwsError("NoSuchEntity", `Instance Profile ${name} cannot be found.`, 404);
      const created = owner.launchTime;
      const roles = owner.instanceProfile.roles.map((r) => {
        const arn = `arn:aws:iam::${owner.account}:role/${r}`;
        return `<member>${el("Path", "/")}${el("RoleName", r)}${el("RoleId", roleId(arn))}${el("Arn", arn)}${el("CreateDate", created)}</member>`;
      });
      return `<InstanceProfile>${el("Path", "/")}${el("InstanceProfileName", name)}${el("InstanceProfileId", profileId(name))}` +
        `${el("Arn", `arn:aws:iam::${owner.account}:instance-profile/${name}`)}${el("CreateDate", created)}<Roles>${roles.join("")}</Roles></InstanceProfile>`;
    },
  };
}
