/**
 * Key-compromise commands: `localauthority x509|jwt show|prepare|activate|taint|revoke` and `upstreamauthority
 * taint|revoke`, with SPIRE's synopses, flags and output (cmd/spire-server/cli/localauthority/*,
 * cmd/spire-server/cli/upstreamauthority/*, cmd/spire-server/cli/authoritycommon/authoritycommon.go).
 * @module
 */
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import type { AuthorityState, AuthorityStates } from "../ca/ca_manager.ts";
import { type AdminClient, type AdminDialer, SOCKET_FLAG } from "./admin_client.ts";
import { type DescMessage, type DescMethodUnary, type MessageInitShape, toJson } from "@bufbuild/protobuf";
import { LocalAuthority } from "../../agent/workload/proto/spire/api/server/localauthority/v1/localauthority_pb.ts";
import { fail, spireAction, wrapError } from "./spire_cmd.ts";
import { goJSON, goTimeUTC } from "./spire_print.ts";

/** `AuthorityState` in protobuf JSON (expires_at is an int64, so a string). */
function stateJSON(s: AuthorityState | undefined): Record<string, unknown> | undefined {
  return s && { authority_id: s.authority_id, expires_at: String(s.expires_at), upstream_authority_subject_key_id: s.upstream_authority_subject_key_id };
}

/** authoritycommon.prettyPrintAuthorityState. */
function prettyState(s: AuthorityState, x509: boolean): string {
  let out = `  Authority ID: ${s.authority_id}\n  Expires at: ${goTimeUTC(s.expires_at)}\n`;
  if (!x509) return out;
  out += s.upstream_authority_subject_key_id
    ? `  Upstream authority Subject Key ID: ${s.upstream_authority_subject_key_id}\n`
    : "  Upstream authority ID: No upstream authority\n";
  return out;
}

type Kind = "x509" | "jwt";
const LABEL: Record<Kind, string> = { x509: "X.509", jwt: "JWT" };
const RPC: Record<Kind, string> = { x509: "X509", jwt: "JWT" };

/**
 * Calls LocalAuthority/<rpc> over gRPC and answers in the JSON names the printers take (`authority_id`, `expires_at`
 * as a number, `upstream_authority_subject_key_id`).
 */
async function laCall<T>(client: AdminClient, rpc: string, req: { authorityId?: string; subjectKeyId?: string } = {}): Promise<T> {
  const m = LocalAuthority.methods.find((x) => x.name === rpc) as DescMethodUnary | undefined;
  if (!m) throw new Error(`LocalAuthority has no method ${rpc}`);
  const res = await client.grpc(m, req as MessageInitShape<DescMessage>);
  const json = toJson(m.output, res, { useProtoFieldName: true, alwaysEmitImplicit: true }) as Record<string, unknown>;
  for (const v of Object.values(json)) {
    const st = v as { authority_id?: unknown; expires_at?: unknown } | null;
    if (typeof st === "object" && st !== null && "authority_id" in st) st.expires_at = Number(st.expires_at);
  }
  return json as T;
}

function localAuthorityCommands(dial: AdminDialer, kind: Kind): Command[] {
  const L = LABEL[kind];
  const R = RPC[kind];
  const x509 = kind === "x509";

  const show = defineCommand({
    name: `localauthority ${kind} show`,
    synopsis: `Shows the local ${L} authorities`,
    flags: [SOCKET_FLAG, OUTPUT_FLAG] as const,
    examples: [`localauthority ${kind} show`, `localauthority ${kind} show -output json`],
    run: (ctx, { values: v }) =>
      spireAction(ctx, async () => {
        let r: AuthorityStates;
        try {
          r = await laCall<AuthorityStates>(dial(v.socketPath), `Get${R}AuthorityState`);
        } catch (err) {
          throw wrapError(`could not get ${L} authorities`, err);
        }
        if (ctx.output === "json") {
          ctx.env.stdout(goJSON({ active: stateJSON(r.active), prepared: stateJSON(r.prepared), old: stateJSON(r.old) }));
          return;
        }
        const block = (title: string, s: AuthorityState | undefined, none: string) =>
          `${title} ${L} authority:\n${s ? prettyState(s, x509) : `  No ${none} ${L} authority found\n`}`;
        ctx.env.stdout(`${block("Active", r.active, "active")}\n${block("Prepared", r.prepared, "prepared")}\n${block("Old", r.old, "old")}`);
      }),
  });

  const prepare = defineCommand({
    name: `localauthority ${kind} prepare`,
    synopsis: x509
      ? "Prepares a new X.509 authority for use by generating a new key and injecting the resulting CA certificate into the bundle"
      : "Prepares a new JWT authority for use by generating a new key and injecting it into the bundle",
    flags: [SOCKET_FLAG, OUTPUT_FLAG] as const,
    examples: [`localauthority ${kind} prepare`],
    run: (ctx, { values: v }) =>
      spireAction(ctx, async () => {
        let r: { prepared_authority: AuthorityState };
        try {
          r = await laCall(dial(v.socketPath), `Prepare${R}Authority`);
        } catch (err) {
          throw wrapError(`could not prepare ${L} authority`, err);
        }
        if (ctx.output === "json") ctx.env.stdout(goJSON({ prepared_authority: stateJSON(r.prepared_authority) }));
        else ctx.env.stdout(`Prepared ${L} authority:\n${prettyState(r.prepared_authority, x509)}`);
      }),
  });

  const withID = (verb: "activate" | "taint" | "revoke", synopsis: string, rpc: string, field: string, title: string) =>
    defineCommand({
      name: `localauthority ${kind} ${verb}`,
      synopsis,
      flags: [SOCKET_FLAG, { name: "authorityID", kind: "string", usage: `The authority ID of the ${L} authority to ${verb}` }, OUTPUT_FLAG] as const,
      examples: [`localauthority ${kind} ${verb} -authorityID <id from "localauthority ${kind} show">`],
      run: (ctx, { values: v }) =>
        spireAction(ctx, async () => {
          if (!v.authorityID) throw fail("an authority ID is required");
          let r: Record<string, AuthorityState>;
          try {
            r = await laCall(dial(v.socketPath), rpc, { authorityId: v.authorityID });
          } catch (err) {
            throw wrapError(`could not ${verb} ${L} authority`, err);
          }
          const s = r[field]!;
          if (ctx.output === "json") ctx.env.stdout(goJSON({ [field]: stateJSON(s) }));
          else ctx.env.stdout(`${title} ${L} authority:\n${prettyState(s, x509)}`);
        }),
    });

  return [
    show,
    prepare,
    withID(
      "activate",
      `Activates a prepared ${L} authority for use, which will cause it to be used for all ${L} signing operations serviced by this server going forward`,
      `Activate${R}Authority`,
      "activated_authority",
      "Activated",
    ),
    withID("taint", `Marks the previously active ${L} authority as being tainted`, `Taint${R}Authority`, "tainted_authority", "Tainted"),
    withID(
      "revoke",
      `Revokes the previously active ${L} authority by removing it from the bundle and propagating this update throughout the cluster`,
      `Revoke${R}Authority`,
      "revoked_authority",
      "Revoked",
    ),
  ];
}

function upstreamCommands(dial: AdminDialer): Command[] {
  const cmd = (verb: "taint" | "revoke", synopsis: string, usage: string, rpc: string, title: string) =>
    defineCommand({
      name: `upstreamauthority ${verb}`,
      synopsis,
      flags: [SOCKET_FLAG, { name: "subjectKeyID", kind: "string", usage }, OUTPUT_FLAG] as const,
      examples: [`upstreamauthority ${verb} -subjectKeyID <upstream_authority_subject_key_id from "localauthority x509 show">`],
      run: (ctx, { values: v }) =>
        spireAction(ctx, async () => {
          if (!v.subjectKeyID) throw fail("the Subject Key ID of the X.509 upstream authority is required");
          let r: { upstream_authority_subject_key_id: string };
          try {
            r = await laCall(dial(v.socketPath), rpc, { subjectKeyId: v.subjectKeyID });
          } catch (err) {
            throw wrapError(`could not ${verb} X.509 upstream authority`, err);
          }
          if (ctx.output === "json") ctx.env.stdout(goJSON(r));
          else ctx.env.stdout(`${title} X.509 upstream authority:\n  Subject Key ID: ${r.upstream_authority_subject_key_id}\n`);
        }),
    });
  return [
    cmd(
      "taint",
      "Marks the provided X.509 upstream authority as being tainted",
      "The X.509 Subject Key Identifier (or SKID) of the authority's CA certificate of the upstream X.509 authority to taint",
      "TaintX509UpstreamAuthority",
      "Tainted",
    ),
    cmd(
      "revoke",
      "Revokes the previously active X.509 upstream authority by removing it from the bundle and propagating this update throughout the cluster",
      "The X.509 Subject Key Identifier (or SKID) of the authority's CA certificate of the X.509 upstream authority to revoke",
      "RevokeX509UpstreamAuthority",
      "Revoked",
    ),
  ];
}

export function authorityCommands(dial: AdminDialer): Command[] {
  return [...localAuthorityCommands(dial, "x509"), ...localAuthorityCommands(dial, "jwt"), ...upstreamCommands(dial)];
}
