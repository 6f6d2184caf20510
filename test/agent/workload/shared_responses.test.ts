import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { SharedResponses } from "../../../src/agent/workload/shared_responses.ts";
import { serverStreamMethod } from "../../../src/agent/workload/codec.ts";
import { X509SVIDRequestSchema, X509SVIDResponseSchema } from "../../../src/agent/workload/proto/workload_pb.ts";
import { create } from "@bufbuild/protobuf";

const uid = (n: number) => [{ type: "unix", value: `uid:${n}` }, { type: "unix", value: "gid:0" }];

test("SharedResponses: streams with the same selectors (in any order) get one message per state, built once", () => {
  const shared = new SharedResponses<{ n: number }>();
  let builds = 0;
  const build = () => ({ n: ++builds });
  const a = shared.join(uid(1));
  const b = shared.join([...uid(1)].reverse());
  const other = shared.join(uid(2));
  const first = a.get("s1", build);
  assert.is(b.get("s1", build), first);
  assert.is(builds, 1);
  assert.is.not(other.get("s1", build), first, "another selector set builds its own");
  assert.is(b.get("s2", build).n, 3, "a new state builds again");
  assert.is(a.get("s2", build).n, 3);
  assert.is(shared.size, 2);
  a.release();
  a.release();
  b.release();
  assert.is(shared.size, 1, "the slot goes with its last stream");
  other.release();
  assert.is(shared.size, 0);
});

test("serverStreamMethod encodes a message object once, whichever stream sends it", () => {
  const m = serverStreamMethod({ req: X509SVIDRequestSchema, res: X509SVIDResponseSchema, path: "/x" }, async () => {});
  const msg = create(X509SVIDResponseSchema, { crl: [new Uint8Array([1, 2])] });
  const bytes = m.encode(msg);
  assert.is(m.encode(msg), bytes);
  assert.equal(m.encode(create(X509SVIDResponseSchema, { crl: [new Uint8Array([1, 2])] })), bytes, "an equal message encodes alike");
});

test.run();
