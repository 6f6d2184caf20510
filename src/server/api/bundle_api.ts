/**
 * SPIRE's Bundle service (bundle.v1) and TrustDomain.RefreshBundle on the admin socket, bodies in SPIRE's protobuf
 * JSON names (`types.Bundle`: trust_domain, x509_authorities[{asn1}], jwt_authorities[{public_key, key_id,
 * expires_at}], refresh_hint, sequence_number).
 * @module
 */
import type { Hono } from "hono";
import { fromBase64, toBase64 } from "../../core/encoding.ts";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, ServiceError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { parseCertificate } from "../../core/x509/certificate_info.ts";
import type { Bundle, DataStore } from "../datastore/datastore.ts";
import type { BundleRefresher } from "../federation/bundle_refresher.ts";
import { CODE, type StatusJSON } from "./entry_api.ts";
import { jsonBody } from "./json_body.ts";

export interface BundleJSON {
  trust_domain: string;
  x509_authorities: { asn1: string }[];
  jwt_authorities: { public_key: string; key_id: string; expires_at: number }[];
  refresh_hint: number;
  sequence_number: number;
}

export function bundleToJSON(b: Bundle): BundleJSON {
  return {
    trust_domain: b.trustDomain,
    x509_authorities: b.x509Authorities.map((d) => ({ asn1: toBase64(d) })),
    jwt_authorities: b.jwtKeys.map((k) => ({ public_key: toBase64(k.publicKey), key_id: k.kid, expires_at: k.notAfter })),
    refresh_hint: b.refreshHint,
    sequence_number: b.sequence,
  };
}

export function bundleFromJSON(v: unknown): Omit<Bundle, "sequence"> {
  const o = (v ?? {}) as Partial<BundleJSON>;
  let td: string;
  try {
    td = spiffeid.trustDomainFromString(String(o.trust_domain ?? "")).name;
  } catch (err) {
    throw new InvalidArgumentError(`malformed trust domain: ${(err as Error).message}`, { cause: err });
  }
  const x509 = (o.x509_authorities ?? []).map((a, i) => {
    const der = fromBase64(String(a?.asn1 ?? ""));
    try {
      parseCertificate(der);
    } catch (err) {
      throw new InvalidArgumentError(`failed to convert bundle: unable to parse X.509 authority ${i}: ${(err as Error).message}`, { cause: err });
    }
    return der;
  });
  if (x509.length === 0) throw new InvalidArgumentError("failed to convert bundle: no X.509 authorities");
  const jwt = (o.jwt_authorities ?? []).map((k) => {
    if (!k?.key_id) throw new InvalidArgumentError("failed to convert bundle: missing key ID");
    return { kid: k.key_id, publicKey: fromBase64(String(k.public_key ?? "")), notAfter: Number(k.expires_at ?? 0) };
  });
  return { trustDomain: td, x509Authorities: x509, jwtKeys: jwt, refreshHint: Number(o.refresh_hint ?? 0) };
}

function statusOf(prefix: string, err: unknown): StatusJSON {
  if (err instanceof ServiceError) return { code: CODE[err.status], message: `${prefix}: ${err.message}` };
  return { code: CODE.INTERNAL, message: `${prefix}: internal error` };
}

export function bundleRoutes(
  app: Hono,
  cfg: { ds: DataStore; trustDomain: spiffeid.TrustDomain; logger: Logger; notify: () => void; refresher?: BundleRefresher | undefined },
): void {
  const { ds, trustDomain: td } = cfg;
  const log = cfg.logger.with({ subsystem_name: "api" });
  const foreign = (name: string) => {
    let n: string;
    try {
      n = spiffeid.trustDomainFromString(name).name;
    } catch (err) {
      throw new InvalidArgumentError(`malformed trust domain: ${(err as Error).message}`, { cause: err });
    }
    if (n === td.name) throw new InvalidArgumentError(`"${n}" is the local trust domain`);
    return n;
  };
  const B = "/bundle.v1.Bundle";
  app.post(`${B}/GetBundle`, async (c) => {
    const b = await ds.fetchBundle(td.name);
    if (!b) throw new NotFoundError("bundle not found");
    return c.json(bundleToJSON(b));
  });
  app.post(`${B}/GetFederatedBundle`, async (c) => {
    const name = foreign(String((await jsonBody(c)).trust_domain ?? ""));
    const b = await ds.fetchBundle(name);
    if (!b) throw new NotFoundError("bundle not found");
    return c.json(bundleToJSON(b));
  });
  app.post(`${B}/ListFederatedBundles`, async (c) => {
    const bundles = (await ds.listBundles()).filter((b) => b.trustDomain !== td.name);
    return c.json({ bundles: bundles.map(bundleToJSON), next_page_token: "" });
  });
  app.post(`${B}/CountBundles`, async (c) => c.json({ count: (await ds.listBundles()).length }));
  app.post(`${B}/BatchSetFederatedBundle`, async (c) => {
    const list = ((await jsonBody(c)).bundle ?? []) as unknown[];
    const results: { status: StatusJSON; bundle?: BundleJSON }[] = [];
    for (const raw of Array.isArray(list) ? list : []) {
      try {
        const b = bundleFromJSON(raw);
        foreign(b.trustDomain);
        const stored = await ds.setBundle(b);
        log.info("Bundle set successfully", { [F.TRUST_DOMAIN_ID]: b.trustDomain });
        results.push({ status: { code: 0, message: "OK" }, bundle: bundleToJSON(stored) });
      } catch (err) {
        results.push({ status: statusOf("failed to set bundle", err) });
      }
    }
    cfg.notify();
    return c.json({ results });
  });
  app.post(`${B}/BatchDeleteFederatedBundle`, async (c) => {
    const body = await jsonBody(c);
    const mode = String(body.mode ?? "RESTRICT");
    const results: { status: StatusJSON; trust_domain: string }[] = [];
    for (const raw of (body.trust_domains ?? []) as string[]) {
      try {
        const name = foreign(String(raw));
        const users = (await ds.listEntries()).filter((e) => (e.federatesWith ?? []).includes(name));
        if (users.length > 0 && mode === "RESTRICT") {
          throw new FailedPreconditionError(`cannot delete bundle; federated with ${users.length} registration entries`);
        }
        if (mode === "DELETE") { for (const e of users) await ds.deleteEntry(e.id); }
        if (mode === "DISSOCIATE") { for (const e of users) await ds.updateEntry({ ...e, federatesWith: (e.federatesWith ?? []).filter((t) => t !== name) }); }
        await ds.deleteBundle(name);
        log.info("Federated bundle deleted", { [F.TRUST_DOMAIN_ID]: name });
        results.push({ status: { code: 0, message: "OK" }, trust_domain: name });
      } catch (err) {
        results.push({ status: statusOf("failed to delete federated bundle", err), trust_domain: String(raw) });
      }
    }
    cfg.notify();
    return c.json({ results });
  });
  app.post("/trustdomain.v1.TrustDomain/RefreshBundle", async (c) => {
    const name = foreign(String((await jsonBody(c)).trust_domain ?? ""));
    if (!cfg.refresher) throw new NotFoundError(`there is no federation relationship with trust domain "${name}"`);
    await cfg.refresher.refresh(name);
    return c.json({});
  });
}
