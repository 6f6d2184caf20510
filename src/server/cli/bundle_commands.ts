/**
 * `bundle list|set|delete|count` as SPIRE's cmd/spire-server/cli/bundle: federated bundles managed through the
 * Bundle API on the admin socket.
 * @module
 */
import { parseBundleDocument } from "../../core/bundle/parse_bundle_document.ts";
import { toSPIFFEBundle } from "../../core/bundle/spiffe_bundle.ts";
import { type Command, type CommandContext, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { fromBase64, toBase64 } from "../../core/encoding.ts";
import { NotFoundError, UsageError } from "../../core/errors.ts";
import type { FS } from "../../core/ports/fs.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { fromPEM, toPEM } from "../../core/x509/pem.ts";
import type { BundleJSON } from "../api/bundle_api.ts";
import { BatchDeleteFederatedBundleRequest_Mode, Bundle } from "../../agent/workload/proto/spire/api/server/bundle/v1/bundle_pb.ts";
import { bundleJSONFromProto, bundleJSONToProto } from "../grpcapi/rpc.ts";
import { type AdminDialer, SOCKET_FLAG } from "./admin_client.ts";

const FORMAT_FLAG = { name: "format", kind: "string", default: "pem", usage: 'The format of the bundle data. Either "pem" or "spiffe".' } as const;

function format(v: string): "pem" | "spiffe" {
  const f = v.toLowerCase();
  if (f !== "pem" && f !== "spiffe") throw new UsageError(`invalid format: "${v}"`);
  return f;
}

/** The bundle in the requested format, as SPIRE's printBundleWithFormat. */
export async function formatBundle(b: BundleJSON, f: "pem" | "spiffe"): Promise<string> {
  if (f === "pem") return b.x509_authorities.map((a) => toPEM(fromBase64(a.asn1), "CERTIFICATE")).join("");
  const doc = await toSPIFFEBundle({
    trustDomain: b.trust_domain,
    x509Authorities: b.x509_authorities.map((a) => fromBase64(a.asn1)),
    jwtKeys: b.jwt_authorities.map((k) => ({ kid: k.key_id, publicKey: fromBase64(k.public_key), notAfter: k.expires_at })),
    sequence: b.sequence_number,
    refreshHint: b.refresh_hint,
  });
  const out: Record<string, unknown> = { keys: doc.keys };
  if (doc.spiffe_refresh_hint) out["spiffe_refresh_hint"] = doc.spiffe_refresh_hint;
  if (doc.spiffe_sequence) out["spiffe_sequence"] = doc.spiffe_sequence;
  return JSON.stringify(out, null, 4) + "\n";
}

/** Bundle data from PEM or a SPIFFE document, for `bundle set` and `federation create -trustDomainBundlePath`. */
export async function bundleFromData(td: string, data: string, f: "pem" | "spiffe", now: Date): Promise<BundleJSON> {
  if (f === "pem") {
    let certs: Uint8Array[] = [];
    try {
      certs = fromPEM(data, "CERTIFICATE");
    } catch {
      // No PEM block at all: SPIRE's text below.
    }
    if (certs.length === 0) throw new UsageError("unable to parse bundle data: no PEM blocks");
    return { trust_domain: td, x509_authorities: certs.map((c) => ({ asn1: toBase64(c) })), jwt_authorities: [], refresh_hint: 0, sequence_number: 0 };
  }
  let b;
  try {
    b = await parseBundleDocument(data, td, now);
  } catch (err) {
    throw new UsageError(`unable to parse bundle data: ${(err as Error).message}`);
  }
  return {
    trust_domain: td,
    x509_authorities: b.x509Authorities.map((c) => ({ asn1: toBase64(c) })),
    jwt_authorities: b.jwtKeys.map((k) => ({ key_id: k.kid, public_key: toBase64(k.publicKey), expires_at: 0 })),
    refresh_hint: b.refreshHint,
    sequence_number: b.sequence,
  };
}

async function readPathOrStdin(fs: FS, ctx: CommandContext, path: string): Promise<string> {
  const p = path === "" ? "/dev/stdin" : path.startsWith("/") ? path : fs.join(ctx.env.cwd, path);
  try {
    return new TextDecoder().decode(await fs.readFile(p));
  } catch (err) {
    if (err instanceof NotFoundError) throw new UsageError(`open ${path}: no such file or directory`);
    throw err;
  }
}

function tdName(id: string): string {
  try {
    return spiffeid.trustDomainFromString(id).name;
  } catch (err) {
    throw new UsageError(`invalid trust domain "${id}": ${(err as Error).message}`);
  }
}

const HEADER = "****************************************";

export function bundleCommands(dial: AdminDialer, fs: FS, now: () => Date = () => new Date()): Command[] {
  const count = defineCommand({
    name: "bundle count",
    synopsis: "Count bundles",
    flags: [SOCKET_FLAG, OUTPUT_FLAG] as const,
    examples: ["bundle count"],
    async run(ctx, { values: v }) {
      const r = { count: (await dial(v.socketPath).grpc(Bundle.method.countBundles, {})).count };
      ctx.printer.result(`${r.count} ${r.count === 1 ? "bundle" : "bundles"}\n`, r);
      return 0;
    },
  });

  const list = defineCommand({
    name: "bundle list",
    synopsis: "Lists federated bundle data",
    flags: [SOCKET_FLAG, { name: "id", kind: "string", default: "", usage: "SPIFFE ID of the trust domain" }, FORMAT_FLAG, OUTPUT_FLAG] as const,
    examples: ["bundle list", "bundle list -id spiffe://two.example -format spiffe"],
    async run(ctx, { values: v }) {
      const f = format(v.format);
      const client = dial(v.socketPath);
      if (v.id !== "") {
        const b = bundleJSONFromProto(await client.grpc(Bundle.method.getFederatedBundle, { trustDomain: tdName(v.id) }));
        ctx.printer.result(await formatBundle(b, f), b);
        return 0;
      }
      const r = { bundles: (await client.grpc(Bundle.method.listFederatedBundles, {})).bundles.map(bundleJSONFromProto), next_page_token: "" };
      const parts: string[] = [];
      for (const b of r.bundles) parts.push(`${HEADER}\n* ${b.trust_domain}\n${HEADER}\n${await formatBundle(b, f)}`);
      ctx.printer.result(parts.join("\n"), r);
      return 0;
    },
  });

  const set = defineCommand({
    name: "bundle set",
    synopsis: "Creates or updates federated bundle data",
    flags: [
      SOCKET_FLAG,
      { name: "id", kind: "string", default: "", usage: "SPIFFE ID of the trust domain" },
      { name: "path", kind: "string", default: "", usage: "Path to the bundle data" },
      FORMAT_FLAG,
      OUTPUT_FLAG,
    ] as const,
    examples: ["bundle set -id spiffe://two.example -path two.pem", "bundle set -id spiffe://two.example -path two.json -format spiffe"],
    async run(ctx, { values: v }) {
      if (v.id === "") throw new UsageError("id flag is required");
      const f = format(v.format);
      const td = tdName(v.id);
      const b = await bundleFromData(td, await readPathOrStdin(fs, ctx, v.path), f, now());
      const set = await dial(v.socketPath).grpc(Bundle.method.batchSetFederatedBundle, { bundle: [bundleJSONToProto(b)] });
      const r = {
        results: set.results.map((x) => ({
          status: { code: x.status?.code ?? 0, message: x.status?.message ?? "" },
          ...(x.bundle ? { bundle: bundleJSONFromProto(x.bundle) } : {}),
        })),
      };
      const res = r.results[0]!;
      if (res.status.code !== 0) {
        ctx.env.stderr(`Error: failed to set federated bundle: ${res.status.message}\n`);
        return 1;
      }
      ctx.printer.result("bundle set.\n", r);
      return 0;
    },
  });

  const del = defineCommand({
    name: "bundle delete",
    synopsis: "Deletes federated bundle data",
    flags: [
      SOCKET_FLAG,
      { name: "id", kind: "string", default: "", usage: "SPIFFE ID of the trust domain" },
      { name: "mode", kind: "string", default: "restrict", usage: "Deletion mode: one of restrict, delete, or dissociate" },
      OUTPUT_FLAG,
    ] as const,
    examples: ["bundle delete -id spiffe://two.example", "bundle delete -id spiffe://two.example -mode dissociate"],
    async run(ctx, { values: v }) {
      if (v.id === "") throw new UsageError("id is required");
      const mode = v.mode.toLowerCase();
      if (!["restrict", "delete", "dissociate"].includes(mode)) throw new UsageError(`unsupported mode "${v.mode}"`);
      const deleted = await dial(v.socketPath).grpc(Bundle.method.batchDeleteFederatedBundle, {
        trustDomains: [tdName(v.id)],
        mode: ["restrict", "delete", "dissociate"].indexOf(mode) as BatchDeleteFederatedBundleRequest_Mode,
      });
      const r = {
        results: deleted.results.map((x) => ({ status: { code: x.status?.code ?? 0, message: x.status?.message ?? "" }, trust_domain: x.trustDomain })),
      };
      const res = r.results[0]!;
      if (res.status.code !== 0) {
        ctx.env.stderr(`Error: failed to delete federated bundle "${res.trust_domain}": ${res.status.message}\n`);
        return 1;
      }
      ctx.printer.result("bundle deleted.\n", r);
      return 0;
    },
  });

  return [count, list, set, del];
}
