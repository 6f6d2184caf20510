/**
 * The AWS calls the aws_iid server attestor makes, as a narrow port: aws_iid_client.ts implements it over the SDK
 * (only src/bin imports that file), tests may implement it too.
 * @module
 */

/** The fields of an EC2 instance that attestation reads (SPIRE dereferences exactly these). */
export interface EC2Instance {
  instanceId: string;
  tags: { key: string; value: string }[];
  securityGroups: { groupId: string; groupName: string }[];
  iamInstanceProfileArn?: string | undefined;
  rootDeviceType?: string | undefined;
  rootDeviceName?: string | undefined;
  blockDeviceMappings: { deviceName?: string | undefined; ebsAttachTime?: Date | undefined }[];
  networkInterfaces: { deviceIndex?: number | undefined; attachTime?: Date | undefined }[];
}

/** The AWS API calls for one account and region. Errors are the SDK's; the attestor wraps them with SPIRE's texts. */
export interface AWSIIDClient {
  /** ec2:DescribeInstances for one instance ID with state pending or running; one inner array per reservation. */
  describeInstances(instanceId: string, signal: AbortSignal): Promise<EC2Instance[][]>;
  /** iam:GetInstanceProfile; the ARNs of the profile's roles. */
  getInstanceProfileRoleArns(instanceProfileName: string, signal: AbortSignal): Promise<string[]>;
}

/** Builds the client for an instance's account and region (with assume_role, credentials for that account). */
export type AWSIIDClientFactory = (o: { accountId: string; region: string }) => AWSIIDClient;
