/** Mints X509-SVID leaf certificates from a per-CA DER template, signed through the Signer port. @module */
import type { Signer } from "../crypto/signer.ts";
import { InvalidArgumentError } from "../errors.ts";
import { fromString } from "../spiffeid/id.ts";
import { parseCertificate } from "./certificate_info.ts";
import { bitStringTLV, bytesEqual, concat, extensionTLV, octetTLV, oid, seq, tlv, uintTLV } from "./der.ts";
import { timeTLV } from "./time.ts";
import {
  ECDSA_SHA256_ALG,
  encodeName,
  isValidDNSName,
  OID_AKI,
  OID_BASIC_CONSTRAINTS,
  OID_CLIENT_AUTH,
  OID_EKU,
  OID_KEY_USAGE,
  OID_SERVER_AUTH,
  OID_SKI,
  sanExtension,
  type SubjectFields,
} from "./names.ts";
import { requireP256SPKI, subjectKeyId } from "./spki.ts";

/** One leaf to mint. The caller caps `notAfter` at the CA's own expiry. */
export interface MintParams {
  spiffeID: string;
  /** DER SubjectPublicKeyInfo of an uncompressed P-256 key. */
  publicKeySPKI: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  dnsNames?: string[];
  /** Unsigned big-endian serial (1–20 bytes); default 16 random bytes. */
  serial?: Uint8Array;
  /** Default C=US, O=SPIRE; CN defaults to the first DNS name, as SPIRE does. */
  subject?: SubjectFields;
}

export interface LeafMinterOptions {
  caCertDER: Uint8Array;
  signer: Signer;
  /** Certificates that follow the CA in served chains (upstream intermediates); kept for callers. */
  chain?: Uint8Array[];
  /** Signatures in flight at once in `mintBatch` (default 64). */
  concurrency?: number;
}

const VERSION_3 = Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02);
const DEFAULT_SUBJECT: SubjectFields = { C: "US", O: "SPIRE" };
const DEFAULT_SUBJECT_DER = encodeName(DEFAULT_SUBJECT);

// The leaf profile of SPIRE's credtemplate, in Go's buildCertExtensions order: KU, EKU, BC, SKI, AKI, SAN.
// digitalSignature|keyEncipherment|keyAgreement = bits 0,2,4 → 0xA8 with 3 unused trailing bits.
const KU_EXT = extensionTLV(oid(OID_KEY_USAGE), true, bitStringTLV(Uint8Array.of(0xa8), 3));
const EKU_EXT = extensionTLV(oid(OID_EKU), false, seq(oid(OID_SERVER_AUTH), oid(OID_CLIENT_AUTH)));
const BC_LEAF_EXT = extensionTLV(oid(OID_BASIC_CONSTRAINTS), true, seq());
const SKI_OID = oid(OID_SKI);

/**
 * Signs SVID leaves for one CA. The constant parts of the TBSCertificate (version, algorithm, issuer,
 * profile extensions, AKI) are encoded once at `create`; each `mint` encodes only the per-SVID fields and
 * splices them in, so a mint costs one SHA-1, one signature and a few small copies. Fields are assembled
 * rather than patched in place because their lengths vary (serial padding, subject, SAN) and every
 * enclosing length must follow.
 */
export class LeafMinter {
  readonly caCertDER: Uint8Array;
  readonly chain: readonly Uint8Array[];
  readonly caNotAfter: Date;
  readonly #signer: Signer;
  readonly #issuer: Uint8Array;
  readonly #fixedExts: Uint8Array;
  readonly #akiExt: Uint8Array;
  readonly #concurrency: number;

  private constructor(o: LeafMinterOptions, issuer: Uint8Array, aki: Uint8Array, caNotAfter: Date) {
    this.caCertDER = o.caCertDER;
    this.chain = o.chain ?? [];
    this.caNotAfter = caNotAfter;
    this.#signer = o.signer;
    this.#issuer = issuer;
    this.#fixedExts = concat([KU_EXT, EKU_EXT, BC_LEAF_EXT]);
    this.#akiExt = aki;
    this.#concurrency = Math.max(1, o.concurrency ?? 64);
  }

  /**
   * Prepares the template for the CA in `caCertDER`, whose key `signer` holds.
   * @throws {InvalidArgumentError} when the certificate is not a CA or does not match the signer
   */
  static async create(o: LeafMinterOptions): Promise<LeafMinter> {
    const ca = parseCertificate(o.caCertDER);
    if (!ca.isCA) throw new InvalidArgumentError("issuer certificate is not a CA");
    if (!bytesEqual(ca.spki, o.signer.publicKeySPKI)) {
      throw new InvalidArgumentError("signer public key does not match the CA certificate");
    }
    const aki = ca.ski ?? subjectKeyId(ca.spki, ca.spki.length - 65);
    const akiExt = extensionTLV(oid(OID_AKI), false, seq(tlv(0x80, aki)));
    return new LeafMinter(o, ca.subjectDER.slice(), akiExt, ca.notAfter);
  }

  /**
   * Mints one leaf and returns its DER.
   * @throws {InvalidArgumentError} on a bad SPIFFE ID, DNS name or public key (ERR_CSR_INVALID for the key)
   * @throws {RangeError} when notAfter ≤ notBefore or the serial is out of range
   */
  async mint(p: MintParams): Promise<Uint8Array> {
    const tbs = this.#tbs(p);
    const sig = await this.#signer.sign(tbs);
    return seq(tbs, ECDSA_SHA256_ALG, bitStringTLV(sig));
  }

  /** Mints many leaves with up to `concurrency` signatures in flight; results keep the input order. */
  async mintBatch(params: readonly MintParams[]): Promise<Uint8Array[]> {
    const out = new Array<Uint8Array>(params.length);
    let next = 0;
    const worker = async () => {
      while (next < params.length) {
        const i = next++;
        out[i] = await this.mint(params[i]!);
      }
    };
    const n = Math.min(this.#concurrency, params.length);
    await Promise.all(Array.from({ length: n }, worker));
    return out;
  }

  #tbs(p: MintParams): Uint8Array {
    const nb = p.notBefore.getTime();
    const na = p.notAfter.getTime();
    if (!(na > nb)) throw new RangeError("notAfter must be after notBefore");
    requireP256SPKI(p.publicKeySPKI);
    const id = fromString(p.spiffeID);
    if (id.isTrustDomainID()) {
      throw new InvalidArgumentError(`X509-SVID ID "${p.spiffeID}" must have a path`);
    }
    const dnsNames = p.dnsNames ?? [];
    for (const d of dnsNames) {
      if (!isValidDNSName(d)) throw new InvalidArgumentError(`invalid DNS name "${d}"`);
    }
    const subjectFields: SubjectFields = { ...(p.subject ?? DEFAULT_SUBJECT) };
    if (dnsNames.length > 0) subjectFields.CN = dnsNames[0]!;
    const subject = p.subject === undefined && dnsNames.length === 0 ? DEFAULT_SUBJECT_DER : encodeName(subjectFields);
    const ski = subjectKeyId(p.publicKeySPKI);
    const exts = seq(
      this.#fixedExts,
      extensionTLV(SKI_OID, false, octetTLV(ski)),
      this.#akiExt,
      sanExtension([p.spiffeID], dnsNames, subject.length === 2),
    );
    return seq(
      VERSION_3,
      serialTLV(p.serial),
      ECDSA_SHA256_ALG,
      this.#issuer,
      seq(timeTLV(p.notBefore), timeTLV(p.notAfter)),
      subject,
      p.publicKeySPKI,
      tlv(0xa3, exts),
    );
  }
}

// getRandomValues costs ~10 µs a call in Node whatever the size, so serials are cut from a 4 KiB pool.
const POOL_SERIALS = 256;
let pool = new Uint8Array(0);
let poolPos = 0;

function randomSerial(): Uint8Array {
  if (poolPos >= pool.length) {
    pool = crypto.getRandomValues(new Uint8Array(16 * POOL_SERIALS));
    poolPos = 0;
  }
  const s = pool.subarray(poolPos, poolPos + 16);
  poolPos += 16;
  if (s.every((b) => b === 0)) s[15] = 1;
  return s;
}

/** A positive serial: the given magnitude, or 128 random bits as SPIRE's x509util.NewSerialNumber. */
export function serialTLV(serial?: Uint8Array): Uint8Array {
  let s = serial;
  if (s === undefined) s = randomSerial();
  else {
    let i = 0;
    while (i < s.length && s[i] === 0) i++;
    if (i === s.length) throw new RangeError("serial number must be positive");
  }
  const der = uintTLV(s);
  // RFC 5280 §4.1.2.2: at most 20 octets of INTEGER content, sign padding included.
  if (der.length > 22) throw new RangeError("serial number must fit in 20 octets");
  return der;
}
