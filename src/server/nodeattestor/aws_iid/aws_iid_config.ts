/** The plugin_data of server `NodeAttestor "aws_iid"`: SPIRE's keys, its validation texts and the parsed shape. @module */
import type { ConfigSection, ConfigStatus } from "../../../core/config/mod.ts";

export const PARTITIONS = ["aws", "aws-cn", "aws-us-gov"] as const;
/** SPIRE's default (spiffeid.go): the agent path under /spire/agent. */
export const DEFAULT_AGENT_PATH_TEMPLATE = "/{{ .PluginName}}/{{ .AccountID }}/{{ .Region }}/{{ .InstanceID }}";

/** The validated aws_iid server config (SPIRE awsiid IIDAttestorConfig). */
export interface AWSIIDServerConfig {
  name: "aws_iid";
  /** Static credentials; absent means the SDK default chain (env, shared files, instance role). */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Role name assumed in the instance's account: arn:<partition>:iam::<account>:role/<assumeRole>. "" = none. */
  assumeRole: string;
  /** aws (default), aws-cn or aws-us-gov; only used to build the assume_role ARN. */
  partition: (typeof PARTITIONS)[number];
  /** Skip the root-volume / ENI attach-time check (default false). */
  skipBlockDevice: boolean;
  /** No iam:GetInstanceProfile call, no iamrole selectors (default false). */
  disableInstanceProfileSelectors: boolean;
  /** Accounts whose instances skip the block-device check (DescribeInstances still runs). */
  accountIdsForLocalValidation: string[];
  agentPathTemplate: string;
  /** wisp: extra certificates (PEM files) trusted to sign identity documents, besides AWS's regional ones. */
  trustedIIDCertificates: string[];
}

/**
 * Reads aws_iid plugin_data, reporting every problem to `status`. Without access_key_id and secret_access_key the
 * SDK's default chain applies, whose first source is SPIRE's default (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
 */
export function buildAWSIIDServerConfig(data: ConfigSection, status: ConfigStatus): AWSIIDServerConfig {
  const block = data.path.replace(/\.plugin_data$/, "");
  const accessKeyId = data.string("access_key_id") || undefined;
  const secretAccessKey = data.string("secret_access_key") || undefined;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    status.error(`${block}: configuration is missing either access_key_id or secret_access_key; set both or neither`);
  }
  const partition = data.string("partition") ?? "aws";
  if (!(PARTITIONS as readonly string[]).includes(partition)) {
    status.error(`${block}: invalid partition "${partition}", must be one of: [${PARTITIONS.join(" ")}]`);
  }
  for (const key of ["verify_organization", "validate_eks_cluster_membership"]) {
    if (data.has(key)) {
      data.raw(key);
      status.error(`${block}: ${key} is not supported by wisp; remove it (the account and cluster checks are not implemented)`);
    }
  }
  const accountIds = data.stringList("account_ids_for_local_validation") ?? [];
  for (const id of accountIds) if (!/^\d{12}$/.test(id)) status.error(`${block}: account_ids_for_local_validation: "${id}" is not a 12-digit AWS account ID`);
  const template = data.string("agent_path_template") ?? DEFAULT_AGENT_PATH_TEMPLATE;
  if (template.trim() === "") status.error(`${block}: agent_path_template must not be empty`);
  const out: AWSIIDServerConfig = {
    name: "aws_iid",
    assumeRole: data.string("assume_role") ?? "",
    partition: partition as AWSIIDServerConfig["partition"],
    skipBlockDevice: data.bool("skip_block_device") ?? false,
    disableInstanceProfileSelectors: data.bool("disable_instance_profile_selectors") ?? false,
    accountIdsForLocalValidation: accountIds,
    agentPathTemplate: template,
    trustedIIDCertificates: data.stringList("trusted_iid_certificates") ?? [],
  };
  if (accessKeyId && secretAccessKey) Object.assign(out, { accessKeyId, secretAccessKey });
  return out;
}
