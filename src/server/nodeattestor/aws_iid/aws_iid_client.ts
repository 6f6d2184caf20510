/**
 * The AWSIIDClient port over @aws-sdk/client-ec2 and @aws-sdk/client-iam (with STS AssumeRole for `assume_role`).
 * Only src/bin and tests import this file, so the portable type-check never sees SDK types.
 * @module
 */
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { GetInstanceProfileCommand, IAMClient } from "@aws-sdk/client-iam";
import { assumeRoleProvider, type StaticCredentials } from "../../upstreamauthority/awspca/pca_client.ts";
import type { AWSIIDClient, AWSIIDClientFactory } from "./aws_iid_port.ts";

export interface AWSIIDClientOptions {
  credentials?: StaticCredentials | undefined;
  /** Role name to assume in each instance's account ("" = none). */
  assumeRole: string;
  partition: string;
  /** Endpoint overrides (AWS_ENDPOINT_URL_EC2 / _IAM / _STS, or AWS_ENDPOINT_URL). */
  ec2Endpoint?: string | undefined;
  iamEndpoint?: string | undefined;
  stsEndpoint?: string | undefined;
  /** SDK attempts per call, retries included. Default 3 (the SDK's standard mode). */
  maxAttempts?: number;
}

/** Builds one client per account and region, as SPIRE's clientsCache does. */
export function newAWSIIDClientFactory(o: AWSIIDClientOptions): AWSIIDClientFactory {
  return ({ accountId, region }) => {
    const credentials = o.assumeRole
      ? assumeRoleProvider({
        roleArn: `arn:${o.partition}:iam::${accountId}:role/${o.assumeRole}`,
        region,
        stsEndpoint: o.stsEndpoint,
        credentials: o.credentials,
      })
      : o.credentials;
    const common = {
      region,
      ...(credentials ? { credentials } : {}),
      ...(o.maxAttempts ? { maxAttempts: o.maxAttempts } : {}),
    };
    const ec2 = new EC2Client({ ...common, ...(o.ec2Endpoint ? { endpoint: o.ec2Endpoint } : {}) });
    const iam = new IAMClient({ ...common, ...(o.iamEndpoint ? { endpoint: o.iamEndpoint } : {}) });
    const client: AWSIIDClient = {
      async describeInstances(instanceId, signal) {
        const out = await ec2.send(
          new DescribeInstancesCommand({
            InstanceIds: [instanceId],
            Filters: [{ Name: "instance-state-name", Values: ["pending", "running"] }],
          }),
          { abortSignal: signal },
        );
        return (out.Reservations ?? []).map((r) =>
          (r.Instances ?? []).map((i) => ({
            instanceId: i.InstanceId ?? "",
            tags: (i.Tags ?? []).map((t) => ({ key: t.Key ?? "", value: t.Value ?? "" })),
            securityGroups: (i.SecurityGroups ?? []).map((g) => ({ groupId: g.GroupId ?? "", groupName: g.GroupName ?? "" })),
            iamInstanceProfileArn: i.IamInstanceProfile?.Arn,
            rootDeviceType: i.RootDeviceType,
            rootDeviceName: i.RootDeviceName,
            blockDeviceMappings: (i.BlockDeviceMappings ?? []).map((b) => ({ deviceName: b.DeviceName, ebsAttachTime: b.Ebs?.AttachTime })),
            networkInterfaces: (i.NetworkInterfaces ?? []).map((n) => ({ deviceIndex: n.Attachment?.DeviceIndex, attachTime: n.Attachment?.AttachTime })),
          }))
        );
      },
      async getInstanceProfileRoleArns(name, signal) {
        const out = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }), { abortSignal: signal });
        return (out.InstanceProfile?.Roles ?? []).map((r) => r.Arn ?? "");
      },
    };
    return client;
  };
}
