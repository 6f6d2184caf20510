/** server.conf and agent.conf `NodeAttestor "aws_iid"` blocks: SPIRE's keys, defaults and refusals, all problems at once. @module */
import { test } from "../../../_uvu.ts";
import * as assert from "uvu/assert";
import { loadAgentConfig } from "../../../../src/agent/config.ts";
import { ConfigError } from "../../../../src/core/errors.ts";
import { loadServerConfig } from "../../../../src/server/config.ts";

function server(pluginData: string) {
  return loadServerConfig({
    filename: "server.conf",
    text: `server { trust_domain = "example.org" }\nplugins {\n  NodeAttestor "aws_iid" {\n    plugin_data {\n${pluginData}\n    }\n  }\n}\n`,
  });
}

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

test("server aws_iid: SPIRE's defaults", () => {
  const c = server("");
  assert.equal(c.nodeAttestors.find((n) => n.name === "aws_iid"), {
    name: "aws_iid",
    assumeRole: "",
    partition: "aws",
    skipBlockDevice: false,
    disableInstanceProfileSelectors: false,
    accountIdsForLocalValidation: [],
    agentPathTemplate: "/{{ .PluginName}}/{{ .AccountID }}/{{ .Region }}/{{ .InstanceID }}",
    trustedIIDCertificates: [],
  });
});

test("server aws_iid: every key read", () => {
  const c = server(`
      access_key_id = "AKIAEXAMPLE"
      secret_access_key = "secret"
      assume_role = "spire-server-delegate"
      partition = "aws-us-gov"
      skip_block_device = true
      disable_instance_profile_selectors = true
      account_ids_for_local_validation = ["123456789012"]
      agent_path_template = "/{{ .PluginName }}/{{ .InstanceID }}"
      trusted_iid_certificates = ["/etc/wisp/emulator-iid.pem"]`);
  assert.equal(c.nodeAttestors.find((n) => n.name === "aws_iid"), {
    name: "aws_iid",
    accessKeyId: "AKIAEXAMPLE",
    secretAccessKey: "secret",
    assumeRole: "spire-server-delegate",
    partition: "aws-us-gov",
    skipBlockDevice: true,
    disableInstanceProfileSelectors: true,
    accountIdsForLocalValidation: ["123456789012"],
    agentPathTemplate: "/{{ .PluginName }}/{{ .InstanceID }}",
    trustedIIDCertificates: ["/etc/wisp/emulator-iid.pem"],
  });
});

test("server aws_iid: every problem at once, verify_organization and validate_eks_cluster_membership refused by name", () => {
  const err = configError(() =>
    server(`
      access_key_id = "AKIAEXAMPLE"
      partition = "aws-mars"
      account_ids_for_local_validation = ["12"]
      verify_organization { management_account_id = "123456789012" }
      validate_eks_cluster_membership { eks_cluster_names = ["c"] }
      colour = "red"`)
  );
  const block = "plugins.NodeAttestor.aws_iid";
  assert.equal(err.issues.filter((i) => !i.includes("colour")), [
    `${block}: configuration is missing either access_key_id or secret_access_key; set both or neither`,
    `${block}: invalid partition "aws-mars", must be one of: [aws aws-cn aws-us-gov]`,
    `${block}: verify_organization is not supported by wisp; remove it (the account and cluster checks are not implemented)`,
    `${block}: validate_eks_cluster_membership is not supported by wisp; remove it (the account and cluster checks are not implemented)`,
    `${block}: account_ids_for_local_validation: "12" is not a 12-digit AWS account ID`,
  ]);
  assert.ok(err.issues.some((i) => i.includes("colour")), "the unknown key is reported too");
});

test("agent aws_iid: ec2_metadata_endpoint is read and checked", () => {
  const agent = (data: string) =>
    loadAgentConfig({
      filename: "agent.conf",
      text:
        `agent {\n  trust_domain = "example.org"\n  server_address = "127.0.0.1"\n  insecure_bootstrap = true\n}\nplugins {\n  NodeAttestor "aws_iid" {\n    plugin_data {\n${data}\n    }\n  }\n}\n`,
    });
  assert.equal(agent("").nodeAttestor, { name: "aws_iid" });
  assert.equal(agent(`ec2_metadata_endpoint = "http://127.0.0.1:9999/latest"`).nodeAttestor, {
    name: "aws_iid",
    ec2MetadataEndpoint: "http://127.0.0.1:9999/latest",
  });
  const err = configError(() => agent(`ec2_metadata_endpoint = "169.254.169.254"`));
  assert.match(err.issues.join("\n"), /ec2_metadata_endpoint must be an http\(s\) URL, got "169.254.169.254"/);
});

test.run();
