/**
 * The agent's SDS config keys, each by its effect on what an independent xDS client (Python grpcio) receives: the
 * `sds` block (default_svid_name, default_bundle_name, default_all_bundles_name, disable_spiffe_cert_validation) and
 * disable_sds_api. The protocol itself: sds.test.ts.
 * @module
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { createEntry } from "./_clients.ts";
import { AGENT_BIN, agentConf, type Cluster, joinToken, newCluster, Proc, startServer, tail, waitFor, wispAgent, wispServer } from "./_harness.ts";
import { checkTLSCertificate, pemCertificates, type RequestCmd, type ResponseJSON, sdsFetchMany, sdsOnce, SDSStream, sdsStubs } from "./_sds_client.ts";

const ON_AGENT2 = "spiffe://example.org/web-on-agent2";

let c: Cluster;
let stubs = "";
let agent2: { proc: Proc; socket: string } | undefined;
let agent3: { proc: Proc; socket: string } | undefined;
let setupError: unknown;
const streams: SDSStream[] = [];
let serverBundlePEM = "";

async function startExtraAgent(name: string, alias: string, keys: string): Promise<{ proc: Proc; socket: string }> {
  const conf = agentConf(c, name, `trust_bundle_path = "${c.bundlePath}"\n${keys}`);
  const proc = new Proc(AGENT_BIN, ["run", "-config", conf.conf, "-joinToken", await joinToken(c, alias)]);
  await waitFor(`${name} healthy`, async () => {
    if (proc.exited) throw new Error(`${name} exited: ${proc.output}`);
    const r = await wispAgent(["healthcheck", "-socketPath", conf.socket]);
    return r.code === 0 ? true : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}\n--- ${name} output ---\n${tail(proc.output)}`, { cause: err });
  });
  return { proc, socket: conf.socket };
}

function open(asUser: number, socket: string): SDSStream {
  const s = new SDSStream(stubs, socket, asUser);
  streams.push(s);
  return s;
}

async function fetchWhenReady(req: RequestCmd, asUser: number, socket: string): Promise<ResponseJSON> {
  return waitFor(`FetchSecrets ${JSON.stringify(req.resource_names)} as ${asUser}`, async () => (await sdsOnce(stubs, socket, "fetch", req, asUser)).response);
}

test.before(async () => {
  try {
    c = await newCluster();
    await startServer(c);
    [agent2, agent3, stubs] = await Promise.all([
      startExtraAgent(
        "agent2",
        "spiffe://example.org/node2",
        `
  sds {
    default_svid_name = "my-svid"
    default_bundle_name = "my-bundle"
    default_all_bundles_name = "my-all"
    disable_spiffe_cert_validation = true
  }`,
      ),
      startExtraAgent("agent3", "spiffe://example.org/node3", "disable_sds_api = true"),
      sdsStubs(c.dir),
    ]);
    await createEntry(c, { spiffeID: ON_AGENT2, selector: "unix:uid:1000", parentID: "spiffe://example.org/node2" });
    const r = await wispServer(["bundle", "show", "-socketPath", c.serverSocket]);
    if (r.code !== 0) throw new Error(`bundle show: ${r.stderr}`);
    serverBundlePEM = r.stdout;
    await fetchWhenReady({ resource_names: [ON_AGENT2] }, 1000, agent2.socket);
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  for (const s of streams) await s.kill();
  await agent2?.proc.stop();
  await agent3?.proc.stop();
  await c?.cleanup();
});

function ready(): void {
  if (setupError !== undefined) throw setupError;
}

const ders = (pem: string) => pemCertificates(pem).map((x) => x.raw.toString("hex"));

test("sds block: custom default names serve, the defaults become unknown names, disable_spiffe_cert_validation gives trusted_ca", async () => {
  ready();
  const sock = agent2!.socket;
  const [named, old, allOff, allOn] = await sdsFetchMany(stubs, sock, [
    { resource_names: ["my-svid", "my-bundle"] },
    { resource_names: ["default", "ROOTCA", "ALL"] },
    { resource_names: ["my-all"] },
    { resource_names: ["my-all"], node: { metadata: { disable_spiffe_cert_validation: false } } },
  ]);
  const r = named!.response!;
  assert.equal(r.resources.map((x) => x.name), ["my-bundle", "my-svid"]);
  checkTLSCertificate(r.resources[1]!, ON_AGENT2);
  assert.is(r.resources[0]!.custom_validator, undefined);
  assert.equal(ders(r.resources[0]!.trusted_ca!), ders(serverBundlePEM));
  assert.equal(old!.status, { code: "INVALID_ARGUMENT", details: `workload is not authorized for the requested identities ["ALL" "ROOTCA" "default"]` });
  // default_all_bundles_name: with validation disabled it cannot be served; the node metadata turns the validator back on.
  assert.equal(allOff!.status, { code: "INTERNAL", details: `unable to use "SPIFFE validator" on Envoy below 1.17` });
  assert.equal(allOn!.response!.resources.map((x) => x.name), ["my-all"]);
  assert.equal(allOn!.response!.resources[0]!.custom_validator!.trust_domains.map((t) => t.name), ["example.org"]);
});

test("disable_sds_api: the socket serves the Workload API (health) but no SecretDiscoveryService", async () => {
  ready();
  const sock = agent3!.socket;
  const h = await wispAgent(["healthcheck", "-socketPath", sock]);
  assert.is(h.code, 0, h.stderr);
  const r = await sdsOnce(stubs, sock, "fetch", {});
  assert.is(r.status?.code, "UNIMPLEMENTED");
  const s = open(1000, sock);
  s.send({});
  assert.is((await s.ended()).code, "UNIMPLEMENTED");
  assert.match(agent3!.proc.output, /apis="?Workload API"?/);
  assert.match(agent2!.proc.output, /apis="Workload and SDS APIs"/);
});

test.run();
