/** renderAgentPathTemplate: the Go text/template subset of SPIRE's agent_path_template. @module */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { InvalidArgumentError } from "../../../src/core/errors.ts";
import { checkAgentPathTemplate, renderAgentPathTemplate } from "../../../src/server/nodeattestor/agent_path_template.ts";

const data = {
  PluginName: "aws_iid",
  AccountID: "123456789012",
  Region: "us-east-1",
  InstanceID: "i-0abc",
  Fingerprint: "00ff",
  Subject: { CommonName: "edge-1", Organization: ["Acme", "Edge"] },
  Tags: { role: "edge", "team-name": "infra" },
};

function rejects(template: string, message: string) {
  try {
    renderAgentPathTemplate(template, data);
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.is((err as InvalidArgumentError).code, "ERR_INVALID_ARGUMENT");
    assert.is((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected "${message}"`);
}

test("renderAgentPathTemplate() renders SPIRE's default templates under /spire/agent", () => {
  assert.is(
    renderAgentPathTemplate("/{{ .PluginName}}/{{ .AccountID }}/{{ .Region }}/{{ .InstanceID }}", data),
    "/spire/agent/aws_iid/123456789012/us-east-1/i-0abc",
  );
  assert.is(renderAgentPathTemplate("/{{ .PluginName }}/{{ .Fingerprint }}", data), "/spire/agent/aws_iid/00ff");
});

test("renderAgentPathTemplate() reads nested fields, map keys by field and by index, and trims with {{- -}}", () => {
  assert.is(renderAgentPathTemplate("/{{ .Subject.CommonName }}", data), "/spire/agent/edge-1");
  assert.is(renderAgentPathTemplate('/{{ .Tags.role }}/{{ index .Tags "team-name" }}', data), "/spire/agent/edge/infra");
  assert.is(renderAgentPathTemplate("/a  {{- .Tags.role -}}  /b", data), "/spire/agent/a" + "edge" + "/b");
  assert.is(renderAgentPathTemplate("/{{ .Subject.Organization }}", data), "/spire/agent/[Acme Edge]");
  assert.is(renderAgentPathTemplate("/static{{/* a comment */}}", data), "/spire/agent/static");
});

test("renderAgentPathTemplate() rejects missing keys and fields, bad actions and paths without a leading slash", () => {
  rejects("/{{ .Tags.owner }}", 'map has no entry for key "owner"');
  rejects('/{{ index .Tags "owner" }}', 'map has no entry for key "owner"');
  rejects("/{{ .Nope }}", "can't evaluate field Nope");
  rejects("{{ .PluginName }}", 'agent path "aws_iid" must start with "/"');
  rejects("/{{ .PluginName", "unclosed action in template");
  rejects('/{{ printf "%s" .PluginName }}', 'unsupported template action "printf "%s" .PluginName"');
  rejects("/{{ .Subject }}", "template action renders a value that is not a string or number");
});

test("checkAgentPathTemplate() checks syntax without data, so configs are refused at start", () => {
  checkAgentPathTemplate('/{{ .PluginName }}/{{ index .Tags "k" }}');
  for (
    const [t, message] of [
      ["/{{ .PluginName", "unclosed action in template"],
      ["/{{ index .Tags }}", "wrong number of args for index: want at least 2"],
      ["/{{ }}", "missing value for command"],
      ["/{{ $x }}", 'unsupported template argument "$x"'],
    ]
  ) {
    assert.throws(() => checkAgentPathTemplate(t!), (err: Error) => err instanceof InvalidArgumentError && err.message === message, t);
  }
});

test.run();
