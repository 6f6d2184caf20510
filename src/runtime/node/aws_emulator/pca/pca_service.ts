/** The ACM PCA operations (awsJson1_1, target prefix "ACMPrivateCA"). @module */
import { createHash } from "node:crypto";
import { x509 } from "../../../../core/x509/_peculiar.ts";
import { AwsError, constraintError } from "../aws_error.ts";
import { type CallContext, epochSeconds, type Operation, optionalString, requiredBlob, requiredString } from "../operation.ts";
import { issueCertificate, parseCsr } from "./issue_certificate.ts";
import type { CaRecord, CaStatus, PcaState } from "./pca_state.ts";
import { templateFromArn } from "./templates.ts";
import { resolveValidity } from "./validity.ts";

const ARN_PATTERN = /^arn:[\w+=/,.@-]+:[\w+=/,.@-]+:[\w+=/,.@-]*:[0-9]*:[\w+=,.@-]+(\/[\w+=,.@-]+)*$/;
const SIGNING_ALGORITHMS = ["SHA256WITHECDSA", "SHA384WITHECDSA", "SHA512WITHECDSA", "SHA256WITHRSA", "SHA384WITHRSA", "SHA512WITHRSA"];
const HASHES = { SHA256WITHECDSA: "SHA-256", SHA384WITHECDSA: "SHA-384", SHA512WITHECDSA: "SHA-512" } as const;

/** Settings the PCA operations read on every call (they change at runtime through /_emulator/config). */
export interface PcaSettings {
  /** How long GetCertificate answers RequestInProgressException after IssueCertificate, in ms. */
  issuanceDelayMs: number;
  /** How long an IdempotencyToken deduplicates, in ms. */
  idempotencyWindowMs: number;
  /** True while the "invalid_state" fault makes every CA look DISABLED. */
  forceDisabled: boolean;
}

function arnMember(input: Record<string, unknown>, name: string): string {
  const v = requiredString(input, name);
  if (v.length < 5 || v.length > 200 || !ARN_PATTERN.test(v)) {
    throw new AwsError("InvalidArnException", `The ARN ${v} is not valid.`);
  }
  return v;
}

function pemFirstCertNotAfter(pem: string): Date {
  return new x509.X509Certificate(pem).notAfter;
}

/** The ACM PCA API over the emulator's CA state. */
export class PcaService {
  readonly #state: PcaState;
  readonly #settings: () => PcaSettings;
  readonly operations: Record<string, Operation>;

  constructor(state: PcaState, settings: () => PcaSettings) {
    this.#state = state;
    this.#settings = settings;
    this.operations = {
      DescribeCertificateAuthority: (i) => this.#describe(i),
      IssueCertificate: (i, c) => this.#issue(i, c),
      GetCertificate: (i, c) => this.#getCertificate(i, c),
      GetCertificateAuthorityCertificate: (i) => this.#getCaCertificate(i),
    };
  }

  #status(ca: CaRecord): CaStatus {
    return this.#settings().forceDisabled && ca.status === "ACTIVE" ? "DISABLED" : ca.status;
  }

  #ca(arn: string): CaRecord {
    const ca = this.#state.ca(arn);
    if (!ca) throw new AwsError("ResourceNotFoundException", `Could not find certificate authority ${arn}.`);
    return ca;
  }

  #describe(input: Record<string, unknown>): unknown {
    const ca = this.#ca(arnMember(input, "CertificateAuthorityArn"));
    const cert = new x509.X509Certificate(ca.certificatePem);
    return {
      CertificateAuthority: {
        Arn: ca.arn,
        OwnerAccount: ca.arn.split(":")[4],
        CreatedAt: epochSeconds(ca.createdAt),
        LastStateChangeAt: epochSeconds(ca.lastStateChangeAt),
        Type: ca.type,
        Serial: cert.serialNumber.toLowerCase(),
        Status: this.#status(ca),
        NotBefore: epochSeconds(cert.notBefore.getTime()),
        NotAfter: epochSeconds(cert.notAfter.getTime()),
        CertificateAuthorityConfiguration: {
          KeyAlgorithm: "EC_prime256v1",
          SigningAlgorithm: "SHA256WITHECDSA",
          Subject: { CommonName: ca.commonName, Organization: ca.organization },
        },
        RevocationConfiguration: { CrlConfiguration: { Enabled: false }, OcspConfiguration: { Enabled: false } },
        KeyStorageSecurityStandard: "FIPS_140_2_LEVEL_3_OR_HIGHER",
        UsageMode: "GENERAL_PURPOSE",
      },
    };
  }

  async #issue(input: Record<string, unknown>, ctx: CallContext): Promise<unknown> {
    const caArn = arnMember(input, "CertificateAuthorityArn");
    const csrBlob = requiredBlob(input, "Csr");
    if (csrBlob.length < 1 || csrBlob.length > 32768) {
      throw constraintError("[binary]", "csr", "Member must have length less than or equal to 32768");
    }
    const signingAlgorithm = requiredString(input, "SigningAlgorithm");
    if (!SIGNING_ALGORITHMS.includes(signingAlgorithm)) {
      throw constraintError(signingAlgorithm, "signingAlgorithm", `Member must satisfy enum value set: [${SIGNING_ALGORITHMS.join(", ")}]`);
    }
    if (input["Validity"] === undefined) throw constraintError("null", "validity", "Member must not be null");
    const templateArn = optionalString(input, "TemplateArn");
    const token = optionalString(input, "IdempotencyToken");
    if (token !== undefined) {
      if (token.length > 36) throw constraintError(token, "idempotencyToken", "Member must have length less than or equal to 36");
      if (token.length < 1) throw constraintError(token, "idempotencyToken", "Member must have length greater than or equal to 1");
      // AWS's own pattern for the token, control characters included.
      // deno-lint-ignore no-control-regex
      if (!/^[\u0009\u000A\u000D\u0020-\u00FF]*$/.test(token)) {
        throw constraintError(token, "idempotencyToken", "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]*");
      }
    }
    const ca = this.#ca(caArn);
    if (this.#status(ca) !== "ACTIVE") {
      throw new AwsError("InvalidStateException", "The certificate authority is not in a valid state for issuing certificates.");
    }
    const hash = HASHES[signingAlgorithm as keyof typeof HASHES];
    if (!hash) {
      throw new AwsError(
        "InvalidArgsException",
        `The signing algorithm ${signingAlgorithm} is not compatible with the certificate authority key algorithm EC_prime256v1.`,
      );
    }
    const partition = caArn.split(":")[1]!;
    if (templateArn !== undefined && !ARN_PATTERN.test(templateArn)) throw new AwsError("InvalidArnException", `The ARN ${templateArn} is not valid.`);
    const template = templateFromArn(templateArn, partition);
    if (!template) throw new AwsError("InvalidArnException", `The template ARN ${templateArn} does not refer to an existing template.`);
    if (template.ca && ca.pathLen !== undefined && template.pathLen !== undefined && template.pathLen >= ca.pathLen) {
      throw new AwsError(
        "InvalidArgsException",
        `The path length ${template.pathLen} of template ${template.name} must be less than the path length ${ca.pathLen} of the issuing certificate authority.`,
      );
    }
    const now = ctx.now.getTime();
    const settings = this.#settings();
    let idempotencyKey: string | undefined;
    if (token !== undefined) {
      const digest = createHash("sha256")
        .update(
          JSON.stringify([
            ctx.principal.account,
            caArn,
            input["Csr"],
            signingAlgorithm,
            templateArn ?? null,
            input["Validity"],
            input["ValidityNotBefore"] ?? null,
            input["ApiPassthrough"] ?? null,
          ]),
        )
        .digest("hex");
      idempotencyKey = `${token}\u0000${digest}`;
      const prior = this.#state.findIdempotent(idempotencyKey, now);
      if (prior) return { CertificateArn: prior.arn };
    }
    const csr = await parseCsr(csrBlob);
    const { notBefore, notAfter } = resolveValidity({
      validity: input["Validity"],
      validityNotBefore: input["ValidityNotBefore"],
      now: ctx.now,
      caNotAfter: pemFirstCertNotAfter(ca.certificatePem),
    });
    const { pem, serial } = await issueCertificate({
      csr,
      template,
      caCertificatePem: ca.certificatePem,
      caKey: await this.#state.signingKey(ca),
      hash,
      notBefore,
      notAfter,
      apiPassthrough: input["ApiPassthrough"],
    });
    const arn = `${caArn}/certificate/${serial}`;
    this.#state.addCertificate({
      arn,
      caArn,
      certificatePem: pem,
      issuedAt: now,
      readyAt: now + settings.issuanceDelayMs,
      ...(idempotencyKey === undefined ? {} : { idempotencyKey, idempotencyUntil: now + settings.idempotencyWindowMs }),
    });
    return { CertificateArn: arn };
  }

  #getCertificate(input: Record<string, unknown>, ctx: CallContext): unknown {
    const caArn = arnMember(input, "CertificateAuthorityArn");
    const certArn = arnMember(input, "CertificateArn");
    const ca = this.#ca(caArn);
    if (ca.status === "DELETED") {
      throw new AwsError("InvalidStateException", `The certificate authority ${caArn} is not in the correct state to have issued certificates.`);
    }
    const rec = this.#state.certificate(certArn);
    if (!rec || rec.caArn !== caArn) throw new AwsError("ResourceNotFoundException", `Could not find certificate ${certArn}.`);
    if (ctx.now.getTime() < rec.readyAt) {
      throw new AwsError("RequestInProgressException", `The request to issue certificate ${certArn} is still in progress.`);
    }
    return { Certificate: rec.certificatePem, CertificateChain: this.#state.chainFrom(ca).join("\n") };
  }

  #getCaCertificate(input: Record<string, unknown>): unknown {
    const caArn = arnMember(input, "CertificateAuthorityArn");
    const ca = this.#ca(caArn);
    if (["CREATING", "PENDING_CERTIFICATE", "DELETED", "FAILED"].includes(ca.status)) {
      throw new AwsError("InvalidStateException", `The certificate authority ${caArn} is not in the correct state to have a certificate signing request.`);
    }
    const chain = this.#state.chainFrom(ca).slice(1);
    return chain.length ? { Certificate: ca.certificatePem, CertificateChain: chain.join("\n") } : { Certificate: ca.certificatePem };
  }
}
