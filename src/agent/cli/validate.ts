/** `wisp-agent validate`: loads a config as `run` would and says whether it is valid (SPIRE's validate command). @module */
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { reportValidation } from "../../core/cli/validate_report.ts";
import { ConfigStatus } from "../../core/config/mod.ts";
import type { FS } from "../../core/ports/fs.ts";
import { AGENT_RUN_FLAGS, loadAgentConfigFromFlags } from "./run_flags.ts";

export function validateCommand(fs: FS): Command {
  return defineCommand({
    name: "validate",
    synopsis: "Validates a SPIRE agent configuration file",
    flags: AGENT_RUN_FLAGS,
    examples: ["validate -config conf/agent.conf", "validate -config agent.conf -expandEnv"],
    async run(ctx, flags) {
      try {
        await loadAgentConfigFromFlags(ctx, fs, flags, new ConfigStatus());
      } catch (err) {
        return reportValidation(ctx.env, "agent", err);
      }
      return reportValidation(ctx.env, "agent", undefined);
    },
  });
}
