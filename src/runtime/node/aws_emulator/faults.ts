/** Fault injection switches, one per emulated service, set through POST /_emulator/faults. @module */

export type ServiceName = "acm-pca" | "kms" | "sts" | "ec2" | "iam";
export type FaultMode = "ok" | "down" | "slow" | "error" | "access_denied" | "invalid_state";

export const SERVICES: readonly ServiceName[] = ["acm-pca", "kms", "sts", "ec2", "iam"];
/** Services with a CA or key state that "invalid_state" can force. */
const STATEFUL: readonly ServiceName[] = ["acm-pca", "kms"];
const MODES: readonly FaultMode[] = ["ok", "down", "slow", "error", "access_denied", "invalid_state"];

/** The fault currently applied to one service. */
export interface Fault {
  mode: FaultMode;
  /** Added latency in ms for "slow" (default 2000). */
  delayMs: number;
}

const DEFAULT_SLOW_MS = 2000;

/** Holds the active fault of every service; all start "ok". */
export class Faults {
  #faults = new Map<ServiceName, Fault>();

  get(service: ServiceName): Fault {
    return this.#faults.get(service) ?? { mode: "ok", delayMs: 0 };
  }

  /**
   * Applies a fault request body; returns an error message when the body is not acceptable.
   * Accepts `{service, mode, delayMs?}`; `service` may be omitted to switch every service.
   */
  apply(body: unknown): string | undefined {
    if (typeof body !== "object" || body === null) return "fault request must be a JSON object";
    const { service, mode, delayMs } = body as Record<string, unknown>;
    if (service !== undefined && !SERVICES.includes(service as ServiceName)) {
      return `unknown service "${String(service)}", expected one of ${SERVICES.map((s) => `"${s}"`).join(", ")}`;
    }
    if (!MODES.includes(mode as FaultMode)) {
      return `unknown mode "${String(mode)}", expected one of ${MODES.map((m) => `"${m}"`).join(", ")}`;
    }
    if (delayMs !== undefined && (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0)) {
      return "delayMs must be a non-negative number";
    }
    if (mode === "invalid_state" && service !== undefined && !STATEFUL.includes(service as ServiceName)) {
      return `mode "invalid_state" is not supported for service "${String(service)}"`;
    }
    const targets = service === undefined ? SERVICES.filter((s) => mode !== "invalid_state" || STATEFUL.includes(s)) : [service as ServiceName];
    for (const s of targets) {
      this.#faults.set(s, { mode: mode as FaultMode, delayMs: mode === "slow" ? ((delayMs as number | undefined) ?? DEFAULT_SLOW_MS) : 0 });
    }
    return undefined;
  }

  /** A JSON-friendly snapshot for logs and the config endpoint. */
  snapshot(): Record<string, Fault> {
    return Object.fromEntries(SERVICES.map((s) => [s, this.get(s)]));
  }
}
