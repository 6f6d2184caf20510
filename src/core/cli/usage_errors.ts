/** Usage errors with SPIRE-like texts, shared by every command (modeled on smallstep's errs.*). @module */
import { UsageError } from "../errors.ts";

/** A flag the command cannot run without: `-spiffeID flag is required`. */
export function requiredFlag(name: string): UsageError {
  return new UsageError(`-${name} flag is required`);
}

/** A flag value the command rejects: `invalid value "x" for flag -ttl: must be positive`. */
export function invalidFlagValue(name: string, value: string, why: string): UsageError {
  return new UsageError(`invalid value "${value}" for flag -${name}: ${why}`);
}

/** Two flags that cannot be given together: `-data and -spiffeID flags cannot be used together`. */
export function mutuallyExclusiveFlags(a: string, b: string): UsageError {
  return new UsageError(`-${a} and -${b} flags cannot be used together`);
}
