/**
 * The x509pop server node attestor (SPIRE `pkg/server/plugin/nodeattestor/x509pop`): the agent presents a certificate
 * chain that must verify against the configured CA bundle (or, in spiffe mode, this server's own X.509 authorities)
 * and proves possession of the leaf key by signing a nonce. Agent ID from `agent_path_template`; re-attestable.
 * @module
 */
import { InvalidArgumentError, PermissionDeniedError } from "../../../core/errors.ts";
import type { Clock } from "../../../core/ports/clock.ts";
import type { Selector } from "../../../core/selector.ts";
import * as spiffeid from "../../../core/spiffeid/mod.ts";
import { type CertificateInfo, parseCertificate, verifyCertificateChain } from "../../../core/x509/mod.ts";
import { OID_RSA } from "../../../core/x509/names.ts";
import * as pop from "../../../core/x509pop/protocol.ts";
import { renderAgentPathTemplate } from "../agent_path_template.ts";
import type { AttestContext, ChallengeFn, NodeAttestationResult, ServerNodeAttestor } from "../node_attestor.ts";
import type { X509PoPServerConfig } from "./x509pop_config.ts";

export interface X509PoPAttestorDeps {
  config: X509PoPServerConfig;
  trustDomain: spiffeid.TrustDomain;
  clock: Clock;
  /** external_pki: the roots read from ca_bundle_path(s); spiffe: the server's current X.509 authorities. */
  roots: () => Promise<Uint8Array[]>;
}

const TYPE = "x509pop";
const sel = (value: string): Selector => ({ type: TYPE, value });

function parse(der: Uint8Array, what: string): CertificateInfo {
  try {
    return parseCertificate(der);
  } catch (cause) {
    throw new InvalidArgumentError(`${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Go's big.Int Text(16) with an even number of digits (SPIRE's serialnumber selector). */
function serialHexEven(hex: string): string {
  const h = hex.replace(/^0+(?=.)/, "");
  return h.length % 2 === 1 ? `0${h}` : h;
}

export class X509PoPAttestor implements ServerNodeAttestor {
  readonly name = TYPE;
  #d: X509PoPAttestorDeps;

  constructor(deps: X509PoPAttestorDeps) {
    this.#d = deps;
  }

  async attest(payload: Uint8Array, challengeFn: ChallengeFn, context: AttestContext = {}): Promise<NodeAttestationResult> {
    const cfg = this.#d.config;
    const certs = pop.decodeAttestationData(payload);
    if (certs.length === 0) throw new InvalidArgumentError("no certificate to attest");
    const leaf = parse(certs[0]!, "unable to parse leaf certificate");
    const intermediates = certs.slice(1);
    intermediates.forEach((c, i) => parse(c, `unable to parse intermediate certificate ${i}`));
    if (intermediates.length > cfg.maxIntermediates) throw new InvalidArgumentError("too many intermediate certificates");
    if (leaf.publicKeyAlgorithm === OID_RSA && await rsaBits(leaf) > cfg.maxRSAKeySize) {
      throw new InvalidArgumentError("leaf certificate key size too large");
    }

    let path: Uint8Array[];
    try {
      path = await verifyCertificateChain(leaf.der, intermediates, await this.#d.roots(), this.#d.clock.now());
    } catch (cause) {
      throw new PermissionDeniedError(`certificate verification failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    if (cfg.verifyClientIP) {
      const ip = context.clientIP ?? "";
      if (!leaf.ipAddresses.includes(ip)) throw new PermissionDeniedError(`client IP ${ip} does not match any certificate IP SAN`);
    }
    let svidPathTrimmed: string | undefined;
    if (cfg.mode === "spiffe") {
      const uri = leaf.uris.find((u) => u.startsWith("spiffe://"));
      let id: spiffeid.ID | undefined;
      try {
        id = uri === undefined ? undefined : spiffeid.fromString(uri);
      } catch {
        id = undefined;
      }
      if (!id) throw new PermissionDeniedError("valid SVID x509 cert not found");
      if (!id.path.startsWith(cfg.spiffePrefix)) throw new PermissionDeniedError("x509 cert doesnt match SVID prefix");
      svidPathTrimmed = id.path.slice(cfg.spiffePrefix.length);
    }

    const challenge = pop.generateChallenge(leaf);
    const response = pop.decodeResponse(await challengeFn(pop.encodeChallenge(challenge)));
    await pop.verifyChallengeResponse(leaf, challenge, response);

    const fp = pop.fingerprint(leaf.der);
    const sanSelectors: Record<string, string> = {};
    for (const u of leaf.uris) {
      const m = /^x509pop:\/\/([^/]+)\/([^/]+)\/(.+)$/.exec(u);
      if (m && m[1] === this.#d.trustDomain.name) sanSelectors[m[2]!] = m[3]!;
    }
    const data: Record<string, unknown> = {
      PluginName: TYPE,
      TrustDomain: this.#d.trustDomain.name,
      Fingerprint: fp,
      SerialNumberHex: serialHexEven(leaf.serialHex),
      Subject: {
        CommonName: leaf.subject.CN ?? "",
        Country: leaf.subject.C ? [leaf.subject.C] : [],
        Organization: leaf.subject.O ? [leaf.subject.O] : [],
        OrganizationalUnit: leaf.subject.OU ? [leaf.subject.OU] : [],
        SerialNumber: leaf.subject.serialNumber ?? "",
      },
      URISanSelectors: sanSelectors,
      ...(svidPathTrimmed === undefined ? {} : { SVIDPathTrimmed: svidPathTrimmed }),
    };
    const agentPath = renderAgentPathTemplate(cfg.agentPathTemplate, data);
    let agentID: spiffeid.ID;
    try {
      agentID = spiffeid.ID.fromPath(this.#d.trustDomain, agentPath);
    } catch (cause) {
      throw new InvalidArgumentError(`failed to create agent ID: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }

    const selectors = new Map<string, Selector>();
    const add = (s: Selector) => selectors.set(s.value, s);
    if (leaf.subject.CN) add(sel(`subject:cn:${leaf.subject.CN}`));
    for (const c of path.slice(1)) add(sel(`ca:fingerprint:${pop.fingerprint(c)}`));
    add(sel(`serialnumber:${serialHexEven(leaf.serialHex)}`));
    for (const [k, v] of Object.entries(sanSelectors)) add(sel(`san:${k}:${v}`));
    return {
      agentID,
      selectors: [...selectors.values()].sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0)),
      canReattest: true,
    };
  }
}

async function rsaBits(leaf: CertificateInfo): Promise<number> {
  try {
    const key = await crypto.subtle.importKey("spki", leaf.spki as BufferSource, { name: "RSA-PSS", hash: "SHA-256" }, false, ["verify"]);
    return (key.algorithm as RsaHashedKeyAlgorithm).modulusLength;
  } catch (cause) {
    throw new InvalidArgumentError("unable to parse leaf certificate: invalid RSA public key", { cause });
  }
}
