/** The KMS key operations (awsJson1_1, target prefix "TrentService"); aliases live in kms_aliases.ts. @module */
import { createHash, createPublicKey, generateKeyPairSync, randomUUID } from "node:crypto";
import { AwsError, constraintError } from "../aws_error.ts";
import { type CallContext, epochSeconds, type Operation, optionalInteger, optionalString, requiredBlob, requiredString } from "../operation.ts";
import { signDigest, verifyDigest } from "./ecdsa_digest.ts";
import { aliasOperations, pageMarker, readPage } from "./kms_aliases.ts";
import type { KeyRecord, KmsState } from "./kms_state.ts";

const KEY_SPECS = [
  "RSA_2048",
  "RSA_3072",
  "RSA_4096",
  "ECC_NIST_P256",
  "ECC_NIST_P384",
  "ECC_NIST_P521",
  "ECC_SECG_P256K1",
  "SYMMETRIC_DEFAULT",
  "HMAC_224",
  "HMAC_256",
  "HMAC_384",
  "HMAC_512",
  "SM2",
  "ML_DSA_44",
  "ML_DSA_65",
  "ML_DSA_87",
  "ECC_NIST_EDWARDS25519",
];
const KEY_USAGES = ["SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"];
const SIGNING_ALGORITHMS = [
  "RSASSA_PSS_SHA_256",
  "RSASSA_PSS_SHA_384",
  "RSASSA_PSS_SHA_512",
  "RSASSA_PKCS1_V1_5_SHA_256",
  "RSASSA_PKCS1_V1_5_SHA_384",
  "RSASSA_PKCS1_V1_5_SHA_512",
  "ECDSA_SHA_256",
  "ECDSA_SHA_384",
  "ECDSA_SHA_512",
  "SM2DSA",
  "ML_DSA_SHAKE_256",
  "ED25519_SHA_512",
  "ED25519_PH_SHA_512",
];
const MESSAGE_TYPES = ["RAW", "DIGEST", "EXTERNAL_MU"];

/** Settings the KMS operations read on every call. */
export interface KmsSettings {
  /** True while the "invalid_state" fault makes every key unusable. */
  forceInvalidState: boolean;
}

function enumMember(v: string, member: string, values: string[]): string {
  if (!values.includes(v)) throw constraintError(v, member, `Member must satisfy enum value set: [${values.join(", ")}]`);
  return v;
}

/** The KMS API over the emulator's key state. */
export class KmsService {
  readonly #state: KmsState;
  readonly #settings: () => KmsSettings;
  readonly operations: Record<string, Operation>;

  constructor(state: KmsState, settings: () => KmsSettings) {
    this.#state = state;
    this.#settings = settings;
    this.operations = {
      CreateKey: (i, c) => this.#createKey(i, c),
      DescribeKey: (i, c) => ({ KeyMetadata: this.#metadata(this.#state.resolve(requiredString(i, "KeyId"), c.now.getTime())) }),
      GetPublicKey: (i, c) => this.#getPublicKey(i, c),
      Sign: (i, c) => this.#sign(i, c),
      Verify: (i, c) => this.#verify(i, c),
      ScheduleKeyDeletion: (i, c) => this.#scheduleDeletion(i, c),
      CancelKeyDeletion: (i, c) => this.#cancelDeletion(i, c),
      EnableKey: (i, c) => this.#setEnabled(i, c, true),
      DisableKey: (i, c) => this.#setEnabled(i, c, false),
      ListKeys: (i, c) => this.#listKeys(i, c),
      TagResource: (i, c) => this.#tagResource(i, c),
      ...aliasOperations(state, (k) => this.#requireUsable(k, true)),
    };
  }

  #metadata(k: KeyRecord): Record<string, unknown> {
    return {
      AWSAccountId: this.#state.accountId,
      KeyId: k.keyId,
      Arn: k.arn,
      CreationDate: epochSeconds(k.createdAt),
      Enabled: k.state === "Enabled",
      Description: k.description,
      KeyUsage: k.keyUsage,
      KeyState: k.state,
      ...(k.deletionDate === undefined ? {} : { DeletionDate: epochSeconds(k.deletionDate), PendingDeletionWindowInDays: k.pendingWindowInDays }),
      Origin: "AWS_KMS",
      KeyManager: "CUSTOMER",
      CustomerMasterKeySpec: k.keySpec,
      KeySpec: k.keySpec,
      SigningAlgorithms: ["ECDSA_SHA_256"],
      MultiRegion: false,
    };
  }

  /** Refuses keys that cannot be used now; `disabledOk` for operations that accept a disabled key. */
  #requireUsable(k: KeyRecord, disabledOk = false): void {
    if (k.state === "PendingDeletion") throw new AwsError("KMSInvalidStateException", `${k.arn} is pending deletion.`);
    if (this.#settings().forceInvalidState) throw new AwsError("KMSInvalidStateException", `${k.arn} is unavailable.`);
    if (k.state === "Disabled" && !disabledOk) throw new AwsError("DisabledException", `${k.arn} is disabled.`);
  }

  #createKey(input: Record<string, unknown>, ctx: CallContext): unknown {
    const keySpec = optionalString(input, "KeySpec") ?? optionalString(input, "CustomerMasterKeySpec") ?? "SYMMETRIC_DEFAULT";
    enumMember(keySpec, "keySpec", KEY_SPECS);
    const keyUsage = optionalString(input, "KeyUsage") ?? (keySpec === "SYMMETRIC_DEFAULT" ? "ENCRYPT_DECRYPT" : undefined);
    if (keyUsage !== undefined) enumMember(keyUsage, "keyUsage", KEY_USAGES);
    if (keySpec !== "ECC_NIST_P256") {
      throw new AwsError(
        "UnsupportedOperationException",
        `KeySpec ${keySpec} is not supported by the wisp emulator, which models ECC_NIST_P256 signing keys only.`,
      );
    }
    if (keyUsage !== "SIGN_VERIFY") {
      throw new AwsError("ValidationException", `KeyUsage ${keyUsage ?? "null"} is not compatible with KeySpec ECC_NIST_P256. Specify KeyUsage SIGN_VERIFY.`);
    }
    const origin = optionalString(input, "Origin") ?? "AWS_KMS";
    if (origin !== "AWS_KMS") throw new AwsError("UnsupportedOperationException", `Origin ${origin} is not supported by the wisp emulator.`);
    if (input["MultiRegion"] === true) throw new AwsError("UnsupportedOperationException", "Multi-Region keys are not supported by the wisp emulator.");
    const description = optionalString(input, "Description") ?? "";
    if (description.length > 8192) throw constraintError(description, "description", "Member must have length less than or equal to 8192");
    const keyId = randomUUID();
    let policy = optionalString(input, "Policy");
    if (policy !== undefined) {
      try {
        const doc = JSON.parse(policy) as unknown;
        if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error("not an object");
      } catch {
        throw new AwsError("MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future.");
      }
    } else {
      policy = JSON.stringify({
        Version: "2012-10-17",
        Id: "key-default-1",
        Statement: [{
          Sid: "Enable IAM User Permissions",
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${this.#state.accountId}:root` },
          Action: "kms:*",
          Resource: "*",
        }],
      });
    }
    const tags = this.#readTags(input["Tags"]);
    const jwk = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
    const rec: KeyRecord = {
      keyId,
      arn: this.#state.keyArn(keyId),
      createdAt: ctx.now.getTime(),
      description,
      policy,
      tags,
      keySpec: "ECC_NIST_P256",
      keyUsage: "SIGN_VERIFY",
      state: "Enabled",
      jwk: { d: jwk.d!, x: jwk.x!, y: jwk.y! },
    };
    this.#state.addKey(rec);
    return { KeyMetadata: this.#metadata(rec) };
  }

  #readTags(v: unknown): Array<{ TagKey: string; TagValue: string }> {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw constraintError(String(v), "tags", "Member must be a list");
    const tags = v.map((t: Record<string, unknown>) => {
      if (typeof t["TagKey"] !== "string" || typeof t["TagValue"] !== "string") throw new AwsError("TagException", "Each tag needs a TagKey and a TagValue.");
      if (t["TagKey"].length < 1 || t["TagKey"].length > 128 || t["TagValue"].length > 256) {
        throw new AwsError("TagException", `Tag ${t["TagKey"]} is too long.`);
      }
      return { TagKey: t["TagKey"], TagValue: t["TagValue"] };
    });
    if (new Set(tags.map((t) => t.TagKey)).size !== tags.length) throw new AwsError("TagException", "Duplicate tag keys.");
    if (tags.length > 50) throw new AwsError("LimitExceededException", "The request would exceed the limit of 50 tags per key.");
    return tags;
  }

  #getPublicKey(input: Record<string, unknown>, ctx: CallContext): unknown {
    const k = this.#state.resolve(requiredString(input, "KeyId"), ctx.now.getTime());
    this.#requireUsable(k);
    const spki = createPublicKey({ key: { kty: "EC", crv: "P-256", x: k.jwk.x, y: k.jwk.y }, format: "jwk" }).export({ type: "spki", format: "der" });
    return {
      KeyId: k.arn,
      PublicKey: spki.toString("base64"),
      CustomerMasterKeySpec: k.keySpec,
      KeySpec: k.keySpec,
      KeyUsage: k.keyUsage,
      SigningAlgorithms: ["ECDSA_SHA_256"],
    };
  }

  /** Common Sign/Verify checks; returns the key and the 32-byte digest to sign or verify. */
  #digestFor(input: Record<string, unknown>, ctx: CallContext): { key: KeyRecord; digest: Uint8Array; algorithm: string } {
    const key = this.#state.resolve(requiredString(input, "KeyId"), ctx.now.getTime());
    const message = requiredBlob(input, "Message");
    const messageType = enumMember(optionalString(input, "MessageType") ?? "RAW", "messageType", MESSAGE_TYPES);
    const algorithm = enumMember(requiredString(input, "SigningAlgorithm"), "signingAlgorithm", SIGNING_ALGORITHMS);
    if (message.length < 1 || message.length > 4096) {
      throw constraintError(
        "[binary]",
        "message",
        message.length < 1 ? "Member must have length greater than or equal to 1" : "Member must have length less than or equal to 4096",
      );
    }
    this.#requireUsable(key);
    if (algorithm !== "ECDSA_SHA_256") {
      throw new AwsError("InvalidKeyUsageException", `You cannot use the signing algorithm ${algorithm} with key ${key.arn}, whose key spec is ECC_NIST_P256.`);
    }
    if (messageType === "EXTERNAL_MU") throw new AwsError("InvalidKeyUsageException", "The EXTERNAL_MU message type is only valid with ML-DSA keys.");
    if (messageType === "DIGEST" && message.length !== 32) throw new AwsError("ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256.");
    const digest = messageType === "DIGEST" ? message : new Uint8Array(createHash("sha256").update(message).digest());
    return { key, digest, algorithm };
  }

  #sign(input: Record<string, unknown>, ctx: CallContext): unknown {
    const { key, digest, algorithm } = this.#digestFor(input, ctx);
    if (input["DryRun"] === true) throw new AwsError("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.", 412);
    const sig = signDigest(Buffer.from(key.jwk.d, "base64url"), digest);
    return { KeyId: key.arn, Signature: Buffer.from(sig).toString("base64"), SigningAlgorithm: algorithm };
  }

  #verify(input: Record<string, unknown>, ctx: CallContext): unknown {
    const { key, digest, algorithm } = this.#digestFor(input, ctx);
    const signature = requiredBlob(input, "Signature");
    if (input["DryRun"] === true) throw new AwsError("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.", 412);
    if (!verifyDigest(Buffer.from(key.jwk.d, "base64url"), digest, signature)) {
      throw new AwsError("KMSInvalidSignatureException", "The signature verification failed.");
    }
    return { KeyId: key.arn, SignatureValid: true, SigningAlgorithm: algorithm };
  }

  #scheduleDeletion(input: Record<string, unknown>, ctx: CallContext): unknown {
    const k = this.#state.resolve(requiredString(input, "KeyId"), ctx.now.getTime(), false);
    const days = optionalInteger(input, "PendingWindowInDays") ?? 30;
    if (days < 7) throw constraintError(days, "pendingWindowInDays", "Member must have value greater than or equal to 7");
    if (days > 30) throw constraintError(days, "pendingWindowInDays", "Member must have value less than or equal to 30");
    if (k.state === "PendingDeletion") throw new AwsError("KMSInvalidStateException", `${k.arn} is pending deletion.`);
    k.state = "PendingDeletion";
    k.pendingWindowInDays = days;
    k.deletionDate = ctx.now.getTime() + days * 24 * 3600 * 1000;
    this.#state.save();
    return { KeyId: k.arn, DeletionDate: epochSeconds(k.deletionDate), KeyState: k.state, PendingWindowInDays: days };
  }

  #cancelDeletion(input: Record<string, unknown>, ctx: CallContext): unknown {
    const k = this.#state.resolve(requiredString(input, "KeyId"), ctx.now.getTime(), false);
    if (k.state !== "PendingDeletion") throw new AwsError("KMSInvalidStateException", `${k.arn} is not pending deletion.`);
    k.state = "Disabled";
    delete k.deletionDate;
    delete k.pendingWindowInDays;
    this.#state.save();
    return { KeyId: k.arn };
  }

  #setEnabled(input: Record<string, unknown>, ctx: CallContext, enabled: boolean): unknown {
    const k = this.#state.resolve(requiredString(input, "KeyId"), ctx.now.getTime(), false);
    this.#requireUsable(k, true);
    k.state = enabled ? "Enabled" : "Disabled";
    this.#state.save();
    return {};
  }

  #listKeys(input: Record<string, unknown>, ctx: CallContext): unknown {
    const keys = this.#state.keys(ctx.now.getTime());
    const { start, limit } = readPage(input, 1000);
    const page = keys.slice(start, start + limit);
    const truncated = start + limit < keys.length;
    return {
      Keys: page.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })),
      Truncated: truncated,
      ...(truncated ? { NextMarker: pageMarker(start + limit) } : {}),
    };
  }

  #tagResource(input: Record<string, unknown>, ctx: CallContext): unknown {
    const k = this.#state.resolve(requiredString(input, "KeyId"), ctx.now.getTime(), false);
    this.#requireUsable(k, true);
    const tags = this.#readTags(input["Tags"]);
    const merged = new Map(k.tags.map((t) => [t.TagKey, t.TagValue]));
    for (const t of tags) merged.set(t.TagKey, t.TagValue);
    if (merged.size > 50) throw new AwsError("LimitExceededException", "The request would exceed the limit of 50 tags per key.");
    k.tags = [...merged].map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
    this.#state.save();
    return {};
  }
}
