/**
 * `federation create|list|show|update|delete|refresh` as SPIRE's cmd/spire-server/cli/federation: relationships
 * managed through the TrustDomain API on the admin socket.
 * @module
 */
import { type Command, type CommandContext, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { NotFoundError, UsageError } from "../../core/errors.ts";
import type { FS } from "../../core/ports/fs.ts";
import type { BundleJSON } from "../api/bundle_api.ts";
import type { FederationRelationshipJSON } from "../api/trustdomain_api.ts";
import { type AdminDialer, SOCKET_FLAG } from "./admin_client.ts";
import { TrustDomain } from "../../agent/workload/proto/spire/api/server/trustdomain/v1/trustdomain_pb.ts";
import { relationshipJSONFromProto, relationshipJSONToProto } from "../grpcapi/trustdomain_methods.ts";
import { bundleFromData } from "./bundle_commands.ts";

const CODE_NAMES: Record<number, string> = {
  3: "InvalidArgument",
  5: "NotFound",
  6: "AlreadyExists",
  9: "FailedPrecondition",
  13: "Internal",
  14: "Unavailable",
};

/** SPIRE's printFederationRelationship. */
function printRelationship(r: FederationRelationshipJSON): string {
  let s = `Trust domain              : ${r.trust_domain}\nBundle endpoint URL       : ${r.bundle_endpoint_url}\n`;
  if (r.https_spiffe) s += `Bundle endpoint profile   : https_spiffe\nEndpoint SPIFFE ID        : ${r.https_spiffe.endpoint_spiffe_id}\n`;
  else s += "Bundle endpoint profile   : https_web\n";
  return s;
}

async function readFile(fs: FS, ctx: CommandContext, path: string): Promise<string> {
  const p = path === "-" ? "/dev/stdin" : path.startsWith("/") ? path : fs.join(ctx.env.cwd, path);
  try {
    return new TextDecoder().decode(await fs.readFile(p));
  } catch (err) {
    if (err instanceof NotFoundError) throw new UsageError(`open ${path}: no such file or directory`);
    throw err;
  }
}

const REL_FLAGS = [
  SOCKET_FLAG,
  { name: "trustDomain", kind: "string", default: "", usage: 'Name of the trust domain to federate with (e.g., "example.org")' },
  {
    name: "bundleEndpointURL",
    kind: "string",
    default: "",
    usage: "URL of the SPIFFE bundle endpoint that provides the trust bundle (must use the HTTPS protocol)",
  },
  { name: "bundleEndpointProfile", kind: "string", default: "https_spiffe", usage: 'Endpoint profile type (either "https_web" or "https_spiffe")' },
  { name: "endpointSpiffeID", kind: "string", default: "", usage: "SPIFFE ID of the SPIFFE bundle endpoint server. Only used for 'spiffe' profile." },
  { name: "trustDomainBundlePath", kind: "string", default: "", usage: "Path to the trust domain bundle data (optional)." },
  { name: "trustDomainBundleFormat", kind: "string", default: "pem", usage: 'The format of the bundle data (optional). Either "pem" or "spiffe".' },
  {
    name: "data",
    kind: "string",
    default: "",
    usage: "Path to a file containing federation relationships in JSON format (optional). If set to '-', read the JSON from stdin.",
  },
  OUTPUT_FLAG,
] as const;

interface RelFlags {
  trustDomain: string;
  bundleEndpointURL: string;
  bundleEndpointProfile: string;
  endpointSpiffeID: string;
  trustDomainBundlePath: string;
  trustDomainBundleFormat: string;
  data: string;
}

/** The relationships a create/update command line asks for, as SPIRE's parseFederationRelationships. */
async function relationships(fs: FS, ctx: CommandContext, v: RelFlags, given: ReadonlySet<string>): Promise<FederationRelationshipJSON[]> {
  if (v.data !== "") {
    if (
      ["trustDomain", "bundleEndpointURL", "bundleEndpointProfile", "endpointSpiffeID", "trustDomainBundlePath", "trustDomainBundleFormat"].some((f) =>
        given.has(f)
      )
    ) {
      throw new UsageError("cannot use other flags to specify relationship fields when 'data' flag is set");
    }
    let doc: { federationRelationships?: Record<string, unknown>[] };
    try {
      doc = JSON.parse(await readFile(fs, ctx, v.data)) as typeof doc;
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`failed to parse JSON: ${(err as Error).message}`);
    }
    const out: FederationRelationshipJSON[] = [];
    for (const r of doc.federationRelationships ?? []) {
      const fmt = String(r["trustDomainBundleFormat"] ?? "");
      const rel = toJSON(
        String(r["trustDomain"] ?? ""),
        String(r["bundleEndpointURL"] ?? ""),
        String(r["bundleEndpointProfile"] ?? ""),
        String(r["endpointSPIFFEID"] ?? ""),
      );
      const b = r["trustDomainBundle"];
      if (b !== undefined && b !== null && b !== "") {
        if (fmt !== "pem" && fmt !== "spiffe") throw new UsageError(`bundle format must be explicit when the bundle is given: got "${fmt}"`);
        const text = typeof b === "string" ? b : JSON.stringify(b);
        rel.trust_domain_bundle = await bundleFromData(rel.trust_domain, text, fmt, new Date());
      }
      out.push(rel);
    }
    return out;
  }
  if (v.trustDomain === "") throw new UsageError("trust domain is required");
  if (v.bundleEndpointURL === "") throw new UsageError("bundle endpoint URL is required");
  const rel = toJSON(v.trustDomain, v.bundleEndpointURL, v.bundleEndpointProfile, v.endpointSpiffeID);
  if (v.trustDomainBundlePath !== "") {
    const fmt = v.trustDomainBundleFormat.toLowerCase();
    if (fmt !== "pem" && fmt !== "spiffe") throw new UsageError(`invalid format: "${v.trustDomainBundleFormat}"`);
    rel.trust_domain_bundle = await bundleFromData(v.trustDomain, await readFile(fs, ctx, v.trustDomainBundlePath), fmt, new Date());
  }
  return [rel];
}

function toJSON(td: string, url: string, profile: string, endpointID: string): FederationRelationshipJSON {
  if (profile === "https_spiffe") {
    if (endpointID === "") throw new UsageError("endpoint SPIFFE ID is required if 'https_spiffe' endpoint profile is set");
    return { trust_domain: td, bundle_endpoint_url: url, https_spiffe: { endpoint_spiffe_id: endpointID } };
  }
  if (profile === "https_web") {
    if (endpointID !== "") throw new UsageError("the 'https_web' endpoint profile does not expect an endpoint SPIFFE ID");
    return { trust_domain: td, bundle_endpoint_url: url, https_web: {} };
  }
  throw new UsageError(`unknown bundle endpoint profile type: "${profile}"`);
}

export function federationCommands(dial: AdminDialer, fs: FS): Command[] {
  const batch = (verb: "create" | "update") =>
    defineCommand({
      name: `federation ${verb}`,
      synopsis: verb === "create"
        ? "Creates a dynamic federation relationship with a foreign trust domain"
        : "Updates a dynamic federation relationship with a foreign trust domain",
      flags: REL_FLAGS,
      examples: [
        `federation ${verb} -trustDomain two.example -bundleEndpointURL https://two.example:8443 -endpointSpiffeID spiffe://two.example/spire/server -trustDomainBundlePath two.json -trustDomainBundleFormat spiffe`,
        `federation ${verb} -data relationships.json`,
      ],
      async run(ctx, { values: v, given }) {
        const rels = await relationships(fs, ctx, v, given ?? new Set());
        const method = verb === "create" ? "BatchCreateFederationRelationship" : "BatchUpdateFederationRelationship";
        const req = { federationRelationships: rels.map(relationshipJSONToProto) };
        const client = dial(v.socketPath);
        const res = method === "BatchCreateFederationRelationship"
          ? await client.grpc(TrustDomain.method.batchCreateFederationRelationship, req)
          : await client.grpc(TrustDomain.method.batchUpdateFederationRelationship, req);
        const r = {
          results: res.results.map((x) => ({
            status: { code: x.status?.code ?? 0, message: x.status?.message ?? "" },
            ...(x.federationRelationship ? { federation_relationship: relationshipJSONFromProto(x.federationRelationship) } : {}),
          })),
        };
        let failed = false;
        let out = "";
        r.results.forEach((res, i) => {
          if (res.status.code === 0 && res.federation_relationship) out += `\n${printRelationship(res.federation_relationship)}`;
          else {
            failed = true;
            ctx.env.stderr(
              `Failed to ${verb} the following federation relationship (code: ${
                CODE_NAMES[res.status.code] ?? res.status.code
              }, msg: "${res.status.message}"):\n${printRelationship(rels[i]!)}\n`,
            );
          }
        });
        ctx.printer.result(out, r);
        if (failed) {
          ctx.env.stderr(`Error: failed to ${verb} one or more federation relationships\n`);
          return 1;
        }
        return 0;
      },
    });

  const list = defineCommand({
    name: "federation list",
    synopsis: "Lists all dynamic federation relationships",
    flags: [SOCKET_FLAG, OUTPUT_FLAG] as const,
    examples: ["federation list"],
    async run(ctx, { values: v }) {
      const list = await dial(v.socketPath).grpc(TrustDomain.method.listFederationRelationships, {});
      const r = { federation_relationships: list.federationRelationships.map(relationshipJSONFromProto), next_page_token: "" };
      const n = r.federation_relationships.length;
      ctx.printer.result(
        `Found ${n} federation relationship${n === 1 ? "" : "s"}\n` + r.federation_relationships.map((x) => `\n${printRelationship(x)}`).join(""),
        r,
      );
      return 0;
    },
  });

  const show = defineCommand({
    name: "federation show",
    synopsis: "Shows a dynamic federation relationship",
    flags: [
      SOCKET_FLAG,
      { name: "trustDomain", kind: "string", default: "", usage: "The trust domain name of the federation relationship to show" },
      OUTPUT_FLAG,
    ] as const,
    examples: ["federation show -trustDomain two.example"],
    async run(ctx, { values: v }) {
      if (v.trustDomain === "") throw new UsageError("a trust domain name is required");
      const r = relationshipJSONFromProto(await dial(v.socketPath).grpc(TrustDomain.method.getFederationRelationship, { trustDomain: v.trustDomain }));
      ctx.printer.result(`Found a federation relationship with trust domain ${r.trust_domain}:\n\n${printRelationship(r)}`, r);
      return 0;
    },
  });

  const del = defineCommand({
    name: "federation delete",
    synopsis: "Deletes a dynamic federation relationship",
    flags: [SOCKET_FLAG, { name: "id", kind: "string", default: "", usage: "SPIFFE ID of the trust domain" }, OUTPUT_FLAG] as const,
    examples: ["federation delete -id two.example"],
    async run(ctx, { values: v }) {
      if (v.id === "") throw new UsageError("id is required");
      const deleted = await dial(v.socketPath).grpc(TrustDomain.method.batchDeleteFederationRelationship, { trustDomains: [v.id] });
      const r = {
        results: deleted.results.map((x) => ({ status: { code: x.status?.code ?? 0, message: x.status?.message ?? "" }, trust_domain: x.trustDomain })),
      };
      const res = r.results[0]!;
      if (res.status.code !== 0) {
        ctx.env.stderr(`Error: failed to delete federation relationship "${v.id}": ${res.status.message}\n`);
        return 1;
      }
      ctx.printer.result("federation relationship deleted.\n", r);
      return 0;
    },
  });

  const refresh = defineCommand({
    name: "federation refresh",
    synopsis: "Refreshes the bundle from the specified federated trust domain",
    flags: [SOCKET_FLAG, { name: "id", kind: "string", default: "", usage: "SPIFFE ID of the trust domain" }, OUTPUT_FLAG] as const,
    examples: ["federation refresh -id two.example"],
    async run(ctx, { values: v }) {
      if (v.id === "") throw new UsageError("id is required");
      await dial(v.socketPath).grpc(TrustDomain.method.refreshBundle, { trustDomain: v.id });
      ctx.printer.result("Bundle refreshed\n", {});
      return 0;
    },
  });

  return [batch("create"), list, show, batch("update"), del, refresh];
}

export type { BundleJSON };
