/** parseAddress(): the SPIFFE_ENDPOINT_SOCKET forms go-spiffe accepts and rejects, plus plain socket paths. @module */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { InvalidArgumentError } from "../../../src/core/errors.ts";
import { grpcTarget, parseAddress, type WorkloadAddress } from "../../../src/core/workloadapi/address.ts";

const accepts: [string, WorkloadAddress, boolean?][] = [
  ["unix:///tmp/spire-agent/public/api.sock", { network: "unix", path: "/tmp/spire-agent/public/api.sock" }],
  ["unix:/tmp/agent.sock", { network: "unix", path: "/tmp/agent.sock" }],
  ["UNIX:///tmp/a%20b.sock", { network: "unix", path: "/tmp/a b.sock" }],
  ["tcp://1.2.3.4:5", { network: "tcp", host: "1.2.3.4", port: 5 }],
  ["tcp://[::1]:8080", { network: "tcp", host: "::1", port: 8080 }],
  ["/tmp/spire-agent/public/api.sock", { network: "unix", path: "/tmp/spire-agent/public/api.sock" }, true],
  ["relative/api.sock", { network: "unix", path: "relative/api.sock" }, true],
  ["unix:///tmp/x.sock", { network: "unix", path: "/tmp/x.sock" }, true],
];
for (const [addr, want, allowPath] of accepts) {
  test(`parseAddress() accepts ${JSON.stringify(addr)}${allowPath ? " as a path" : ""}`, () => {
    assert.equal(parseAddress(addr, allowPath ? { allowPath } : {}), want);
  });
}

const rejects: [string, string][] = [
  ["\t", "workload endpoint socket is not a valid URI: invalid control character in URL"],
  ["", "workload endpoint socket address cannot be empty"],
  ["blah", 'workload endpoint socket URI must have a "tcp" or "unix" scheme'],
  ["/tmp/api.sock", 'workload endpoint socket URI must have a "tcp" or "unix" scheme'],
  ["http://localhost/x", 'workload endpoint socket URI must have a "tcp" or "unix" scheme'],
  ["tcp:opaque", "workload endpoint tcp socket URI must not be opaque"],
  ["tcp://", "workload endpoint tcp socket URI must include a host"],
  ["tcp://1.2.3.4:5?whatever", "workload endpoint tcp socket URI must not include query values"],
  ["tcp://1.2.3.4:5#whatever", "workload endpoint tcp socket URI must not include a fragment"],
  ["tcp://john:doe@1.2.3.4:5/path", "workload endpoint tcp socket URI must not include user info"],
  ["tcp://1.2.3.4:5/path", "workload endpoint tcp socket URI must not include a path"],
  ["tcp://foo", "workload endpoint tcp socket URI host component must be an IP:port"],
  ["tcp://1.2.3.4", "workload endpoint tcp socket URI host component must include a port"],
  ["tcp://1.2.3.4:99999", 'workload endpoint tcp socket URI port "99999" is not a valid port number'],
  ["unix:opaque", "workload endpoint unix socket URI must not be opaque"],
  ["unix://", "workload endpoint unix socket URI must include a path"],
  ["unix:", "workload endpoint unix socket URI must include a path"],
  ["unix:///tmp/x.sock?whatever", "workload endpoint unix socket URI must not include query values"],
  ["unix://foo?whatever", "workload endpoint unix socket URI must not include query values"],
  ["unix:///tmp/x.sock#whatever", "workload endpoint unix socket URI must not include a fragment"],
  ["unix://john:doe@foo/path", "workload endpoint unix socket URI must not include user info"],
  ["unix://foo", "workload endpoint unix socket URI must not include an authority (use unix:///absolute/path)"],
  ["unix:///tmp/%zz", 'workload endpoint socket URI path "/tmp/%zz" has invalid percent-encoding'],
];
for (const [addr, msg] of rejects) {
  test(`parseAddress() rejects ${JSON.stringify(addr)}`, () => {
    try {
      parseAddress(addr);
      assert.unreachable("should have thrown");
    } catch (err) {
      assert.instance(err, InvalidArgumentError);
      assert.is((err as InvalidArgumentError).code, "ERR_INVALID_ARGUMENT");
      assert.is((err as Error).message, msg);
    }
  });
}

test("parseAddress() with allowPath still validates values that have a scheme", () => {
  assert.throws(() => parseAddress("unix:opaque", { allowPath: true }), /must not be opaque/);
});

test("grpcTarget() builds grpc-js targets", () => {
  assert.is(grpcTarget({ network: "unix", path: "/tmp/a.sock" }), "unix:///tmp/a.sock");
  assert.is(grpcTarget({ network: "unix", path: "rel.sock" }), "unix:rel.sock");
  assert.is(grpcTarget({ network: "tcp", host: "::1", port: 1 }), "[::1]:1");
  assert.is(grpcTarget({ network: "tcp", host: "1.2.3.4", port: 5 }), "1.2.3.4:5");
});

test.run();
