/** The error a CLI call gives when `-timeout` passes before the agent answers. @module */
import { UnavailableError } from "../../core/errors.ts";

export class DeadlineExceededError extends UnavailableError {
  constructor(ms: number) {
    super(`timed out after ${ms}ms waiting for the Workload API`);
  }
}
