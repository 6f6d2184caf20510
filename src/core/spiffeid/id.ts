/**
 * SPIFFE IDs and trust domains, parsed exactly as the SPIFFE-ID standard says.
 * https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md
 * @module
 */
import { SPIFFEIDError } from "../errors.ts";

// Texts are go-spiffe's (spiffeid/errors.go) so users of both see the same words.
export const ERR_EMPTY = "cannot be empty";
export const ERR_WRONG_SCHEME = "scheme is missing or invalid";
export const ERR_MISSING_TRUST_DOMAIN = "trust domain is missing";
export const ERR_BAD_TRUST_DOMAIN_CHAR = "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores";
export const ERR_BAD_PATH_SEGMENT_CHAR = "path segment characters are limited to letters, numbers, dots, dashes, and underscores";
export const ERR_DOT_SEGMENT = "path cannot contain dot segments";
export const ERR_NO_LEADING_SLASH = "path must have a leading slash";
export const ERR_EMPTY_SEGMENT = "path cannot contain empty segments";
export const ERR_TRAILING_SLASH = "path cannot have a trailing slash";
export const ERR_TOO_LONG = "SPIFFE ID cannot be longer than 2048 bytes";
export const ERR_TD_TOO_LONG = "trust domain cannot be longer than 255 bytes";

const SCHEME = "spiffe://";

function isTDChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x5f;
}
function isPathChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2e ||
    c === 0x2d || c === 0x5f;
}

/** A trust domain name such as "example.org". */
export class TrustDomain {
  readonly name: string;
  private constructor(name: string) {
    this.name = name;
  }
  /** Parses a bare name or a SPIFFE ID and keeps its trust domain. @throws {SPIFFEIDError} */
  static fromString(s: string): TrustDomain {
    if (s === "") throw new SPIFFEIDError(`trust domain ${ERR_EMPTY}`);
    if (s.includes(":/")) return fromString(s).trustDomain;
    validateTrustDomainName(s);
    return new TrustDomain(s);
  }
  /** The trust domain's own ID, "spiffe://<name>". */
  idString(): string {
    return SCHEME + this.name;
  }
  id(): ID {
    return ID.unsafe(this, "");
  }
  equals(o: TrustDomain): boolean {
    return this.name === o.name;
  }
  toString(): string {
    return this.name;
  }
  /** @internal for ID parsing only */
  static unsafe(name: string): TrustDomain {
    return new TrustDomain(name);
  }
}

function validateTrustDomainName(s: string): void {
  if (s.length > 255) throw new SPIFFEIDError(ERR_TD_TOO_LONG);
  for (let i = 0; i < s.length; i++) {
    if (!isTDChar(s.charCodeAt(i))) throw new SPIFFEIDError(ERR_BAD_TRUST_DOMAIN_CHAR);
  }
}

/** Checks a path ("" or "/a/b") against the spec. @throws {SPIFFEIDError} */
export function validatePath(path: string): void {
  if (path === "") return;
  if (path[0] !== "/") throw new SPIFFEIDError(ERR_NO_LEADING_SLASH);
  let segStart = 1;
  for (let i = 1; i <= path.length; i++) {
    if (i === path.length || path[i] === "/") {
      const seg = path.slice(segStart, i);
      if (seg === "") throw new SPIFFEIDError(i === path.length ? ERR_TRAILING_SLASH : ERR_EMPTY_SEGMENT);
      if (seg === "." || seg === "..") throw new SPIFFEIDError(ERR_DOT_SEGMENT);
      segStart = i + 1;
      continue;
    }
    if (!isPathChar(path.charCodeAt(i))) throw new SPIFFEIDError(ERR_BAD_PATH_SEGMENT_CHAR);
  }
}

/** A SPIFFE ID: trust domain plus path. Immutable; compare with `equals` or by `toString()`. */
export class ID {
  readonly trustDomain: TrustDomain;
  readonly path: string;
  private constructor(td: TrustDomain, path: string) {
    this.trustDomain = td;
    this.path = path;
  }
  /** @internal */
  static unsafe(td: TrustDomain, path: string): ID {
    return new ID(td, path);
  }
  /** Builds an ID from a trust domain and a path ("/a/b"). @throws {SPIFFEIDError} */
  static fromPath(td: TrustDomain, path: string): ID {
    validatePath(path);
    return new ID(td, path);
  }
  /** True for the trust domain's own ID (no path). */
  isTrustDomainID(): boolean {
    return this.path === "";
  }
  memberOf(td: TrustDomain): boolean {
    return this.trustDomain.equals(td);
  }
  equals(o: ID): boolean {
    return this.trustDomain.equals(o.trustDomain) && this.path === o.path;
  }
  toString(): string {
    return SCHEME + this.trustDomain.name + this.path;
  }
  toJSON(): string {
    return this.toString();
  }
}

/** Parses "spiffe://td/path". Rejects every form the spec forbids. @throws {SPIFFEIDError} */
export function fromString(s: string): ID {
  if (s === "") throw new SPIFFEIDError(ERR_EMPTY);
  if (new TextEncoder().encode(s).length > 2048) throw new SPIFFEIDError(ERR_TOO_LONG);
  if (!s.startsWith(SCHEME)) throw new SPIFFEIDError(ERR_WRONG_SCHEME);
  const rest = s.slice(SCHEME.length);
  const slash = rest.indexOf("/");
  const td = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  if (td === "") throw new SPIFFEIDError(ERR_MISSING_TRUST_DOMAIN);
  validateTrustDomainName(td);
  validatePath(path);
  return ID.unsafe(TrustDomain.unsafe(td), path);
}

/** Parses a trust domain name or ID. @throws {SPIFFEIDError} */
export function trustDomainFromString(s: string): TrustDomain {
  return TrustDomain.fromString(s);
}

/** Parses an ID that is known when the code is written; a bad one is a programmer error. */
export function requireFromString(s: string): ID {
  try {
    return fromString(s);
  } catch (err) {
    throw new TypeError(`invalid SPIFFE ID constant "${s}"`, { cause: err });
  }
}

/** The ID of a join-token agent, as SPIRE names it. */
export function agentIDForJoinToken(td: TrustDomain, token: string): ID {
  return ID.fromPath(td, `/spire/agent/join_token/${token}`);
}

/** The server's own ID. */
export function serverID(td: TrustDomain): ID {
  return ID.unsafe(td, "/spire/server");
}
