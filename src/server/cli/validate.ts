/** `wisp-server validate`: loads a config as `run` would and says whether it is valid (SPIRE's validate command). @module */
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { reportValidation } from "../../core/cli/validate_report.ts";
import { ConfigStatus } from "../../core/config/mod.ts";
import type { FS } from "../../core/ports/fs.ts";
import { loadServerConfigFromFlags, SERVER_RUN_FLAGS } from "./run_flags.ts";

export function validateCommand(fs: FS): Command {
  return defineCommand({
    name: "validate",
    synopsis: "Validates a SPIRE server configuration file",
    flags: SERVER_RUN_FLAGS,
    examples: ["validate -config conf/server.conf", "validate -config server.conf -expandEnv"],
    async run(ctx, flags) {
      try {
        await loadServerConfigFromFlags(ctx, fs, flags, new ConfigStatus());
      } catch (err) {
        return reportValidation(ctx.env, "server", err);
      }
      return reportValidation(ctx.env, "server", undefined);
    },
  });
}
