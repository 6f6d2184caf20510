/** x509pop clusters for integration tests: a server trusting an operator CA, agents presenting node certificates. @module */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Issued, pem } from "../server/nodeattestor/_pki.ts";
import { AGENT_BIN, type Cluster, newCluster, Proc, waitFor, wispAgent, wispServer } from "./_harness.ts";

/** A cluster whose server also runs NodeAttestor "x509pop" trusting `roots`. */
export async function x509popCluster(roots: Issued[], o: { extraServer?: string; serverPluginData?: string } = {}): Promise<Cluster> {
  const c = await newCluster({ extraServer: o.extraServer ?? "" });
  const bundle = join(c.dir, "edge-ca.pem");
  writeFileSync(bundle, pem.cert(...roots));
  const conf = readFileSync(c.serverConf, "utf8").replace(
    /NodeAttestor "join_token" \{\s*plugin_data \{\}\s*\}/,
    `NodeAttestor "join_token" {
    plugin_data {}
  }
  NodeAttestor "x509pop" {
    plugin_data {
      ca_bundle_path = "${bundle}"
      ${o.serverPluginData ?? ""}
    }
  }`,
  );
  writeFileSync(c.serverConf, conf);
  return c;
}

export interface EdgeAgent {
  name: string;
  conf: string;
  socket: string;
  dataDir: string;
  proc?: Proc;
}

/** Writes an agent.conf for one more agent of `c` that attests with x509pop (own socket and data dir). */
export function x509popAgent(c: Cluster, name: string, leaf: Issued, o: { intermediates?: Issued[]; extraAgent?: string } = {}): EdgeAgent {
  const dir = join(c.dir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "node.pem"), pem.cert(leaf));
  writeFileSync(join(dir, "node.key"), pem.key(leaf), { mode: 0o600 });
  if (o.intermediates) writeFileSync(join(dir, "intermediates.pem"), pem.cert(...o.intermediates));
  const socket = join(dir, "api.sock");
  const conf = readFileSync(c.agentConf, "utf8")
    .replace(/data_dir = "[^"]*"/, `data_dir = "${join(dir, "data")}"`)
    .replace(/socket_path = "[^"]*"/, `socket_path = "${socket}"\n  ${o.extraAgent ?? ""}`)
    .replace(
      /NodeAttestor "join_token" \{\s*plugin_data \{\}\s*\}/,
      `NodeAttestor "x509pop" {
    plugin_data {
      private_key_path = "${join(dir, "node.key")}"
      certificate_path = "${join(dir, "node.pem")}"
      ${o.intermediates ? `intermediates_path = "${join(dir, "intermediates.pem")}"` : ""}
    }
  }`,
    );
  const path = join(dir, "agent.conf");
  writeFileSync(path, conf);
  return { name, conf: path, socket, dataDir: join(dir, "data") };
}

export async function startEdgeAgent(a: EdgeAgent): Promise<Proc> {
  a.proc = new Proc(AGENT_BIN, ["run", "-config", a.conf]);
  await waitFor(`agent ${a.name} healthy`, async () => {
    if (a.proc!.exited) throw new Error(`agent ${a.name} exited: ${a.proc!.output}`);
    const r = await wispAgent(["healthcheck", "-socketPath", a.socket]);
    return r.code === 0 ? true : undefined;
  });
  return a.proc;
}

/** One agent of `agent list -output json`, with SPIRE's `id` object turned into the ID string for lookups. */
export interface AgentJSON {
  id: string;
  attestation_type: string;
  can_reattest: boolean;
  banned: boolean;
  x509svid_serial_number: string;
  selectors: { type: string; value: string }[];
}

export async function listAgents(c: Cluster): Promise<AgentJSON[]> {
  const r = await wispServer(["agent", "list", "-socketPath", c.serverSocket, "-output", "json"]);
  if (r.code !== 0) throw new Error(`agent list failed: ${r.stderr}${r.stdout}`);
  const agents = (JSON.parse(r.stdout) as { agents: (Omit<AgentJSON, "id"> & { id: { trust_domain: string; path: string } })[] }).agents;
  return agents.map((a) => ({ ...a, id: `spiffe://${a.id.trust_domain}${a.id.path}` }));
}
