/**
 * The KMSClient port over @aws-sdk/client-kms (and @aws-sdk/client-sts for GetCallerIdentity). Only src/bin and
 * tests import this file, so the portable type-check never sees SDK types.
 * @module
 */
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  GetPublicKeyCommand,
  KMSClient as SDKKMSClient,
  ListAliasesCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  UpdateAliasCommand,
} from "@aws-sdk/client-kms";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import type { KMSClient } from "./kms_port.ts";

export interface KMSClientOptions {
  region: string;
  /** KMS endpoint override (config `endpoint` or AWS_ENDPOINT_URL_KMS). */
  endpoint?: string | undefined;
  /** STS endpoint override for GetCallerIdentity (AWS_ENDPOINT_URL_STS). */
  stsEndpoint?: string | undefined;
  /** Static credentials (access_key_id + secret_access_key); absent means the SDK default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

/** Builds a KMSClient for `o.region` with the SDK's standard retries. */
export function newKMSClient(o: KMSClientOptions): KMSClient {
  const common = { region: o.region, ...(o.credentials ? { credentials: o.credentials } : {}) };
  const kms = new SDKKMSClient({ ...common, ...(o.endpoint ? { endpoint: o.endpoint } : {}) });
  let sts: STSClient | undefined;
  return {
    endpoint: o.endpoint ?? `https://kms.${o.region}.amazonaws.com`,
    async createKey({ description, policy }) {
      const out = await kms.send(
        new CreateKeyCommand({
          KeySpec: "ECC_NIST_P256",
          KeyUsage: "SIGN_VERIFY",
          Description: description,
          ...(policy ? { Policy: policy } : {}),
        }),
      );
      const arn = out.KeyMetadata?.Arn;
      if (!arn) throw new Error("malformed create key response");
      return arn;
    },
    async getPublicKey(keyId) {
      const out = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
      if (!out.PublicKey?.length) throw new Error("malformed get public key response");
      return out.PublicKey;
    },
    async describeKey(keyId) {
      const m = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata;
      if (!m?.Arn) throw new Error("malformed describe key response");
      return { arn: m.Arn, keyState: m.KeyState ?? "Unknown", keySpec: m.KeySpec ?? "Unknown" };
    },
    async createAlias(aliasName, targetKeyId) {
      await kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: targetKeyId }));
    },
    async updateAlias(aliasName, targetKeyId) {
      await kms.send(new UpdateAliasCommand({ AliasName: aliasName, TargetKeyId: targetKeyId }));
    },
    async listAliases(marker) {
      const out = await kms.send(new ListAliasesCommand({ Limit: 100, ...(marker ? { Marker: marker } : {}) }));
      return {
        aliases: (out.Aliases ?? []).flatMap((a) => a.AliasName ? [{ aliasName: a.AliasName, ...(a.TargetKeyId ? { targetKeyId: a.TargetKeyId } : {}) }] : []),
        nextMarker: out.Truncated ? out.NextMarker : undefined,
      };
    },
    async scheduleKeyDeletion(keyId, pendingWindowInDays) {
      await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: pendingWindowInDays }));
    },
    async signDigest(keyId, digest) {
      const out = await kms.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256" }));
      if (!out.Signature?.length) throw new Error("malformed sign response");
      return out.Signature;
    },
    async getCallerIdentity() {
      sts ??= new STSClient({ ...common, ...(o.stsEndpoint ? { endpoint: o.stsEndpoint } : {}) });
      const out = await sts.send(new GetCallerIdentityCommand({}));
      return { account: out.Account ?? "", arn: out.Arn ?? "" };
    },
  };
}
