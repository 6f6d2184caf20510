/**
 * Shared pieces of the SPIRE server API services: a unary method from a generated method descriptor with SPIRE's
 * error log lines, pagination, output masks, and the `types.*` conversions every service uses.
 * @module
 */
import { create, type DescMessage, type DescMethodUnary, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { fromBase64, toBase64, toBase64URL } from "../../core/encoding.ts";
import { formatError, InvalidArgumentError, ServiceError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { CallContext, UnaryMethod } from "../../core/ports/grpc_server.ts";
import type { Bundle } from "../datastore/datastore.ts";
import { type BundleJSON, bundleToJSON } from "../api/bundle_api.ts";
import type { EntryJSON, SPIFFEIDJSON } from "../api/entry_json.ts";
import type { EntryInput, StatusJSON } from "../api/entry_api.ts";
import { type Bundle as PBBundle, BundleSchema } from "../../agent/workload/proto/spire/api/types/bundle_pb.ts";
import { type Entry as PBEntry, EntrySchema } from "../../agent/workload/proto/spire/api/types/entry_pb.ts";
import { type SPIFFEID, SPIFFEIDSchema } from "../../agent/workload/proto/spire/api/types/spiffeid_pb.ts";
import { type Status, StatusSchema } from "../../agent/workload/proto/spire/api/types/status_pb.ts";

/** The full gRPC path of a generated method, e.g. "/spire.api.server.entry.v1.Entry/ListEntries". */
export function pathOf(m: { name: string; parent: { typeName: string } }): string {
  return `/${m.parent.typeName}/${m.name}`;
}

/**
 * SPIRE's `service` log field: the package without `spire.api.server.` ("entry.v1.Entry"); Health and Logger keep
 * only their service name (pkg/common/api/middleware/names.go).
 */
function serviceField(typeName: string): string {
  const short = typeName.replace(/^spire\.api\.server\./, "");
  if (short === "logger.v1.Logger") return "Logger";
  if (short === "grpc.health.v1.Health") return "Health";
  return short;
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * A unary method for a generated descriptor; `handle` gets a logger with SPIRE's RPC fields (subsystem_name=api,
 * service, method). A ServiceError thrown by `handle` answers with its status and is logged
 * as SPIRE's MakeErr does (error level; "Invalid argument: <msg>" for InvalidArgument, the capitalised message
 * otherwise); anything else is the transport's internal error.
 */
export function unary<I extends DescMessage, O extends DescMessage>(
  m: DescMethodUnary<I, O>,
  logger: Logger,
  handle: (req: MessageShape<I>, ctx: CallContext, log: Logger) => Promise<MessageShape<O>> | MessageShape<O>,
): UnaryMethod<MessageShape<I>, MessageShape<O>> {
  const log = logger.with({ subsystem_name: "api", service: serviceField(m.parent.typeName), [F.METHOD]: m.name });
  return {
    kind: "unary",
    path: pathOf(m),
    decode: (b) => fromBinary(m.input, b),
    encode: (msg) => toBinary(m.output, msg),
    handle: (req, ctx) => run(req, ctx),
  };
  async function run(req: MessageShape<I>, ctx: CallContext): Promise<MessageShape<O>> {
    try {
      return await handle(req, ctx, log);
    } catch (err) {
      if (err instanceof ServiceError && err.status !== "INTERNAL") {
        if (err.status === "INVALID_ARGUMENT") log.error(`Invalid argument: ${err.message}`, { [F.ERROR]: formatError(err.cause ?? err) });
        else if (err.status === "NOT_FOUND") log.error(capitalise(err.message));
        else log.error(capitalise(err.message), { [F.ERROR]: formatError(err) });
      } else log.error(capitalise(err instanceof Error ? err.message : String(err)), { [F.ERROR]: formatError(err) });
      throw err;
    }
  }
}

/** An opaque page token: the key of the last item of the page. */
const tokenOf = (key: string) => toBase64URL(new TextEncoder().encode(key));

function keyOfToken(token: string): string {
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new Error("not base64url");
    return new TextDecoder("utf-8", { fatal: true }).decode(fromBase64(token.replace(/-/g, "+").replace(/_/g, "/")));
  } catch (cause) {
    throw new InvalidArgumentError(`could not parse token "${token}"`, { cause });
  }
}

/**
 * SPIRE's datastore pagination: page_size 0 (or less) returns everything and no token; otherwise items after the
 * token's key, in key order, and a token whenever the page is not empty (so a client stops on an empty page).
 */
export function paginate<T>(items: readonly T[], pageSize: number, pageToken: string, key: (t: T) => string): { items: T[]; next: string } {
  if (pageSize <= 0) return { items: [...items], next: "" };
  const after = pageToken === "" ? undefined : keyOfToken(pageToken);
  const sorted = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter((t) => key(t) > after);
  const page = rest.slice(0, pageSize);
  return { items: page, next: page.length > 0 ? tokenOf(key(page[page.length - 1]!)) : "" };
}

/**
 * Applies an output mask as SPIRE does: no mask keeps every field; otherwise each field the mask names is kept only
 * when set true (fields the mask does not name, such as `id`, always stay).
 */
export function applyMask<T extends object>(schema: DescMessage, msg: T, maskSchema: DescMessage, mask: object | undefined): T {
  if (!mask) return msg;
  const blank = create(schema) as unknown as Record<string, unknown>;
  const out = msg as unknown as Record<string, unknown>;
  const members = new Set<string>(schema.members.map((m) => m.localName));
  for (const f of maskSchema.fields) {
    if ((mask as Record<string, unknown>)[f.localName] === true || !members.has(f.localName)) continue;
    // Unset message fields are absent from a new message, so copying its value clears them.
    if (f.localName in blank) out[f.localName] = blank[f.localName];
    else delete out[f.localName];
  }
  return msg;
}

export const status = (s: StatusJSON): Status => create(StatusSchema, { code: s.code, message: s.message });

export const spiffeIDToProto = (id: SPIFFEIDJSON): SPIFFEID => create(SPIFFEIDSchema, { trustDomain: id.trust_domain, path: id.path });
export const spiffeIDFromProto = (id: SPIFFEID | undefined): SPIFFEIDJSON | null => id ? { trust_domain: id.trustDomain, path: id.path } : null;

/** A `types.Entry` as the plain entry functions take it. */
export function entryInputFromProto(e: PBEntry): EntryInput {
  return {
    id: e.id,
    spiffe_id: spiffeIDFromProto(e.spiffeId),
    parent_id: spiffeIDFromProto(e.parentId),
    selectors: e.selectors.map((s) => ({ type: s.type, value: s.value })),
    x509_svid_ttl: e.x509SvidTtl,
    jwt_svid_ttl: e.jwtSvidTtl,
    federates_with: e.federatesWith,
    admin: e.admin,
    downstream: e.downstream,
    expires_at: Number(e.expiresAt),
    dns_names: e.dnsNames,
    store_svid: e.storeSvid,
    hint: e.hint,
    additional_attributes: e.additionalAttributes
      ? { disable_x509_svid_prefetch: e.additionalAttributes.disableX509SvidPrefetch, jwt_svid_include_jti: e.additionalAttributes.jwtSvidIncludeJti }
      : null,
  };
}

export function entryToProto(e: EntryJSON): PBEntry {
  return create(EntrySchema, {
    id: e.id,
    spiffeId: spiffeIDToProto(e.spiffe_id),
    parentId: spiffeIDToProto(e.parent_id),
    selectors: e.selectors,
    x509SvidTtl: e.x509_svid_ttl,
    jwtSvidTtl: e.jwt_svid_ttl,
    federatesWith: e.federates_with,
    admin: e.admin,
    downstream: e.downstream,
    expiresAt: BigInt(e.expires_at),
    dnsNames: e.dns_names,
    revisionNumber: BigInt(e.revision_number),
    storeSvid: e.store_svid,
    hint: e.hint,
    createdAt: BigInt(e.created_at),
  });
}

/** A `types.Entry` as the JSON API has always answered it (the CLI prints from this shape). */
export function entryJSONFromProto(e: PBEntry): EntryJSON {
  const id = (v: SPIFFEID | undefined) => ({ trust_domain: v?.trustDomain ?? "", path: v?.path ?? "" });
  return {
    id: e.id,
    spiffe_id: id(e.spiffeId),
    parent_id: id(e.parentId),
    selectors: e.selectors.map((s) => ({ type: s.type, value: s.value })),
    x509_svid_ttl: e.x509SvidTtl,
    jwt_svid_ttl: e.jwtSvidTtl,
    dns_names: e.dnsNames,
    hint: e.hint,
    admin: e.admin,
    downstream: e.downstream,
    revision_number: Number(e.revisionNumber),
    created_at: Number(e.createdAt),
    expires_at: Number(e.expiresAt),
    federates_with: e.federatesWith,
    store_svid: e.storeSvid,
  };
}

/** A request's entry (the CLI's flags) as `types.Entry`. */
export function entryInputToProto(e: EntryInput): PBEntry {
  const id = (v: SPIFFEIDJSON | null | undefined) => (v ? spiffeIDToProto(v) : undefined);
  const spiffeId = id(e.spiffe_id);
  const parentId = id(e.parent_id);
  return create(EntrySchema, {
    id: e.id ?? "",
    ...(spiffeId ? { spiffeId } : {}),
    ...(parentId ? { parentId } : {}),
    selectors: e.selectors ?? [],
    x509SvidTtl: e.x509_svid_ttl ?? 0,
    jwtSvidTtl: e.jwt_svid_ttl ?? 0,
    federatesWith: e.federates_with ?? [],
    admin: e.admin ?? false,
    downstream: e.downstream ?? false,
    expiresAt: BigInt(e.expires_at ?? 0),
    dnsNames: e.dns_names ?? [],
    storeSvid: e.store_svid ?? false,
    hint: e.hint ?? "",
    ...(e.additional_attributes
      ? {
        additionalAttributes: {
          disableX509SvidPrefetch: e.additional_attributes.disable_x509_svid_prefetch ?? false,
          jwtSvidIncludeJti: e.additional_attributes.jwt_svid_include_jti ?? false,
        },
      }
      : {}),
  });
}

/** `types.Bundle` from the stored bundle, taint marks included. */
export function bundleToProto(b: Bundle): PBBundle {
  return bundleJSONToProto(bundleToJSON(b));
}

export function bundleJSONToProto(j: BundleJSON): PBBundle {
  return create(BundleSchema, {
    trustDomain: j.trust_domain,
    x509Authorities: j.x509_authorities.map((a) => ({ asn1: fromBase64(a.asn1), tainted: a.tainted === true })),
    jwtAuthorities: j.jwt_authorities.map((k) => ({
      publicKey: fromBase64(k.public_key),
      keyId: k.key_id,
      expiresAt: BigInt(k.expires_at),
      tainted: k.tainted === true,
    })),
    refreshHint: BigInt(j.refresh_hint),
    sequenceNumber: BigInt(j.sequence_number),
  });
}

/** A `types.Bundle` in the JSON API's shape: from a request for the plain bundle functions, or for the CLI. */
export function bundleJSONFromProto(b: PBBundle): BundleJSON {
  return {
    trust_domain: b.trustDomain,
    x509_authorities: b.x509Authorities.map((a) => ({ asn1: toBase64(a.asn1), ...(a.tainted ? { tainted: true } : {}) })),
    jwt_authorities: b.jwtAuthorities.map((k) => ({
      public_key: toBase64(k.publicKey),
      key_id: k.keyId,
      expires_at: Number(k.expiresAt),
      ...(k.tainted ? { tainted: true } : {}),
    })),
    refresh_hint: Number(b.refreshHint),
    sequence_number: Number(b.sequenceNumber),
  };
}
