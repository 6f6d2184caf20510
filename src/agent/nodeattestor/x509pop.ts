/**
 * The agent's x509pop attestor (SPIRE `pkg/agent/plugin/nodeattestor/x509pop`): sends the node certificate chain and
 * proves possession of its key by signing the server's nonce. The files are read at every attestation, so a renewed
 * node certificate is used at the next re-attestation.
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { FS } from "../../core/ports/fs.ts";
import { type CertificateInfo, fromPEM, parseCertificate } from "../../core/x509/mod.ts";
import { octetTLV, oid, readNode, seq, smallIntTLV, tlv } from "../../core/x509/der.ts";
import { OID_EC_PUBLIC_KEY, OID_P256, OID_P384, OID_P521, OID_RSA } from "../../core/x509/names.ts";
import * as pop from "../../core/x509pop/protocol.ts";
import type { AgentNodeAttestor } from "./node_attestor.ts";

/** agent.conf `NodeAttestor "x509pop"`. */
export interface X509PoPAgentConfig {
  name: "x509pop";
  /** PEM private key of the node certificate (PKCS#8, PKCS#1 or SEC 1). Required. */
  privateKeyPath: string;
  /** PEM node certificate, leaf first; more certificates in it are sent as intermediates. Required. */
  certificatePath: string;
  /** PEM intermediates sent after the certificate file's own. Optional. */
  intermediatesPath?: string;
}

const CURVES: Record<string, { name: string; size: number }> = {
  [OID_P256]: { name: "P-256", size: 32 },
  [OID_P384]: { name: "P-384", size: 48 },
  [OID_P521]: { name: "P-521", size: 66 },
};

interface Loaded {
  chain: Uint8Array[];
  key: pop.PoPKey;
}

function pemLabel(text: string): string {
  return /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1] ?? "";
}

/** PKCS#1 and SEC 1 keys in the PKCS#8 envelope WebCrypto imports. */
function toPKCS8(label: string, der: Uint8Array, leaf: CertificateInfo): Uint8Array {
  if (label === "PRIVATE KEY") return der;
  if (label === "RSA PRIVATE KEY") return seq(smallIntTLV(0), seq(oid(OID_RSA), tlv(0x05)), octetTLV(der));
  if (label === "EC PRIVATE KEY") {
    readNode(der, 0, der.length);
    return seq(smallIntTLV(0), seq(oid(OID_EC_PUBLIC_KEY), oid(leaf.namedCurve ?? "")), octetTLV(der));
  }
  throw new Error(`unsupported PEM block type "${label}"`);
}

/** Imports the key for the leaf's algorithm and checks it is the leaf's key (Go's tls.X509KeyPair check). */
async function importKey(pkcs8: Uint8Array, leaf: CertificateInfo): Promise<pop.PoPKey> {
  const pub = async (alg: RsaHashedImportParams | EcKeyImportParams) =>
    crypto.subtle.exportKey("jwk", await crypto.subtle.importKey("spki", leaf.spki as BufferSource, alg, true, ["verify"]));
  if (leaf.publicKeyAlgorithm === OID_RSA) {
    const alg = { name: "RSA-PSS", hash: "SHA-256" };
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8 as BufferSource, alg, true, ["sign"]);
    const [priv, leafPub] = [await crypto.subtle.exportKey("jwk", privateKey), await pub(alg)];
    if (priv.n !== leafPub.n || priv.e !== leafPub.e) throw new Error("tls: private key does not match public key");
    return { kind: "rsa", privateKey, modulusBits: (privateKey.algorithm as RsaHashedKeyAlgorithm).modulusLength };
  }
  const curve = CURVES[leaf.namedCurve ?? ""];
  if (leaf.publicKeyAlgorithm !== OID_EC_PUBLIC_KEY || !curve) throw new Error("tls: unknown public key algorithm");
  const alg = { name: "ECDSA", namedCurve: curve.name };
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8 as BufferSource, alg, true, ["sign"]);
  const [priv, leafPub] = [await crypto.subtle.exportKey("jwk", privateKey), await pub(alg)];
  if (priv.x !== leafPub.x || priv.y !== leafPub.y) throw new Error("tls: private key does not match public key");
  return { kind: "ecdsa", privateKey, curveSize: curve.size };
}

export class X509PoPNodeAttestor implements AgentNodeAttestor {
  readonly name = "x509pop";
  #fs: FS;
  #cfg: X509PoPAgentConfig;
  #current: Loaded | undefined;

  constructor(fs: FS, cfg: X509PoPAgentConfig) {
    this.#fs = fs;
    this.#cfg = cfg;
  }

  /**
   * Reads the certificate, intermediates and key files.
   * @throws {InvalidArgumentError} "unable to load keypair: …" / "unable to load intermediate certificates: …"
   */
  async load(): Promise<void> {
    const read = async (p: string) => new TextDecoder().decode(await this.#fs.readFile(p));
    let chain: Uint8Array[];
    let key: pop.PoPKey;
    try {
      chain = fromPEM(await read(this.#cfg.certificatePath), "CERTIFICATE");
      const leaf = parseCertificate(chain[0]!);
      const keyText = await read(this.#cfg.privateKeyPath);
      const label = pemLabel(keyText);
      const [der] = fromPEM(keyText, label);
      key = await importKey(toPKCS8(label, der!, leaf), leaf);
    } catch (cause) {
      throw new InvalidArgumentError(`unable to load keypair: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    if (this.#cfg.intermediatesPath) {
      try {
        chain = [...chain, ...fromPEM(await read(this.#cfg.intermediatesPath), "CERTIFICATE")];
      } catch (cause) {
        throw new InvalidArgumentError(`unable to load intermediate certificates: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
      }
    }
    this.#current = { chain, key };
  }

  async payload(): Promise<Uint8Array> {
    await this.load();
    return pop.encodeAttestationData(this.#current!.chain);
  }

  async challenge(challenge: Uint8Array): Promise<Uint8Array> {
    if (!this.#current) await this.load();
    return pop.encodeResponse(await pop.calculateResponse(this.#current!.key, pop.decodeChallenge(challenge)));
  }
}
