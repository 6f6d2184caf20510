/**
 * The SPIRL-style managed-config document for section "UpstreamAuthority" (`section/schema/spec`, YAML): parsing and
 * validation that reports every problem at once, so `wisp-server config set` and the server agree on what is valid.
 * @module
 */
import { parseDocument } from "yaml";
import { ConfigSection, ConfigStatus, isPlainObject } from "../../core/config/mod.ts";
import { ConfigError } from "../../core/errors.ts";

export const UPSTREAM_AUTHORITY_SECTION = "UpstreamAuthority";
export const UPSTREAM_AUTHORITY_SCHEMA = "v1";

/** `spec.extensions.awsPca`, with the region resolved (from the ARN when not given). */
export interface ManagedAWSPCA {
  certificateAuthorityArn: string;
  region: string;
  signingAlgorithm?: string;
  assumeRoleArn?: string;
  caSigningTemplateArn?: string;
  endpoint?: string;
}

export interface UpstreamAuthorityDoc {
  section: typeof UPSTREAM_AUTHORITY_SECTION;
  schema: typeof UPSTREAM_AUTHORITY_SCHEMA;
  spec: { extensions: { awsPca: ManagedAWSPCA } };
}

/** ACM PCA's SigningAlgorithm enum. */
export const SIGNING_ALGORITHMS = ["SHA256WITHECDSA", "SHA384WITHECDSA", "SHA512WITHECDSA", "SHA256WITHRSA", "SHA384WITHRSA", "SHA512WITHRSA"];

const PARTITION = "aws(?:-cn|-us-gov)?";
const REGION = "[a-z]{2}(?:-[a-z]+)+-\\d+";
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const CA_ARN = new RegExp(`^arn:${PARTITION}:acm-pca:(${REGION}):(\\d{12}):certificate-authority/${UUID}$`);
const ROLE_ARN = new RegExp(`^arn:${PARTITION}:iam::\\d{12}:role/[\\w+=,.@/-]{1,512}$`);
const TEMPLATE_ARN = new RegExp(`^arn:${PARTITION}:acm-pca:::template/[\\w+=,.@/-]+$`);
const REGION_RE = new RegExp(`^${REGION}$`);

/**
 * Parses and validates an UpstreamAuthority document. Empty optional strings (the seed's `assumeRoleArn: ""`) count
 * as unset.
 * @throws {ConfigError} listing every problem: YAML syntax, unknown keys, wrong section or schema, bad ARNs, a region
 *   that contradicts the ARN
 */
export function parseUpstreamAuthorityDoc(text: string, source = "document"): UpstreamAuthorityDoc {
  const yaml = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (yaml.errors.length > 0) {
    throw new ConfigError(yaml.errors.map((e) => `${source}: ${e.message.split("\n")[0]!.replace(/\.$/, "")}`));
  }
  const raw: unknown = yaml.toJS();
  const status = new ConfigStatus();
  if (!isPlainObject(raw)) {
    throw new ConfigError([`${source}: a managed config document must be a mapping with section, schema and spec`]);
  }
  const top = new ConfigSection("", raw, status);
  const section = top.string("section");
  if (section === undefined) status.error(`section is required ("${UPSTREAM_AUTHORITY_SECTION}")`);
  else if (section !== UPSTREAM_AUTHORITY_SECTION) status.error(`section must be "${UPSTREAM_AUTHORITY_SECTION}", got "${section}"`);
  const schema = top.string("schema");
  if (schema === undefined) status.error(`schema is required ("${UPSTREAM_AUTHORITY_SCHEMA}")`);
  else if (schema !== UPSTREAM_AUTHORITY_SCHEMA) status.error(`schema must be "${UPSTREAM_AUTHORITY_SCHEMA}", got "${schema}"`);
  if (!top.has("spec")) status.error("spec is required");
  const ext = top.section("spec").section("extensions");
  if (top.has("spec") && !ext.has("awsPca")) status.error("spec.extensions.awsPca is required");
  const pca = ext.section("awsPca");
  const opt = (key: string) => pca.string(key) || undefined;

  const arn = pca.string("certificateAuthorityArn") ?? "";
  const arnMatch = CA_ARN.exec(arn);
  if (ext.has("awsPca")) {
    if (arn === "") status.error("spec.extensions.awsPca.certificateAuthorityArn is required");
    else if (!arnMatch) {
      status.error(
        `spec.extensions.awsPca.certificateAuthorityArn "${arn}" is not an ACM PCA certificate authority ARN ` +
          `(arn:aws:acm-pca:<region>:<12-digit account>:certificate-authority/<uuid>)`,
      );
    }
  }
  let region = opt("region");
  if (region !== undefined && !REGION_RE.test(region)) status.error(`spec.extensions.awsPca.region "${region}" is not an AWS region name`);
  else if (region !== undefined && arnMatch && arnMatch[1] !== region) {
    status.error(`spec.extensions.awsPca.region "${region}" does not match the region "${arnMatch[1]}" of certificateAuthorityArn`);
  }
  region ??= arnMatch?.[1];
  const signingAlgorithm = opt("signingAlgorithm");
  if (signingAlgorithm !== undefined && !SIGNING_ALGORITHMS.includes(signingAlgorithm)) {
    status.error(`spec.extensions.awsPca.signingAlgorithm "${signingAlgorithm}" must be one of ${SIGNING_ALGORITHMS.join(", ")}`);
  }
  const assumeRoleArn = opt("assumeRoleArn");
  if (assumeRoleArn !== undefined && !ROLE_ARN.test(assumeRoleArn)) {
    status.error(`spec.extensions.awsPca.assumeRoleArn "${assumeRoleArn}" is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`);
  }
  const caSigningTemplateArn = opt("caSigningTemplateArn");
  if (caSigningTemplateArn !== undefined && !TEMPLATE_ARN.test(caSigningTemplateArn)) {
    status.error(`spec.extensions.awsPca.caSigningTemplateArn "${caSigningTemplateArn}" is not an ACM PCA template ARN`);
  }
  const endpoint = opt("endpoint");
  if (endpoint !== undefined && !/^https?:\/\/[^/\s]+(\/\S*)?$/.test(endpoint)) {
    status.error(`spec.extensions.awsPca.endpoint "${endpoint}" must be an http or https URL`);
  }
  top.finish();
  status.throwIfErrors();
  return {
    section: UPSTREAM_AUTHORITY_SECTION,
    schema: UPSTREAM_AUTHORITY_SCHEMA,
    spec: {
      extensions: {
        awsPca: {
          certificateAuthorityArn: arn,
          region: region!,
          ...(signingAlgorithm === undefined ? {} : { signingAlgorithm }),
          ...(assumeRoleArn === undefined ? {} : { assumeRoleArn }),
          ...(caSigningTemplateArn === undefined ? {} : { caSigningTemplateArn }),
          ...(endpoint === undefined ? {} : { endpoint }),
        },
      },
    },
  };
}
