/** `config set <file.yaml>` and `config get`: SPIRL-style managed config through the admin API. @module */
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { UsageError } from "../../core/errors.ts";
import type { FS } from "../../core/ports/fs.ts";
import type { ManagedConfigJSON } from "../api/managed_config_routes.ts";
import { parseUpstreamAuthorityDoc, UPSTREAM_AUTHORITY_SECTION } from "../managedconfig/upstream_authority_doc.ts";
import { type AdminDialer, SOCKET_FLAG } from "./admin_client.ts";

export function configCommands(dial: AdminDialer, fs: Pick<FS, "readFile" | "join">): Command[] {
  const set = defineCommand({
    name: "config set",
    synopsis: "Validates a managed config document (YAML) and stores it; servers apply it at the next CA rotation",
    flags: [SOCKET_FLAG, OUTPUT_FLAG] as const,
    examples: ["config set upstream-authority.yaml", "config set -socketPath /run/wisp/api.sock -output json upstream-authority.yaml"],
    async run(ctx, { values: v, positionals }) {
      const [file, ...extra] = positionals;
      if (file === undefined) throw new UsageError("a managed config file (YAML) is required");
      if (extra.length > 0) throw new UsageError(`unexpected arguments after "${file}": flags go before the file`);
      const path = file.startsWith("/") ? file : fs.join(ctx.env.cwd, file);
      const text = new TextDecoder().decode(await fs.readFile(path));
      // Validated here too, so every problem shows before anything reaches the server.
      const doc = parseUpstreamAuthorityDoc(text, file);
      const r = await dial(v.socketPath).call<ManagedConfigJSON>("PUT", `/config/v1/sections/${doc.section}`, { document: text });
      ctx.printer.result(
        `Config section "${r.section}" stored (version ${r.version}); servers apply it at the next CA rotation (wisp-server ca rotate applies it now)`,
        r,
      );
      return 0;
    },
  });

  const get = defineCommand({
    name: "config get",
    synopsis: "Prints the stored managed config document of a section",
    flags: [SOCKET_FLAG, { name: "section", kind: "string", default: UPSTREAM_AUTHORITY_SECTION, usage: "Managed config section" }, OUTPUT_FLAG] as const,
    examples: ["config get", "config get -output json"],
    async run(ctx, { values: v }) {
      const r = await dial(v.socketPath).call<ManagedConfigJSON>("GET", `/config/v1/sections/${encodeURIComponent(v.section)}`);
      const header = `# section ${r.section}, version ${r.version}, updated ${new Date(r.updated_at * 1000).toISOString()}\n`;
      ctx.printer.result(header + r.document, r);
      return 0;
    },
  });
  return [set, get];
}
