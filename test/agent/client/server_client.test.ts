/** ServerClient with several servers: connection failures move to the next server, answered errors do not. */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { ServerClient } from "../../../src/agent/client/server_client.ts";
import { InvalidArgumentError, UnavailableError } from "../../../src/core/errors.ts";
import type { ServerConnector } from "../../../src/core/ports/server_connector.ts";
import * as spiffeid from "../../../src/core/spiffeid/mod.ts";
import { type LogRecord, newLogger } from "../../../src/core/log/logger.ts";

const TD = spiffeid.trustDomainFromString("example.org");
const BUNDLE = { keys: [], spiffe_sequence: 1 };

/** A connector whose servers are up or down by address; every call is recorded as "address:port path". */
function fakeConnector(up: Set<string>, calls: string[], answer: (addr: string) => Response = () => Response.json(BUNDLE)): ServerConnector {
  return {
    connect: (o) => ({
      fetch: async (path) => {
        calls.push(`${o.address}:${o.port} ${path}`);
        if (!up.has(o.address)) throw new TypeError("fetch failed");
        return answer(o.address);
      },
      close: async () => {},
    }),
  };
}

test("a call that cannot reach a server moves to the next one and stays there", async () => {
  const calls: string[] = [];
  const up = new Set(["b"]);
  const records: LogRecord[] = [];
  const logger = newLogger({ level: "debug", sink: (r) => records.push(r) });
  const c = new ServerClient({
    connector: fakeConnector(up, calls),
    address: "",
    port: 0,
    servers: [{ address: "a", port: 1 }, { address: "b", port: 2 }],
    trustDomain: TD,
    logger,
  });
  assert.equal(await c.fetchBundle(), []);
  assert.equal(await c.fetchBundle(), []);
  assert.equal(calls, ["a:1 /bundle/v1/bundle", "b:2 /bundle/v1/bundle", "b:2 /bundle/v1/bundle"]);
  assert.is(c.currentServer, "b:2");
  assert.equal(records.map((r) => [r.msg, r.fields["address"], r.fields["next"]]), [["Server unreachable; switching to the next server", "a:1", "b:2"]]);
});

test("every server down: one UnavailableError naming the last server tried, each tried once", async () => {
  const calls: string[] = [];
  const c = new ServerClient({
    connector: fakeConnector(new Set(), calls),
    address: "",
    port: 0,
    servers: [{ address: "a", port: 1 }, { address: "::1", port: 2 }],
    trustDomain: TD,
  });
  try {
    await c.fetchBundle();
    assert.unreachable();
  } catch (err) {
    assert.instance(err, UnavailableError);
    assert.is((err as UnavailableError).message, "failed to reach server at [::1]:2");
  }
  assert.is(calls.length, 2);
});

test("an error the server answered is not a reason to fail over", async () => {
  const calls: string[] = [];
  const answer = () => Response.json({ status: "INVALID_ARGUMENT", code: "ERR_INVALID_ARGUMENT", message: "bad" }, { status: 400 });
  const c = new ServerClient({
    connector: fakeConnector(new Set(["a", "b"]), calls, answer),
    address: "",
    port: 0,
    servers: [{ address: "a", port: 1 }, { address: "b", port: 2 }],
    trustDomain: TD,
  });
  try {
    await c.fetchBundle();
    assert.unreachable();
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
  }
  assert.equal(calls, ["a:1 /bundle/v1/bundle"]);
});

test("without a server list, address and port are the one server (unchanged single-server behaviour)", async () => {
  const calls: string[] = [];
  const c = new ServerClient({ connector: fakeConnector(new Set(), calls), address: "h", port: 9, trustDomain: TD });
  await c.fetchBundle().catch((err: Error) => assert.is(err.message, "failed to reach server at h:9"));
  assert.equal(calls, ["h:9 /bundle/v1/bundle"]);
});

test.run();
