/**
 * AdminClient.grpc's error wording: a failed dial of the admin socket reads as grpc-go's dial error, while a status the
 * server answered keeps its own text, even when that text names a refused connection of the server's own.
 * @module
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { InternalError, UnavailableError } from "../../../src/core/errors.ts";
import { AdminClient, RPCError } from "../../../src/server/cli/admin_client.ts";
import { Bundle } from "../../../src/agent/workload/proto/spire/api/server/bundle/v1/bundle_pb.ts";

const noFetch = () => Promise.reject(new Error("no JSON API in this test"));
const failing = (err: Error) => new AdminClient(noFetch, "/run/wisp/api.sock", () => Promise.reject(err));

async function rejection(c: AdminClient): Promise<RPCError> {
  const err = await c.grpc(Bundle.method.getBundle, {}).then(() => undefined, (e: unknown) => e);
  assert.instance(err, RPCError);
  return err as RPCError;
}

test("a refused dial of the socket reads as grpc-go's transport error", async () => {
  const err = await rejection(failing(new UnavailableError("No connection established. Last error: Error: connect ECONNREFUSED /run/wisp/api.sock")));
  assert.is(
    err.message,
    'rpc error: code = Unavailable desc = connection error: desc = "transport: error while dialing: dial unix /run/wisp/api.sock: connect: connection refused"',
  );
});

test("a server's Unavailable naming its own refused connection keeps the server's text", async () => {
  const err = await rejection(failing(new UnavailableError("unable to reach upstream: connect ECONNREFUSED 127.0.0.1:1")));
  assert.is(err.message, "rpc error: code = Unavailable desc = unable to reach upstream: connect ECONNREFUSED 127.0.0.1:1");
  assert.is(err.status, "UNAVAILABLE");
});

test("other statuses are printed with grpc-go's code names", async () => {
  const err = await rejection(failing(new InternalError("failed to refresh bundle: unable to fetch bundle: connect ECONNREFUSED 127.0.0.1:1")));
  assert.is(err.message, "rpc error: code = Internal desc = failed to refresh bundle: unable to fetch bundle: connect ECONNREFUSED 127.0.0.1:1");
});

test.run();
