/** Top-level blocks SPIRE reads beside `server`/`agent`: where `health_checks` may be written. @module */
import { type HealthChecksConfig, readHealthChecks } from "./common.ts";
import type { ConfigSection } from "./section.ts";
import type { ConfigStatus } from "./status.ts";

/**
 * Reads `health_checks` from the top level (SPIRE's placement, `Config.HealthChecks` in run.go) or from inside the
 * `server`/`agent` block (where wisp read it first, so existing wisp configs keep working). Both at once is an error:
 * one of them would silently lose.
 */
export function readHealthChecksPlacement(root: ConfigSection, block: ConfigSection, status: ConfigStatus): HealthChecksConfig {
  const top = root.has("health_checks");
  const nested = block.has("health_checks");
  if (top && nested) {
    status.error(
      `health_checks is set both at the top level and in ${block.key("health_checks")}; keep only the top-level block (SPIRE's placement)`,
    );
  }
  // Both are read so that neither is reported as an unknown key on top of the error above.
  const fromTop = readHealthChecks(root, status);
  const fromBlock = readHealthChecks(block, status);
  return nested && !top ? fromBlock : fromTop;
}
