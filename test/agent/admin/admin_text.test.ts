/** The admin API's text as SPIRE prints it: Go's pkix.Name.String() subjects and `debug getinfo`'s pretty output. */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { create } from "@bufbuild/protobuf";
import { goName } from "../../../src/agent/admin/debug_service.ts";
import { describeInfo } from "../../../src/agent/cli/admin_commands.ts";
import { GetInfoResponse_CertSchema, GetInfoResponseSchema } from "../../../src/agent/workload/proto/spire/api/agent/debug/v1/debug_pb.ts";
import { SPIFFEIDSchema } from "../../../src/agent/workload/proto/spire/api/types/spiffeid_pb.ts";

test("goName() prints the RDNs last first, comma-joined, escaped as Go does", () => {
  assert.is(goName({ C: "US", O: "SPIRE" }), "O=SPIRE,C=US");
  assert.is(goName({ C: "US", O: "SPIFFE", serialNumber: "1234" }), "SERIALNUMBER=1234,O=SPIFFE,C=US");
  assert.is(goName({ CN: "web", OU: "a", O: "b", C: "FR" }), "CN=web,OU=a,O=b,C=FR");
  assert.is(goName({ O: 'Acme, "Inc" <x>;+', CN: "#lead " }), 'CN=\\#lead\\ ,O=Acme\\, \\"Inc\\" \\<x\\>\\;\\+');
  assert.is(goName({}), "");
});

test("describeInfo() prints SPIRE's prettyPrintGetInfo layout", () => {
  const r = create(GetInfoResponseSchema, {
    uptime: 3725,
    lastSyncSuccess: 1_780_000_000n,
    cachedX509SvidsCount: 3,
    cachedJwtSvidsCount: 1,
    svidChain: [
      create(GetInfoResponse_CertSchema, {
        id: create(SPIFFEIDSchema, { trustDomain: "example.org", path: "/spire/agent/join_token/t" }),
        expiresAt: 1_780_003_600n,
        subject: "O=SPIRE,C=US",
      }),
      create(GetInfoResponse_CertSchema, { expiresAt: 1_780_086_400n, subject: "O=SPIFFE,C=US" }),
    ],
  });
  assert.is(
    describeInfo(r),
    "Agent Debug Info:\n" +
      "  Uptime:                          1h2m5s\n" +
      "  Last Sync Success:               2026-05-28T20:26:40Z\n" +
      "  Cached X.509 SVIDs:              3\n" +
      "  Cached JWT SVIDs:                1\n" +
      "  Cached SVID Store X.509 SVIDs:   0\n" +
      "  SVID Chain:\n" +
      "    [0] SPIFFE ID:  spiffe://example.org/spire/agent/join_token/t\n" +
      "        Subject:    O=SPIRE,C=US\n" +
      "        Expires At: 2026-05-28T21:26:40Z\n" +
      "    [1] SPIFFE ID:  (none)\n" +
      "        Subject:    O=SPIFFE,C=US\n" +
      "        Expires At: 2026-05-29T20:26:40Z\n",
  );
  const fresh = describeInfo(create(GetInfoResponseSchema, { uptime: 42 }));
  assert.ok(fresh.includes("  Uptime:                          42s\n  Last Sync Success:               (never)\n"), fresh);
  assert.not.ok(fresh.includes("SVID Chain"));
});

test.run();
