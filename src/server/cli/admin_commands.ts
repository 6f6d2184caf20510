/** `bundle show`, `token generate`, `healthcheck`, `ca rotate` (the agent commands are in agent_commands.ts). @module */
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { toBase64 } from "../../core/encoding.ts";
import { formatError, UsageError } from "../../core/errors.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { toPEM } from "../../core/x509/pem.ts";
import { type AdminDialer, SOCKET_FLAG } from "./admin_client.ts";
import { Agent } from "../../agent/workload/proto/spire/api/server/agent/v1/agent_pb.ts";
import { Bundle } from "../../agent/workload/proto/spire/api/server/bundle/v1/bundle_pb.ts";
import { toSPIFFEBundle } from "../../core/bundle/spiffe_bundle.ts";

export function adminCommands(dial: AdminDialer): Command[] {
  const bundleShow = defineCommand({
    name: "bundle show",
    synopsis: "Prints server CA bundle to stdout",
    flags: [SOCKET_FLAG, {
      name: "format",
      kind: "string",
      default: "pem",
      usage: 'The format to show the bundle (only pretty output format supports this flag). Either "pem" or "spiffe"',
    }, OUTPUT_FLAG] as const,
    examples: ["bundle show", "bundle show -format spiffe", "bundle show -output json"],
    async run(ctx, { values: v }) {
      if (v.format !== "pem" && v.format !== "spiffe") throw new UsageError(`invalid format: "${v.format}"`);
      const b = await dial(v.socketPath).grpc(Bundle.method.getBundle, {});
      if (ctx.printer.format === "json") {
        ctx.printer.result("", {
          trust_domain: b.trustDomain,
          x509_authorities: b.x509Authorities.map((a) => toBase64(a.asn1)),
          jwt_authorities: b.jwtAuthorities.map((k) => ({ key_id: k.keyId, public_key: toBase64(k.publicKey), expires_at: Number(k.expiresAt) })),
          sequence_number: Number(b.sequenceNumber),
          refresh_hint: Number(b.refreshHint),
        });
      } else if (v.format === "spiffe") {
        const doc = await toSPIFFEBundle({
          trustDomain: b.trustDomain,
          x509Authorities: b.x509Authorities.map((a) => a.asn1),
          jwtKeys: b.jwtAuthorities.map((k) => ({ kid: k.keyId, publicKey: k.publicKey, notAfter: Number(k.expiresAt) })),
          sequence: Number(b.sequenceNumber),
          refreshHint: Number(b.refreshHint),
        });
        ctx.printer.result(JSON.stringify(doc, null, 4), {});
      } else {
        ctx.printer.result(b.x509Authorities.map((a) => toPEM(a.asn1, "CERTIFICATE")).join(""), {});
      }
      return 0;
    },
  });

  const tokenGenerate = defineCommand({
    name: "token generate",
    synopsis: "Generates a join token",
    flags: [
      SOCKET_FLAG,
      { name: "spiffeID", kind: "string", usage: "Additional SPIFFE ID to assign the token owner (optional)" },
      { name: "ttl", kind: "int", default: 600, usage: "Token TTL in seconds" },
      OUTPUT_FLAG,
    ] as const,
    examples: ["token generate -spiffeID spiffe://example.org/node1", "token generate -ttl 3600 -output json"],
    async run(ctx, { values: v }) {
      if (v.ttl < 1) throw new UsageError("ttl must be at least 1 second");
      const alias = v.spiffeID ? spiffeid.fromString(v.spiffeID) : undefined;
      const t = await dial(v.socketPath).grpc(Agent.method.createJoinToken, {
        ttl: v.ttl,
        ...(alias ? { agentId: { trustDomain: alias.trustDomain.name, path: alias.path } } : {}),
      });
      const r = { value: t.value, expires_at: Number(t.expiresAt) };
      ctx.printer.result(`Token: ${r.value}`, { value: r.value, expires_at: r.expires_at });
      return 0;
    },
  });

  const healthcheck = defineCommand({
    name: "healthcheck",
    synopsis: "Determines server health status",
    flags: [SOCKET_FLAG, { name: "shallow", kind: "bool", usage: "Perform a less stringent health check" }, {
      name: "verbose",
      kind: "bool",
      usage: "Print verbose information",
    }] as const,
    examples: ["healthcheck", "healthcheck -socketPath /run/wisp/api.sock"],
    async run(ctx, { values: v }) {
      try {
        const h = await dial(v.socketPath).call<{ ready: boolean; details: Record<string, unknown> }>("GET", "/health");
        if (v.verbose) ctx.env.stdout(`Server health details: ${JSON.stringify(h.details)}\n`);
        if (!h.ready) {
          ctx.env.stderr(`Server is unhealthy: ${JSON.stringify(h.details)}\n`);
          return 1;
        }
        // Degraded still serves (exit 0): the CA is valid but its rotation keeps failing, e.g. ACM PCA unreachable.
        if (h.details["status"] === "degraded") {
          ctx.env.stdout(`Server is degraded: ${String(h.details["last_error"])}\n`);
          return 0;
        }
      } catch (err) {
        ctx.env.stderr(`Server is unhealthy: ${formatError(err)}\n`);
        return 1;
      }
      ctx.env.stdout("Server is healthy.\n");
      return 0;
    },
  });

  const caRotate = defineCommand({
    name: "ca rotate",
    synopsis: "Prepares and activates a new X.509 CA and JWT key now",
    flags: [SOCKET_FLAG, OUTPUT_FLAG] as const,
    examples: ["ca rotate"],
    async run(ctx, { values: v }) {
      const r = await dial(v.socketPath).call<{ authority_id: string; expires_at: number }>("POST", "/ca/v1/rotate", {});
      ctx.printer.result(`Activated X509 CA ${r.authority_id} (expires ${new Date(r.expires_at * 1000).toISOString()})`, r);
      return 0;
    },
  });
  return [bundleShow, tokenGenerate, healthcheck, caRotate];
}
