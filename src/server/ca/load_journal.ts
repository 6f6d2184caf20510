/** Restoring CA slots from the journal at startup (SPIRE ca/manager/journal.go loading rules). @module */
import { equalBytes, fromBase64, keyIdentifier, toHex } from "../../core/encoding.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { TrustDomain } from "../../core/spiffeid/mod.ts";
import type { DataStore } from "../datastore/datastore.ts";
import type { KeyManager } from "../keymanager/key_manager.ts";
import { decodeJournal, type Journal } from "./journal.ts";
import type { JWTSigningKey } from "./jwt_key.ts";
import { isSelfSignedCA, type X509CA, x509CAFromParts } from "./x509_ca.ts";

interface Loaded {
  journal: Journal;
  journalID: number;
  x509: { current?: X509CA; next?: X509CA; old?: X509CA };
  jwt: { current?: JWTSigningKey; next?: JWTSigningKey; old?: JWTSigningKey };
}

/** Finds this server's journal by the SKIs of its KeyManager's CA keys and restores every still-usable slot. */
export async function loadFromJournal(cfg: {
  trustDomain: TrustDomain;
  keyManager: KeyManager;
  ds: DataStore;
  clock: Clock;
  logger: Logger;
}): Promise<Loaded | undefined> {
  const keys = await cfg.keyManager.getKeys();
  const byAuthority = new Map<string, (typeof keys)[number]>();
  for (const k of keys) byAuthority.set(toHex(await keyIdentifier(k.signer.publicKeySPKI)), k);

  for (const [authorityID] of byAuthority) {
    const row = await cfg.ds.fetchCAJournal(authorityID);
    if (!row) continue;
    const journal = decodeJournal(row.data);
    const now = cfg.clock.now().getTime();
    const bundle = await cfg.ds.fetchBundle(cfg.trustDomain.name);
    const inBundle = (der: Uint8Array) => bundle?.x509Authorities.some((r) => equalBytes(r, der)) ?? false;
    const out: Loaded = { journal, journalID: row.id, x509: {}, jwt: {} };

    for (const e of [...journal.x509CAs].reverse()) {
      const key = byAuthority.get(e.authorityID);
      const cert = fromBase64(e.certificate);
      // Dropped as SPIRE does: expired, key gone or replaced, or (self-signed only) no longer in the bundle. Whether
      // a CA is self-signed is read from the entry itself: after a move to an upstream the journal holds both kinds.
      const selfSigned = e.upstreamChain.length === 0 && isSelfSignedCA(cert);
      if (e.notAfter <= now || !key || key.id !== `x509-CA-${e.slotID}` || (selfSigned && !inBundle(cert))) continue;
      const ca = await x509CAFromParts({
        slot: e.slotID,
        chain: [cert, ...e.upstreamChain.map(fromBase64)],
        bundleRoots: selfSigned ? [cert] : [],
        signer: key.signer,
        issuedAt: new Date(e.issuedAt),
      });
      if (e.status === "ACTIVE" && !out.x509.current) out.x509.current = ca;
      else if (e.status === "PREPARED" && !out.x509.next) out.x509.next = ca;
      else if (e.status === "OLD" && !out.x509.old) out.x509.old = ca;
    }
    if (out.x509.old && out.x509.current && out.x509.old.slot === out.x509.current.slot) delete out.x509.old;
    if (out.x509.next && out.x509.current && out.x509.next.slot === out.x509.current.slot) delete out.x509.next;

    const kids = new Set(bundle?.jwtKeys.map((k) => k.kid) ?? []);
    for (const e of [...journal.jwtKeys].reverse()) {
      const key = byAuthority.get(e.authorityID);
      if (e.notAfter <= now || !key || key.id !== `JWT-Signer-${e.slotID}` || !kids.has(e.kid)) continue;
      const k: JWTSigningKey = {
        slot: e.slotID,
        kid: e.kid,
        signer: key.signer,
        issuedAt: new Date(e.issuedAt),
        notAfter: new Date(e.notAfter),
        authorityID: e.authorityID,
      };
      if (e.status === "ACTIVE" && !out.jwt.current) out.jwt.current = k;
      else if (e.status === "PREPARED" && !out.jwt.next) out.jwt.next = k;
      else if (e.status === "OLD" && !out.jwt.old) out.jwt.old = k;
    }
    if (out.jwt.old && out.jwt.current && out.jwt.old.slot === out.jwt.current.slot) delete out.jwt.old;
    if (out.jwt.next && out.jwt.current && out.jwt.next.slot === out.jwt.current.slot) delete out.jwt.next;
    if (!out.x509.current) {
      cfg.logger.info("Journal has no usable active X509 CA", { [F.AUTHORITY_ID]: authorityID });
    }
    return out;
  }
  return undefined;
}
