/**
 * SPIRE's key-compromise flow with real processes: prepare and activate a new local X.509 authority, taint the old one
 * (the agent replaces every SVID signed by it at once), revoke it (it leaves every workload's bundle and `bundle show`).
 * Golden texts come from SPIRE's CLI (cmd/spire-server/cli/localauthority/x509/*.go, authoritycommon.go).
 * @module
 */
import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { createEntry } from "./_clients.ts";
import { type Cluster, joinToken, newCluster, startAgent, startServer, waitFor, wispAgent, wispServer } from "./_harness.ts";

let c: Cluster;

test.before(async () => {
  c = await newCluster();
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  await createEntry(c, { spiffeID: "spiffe://example.org/workload", selector: "unix:uid:0" });
});

test.after(async () => {
  await c?.cleanup();
});

const srv = (...args: string[]) => wispServer([...args, "-socketPath", c.serverSocket]);

/** The certificates of a PEM file, as node:crypto objects. */
function pemCerts(path: string): X509Certificate[] {
  const text = readFileSync(path, "utf8");
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
}

/** `fetch x509 -write` as the workload (root, uid 0): the SVID leaf and the bundle's roots. */
async function fetchX509(dir: string): Promise<{ leaf: X509Certificate; roots: X509Certificate[] }> {
  mkdirSync(dir, { recursive: true });
  const r = await wispAgent(["api", "fetch", "x509", "-socketPath", c.agentSocket, "-write", dir]);
  assert.is(r.code, 0, r.stderr);
  return { leaf: pemCerts(join(dir, "svid.0.pem"))[0]!, roots: pemCerts(join(dir, "bundle.0.pem")) };
}

test("taint then revoke the old X.509 authority: workloads get new SVIDs, then lose the old root", async () => {
  const before = await fetchX509(join(c.dir, "w1"));
  const show0 = await srv("localauthority", "x509", "show", "-output", "json");
  assert.is(show0.code, 0, show0.stderr);
  const oldID = (JSON.parse(show0.stdout) as { active: { authority_id: string } }).active.authority_id;
  const oldRoot = before.roots.find((r) => before.leaf.checkIssued(r) && before.leaf.verify(r.publicKey))!;
  assert.ok(oldRoot, "the workload SVID chains to a bundle root");

  // Revoking the active authority is refused with SPIRE's text (localauthority/v1/service.go validateLocalAuthorityID).
  const early = await srv("localauthority", "x509", "revoke", "-authorityID", oldID);
  assert.is(early.code, 1);
  assert.is(
    early.stderr,
    "Error: could not revoke X.509 authority: rpc error: code = InvalidArgument desc = invalid authority ID: unable to use current authority\n",
  );

  const prep = await srv("localauthority", "x509", "prepare");
  assert.is(prep.code, 0, prep.stderr);
  const newID = /Authority ID: ([0-9a-f]+)/.exec(prep.stdout)![1]!;
  // Golden: cmd/spire-server/cli/localauthority/x509/x509_prepare.go + authoritycommon.go prettyPrintAuthorityState.
  assert.match(
    prep.stdout,
    new RegExp(
      `^Prepared X\\.509 authority:\\n  Authority ID: ${newID}\\n  Expires at: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\+0000 UTC\\n  Upstream authority ID: No upstream authority\\n$`,
    ),
  );

  // Tainting a prepared (not old) authority is refused.
  const notOld = await srv("localauthority", "x509", "taint", "-authorityID", newID);
  assert.is(
    notOld.stderr,
    "Error: could not taint X.509 authority: rpc error: code = InvalidArgument desc = only Old local authorities can be tainted: unsupported local authority status: PREPARED\n",
  );

  const act = await srv("localauthority", "x509", "activate", "-authorityID", newID);
  assert.is(act.code, 0, act.stderr);
  assert.ok(act.stdout.startsWith(`Activated X.509 authority:\n  Authority ID: ${newID}\n`), act.stdout);

  const show1 = await srv("localauthority", "x509", "show");
  assert.match(
    show1.stdout,
    new RegExp(
      `^Active X\\.509 authority:\\n  Authority ID: ${newID}\\n[\\s\\S]*\\nPrepared X\\.509 authority:\\n  No prepared X\\.509 authority found\\n\\nOld X\\.509 authority:\\n  Authority ID: ${oldID}\\n`,
    ),
  );

  // Revoking before tainting: the datastore refuses (sqlstore.go revokeX509CA), wrapped as SPIRE's Internal error.
  const untainted = await srv("localauthority", "x509", "revoke", "-authorityID", oldID);
  assert.is(
    untainted.stderr,
    "Error: could not revoke X.509 authority: rpc error: code = Internal desc = failed to revoke X.509 authority: it is not possible to revoke an untainted root CA\n",
  );

  const taint = await srv("localauthority", "x509", "taint", "-authorityID", oldID);
  assert.is(taint.code, 0, taint.stderr);
  assert.ok(taint.stdout.startsWith(`Tainted X.509 authority:\n  Authority ID: ${oldID}\n`), taint.stdout);
  assert.match(c.server!.output, `msg="X.509 authority tainted successfully"`);

  // The agent re-mints at once (not at half-life): the workload's SVID is now signed by the new authority.
  const after = await waitFor("workload SVID signed by the new authority", async () => {
    const f = await fetchX509(join(c.dir, "w2"));
    return f.leaf.serialNumber !== before.leaf.serialNumber && !f.leaf.checkIssued(oldRoot) ? f : undefined;
  }, 20_000);
  const newRoot = after.roots.find((r) => after.leaf.checkIssued(r) && after.leaf.verify(r.publicKey));
  assert.ok(newRoot, "the new SVID chains to a root in the bundle");
  assert.ok(after.roots.some((r) => r.raw.equals(oldRoot.raw)), "the tainted root stays in the bundle until revoked");
  assert.match(c.agent!.output, "Scheduled rotation for SVID entries due to tainted X.509 authorities");

  const revoke = await srv("localauthority", "x509", "revoke", "-authorityID", oldID);
  assert.is(revoke.code, 0, revoke.stderr);
  assert.ok(revoke.stdout.startsWith(`Revoked X.509 authority:\n  Authority ID: ${oldID}\n`), revoke.stdout);

  // Pushed to the agent: every workload's bundle loses the old root.
  await waitFor("old root gone from the workload bundle", async () => {
    const f = await fetchX509(join(c.dir, "w3"));
    return f.roots.some((r) => r.raw.equals(oldRoot.raw)) ? undefined : true;
  }, 20_000);
  const bundle = await srv("bundle", "show");
  assert.is(bundle.code, 0, bundle.stderr);
  assert.not.ok(bundle.stdout.includes(oldRoot.toString().trim()), "bundle show no longer lists the revoked root");
  assert.ok(bundle.stdout.includes(newRoot!.toString().trim()));
});

test("JWT authorities: prepare, activate, taint, revoke with SPIRE's texts", async () => {
  const show = JSON.parse((await srv("localauthority", "jwt", "show", "-output", "json")).stdout) as { active: { authority_id: string } };
  const oldKid = show.active.authority_id;
  const prep = await srv("localauthority", "jwt", "prepare", "-output", "json");
  const kid = (JSON.parse(prep.stdout) as { prepared_authority: { authority_id: string } }).prepared_authority.authority_id;
  assert.is((await srv("localauthority", "jwt", "activate", "-authorityID", kid)).code, 0);
  const taint = await srv("localauthority", "jwt", "taint", "-authorityID", oldKid);
  assert.ok(taint.stdout.startsWith(`Tainted JWT authority:\n  Authority ID: ${oldKid}\n`), taint.stdout + taint.stderr);
  const again = await srv("localauthority", "jwt", "taint", "-authorityID", oldKid);
  assert.is(again.stderr, "Error: could not taint JWT authority: rpc error: code = Internal desc = failed to taint JWT authority: key is already tainted\n");
  const revoke = await srv("localauthority", "jwt", "revoke", "-authorityID", oldKid);
  assert.is(revoke.code, 0, revoke.stderr);
  const b = JSON.parse((await srv("bundle", "show", "-output", "json")).stdout) as { jwt_authorities: { key_id: string }[] };
  assert.equal(b.jwt_authorities.map((k) => k.key_id), [kid]);
});

test("upstreamauthority taint without an upstream authority is refused as SPIRE does", async () => {
  const r = await srv("upstreamauthority", "taint", "-subjectKeyID", "abcd");
  assert.is(r.code, 1);
  assert.is(r.stderr, "Error: could not taint X.509 upstream authority: rpc error: code = FailedPrecondition desc = upstream authority is not configured\n");
  const none = await srv("upstreamauthority", "revoke");
  assert.is(none.stderr, "Error: the Subject Key ID of the X.509 upstream authority is required\n");
});

test.run();
