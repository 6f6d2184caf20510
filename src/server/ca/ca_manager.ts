/**
 * The CA manager: two slots per credential (X.509 CA and JWT signer), SPIRE's prepare/activate thresholds,
 * and a journal in the datastore so a restart reuses a valid CA without contacting any upstream.
 * @module
 */
import { keyIdentifier, randomAlnum, toBase64, toHex } from "../../core/encoding.ts";
import { FailedPreconditionError, InternalError, InvalidArgumentError, UnavailableError } from "../../core/errors.ts";
import { parseCertificate } from "../../core/x509/certificate_info.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { TrustDomain } from "../../core/spiffeid/mod.ts";
import type { NameInput } from "../../core/x509/mod.ts";
import type { DataStore } from "../datastore/datastore.ts";
import type { KeyManager } from "../keymanager/key_manager.ts";
import type { UpstreamAuthority } from "../upstreamauthority/upstream_authority.ts";
import { emptyJournal, encodeJournal, type Journal, recordJWTKey, recordX509CA, type SlotID } from "./journal.ts";
import { shouldActivateNext, shouldPrepareNext } from "./thresholds.ts";
import { isSelfSignedCA, mintX509CA, type X509CA } from "./x509_ca.ts";
import type { JWTSigningKey } from "./jwt_key.ts";
import { loadFromJournal } from "./load_journal.ts";
import { BundlePruner } from "./bundle_pruner.ts";
import { RotationHealth } from "./rotation_health.ts";

export interface CAManagerConfig {
  trustDomain: TrustDomain;
  keyManager: KeyManager;
  ds: DataStore;
  clock: Clock;
  logger: Logger;
  /** Lifetime of each X.509 CA and JWT key, ms. */
  caTTL: number;
  /** SPIRE's `ca_subject` of every X.509 CA (self-signed) and CA CSR (upstream). Default C=US, O=SPIFFE. */
  caSubject?: NameInput | undefined;
  /**
   * Who signs new CAs; absent or resolving to undefined: self-signed. A provider is asked at every prepare, so a
   * managed-config change takes effect at the next rotation without a restart.
   */
  upstream?: UpstreamAuthority | UpstreamProvider | undefined;
  /** How often rotation is checked, ms (SPIRE: 10 s). */
  rotateInterval?: number;
  /** Longest wait between retries after failures, ms (default 60 s); waits double from rotateInterval. */
  retryBackoffMax?: number;
}

/** The upstream authority to use for the next CA, looked up at prepare time. */
export type UpstreamProvider = () => Promise<UpstreamAuthority | undefined>;

/** What `health()` reports. */
export interface CAHealth {
  /** Failed rotation attempts since start (SPIRE's failedRotationNum; never reset). */
  failedRotations: number;
  /** Failed attempts since the last success; above 0 the server is degraded. */
  consecutiveFailures: number;
  lastError: string;
  caNotAfter?: Date;
  /** Who signed the active CA: an upstream's name, "self-signed", or "upstream" for one loaded from the journal. */
  caUpstream?: string;
}

const otherSlot = (s: SlotID): SlotID => (s === "A" ? "B" : "A");

/** One X.509 CA or JWT key as the console shows it: read-only, no private key. */
export interface AuthorityView {
  status: "active" | "prepared" | "old";
  slot: SlotID;
  authorityID: string;
  issuedAt: Date;
  notAfter: Date;
  /** Where the private key lives when it is not in this process (aws_kms: key ARN and alias). */
  keyLocation?: { kind: string; keyID: string; alias?: string } | undefined;
  /** X.509 only: the CA certificate then upstream intermediates (DER). */
  chain?: Uint8Array[];
  /** X.509 only: the roots this CA put in the bundle. */
  bundleRoots?: Uint8Array[];
  /** X.509 only: who signed it ("self-signed", an upstream's name, or "upstream" when loaded from the journal). */
  upstream?: string;
  /** JWT only: the key ID published in the bundle. */
  kid?: string;
}

/** What the console reads from the CA manager. */
export interface CAView {
  x509: AuthorityView[];
  jwt: AuthorityView[];
  /** Past authorities from the journal (newest 10 per kind), for the rotation timeline. */
  history: { kind: "x509" | "jwt"; authorityID: string; issuedAt: Date; notAfter: Date; status: string }[];
  lastErrorAt?: Date | undefined;
}

/** SPIRE's `localauthority.v1.AuthorityState`: X.509 authorities by hex SKI, JWT authorities by key ID. */
export interface AuthorityState {
  authority_id: string;
  /** Unix seconds. */
  expires_at: number;
  /** Hex SKI of the upstream authority that signed this CA ("" when self-signed); X.509 only. */
  upstream_authority_subject_key_id: string;
}

/** Active, prepared and old authorities of one kind (GetX509AuthorityState / GetJWTAuthorityState). */
export interface AuthorityStates {
  active?: AuthorityState;
  prepared?: AuthorityState;
  old?: AuthorityState;
}

export class CAManager {
  #cfg: CAManagerConfig;
  #log: Logger;
  #x509: { current?: X509CA | undefined; next?: X509CA | undefined; old?: X509CA | undefined } = {};
  #jwt: { current?: JWTSigningKey | undefined; next?: JWTSigningKey | undefined; old?: JWTSigningKey | undefined } = {};
  #journal: Journal = emptyJournal();
  #journalID: number | undefined;
  #listeners = new Set<() => void>();
  #rotation: RotationHealth;
  #pruner: BundlePruner;
  #caUpstream = new Map<string, string>();
  #busy: Promise<void> = Promise.resolve();

  constructor(cfg: CAManagerConfig) {
    this.#cfg = cfg;
    this.#log = cfg.logger.with({ subsystem_name: "ca_manager" });
    this.#rotation = new RotationHealth({ ...cfg, logger: this.#log });
    this.#pruner = new BundlePruner({ ...cfg, logger: this.#log });
  }

  /** Loads the journal, then makes sure a CA is active. @throws when no CA can be had (e.g. upstream down with no valid CA) */
  async initialize(): Promise<void> {
    const loaded = await loadFromJournal(this.#cfg);
    if (loaded) {
      this.#journal = loaded.journal;
      this.#journalID = loaded.journalID;
      this.#x509 = loaded.x509;
      this.#jwt = loaded.jwt;
      for (const ca of [loaded.x509.current, loaded.x509.next]) {
        if (ca) this.#caUpstream.set(ca.authorityID, ca.chain.length === 1 && isSelfSignedCA(ca.certDER) ? "self-signed" : "upstream");
      }
      if (loaded.x509.current) {
        this.#log.info("X509 CA loaded from journal", {
          [F.SLOT]: loaded.x509.current.slot,
          [F.AUTHORITY_ID]: loaded.x509.current.authorityID,
          [F.EXPIRATION]: loaded.x509.current.notAfter.toISOString(),
        });
      }
    }
    try {
      await this.rotate();
    } catch (err) {
      // SPIRE: with a usable CA from the journal a failed preparation is only logged; the server serves, degraded.
      if (!this.#x509.current) throw err;
      this.#rotation.failed(err, this.#x509.current);
    }
  }

  /** Runs one rotation check; serialised so a forced rotation and the ticker never interleave. */
  rotate(): Promise<void> {
    const run = this.#busy.then(() => this.#rotateOnce());
    this.#busy = run.catch(() => {});
    return run;
  }

  /** Prepares a next CA and JWT key if needed and activates them now (`wisp-server ca rotate`). */
  forceRotate(): Promise<void> {
    const run = this.#busy.then(async () => {
      if (!this.#x509.next) this.#x509.next = await this.#prepareX509(this.#nextSlot(this.#x509.current?.slot));
      this.#rotation.succeeded();
      if (!this.#jwt.next) this.#jwt.next = await this.#prepareJWT(this.#nextSlot(this.#jwt.current?.slot));
      await this.#activateX509();
      await this.#activateJWT();
    });
    this.#busy = run.catch(() => {});
    return run;
  }

  /** Checks rotation every interval until aborted; failures are logged and retried on the next tick. */
  async run(signal: AbortSignal): Promise<void> {
    const every = this.#cfg.rotateInterval ?? 10_000;
    while (!signal.aborted) {
      try {
        await this.#cfg.clock.sleep(every, signal);
      } catch {
        return;
      }
      if (!this.#rotation.due()) continue;
      try {
        await this.rotate();
        this.#rotation.succeeded();
      } catch (err) {
        this.#rotation.failed(err, this.#x509.current);
      }
      await this.#pruner.maybePrune();
    }
  }

  /** The active X.509 CA. @throws {UnavailableError} before initialize succeeded */
  currentX509CA(): X509CA {
    const ca = this.#x509.current;
    if (!ca) throw new UnavailableError("no active X509 CA");
    return ca;
  }

  currentJWTKey(): JWTSigningKey {
    const k = this.#jwt.current;
    if (!k) throw new UnavailableError("no active JWT signing key");
    return k;
  }

  /** Called after every activation (the server refreshes its own SVID and pushes bundles). */
  onActivate(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  health(): CAHealth {
    const cur = this.#x509.current;
    const ca = cur ? { caNotAfter: cur.notAfter, caUpstream: this.#caUpstream.get(cur.authorityID) ?? "unknown" } : {};
    return { ...this.#rotation.snapshot(), ...ca };
  }

  /** Everything the console shows about the authorities; never the keys themselves. */
  view(): CAView {
    const x509: AuthorityView[] = [];
    const jwt: AuthorityView[] = [];
    const { current, next, old } = this.#x509;
    const xs: [AuthorityView["status"], X509CA | undefined][] = [["active", current], ["prepared", next], ["old", next ? undefined : old]];
    for (const [status, ca] of xs) {
      if (!ca) continue;
      x509.push({
        status,
        slot: ca.slot,
        authorityID: ca.authorityID,
        issuedAt: ca.issuedAt,
        notAfter: ca.notAfter,
        keyLocation: ca.signer.location,
        chain: ca.chain,
        bundleRoots: ca.bundleRoots,
        upstream: this.#caUpstream.get(ca.authorityID) ?? "unknown",
      });
    }
    const js: [AuthorityView["status"], JWTSigningKey | undefined][] = [["active", this.#jwt.current], ["prepared", this.#jwt.next], [
      "old",
      this.#jwt.next ? undefined : this.#jwt.old,
    ]];
    for (const [status, k] of js) {
      if (!k) continue;
      jwt.push({ status, slot: k.slot, authorityID: k.authorityID, issuedAt: k.issuedAt, notAfter: k.notAfter, keyLocation: k.signer.location, kid: k.kid });
    }
    const history: CAView["history"] = [
      ...this.#journal.x509CAs.map((e) => ({
        kind: "x509" as const,
        authorityID: e.authorityID,
        issuedAt: new Date(e.issuedAt),
        notAfter: new Date(e.notAfter),
        status: e.status,
      })),
      ...this.#journal.jwtKeys.map((e) => ({
        kind: "jwt" as const,
        authorityID: e.kid,
        issuedAt: new Date(e.issuedAt),
        notAfter: new Date(e.notAfter),
        status: e.status,
      })),
    ];
    return { x509, jwt, history, lastErrorAt: this.#rotation.lastErrorAt };
  }

  /** The X.509 authorities for `localauthority x509 show`. */
  x509AuthorityStates(): AuthorityStates {
    const { current, next, old } = this.#x509;
    return {
      ...(current ? { active: this.#x509State(current) } : {}),
      ...(next ? { prepared: this.#x509State(next) } : {}),
      ...(old && !next ? { old: this.#x509State(old) } : {}),
    };
  }

  /** The JWT authorities for `localauthority jwt show`. */
  jwtAuthorityStates(): AuthorityStates {
    const { current, next, old } = this.#jwt;
    const st = (k: JWTSigningKey): AuthorityState => ({
      authority_id: k.kid,
      expires_at: Math.floor(k.notAfter.getTime() / 1000),
      upstream_authority_subject_key_id: "",
    });
    return {
      ...(current ? { active: st(current) } : {}),
      ...(next ? { prepared: st(next) } : {}),
      ...(old && !next ? { old: st(old) } : {}),
    };
  }

  /** True when the active CA was signed by an upstream authority (then only upstream authorities can be tainted). */
  isUpstreamAuthority(): boolean {
    const cur = this.#x509.current;
    return cur !== undefined && (cur.chain.length > 1 || !isSelfSignedCA(cur.certDER));
  }

  /** Prepares a new X.509 CA in the next slot, replacing a prepared or old one (`localauthority x509 prepare`). */
  prepareX509Authority(): Promise<AuthorityState> {
    return this.#serial(async () => {
      if (!this.#x509.current) throw new UnavailableError("server is initializing");
      const ca = await this.#prepareX509(otherSlot(this.#x509.current.slot));
      this.#x509 = { current: this.#x509.current, next: ca };
      return this.#x509State(ca);
    });
  }

  /** Activates the prepared X.509 CA (`localauthority x509 activate`), with SPIRE's checks and texts. */
  activateX509Authority(authorityID: string): Promise<AuthorityState> {
    return this.#serial(async () => {
      const next = this.#x509.next ?? this.#x509.old;
      if (!authorityID) throw new InvalidArgumentError("no authority ID provided");
      if (authorityID !== next?.authorityID) throw new InvalidArgumentError("unexpected authority ID");
      if (next !== this.#x509.next) {
        throw new InternalError("only Prepared authorities can be activated", { cause: new Error("unsupported local authority status: OLD") });
      }
      await this.#activateX509();
      return this.#x509State(this.#x509.current!);
    });
  }

  /**
   * Checks that `authorityID` names the old X.509 authority, the only one SPIRE lets an operator taint or revoke.
   * @throws {FailedPreconditionError} when an upstream authority signs the CAs
   */
  checkOldX509Authority(authorityID: string, verb: "tainted" | "revoked"): AuthorityState {
    if (this.isUpstreamAuthority()) throw new FailedPreconditionError(`local authority can't be ${verb} if there is an upstream authority`);
    const next = this.#x509.next ?? this.#x509.old;
    if (!authorityID) throw new InvalidArgumentError("no authority ID provided");
    if (authorityID === this.#x509.current?.authorityID) {
      throw new InvalidArgumentError(verb === "tainted" ? "unable to taint current local authority" : "invalid authority ID: unable to use current authority");
    }
    if (authorityID !== next?.authorityID || next !== this.#x509.old) {
      if (verb === "revoked") throw new InvalidArgumentError("invalid authority ID: only Old local authority can be revoked");
      if (authorityID !== next?.authorityID) throw new InvalidArgumentError("unexpected authority ID");
      throw new InvalidArgumentError("only Old local authorities can be tainted: unsupported local authority status: PREPARED");
    }
    return this.#x509State(next);
  }

  /** Checks an upstream authority's SKI for taint/revoke (SPIRE validateUpstreamAuthoritySubjectKey). */
  checkOldUpstreamAuthority(ski: string, invalid: string): void {
    if (!this.isUpstreamAuthority()) throw new FailedPreconditionError("upstream authority is not configured");
    const fail = (m: string) => new InvalidArgumentError(`${invalid}: ${m}`);
    if (!ski) throw fail("no subject key ID provided");
    if (ski === this.#upstreamID(this.#x509.current!)) throw fail("unable to use upstream authority singing current authority");
    const next = this.#x509.next ?? this.#x509.old;
    if (!next || ski !== this.#upstreamID(next)) throw fail("upstream authority didn't sign the old local authority");
    if (next === this.#x509.next) throw fail("only upstream authorities signing an old authority can be used");
  }

  /** Prepares a new JWT key (`localauthority jwt prepare`). */
  prepareJWTAuthority(): Promise<AuthorityState> {
    return this.#serial(async () => {
      if (!this.#jwt.current) throw new UnavailableError("server is initializing");
      const k = await this.#prepareJWT(otherSlot(this.#jwt.current.slot));
      this.#jwt = { current: this.#jwt.current, next: k };
      return this.jwtAuthorityStates().prepared!;
    });
  }

  /** Activates the prepared JWT key (`localauthority jwt activate`). */
  activateJWTAuthority(kid: string): Promise<AuthorityState> {
    return this.#serial(async () => {
      const next = this.#jwt.next ?? this.#jwt.old;
      if (!kid) throw new InvalidArgumentError("no authority ID provided");
      if (kid !== next?.kid) throw new InvalidArgumentError("unexpected authority ID");
      if (next !== this.#jwt.next) {
        throw new InternalError("only Prepared authorities can be activated", { cause: new Error("unsupported local authority status: OLD") });
      }
      await this.#activateJWT();
      return this.jwtAuthorityStates().active!;
    });
  }

  /** SPIRE's checks before tainting a JWT key: only the old one. */
  checkTaintJWTAuthority(kid: string): void {
    const next = this.#jwt.next ?? this.#jwt.old;
    if (!kid) throw new InvalidArgumentError("no authority ID provided");
    if (kid === this.#jwt.current?.kid) throw new InvalidArgumentError("unable to taint current local authority");
    if (kid !== next?.kid) throw new InvalidArgumentError("unexpected authority ID");
    if (next !== this.#jwt.old) throw new InvalidArgumentError("only Old local authorities can be tainted: unsupported local authority status: PREPARED");
  }

  /** SPIRE's checks before revoking a JWT key: not the active one, not a prepared one. Returns false when it must be looked up in the bundle. */
  checkRevokeJWTAuthority(kid: string): boolean {
    if (!kid) throw new InvalidArgumentError("invalid authority ID: no authority ID provided");
    const next = this.#jwt.next ?? this.#jwt.old;
    if (kid === next?.kid) {
      if (next === this.#jwt.next) throw new InvalidArgumentError("invalid authority ID: unable to use a prepared key");
      return true;
    }
    if (kid === this.#jwt.current?.kid) throw new InvalidArgumentError("invalid authority ID: unable to use current authority");
    return false;
  }

  #x509State(ca: X509CA): AuthorityState {
    return { authority_id: ca.authorityID, expires_at: Math.floor(ca.notAfter.getTime() / 1000), upstream_authority_subject_key_id: this.#upstreamID(ca) };
  }

  #upstreamID(ca: X509CA): string {
    if (ca.chain.length === 1 && isSelfSignedCA(ca.certDER)) return "";
    const aki = parseCertificate(ca.certDER).aki;
    return aki ? toHex(aki) : "";
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(fn);
    this.#busy = run.then(() => {}, () => {});
    return run;
  }

  #nextSlot(s: SlotID | undefined): SlotID {
    return s ? otherSlot(s) : "A";
  }

  async #rotateOnce(): Promise<void> {
    const now = this.#cfg.clock.now();
    const x = this.#x509;
    if (!x.current) {
      x.next = x.next ?? (await this.#prepareX509(this.#nextSlot(undefined)));
      await this.#activateX509();
    } else if (!x.next && shouldPrepareNext(x.current.issuedAt, x.current.notAfter, now)) {
      x.next = await this.#prepareX509(otherSlot(x.current.slot));
    }
    if (x.current && x.next && shouldActivateNext(x.current.issuedAt, x.current.notAfter, now)) await this.#activateX509();

    const j = this.#jwt;
    if (!j.current) {
      j.next = j.next ?? (await this.#prepareJWT(this.#nextSlot(undefined)));
      await this.#activateJWT();
    } else if (!j.next && shouldPrepareNext(j.current.issuedAt, j.current.notAfter, now)) {
      j.next = await this.#prepareJWT(otherSlot(j.current.slot));
    }
    if (j.current && j.next && shouldActivateNext(j.current.issuedAt, j.current.notAfter, now)) await this.#activateJWT();
  }

  async #prepareX509(slot: SlotID): Promise<X509CA> {
    const upstream = typeof this.#cfg.upstream === "function" ? await this.#cfg.upstream() : this.#cfg.upstream;
    const upstreamName = upstream?.name ?? "self-signed";
    this.#log.info("Preparing X509 CA", { [F.SLOT]: slot, upstream_authority: upstreamName });
    const ca = await mintX509CA({ ...this.#cfg, slot, upstream });
    this.#caUpstream.set(ca.authorityID, upstreamName);
    await this.#cfg.ds.appendBundle({
      trustDomain: this.#cfg.trustDomain.name,
      x509Authorities: ca.bundleRoots,
      jwtKeys: [],
    });
    this.#journal = recordX509CA(this.#journal, {
      slotID: slot,
      issuedAt: ca.issuedAt.getTime(),
      notAfter: ca.notAfter.getTime(),
      certificate: toBase64(ca.certDER),
      upstreamChain: ca.chain.slice(1).map(toBase64),
      status: "PREPARED",
      authorityID: ca.authorityID,
    });
    await this.#saveJournal();
    // SPIRE's fields (pkg/server/ca/manager); SPIRE's integration scripts match local_authority_id.
    this.#log.info("X509 CA prepared", {
      [F.SLOT]: slot,
      issued_at: ca.issuedAt.toISOString(),
      [F.EXPIRATION]: ca.notAfter.toISOString(),
      self_signed: upstream === undefined,
      local_authority_id: ca.authorityID,
      ...(upstream === undefined ? {} : { upstream_authority_id: upstreamAuthorityID(ca) }),
      upstream_authority: upstreamName,
    });
    return ca;
  }

  async #activateX509(): Promise<void> {
    const next = this.#x509.next;
    if (!next) return;
    const old = this.#x509.current;
    // The previous CA stays known as "old" (SPIRE's next slot with status OLD) so an operator can taint and revoke it.
    this.#x509 = { current: next, old };
    for (const e of this.#journal.x509CAs) {
      if (e.authorityID === next.authorityID) e.status = "ACTIVE";
      else if (old && e.authorityID === old.authorityID) e.status = "OLD";
    }
    await this.#saveJournal();
    this.#log.info("X509 CA activated", {
      [F.SLOT]: next.slot,
      issued_at: next.issuedAt.toISOString(),
      [F.EXPIRATION]: next.notAfter.toISOString(),
      local_authority_id: next.authorityID,
      ...(next.chain.length > 1 ? { upstream_authority_id: upstreamAuthorityID(next) } : {}),
    });
    for (const fn of this.#listeners) fn();
  }

  async #prepareJWT(slot: SlotID): Promise<JWTSigningKey> {
    const now = this.#cfg.clock.now();
    const key = await this.#cfg.keyManager.generateKey(`JWT-Signer-${slot}`, "ec-p256");
    const k: JWTSigningKey = {
      slot,
      kid: randomAlnum(32),
      signer: key.signer,
      issuedAt: now,
      notAfter: new Date(now.getTime() + this.#cfg.caTTL),
      authorityID: toHex(await keyIdentifier(key.signer.publicKeySPKI)),
    };
    await this.#cfg.ds.appendBundle({
      trustDomain: this.#cfg.trustDomain.name,
      x509Authorities: [],
      jwtKeys: [{ kid: k.kid, publicKey: key.signer.publicKeySPKI, notAfter: Math.floor(k.notAfter.getTime() / 1000) }],
    });
    this.#journal = recordJWTKey(this.#journal, {
      slotID: slot,
      issuedAt: now.getTime(),
      notAfter: k.notAfter.getTime(),
      kid: k.kid,
      status: "PREPARED",
      authorityID: k.authorityID,
    });
    await this.#saveJournal();
    this.#log.info("JWT key prepared", { [F.SLOT]: slot, local_authority_id: k.kid });
    return k;
  }

  async #activateJWT(): Promise<void> {
    const next = this.#jwt.next;
    if (!next) return;
    const old = this.#jwt.current;
    this.#jwt = { current: next, old };
    for (const e of this.#journal.jwtKeys) {
      if (e.kid === next.kid) e.status = "ACTIVE";
      else if (old && e.kid === old.kid) e.status = "OLD";
    }
    await this.#saveJournal();
    this.#log.info("JWT key activated", { [F.SLOT]: next.slot, local_authority_id: next.kid });
  }

  async #saveJournal(): Promise<void> {
    // SPIRE saves only once an X.509 authority is active: the journal is found by that authority's id.
    const active = this.#x509.current;
    if (!active) return;
    const saved = await this.#cfg.ds.setCAJournal({
      ...(this.#journalID === undefined ? {} : { id: this.#journalID }),
      activeX509AuthorityID: active.authorityID,
      data: encodeJournal(this.#journal),
    });
    this.#journalID = saved.id;
  }
}

/** The key ID of the certificate that signed this CA (its AKI), SPIRE's upstream_authority_id; "" when absent. */
function upstreamAuthorityID(ca: X509CA): string {
  try {
    const aki = parseCertificate(ca.certDER).aki;
    return aki ? toHex(aki) : "";
  } catch {
    return "";
  }
}
