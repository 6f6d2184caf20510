/** The plugin_data of `KeyManager "aws_kms"`: keys, SPIRE's validation messages and the parsed shape. @module */
import type { ConfigSection, ConfigStatus } from "../../../core/config/mod.ts";

/** The validated aws_kms KeyManager config (SPIRE keymanager/awskms Config). */
export interface AWSKMSKeyManagerConfig {
  name: "aws_kms";
  region: string;
  /** Static credentials, used only when both are set; otherwise the SDK default chain. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** File holding the server ID (UUIDv4, created 0600 when missing). Default "<data_dir>/aws_kms_server_id". */
  keyIdentifierFile?: string;
  /** A fixed server ID instead of the file; setting both is an error. */
  keyIdentifierValue?: string;
  /** JSON key policy for new keys. Default: SPIRE's policy for the assumed role. */
  keyPolicyFile?: string;
  /** KMS endpoint override. Default: AWS_ENDPOINT_URL_KMS, then the regional endpoint. */
  endpoint?: string;
}

/**
 * Reads and checks aws_kms plugin_data, reporting every problem to `status` (SPIRE's buildConfig). Unlike SPIRE, a
 * config naming neither key_identifier_file nor key_identifier_value gets "<data_dir>/aws_kms_server_id", so
 * SPIRE-era configs that predate the setting (only region and key_policy_file) still start.
 */
export function buildAWSKMSConfig(data: ConfigSection, status: ConfigStatus, dataDir: string): AWSKMSKeyManagerConfig {
  const block = data.path.replace(/\.plugin_data$/, "");
  const opt = (key: string) => data.string(key) || undefined;
  const region = opt("region");
  if (!region) status.error(`${block}: configuration is missing a region`);
  const accessKeyId = opt("access_key_id");
  const secretAccessKey = opt("secret_access_key");
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    status.info(`${block}: access_key_id and secret_access_key are used only together; the AWS default credential chain applies`);
  }
  const file = opt("key_identifier_file");
  const value = opt("key_identifier_value");
  if (value !== undefined) {
    if (/[^A-Za-z0-9/_-]/.test(value)) {
      status.error(`${block}: Key identifier must contain only alphanumeric characters, forward slashes (/), underscores (_), and dashes (-)`);
    }
    if (value.startsWith("alias/aws/")) status.error(`${block}: Key identifier must not start with alias/aws/`);
    if (value.length > 256) status.error(`${block}: Key identifier must not be longer than 256 characters`);
  }
  if (file !== undefined && value !== undefined) {
    status.error(`${block}: configuration can't have a key identifier file and a key identifier value at the same time`);
  }
  const out: AWSKMSKeyManagerConfig = { name: "aws_kms", region: region ?? "" };
  if (accessKeyId && secretAccessKey) Object.assign(out, { accessKeyId, secretAccessKey });
  if (value === undefined) out.keyIdentifierFile = file ?? `${dataDir}/aws_kms_server_id`;
  if (value !== undefined) out.keyIdentifierValue = value;
  const policy = opt("key_policy_file");
  if (policy !== undefined) out.keyPolicyFile = policy;
  const endpoint = opt("endpoint");
  if (endpoint !== undefined) out.endpoint = endpoint;
  return out;
}
