/** The LocalAuthority API functions against a real CA manager and datastore, self-signed and with an upstream. */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportPKCS8, generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../../src/core/crypto/signer.ts";
import { toHex } from "../../../src/core/encoding.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import { createSelfSignedCA, parseCertificate, toPEM } from "../../../src/core/x509/mod.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";
import { localAuthorityAPI } from "../../../src/server/api/localauthority_api.ts";
import { CAManager } from "../../../src/server/ca/ca_manager.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import { DiskUpstreamAuthority } from "../../../src/server/upstreamauthority/disk/disk.ts";
import type { UpstreamAuthority } from "../../../src/server/upstreamauthority/upstream_authority.ts";
import { HOUR, memoryStore, newClock, TD, tempDir } from "../_fixtures.ts";

async function rejects(p: Promise<unknown> | (() => unknown)): Promise<Error & { status?: string }> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

async function setup(upstream?: () => Promise<UpstreamAuthority | undefined>) {
  const clock = newClock();
  const ds = await memoryStore(clock);
  const ca = new CAManager({
    trustDomain: TD,
    keyManager: new MemoryKeyManager(),
    ds,
    clock,
    logger: nullLogger,
    caTTL: 24 * HOUR,
    ...(upstream ? { upstream } : {}),
  });
  await ca.initialize();
  let pushes = 0;
  const api = localAuthorityAPI({ ca, ds, td: TD, logger: nullLogger, notify: () => pushes++ });
  return { ds, ca, api, pushes: () => pushes };
}

test("X.509: prepare, activate, taint, revoke; each step refused out of order with SPIRE's texts", async () => {
  const { ds, api, pushes } = await setup();
  const oldID = api.getX509AuthorityState().active!.authority_id;
  const { prepared_authority: p } = await api.prepareX509Authority();
  assert.is(p.upstream_authority_subject_key_id, "");
  assert.is(
    (await rejects(api.taintX509Authority(p.authority_id))).message,
    "only Old local authorities can be tainted: unsupported local authority status: PREPARED",
  );
  assert.is((await rejects(api.activateX509Authority("nope"))).message, "unexpected authority ID");
  assert.is((await rejects(api.activateX509Authority(""))).message, "no authority ID provided");
  await api.activateX509Authority(p.authority_id);
  const st = api.getX509AuthorityState();
  assert.is(st.active!.authority_id, p.authority_id);
  assert.is(st.old!.authority_id, oldID);
  assert.is(st.prepared, undefined);
  assert.is((await rejects(api.taintX509Authority(p.authority_id))).message, "unable to taint current local authority");
  const untainted = await rejects(api.revokeX509Authority(oldID));
  assert.is(untainted.message, "failed to revoke X.509 authority: it is not possible to revoke an untainted root CA");
  assert.is(untainted.status, "INTERNAL");
  await api.taintX509Authority(oldID);
  assert.equal((await ds.fetchBundle("example.org"))!.taintedX509, [oldID]);
  assert.is((await rejects(api.taintX509Authority(oldID))).message, "failed to taint X.509 authority: root CA is already tainted");
  const before = (await ds.fetchBundle("example.org"))!.x509Authorities.length;
  await api.revokeX509Authority(oldID);
  const b = (await ds.fetchBundle("example.org"))!;
  assert.is(b.x509Authorities.length, before - 1);
  assert.not.ok(b.x509Authorities.some((r) => toHex(parseCertificate(r).ski!) === oldID));
  assert.ok(pushes() >= 4, "every bundle change is pushed");
});

test("JWT: revoke refuses the active and a prepared key; taint only the old one", async () => {
  const { ds, api } = await setup();
  const oldKid = api.getJWTAuthorityState().active!.authority_id;
  assert.is((await rejects(api.revokeJWTAuthority(oldKid))).message, "invalid authority ID: unable to use current authority");
  const { prepared_authority: p } = await api.prepareJWTAuthority();
  assert.is((await rejects(api.revokeJWTAuthority(p.authority_id))).message, "invalid authority ID: unable to use a prepared key");
  assert.is((await rejects(api.revokeJWTAuthority("unknown"))).message, "invalid authority ID: no JWT authority found with provided authority ID");
  await api.activateJWTAuthority(p.authority_id);
  await api.taintJWTAuthority(oldKid);
  await api.revokeJWTAuthority(oldKid);
  assert.equal((await ds.fetchBundle("example.org"))!.jwtKeys.map((k) => k.kid), [p.authority_id]);
});

test("upstream: local taint is refused; the upstream root that signed the old CA can be tainted and revoked", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const clock = newClock();
    const upstreams: UpstreamAuthority[] = [];
    for (const name of ["u1", "u2"]) {
      const pair = await generateKeyPair(true);
      const signer = await webCryptoSigner(pair);
      const now = clock.now().getTime();
      const cert = await createSelfSignedCA({
        signer,
        trustDomain: `${name}.test`,
        notBefore: new Date(now - HOUR),
        notAfter: new Date(now + 365 * 24 * HOUR),
      });
      writeFileSync(join(dir, `${name}.pem`), toPEM(cert, "CERTIFICATE"));
      writeFileSync(join(dir, `${name}.key`), toPEM(await exportPKCS8(pair.privateKey), "PRIVATE KEY"));
      upstreams.push(
        await DiskUpstreamAuthority.load({
          certFilePath: join(dir, `${name}.pem`),
          keyFilePath: join(dir, `${name}.key`),
          fs: nodeFS,
          clock,
          logger: nullLogger,
        }),
      );
    }
    let current = upstreams[0]!;
    const { ds, api } = await setup(() => Promise.resolve(current));
    const first = api.getX509AuthorityState().active!;
    assert.ok(first.upstream_authority_subject_key_id !== "");
    assert.is((await rejects(api.taintX509Authority(first.authority_id))).message, "local authority can't be tainted if there is an upstream authority");
    current = upstreams[1]!;
    const { prepared_authority: p } = await api.prepareX509Authority();
    assert.is(
      (await rejects(api.taintX509UpstreamAuthority(p.upstream_authority_subject_key_id))).message,
      "provided subject key id is not valid: only upstream authorities signing an old authority can be used",
    );
    await api.activateX509Authority(p.authority_id);
    assert.is(
      (await rejects(api.taintX509UpstreamAuthority(p.upstream_authority_subject_key_id))).message,
      "provided subject key id is not valid: unable to use upstream authority singing current authority",
    );
    const r = await api.taintX509UpstreamAuthority(first.upstream_authority_subject_key_id.toUpperCase());
    assert.is(r.upstream_authority_subject_key_id, first.upstream_authority_subject_key_id);
    await api.revokeX509UpstreamAuthority(first.upstream_authority_subject_key_id);
    const roots = (await ds.fetchBundle("example.org"))!.x509Authorities.map((d) => toHex(parseCertificate(d).ski!));
    assert.equal(roots, [p.upstream_authority_subject_key_id]);
  } finally {
    cleanup();
  }
});

test.run();
