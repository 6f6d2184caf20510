/** The UpstreamAuthority managed-config document: what is accepted, and every problem reported at once. */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { ConfigError } from "../../../src/core/errors.ts";
import { parseUpstreamAuthorityDoc } from "../../../src/server/managedconfig/upstream_authority_doc.ts";

const ARN = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";

function issues(text: string): string[] {
  try {
    parseUpstreamAuthorityDoc(text, "ua.yaml");
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.is(err.code, "ERR_CONFIG_INVALID");
    return [...err.issues];
  }
  throw new Error("expected a ConfigError");
}

test("the seed's document is accepted; an empty assumeRoleArn counts as unset", () => {
  const doc = parseUpstreamAuthorityDoc(`section: UpstreamAuthority
schema: v1
spec:
  extensions:
    awsPca:
      certificateAuthorityArn: "${ARN}"
      region: "us-east-1"
      signingAlgorithm: SHA256WITHECDSA
      assumeRoleArn: ""
`);
  assert.equal(doc, {
    section: "UpstreamAuthority",
    schema: "v1",
    spec: { extensions: { awsPca: { certificateAuthorityArn: ARN, region: "us-east-1", signingAlgorithm: "SHA256WITHECDSA" } } },
  });
});

test("region defaults to the ARN's; every optional key is kept; China and GovCloud partitions are ARNs too", () => {
  const gov = "arn:aws-us-gov:acm-pca:us-gov-west-1:123456789012:certificate-authority/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
  const doc = parseUpstreamAuthorityDoc(`section: UpstreamAuthority
schema: v1
spec:
  extensions:
    awsPca:
      certificateAuthorityArn: ${gov}
      assumeRoleArn: arn:aws-us-gov:iam::210987654321:role/wisp-pca
      caSigningTemplateArn: arn:aws-us-gov:acm-pca:::template/SubordinateCACertificate_PathLen0/V1
      endpoint: http://127.0.0.1:4566
`);
  assert.equal(doc.spec.extensions.awsPca, {
    certificateAuthorityArn: gov,
    region: "us-gov-west-1",
    assumeRoleArn: "arn:aws-us-gov:iam::210987654321:role/wisp-pca",
    caSigningTemplateArn: "arn:aws-us-gov:acm-pca:::template/SubordinateCACertificate_PathLen0/V1",
    endpoint: "http://127.0.0.1:4566",
  });
});

test("every problem is listed at once: section, schema, unknown keys, ARN shape, region, algorithm", () => {
  assert.equal(
    issues(`section: KeyManager
schema: v2
color: blue
spec:
  extensions:
    awsPca:
      certificateAuthorityArn: "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
      region: us-west-2
      signingAlgorithm: MD5WITHRSA
      assumeRoleArn: role/wisp
      tlsInsecure: true
`),
    [
      `section must be "UpstreamAuthority", got "KeyManager"`,
      `schema must be "v1", got "v2"`,
      `spec.extensions.awsPca.certificateAuthorityArn "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" is not an ACM PCA certificate authority ARN (arn:aws:acm-pca:<region>:<12-digit account>:certificate-authority/<uuid>)`,
      `spec.extensions.awsPca.signingAlgorithm "MD5WITHRSA" must be one of SHA256WITHECDSA, SHA384WITHECDSA, SHA512WITHECDSA, SHA256WITHRSA, SHA384WITHRSA, SHA512WITHRSA`,
      `spec.extensions.awsPca.assumeRoleArn "role/wisp" is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`,
      `unknown configuration key "color"`,
      `unknown configuration key "spec.extensions.awsPca.tlsInsecure"`,
    ],
  );
});

test("a region that contradicts the ARN, wrong types and missing parts are reported", () => {
  assert.equal(
    issues(`section: UpstreamAuthority
schema: v1
spec:
  extensions:
    awsPca:
      certificateAuthorityArn: ${ARN}
      region: eu-west-1
`),
    [`spec.extensions.awsPca.region "eu-west-1" does not match the region "us-east-1" of certificateAuthorityArn`],
  );
  assert.equal(
    issues(`section: UpstreamAuthority
schema: v1
spec:
  extensions:
    awsPca:
      certificateAuthorityArn: 42
`),
    ["spec.extensions.awsPca.certificateAuthorityArn must be a string", "spec.extensions.awsPca.certificateAuthorityArn is required"],
  );
  assert.equal(issues(`section: UpstreamAuthority\nschema: v1\nspec:\n  extensions: {}\n`), ["spec.extensions.awsPca is required"]);
  assert.equal(issues(`schema: v1\n`), [`section is required ("UpstreamAuthority")`, "spec is required"]);
});

test("YAML that does not parse, or is not a mapping, is a ConfigError naming the file", () => {
  const bad = issues("section: [unclosed\n");
  assert.is(bad.length, 1);
  assert.match(bad[0]!, /^ua\.yaml: /);
  assert.equal(issues("- a\n- b\n"), ["ua.yaml: a managed config document must be a mapping with section, schema and spec"]);
  assert.match(issues("a: 1\na: 2\n")[0]!, /^ua\.yaml: Map keys must be unique/);
});

test.run();
