import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { ConfigSection } from "../../../src/core/config/section.ts";
import { ConfigStatus } from "../../../src/core/config/status.ts";
import { mergeOverrides } from "../../../src/core/config/merge.ts";
import { readPlugins } from "../../../src/core/config/plugins.ts";

test("ConfigSection reads typed values and reports unread keys on finish()", () => {
  const status = new ConfigStatus();
  const root = new ConfigSection("", { agent: { port: "8081", on: "true", names: "a", ttl: 30, extra: 1, nested: { x: 1 } } }, status);
  const a = root.section("agent");
  assert.is(a.int("port", { min: 1, max: 65535 }), 8081);
  assert.is(a.bool("on"), true);
  assert.equal(a.stringList("names"), ["a"]);
  assert.is(a.duration("ttl"), 30_000);
  assert.is(a.string("missing"), undefined);
  a.section("nested");
  root.finish();
  assert.equal(status.errors, [`unknown configuration key "agent.extra"`, `unknown configuration key "agent.nested.x"`]);
});

test("ConfigSection rejects a block declared twice or given as a value", () => {
  const status = new ConfigStatus();
  const root = new ConfigSection("", { server: [{ a: 1 }, { b: 2 }], agent: "x" }, status);
  root.section("server");
  root.section("agent");
  assert.equal(status.errors, ["server must be declared once", "agent must be a block"]);
});

test("mergeOverrides() writes given flags over the block and ignores empty ones", () => {
  const keys = { trustDomain: "trust_domain", dataDir: "data_dir" };
  const doc = { server: { trust_domain: "file.org", data_dir: "/file" }, plugins: {} };
  assert.equal(mergeOverrides(doc, { block: "server", values: { trustDomain: "flag.org", dataDir: "" }, keys }), {
    server: { trust_domain: "flag.org", data_dir: "/file" },
    plugins: {},
  });
  assert.equal(mergeOverrides(undefined, { block: "server", values: { dataDir: "/d" }, keys }), { server: { data_dir: "/d" } });
  assert.equal(doc.server.trust_domain, "file.org");
});

test("readPlugins() rejects a plugins value that is not a block of declarations", () => {
  const status = new ConfigStatus();
  assert.equal(readPlugins("KeyManager", { rules: { KeyManager: { names: ["memory"], single: true } }, status }), {});
  assert.equal(status.errors, [`plugins must be a block of Type "name" { plugin_data { ... } } declarations`]);
});

test("readPlugins() rejects a plugin declared twice and a non-boolean enabled", () => {
  const status = new ConfigStatus();
  const got = readPlugins(
    { NodeAttestor: [{ name: "join_token", plugin_data: {} }, { name: "join_token", plugin_data: {}, enabled: "no" }] },
    { rules: { NodeAttestor: { names: ["join_token"], single: false } }, status },
  );
  assert.equal(got["NodeAttestor"]?.map((p) => p.name), ["join_token"]);
  assert.equal(status.errors, [`NodeAttestor plugin "join_token" is declared more than once`]);
  const s2 = new ConfigStatus();
  readPlugins({ NodeAttestor: [{ name: "join_token", plugin_data: {}, enabled: "no" }] }, {
    rules: { NodeAttestor: { names: ["join_token"], single: false } },
    status: s2,
  });
  assert.equal(s2.errors, ["plugins.NodeAttestor.join_token.enabled must be a boolean"]);
});

test.run();
