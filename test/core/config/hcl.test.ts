import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { parseConfigFile, parseHCL } from "../../../src/core/config/hcl.ts";
import { expandEnv } from "../../../src/core/config/expand_env.ts";
import { ConfigError } from "../../../src/core/errors.ts";

const SERVER = `
server {
  trust_domain = "example.org"
  bind_port = 8081
  ca_subject {
    country = ["US"]
  }
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "./ds.sqlite3"
    }
  }
  KeyManager "memory" {}
  UpstreamAuthority "disk" {
    plugin_data { cert_file_path = "a.pem" }
    enabled = false
  }
}
`;

test("parseHCL() unwraps blocks and groups plugins by type", () => {
  assert.equal(parseHCL(SERVER, "server.conf"), {
    server: { trust_domain: "example.org", bind_port: 8081, ca_subject: { country: ["US"] } },
    plugins: {
      DataStore: [{ name: "sql", plugin_data: { database_type: "sqlite3", connection_string: "./ds.sqlite3" } }],
      KeyManager: [{ name: "memory", plugin_data: {} }],
      UpstreamAuthority: [{ name: "disk", plugin_data: { cert_file_path: "a.pem" }, enabled: false }],
    },
  });
});

test("parseHCL() keeps every declaration of a repeated plugin type and merges plugins blocks", () => {
  const doc = parseHCL(`plugins {\n KeyManager "memory" {}\n KeyManager "disk" {}\n}\nplugins { NodeAttestor "join_token" {} }`, "x.conf");
  assert.equal(doc["plugins"], {
    KeyManager: [{ name: "memory", plugin_data: {} }, { name: "disk", plugin_data: {} }],
    NodeAttestor: [{ name: "join_token", plugin_data: {} }],
  });
});

test("parseHCL() leaves a block declared twice as an array", () => {
  assert.equal(parseHCL(`server { a = 1 }\nserver { b = 2 }`, "x.conf"), { server: [{ a: 1 }, { b: 2 }] });
});

test("parseHCL() reports a syntax error with its position", () => {
  try {
    parseHCL(`server {\n  trust_domain = "example.org"\n`, "/etc/wisp/server.conf");
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).code, "ERR_CONFIG_INVALID");
    assert.is((err as ConfigError).message, `failed to parse "/etc/wisp/server.conf": At 3:2: object expected closing RBRACE got: EOF`);
  }
});

test("parseHCL() reports an unterminated string", () => {
  assert.throws(
    () => parseHCL(`x = "a`, "a.conf"),
    (e: unknown) => e instanceof ConfigError && e.message === `failed to parse "a.conf": At 1:7: literal not terminated`,
  );
});

test("parseConfigFile() reads JSON files in SPIRE's JSON shape", () => {
  const text = JSON.stringify({
    server: { trust_domain: "example.org" },
    plugins: { KeyManager: [{ disk: { plugin_data: { keys_path: "k.json" } } }], NodeAttestor: { join_token: {} } },
  });
  assert.equal(parseConfigFile(text, { filename: "server.json" }), {
    server: { trust_domain: "example.org" },
    plugins: {
      KeyManager: [{ name: "disk", plugin_data: { keys_path: "k.json" } }],
      NodeAttestor: [{ name: "join_token", plugin_data: {} }],
    },
  });
});

test("parseConfigFile() reports malformed JSON", () => {
  assert.throws(
    () => parseConfigFile(`{"server": `, { filename: "s.json" }),
    (e: unknown) => e instanceof ConfigError && e.message.startsWith(`failed to parse "s.json": `),
  );
  assert.throws(
    () => parseConfigFile(`[1]`, { filename: "s.json" }),
    (e: unknown) => e instanceof ConfigError && e.message === `failed to parse "s.json": the top level must be an object`,
  );
});

test("parseConfigFile() expands environment variables only when asked", () => {
  const getenv = (k: string) => ({ TD: "example.org", PORT: "9000" } as Record<string, string>)[k];
  const text = `server {\n trust_domain = "\${TD}"\n bind_port = "$PORT"\n data_dir = "$UNSET/x"\n}`;
  assert.equal(parseConfigFile(text, { filename: "s.conf", expandEnv: true, getenv }), {
    server: { trust_domain: "example.org", bind_port: "9000", data_dir: "/x" },
  });
  assert.equal(parseConfigFile(text, { filename: "s.conf", getenv }), {
    server: { trust_domain: "${TD}", bind_port: "$PORT", data_dir: "$UNSET/x" },
  });
});

test("expandEnv() keeps a dollar sign not followed by a name", () => {
  assert.is(expandEnv("cost $ 5 and ${A}${B}", (k) => (k === "A" ? "x" : undefined)), "cost $ 5 and x");
});

test.run();
