/** `bundle show`, `token generate`, `healthcheck`, `ca rotate` (the agent commands are in agent_commands.ts). @module */
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { fromBase64 } from "../../core/encoding.ts";
import { formatError, UsageError } from "../../core/errors.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { toPEM } from "../../core/x509/pem.ts";
import { type AdminDialer, SOCKET_FLAG } from "./admin_client.ts";

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
      const client = dial(v.socketPath);
      const raw = await client.call<{ x509_authorities: string[] }>("GET", "/bundle/v1/bundle");
      if (ctx.printer.format === "json") {
        ctx.printer.result("", raw);
      } else if (v.format === "spiffe") {
        ctx.printer.result(JSON.stringify(await client.call("GET", "/bundle/v1/bundle?format=spiffe"), null, 4), {});
      } else {
        ctx.printer.result(raw.x509_authorities.map((a) => toPEM(fromBase64(a), "CERTIFICATE")).join(""), {});
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
      const alias = v.spiffeID ? spiffeid.fromString(v.spiffeID).toString() : undefined;
      const r = await dial(v.socketPath).call<{ value: string; expires_at: number }>("POST", "/agent/v1/join_tokens", {
        ttl: v.ttl,
        ...(alias ? { agent_id: alias } : {}),
      });
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
