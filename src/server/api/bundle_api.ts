/**
 * SPIRE's Bundle service (bundle.v1) and TrustDomain.RefreshBundle as plain functions (bundleAPI), served on the
 * admin socket as JSON routes (bundleRoutes) and as gRPC (src/server/grpcapi/bundle_methods.ts). Inputs use SPIRE's
 * protobuf JSON names (`types.Bundle`: trust_domain, x509_authorities[{asn1}], jwt_authorities[{public_key, key_id,
 * expires_at}], refresh_hint, sequence_number); texts are SPIRE's (pkg/server/api/bundle/v1/service.go).
 * @module
 */
import type { Hono } from "hono";
import { fromBase64, toBase64, toHex } from "../../core/encoding.ts";
import { AlreadyExistsError, formatError, InternalError, InvalidArgumentError, NotFoundError, ServiceError } from "../../core/errors.ts";
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
  x509_authorities: { asn1: string; tainted?: boolean }[];
  jwt_authorities: { public_key: string; key_id: string; expires_at: number; tainted?: boolean }[];
  refresh_hint: number;
  sequence_number: number;
}

/** The hex subject key ID of a DER certificate ("" when it has none or does not parse). */
export function subjectKeyIDOf(der: Uint8Array): string {
  try {
    const ski = parseCertificate(der).ski;
    return ski ? toHex(ski) : "";
  } catch {
    return "";
  }
}

export function bundleToJSON(b: Bundle): BundleJSON {
  const taintedX509 = new Set(b.taintedX509 ?? []);
  const taintedJWT = new Set(b.taintedJWT ?? []);
  return {
    trust_domain: b.trustDomain,
    x509_authorities: b.x509Authorities.map((d) => ({
      asn1: toBase64(d),
      ...(taintedX509.size > 0 && taintedX509.has(subjectKeyIDOf(d)) ? { tainted: true } : {}),
    })),
    jwt_authorities: b.jwtKeys.map((k) => ({
      public_key: toBase64(k.publicKey),
      key_id: k.kid,
      expires_at: k.notAfter,
      ...(taintedJWT.has(k.kid) ? { tainted: true } : {}),
    })),
    refresh_hint: b.refreshHint,
    sequence_number: b.sequence,
  };
}

/** The X.509 authorities of a request, each checked to be a certificate. */
function x509FromJSON(list: BundleJSON["x509_authorities"] | undefined): Uint8Array[] {
  return (list ?? []).map((a, i) => {
    const der = fromBase64(String(a?.asn1 ?? ""));
    try {
      parseCertificate(der);
    } catch (err) {
      throw new InvalidArgumentError(`unable to parse X.509 authority ${i}: ${(err as Error).message}`, { cause: err });
    }
    return der;
  });
}

function jwtFromJSON(list: BundleJSON["jwt_authorities"] | undefined): Bundle["jwtKeys"] {
  return (list ?? []).map((k) => {
    if (!k?.key_id) throw new InvalidArgumentError("missing key ID");
    if (!k.public_key) throw new InvalidArgumentError(`missing public key for key ID "${k.key_id}"`);
    return { kid: k.key_id, publicKey: fromBase64(String(k.public_key)), notAfter: Number(k.expires_at ?? 0) };
  });
}

/**
 * @param requireX509 false for an update whose input mask leaves the X.509 authorities out
 * @throws {InvalidArgumentError} "failed to convert bundle: …"
 */
export function bundleFromJSON(v: unknown, requireX509 = true): Omit<Bundle, "sequence"> {
  const o = (v ?? {}) as Partial<BundleJSON>;
  let td: string;
  try {
    td = spiffeid.trustDomainFromString(String(o.trust_domain ?? "")).name;
  } catch (err) {
    throw new InvalidArgumentError(`failed to convert bundle: ${(err as Error).message}`, { cause: err });
  }
  try {
    const x509 = x509FromJSON(o.x509_authorities);
    if (x509.length === 0 && requireX509) throw new InvalidArgumentError("no X.509 authorities");
    return { trustDomain: td, x509Authorities: x509, jwtKeys: jwtFromJSON(o.jwt_authorities), refreshHint: Number(o.refresh_hint ?? 0) };
  } catch (err) {
    throw new InvalidArgumentError(`failed to convert bundle: ${(err as Error).message}`, { cause: err });
  }
}

/** SPIRE's MakeStatus: `<msg>: <cause>` for a ServiceError; the code of the error unless given. */
function statusOf(msg: string, err: unknown, code?: number): StatusJSON {
  if (err instanceof ServiceError) return { code: code ?? CODE[err.status], message: `${msg}: ${err.message}` };
  return { code: CODE.INTERNAL, message: `${msg}: internal error` };
}

const OK: StatusJSON = { code: 0, message: "OK" };

/** `BatchDeleteFederatedBundleRequest.Mode`. */
export type BundleDeleteMode = "RESTRICT" | "DELETE" | "DISSOCIATE";

export interface BundleAPIDeps {
  ds: DataStore;
  trustDomain: spiffeid.TrustDomain;
  logger: Logger;
  /** Pushes bundle and entry changes to agents. */
  notify: () => void;
  refresher?: BundleRefresher | undefined;
}

export type BundleResult = { status: StatusJSON; bundle?: Bundle };

export function bundleAPI(d: BundleAPIDeps) {
  const { ds, trustDomain: td } = d;
  const log = d.logger.with({ subsystem_name: "api" });
  /** A request's foreign trust domain; `own` is SPIRE's text for the server's own trust domain. */
  const foreign = (raw: string, own: string) => {
    let n: string;
    try {
      n = spiffeid.trustDomainFromString(raw).name;
    } catch (err) {
      throw new InvalidArgumentError(`trust domain argument is not valid: ${(err as Error).message}`, { cause: err });
    }
    if (n === td.name) throw new InvalidArgumentError(own);
    return n;
  };
  /** Runs one batch item; conversion problems are InvalidArgument with SPIRE's text, the rest `<msg>: <cause>`. */
  const item = async (failMsg: string, fn: () => Promise<Bundle>): Promise<BundleResult> => {
    try {
      return { status: OK, bundle: await fn() };
    } catch (err) {
      if (err instanceof InvalidArgumentError) return { status: { code: CODE.INVALID_ARGUMENT, message: err.message } };
      if (err instanceof AlreadyExistsError) return { status: { code: CODE.ALREADY_EXISTS, message: "bundle already exists" } };
      if (err instanceof NotFoundError) return { status: { code: CODE.NOT_FOUND, message: "bundle not found" } };
      return { status: statusOf(failMsg, err) };
    }
  };
  const convert = (raw: unknown, own: string, requireX509 = true) => {
    const b = bundleFromJSON(raw, requireX509);
    foreign(b.trustDomain, own);
    return b;
  };
  return {
    /** @throws {NotFoundError} "bundle not found" */
    async getBundle(): Promise<Bundle> {
      const b = await ds.fetchBundle(td.name);
      if (!b) throw new NotFoundError("bundle not found");
      return b;
    },

    /** @throws {InvalidArgumentError} "no authorities to append", "failed to convert X.509 authority: …" */
    async appendBundle(req: Pick<BundleJSON, "x509_authorities" | "jwt_authorities">): Promise<Bundle> {
      if ((req.x509_authorities ?? []).length === 0 && (req.jwt_authorities ?? []).length === 0) {
        throw new InvalidArgumentError("no authorities to append");
      }
      let jwtKeys: Bundle["jwtKeys"];
      let x509: Uint8Array[];
      try {
        jwtKeys = jwtFromJSON(req.jwt_authorities);
      } catch (err) {
        throw new InvalidArgumentError(`failed to convert JWT authority: ${(err as Error).message}`, { cause: err });
      }
      try {
        x509 = x509FromJSON(req.x509_authorities);
      } catch (err) {
        throw new InvalidArgumentError(`failed to convert X.509 authority: ${(err as Error).message}`, { cause: err });
      }
      const b = await ds.appendBundle({ trustDomain: td.name, x509Authorities: x509, jwtKeys });
      d.notify();
      return b;
    },

    /** @throws {InvalidArgumentError} for the server's own trust domain; {NotFoundError} "bundle not found" */
    async getFederatedBundle(trustDomain: string): Promise<Bundle> {
      const name = foreign(trustDomain, "getting a federated bundle for the server's own trust domain is not allowed");
      const b = await ds.fetchBundle(name);
      if (!b) throw new NotFoundError("bundle not found");
      return b;
    },

    /** Every bundle but the server's own, ordered by trust domain. */
    async listFederatedBundles(): Promise<Bundle[]> {
      return (await ds.listBundles()).filter((b) => b.trustDomain !== td.name);
    },

    /** Counts every bundle, the server's own included (as SPIRE). */
    async countBundles(): Promise<number> {
      return (await ds.listBundles()).length;
    },

    async batchCreateFederatedBundle(list: unknown[]): Promise<BundleResult[]> {
      const out: BundleResult[] = [];
      for (const raw of list) {
        out.push(
          await item("unable to create bundle", async () => {
            const b = convert(raw, "creating a federated bundle for the server's own trust domain is not allowed");
            if (await ds.fetchBundle(b.trustDomain)) throw new AlreadyExistsError("bundle already exists");
            const stored = await ds.setBundle(b);
            log.info("Bundle created successfully", { [F.TRUST_DOMAIN_ID]: b.trustDomain });
            return stored;
          }),
        );
      }
      d.notify();
      return out;
    },

    /**
     * BatchUpdateFederatedBundle: `inputMask` names the fields to replace (absent: all); the bundle must exist.
     */
    async batchUpdateFederatedBundle(
      list: unknown[],
      inputMask?: { x509_authorities?: boolean; jwt_authorities?: boolean; refresh_hint?: boolean } | undefined,
    ): Promise<BundleResult[]> {
      const out: BundleResult[] = [];
      for (const raw of list) {
        out.push(
          await item("failed to update bundle", async () => {
            const b = convert(
              raw,
              "updating a federated bundle for the server's own trust domain is not allowed",
              !inputMask || inputMask.x509_authorities === true,
            );
            const current = await ds.fetchBundle(b.trustDomain);
            if (!current) throw new NotFoundError("record not found");
            const next = {
              trustDomain: b.trustDomain,
              x509Authorities: !inputMask || inputMask.x509_authorities ? b.x509Authorities : current.x509Authorities,
              jwtKeys: !inputMask || inputMask.jwt_authorities ? b.jwtKeys : current.jwtKeys,
              refreshHint: !inputMask || inputMask.refresh_hint ? b.refreshHint : current.refreshHint,
            };
            const stored = await ds.setBundle(next);
            log.info("Bundle updated successfully", { [F.TRUST_DOMAIN_ID]: b.trustDomain });
            return stored;
          }),
        );
      }
      d.notify();
      return out;
    },

    /** BatchSetFederatedBundle: creates or replaces each bundle. */
    async batchSetFederatedBundle(list: unknown[]): Promise<BundleResult[]> {
      const out: BundleResult[] = [];
      for (const raw of list) {
        out.push(
          await item("failed to set bundle", async () => {
            const b = convert(raw, "setting a federated bundle for the server's own trust domain is not allowed");
            const stored = await ds.setBundle(b);
            log.info("Bundle set successfully", { [F.TRUST_DOMAIN_ID]: b.trustDomain });
            return stored;
          }),
        );
      }
      d.notify();
      return out;
    },

    /**
     * BatchDeleteFederatedBundle: RESTRICT refuses a bundle that entries federate with; DELETE deletes those entries;
     * DISSOCIATE removes the trust domain from them.
     */
    async batchDeleteFederatedBundle(trustDomains: string[], mode: BundleDeleteMode): Promise<{ status: StatusJSON; trust_domain: string }[]> {
      const out: { status: StatusJSON; trust_domain: string }[] = [];
      for (const raw of trustDomains) {
        try {
          const name = foreign(raw, "removing the bundle for the server trust domain is not allowed");
          if (!(await ds.fetchBundle(name))) {
            // SPIRE's MakeStatus drops the cause of a NotFound.
            out.push({ status: { code: CODE.NOT_FOUND, message: "bundle not found" }, trust_domain: raw });
            continue;
          }
          const users = (await ds.listEntries()).filter((e) => (e.federatesWith ?? []).includes(name));
          if (users.length > 0 && mode === "RESTRICT") {
            out.push({
              status: {
                code: CODE.FAILED_PRECONDITION,
                message: `failed to delete federated bundle: datastore-sql: cannot delete bundle; federated with ${users.length} registration entries`,
              },
              trust_domain: raw,
            });
            continue;
          }
          if (mode === "DELETE") { for (const e of users) await ds.deleteEntry(e.id); }
          if (mode === "DISSOCIATE") {
            for (const e of users) {
              await ds.updateEntry({
                ...e,
                federatesWith: (e.federatesWith ?? []).filter((t) => t !== name),
              });
            }
          }
          await ds.deleteBundle(name);
          log.info("Federated bundle deleted", { [F.TRUST_DOMAIN_ID]: name });
          out.push({ status: OK, trust_domain: raw });
        } catch (err) {
          out.push({
            status: err instanceof InvalidArgumentError
              ? { code: CODE.INVALID_ARGUMENT, message: err.message }
              : statusOf("failed to delete federated bundle", err),
            trust_domain: raw,
          });
        }
      }
      d.notify();
      return out;
    },

    /** TrustDomain.RefreshBundle. @throws {NotFoundError} `there is no federation relationship with trust domain "x"` */
    async refreshBundle(trustDomain: string): Promise<void> {
      let name: string;
      try {
        name = spiffeid.trustDomainFromString(trustDomain).name;
      } catch (err) {
        throw new InvalidArgumentError(`failed to parse trust domain: ${(err as Error).message}`, { cause: err });
      }
      const missing = () => new NotFoundError(`no relationship with trust domain "${name}"`);
      if (!d.refresher) throw missing();
      try {
        await d.refresher.refresh(name);
      } catch (err) {
        if (err instanceof NotFoundError) throw missing();
        // SPIRE's MakeErr: the reason travels in the message, whatever the failure was.
        throw new InternalError(`failed to refresh bundle: ${formatError(err)}`, { cause: err });
      }
    },
  };
}

export type BundleAPI = ReturnType<typeof bundleAPI>;

const results = (rs: BundleResult[]) => rs.map((r) => ({ status: r.status, ...(r.bundle ? { bundle: bundleToJSON(r.bundle) } : {}) }));

export function bundleRoutes(app: Hono, cfg: BundleAPIDeps): void {
  const api = bundleAPI(cfg);
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const B = "/bundle.v1.Bundle";
  app.post(`${B}/GetBundle`, async (c) => c.json(bundleToJSON(await api.getBundle())));
  app.post(`${B}/GetFederatedBundle`, async (c) => c.json(bundleToJSON(await api.getFederatedBundle(String((await jsonBody(c)).trust_domain ?? "")))));
  app.post(`${B}/ListFederatedBundles`, async (c) => c.json({ bundles: (await api.listFederatedBundles()).map(bundleToJSON), next_page_token: "" }));
  app.post(`${B}/CountBundles`, async (c) => c.json({ count: await api.countBundles() }));
  app.post(`${B}/BatchSetFederatedBundle`, async (c) => c.json({ results: results(await api.batchSetFederatedBundle(list((await jsonBody(c)).bundle))) }));
  app.post(`${B}/BatchDeleteFederatedBundle`, async (c) => {
    const body = await jsonBody(c);
    const mode = String(body.mode ?? "RESTRICT");
    if (mode !== "RESTRICT" && mode !== "DELETE" && mode !== "DISSOCIATE") {
      throw new InvalidArgumentError(`failed to parse deletion mode: unhandled delete mode "${mode}"`);
    }
    return c.json({ results: await api.batchDeleteFederatedBundle(list(body.trust_domains).map(String), mode) });
  });
  app.post("/trustdomain.v1.TrustDomain/RefreshBundle", async (c) => {
    await api.refreshBundle(String((await jsonBody(c)).trust_domain ?? ""));
    return c.json({});
  });
}
