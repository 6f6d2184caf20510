/** Async pushes after every cache change, one at a time, for streams whose messages need awaited work. @module */
import type { CallContext } from "../../core/ports/grpc_server.ts";
import type { AgentManager } from "../manager/manager.ts";

/**
 * Runs `push` now and after every cache change, one at a time so messages go out in the order the cache changed, until
 * the client leaves (resolves) or `push` throws (rejects with that error, ending the stream with its status).
 */
export function watchSerial(manager: AgentManager, ctx: CallContext, push: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false;
    let running: Promise<void> = Promise.resolve();
    let unsubscribe = () => {};
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      unsubscribe();
      ctx.signal.removeEventListener("abort", onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = () => finish();
    const schedule = () => {
      running = running.then(() => (done ? undefined : push())).catch(finish);
    };
    // The client may have left while it was being attested; "abort" will not fire again then.
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    unsubscribe = manager.subscribe(schedule);
    schedule();
  });
}
