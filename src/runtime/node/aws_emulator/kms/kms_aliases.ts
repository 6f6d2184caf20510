/** KMS alias operations (CreateAlias, UpdateAlias, DeleteAlias, ListAliases) and the paging markers KMS lists share. @module */
import { AwsError, constraintError } from "../aws_error.ts";
import { epochSeconds, type Operation, optionalInteger, optionalString, requiredString } from "../operation.ts";
import type { KeyRecord, KmsState } from "./kms_state.ts";

/** AWS managed aliases every account lists before their keys exist; they carry no TargetKeyId. */
const AWS_MANAGED = ["alias/aws/acm", "alias/aws/ebs", "alias/aws/s3"];

/** An opaque KMS paging marker for the next start offset. */
export function pageMarker(offset: number): string {
  return Buffer.from(`wisp-emulator:${offset}`).toString("base64");
}

/**
 * Reads Limit (1..max) and Marker from a list request.
 * @throws {AwsError} ValidationException for a bad Limit, InvalidMarkerException for a marker this emulator did not issue
 */
export function readPage(input: Record<string, unknown>, max: number): { start: number; limit: number } {
  const limit = optionalInteger(input, "Limit") ?? Math.min(50, max);
  if (limit < 1) throw constraintError(limit, "limit", "Member must have value greater than or equal to 1");
  if (limit > max) throw constraintError(limit, "limit", `Member must have value less than or equal to ${max}`);
  const marker = optionalString(input, "Marker");
  if (marker === undefined) return { start: 0, limit };
  const m = /^wisp-emulator:(\d+)$/.exec(Buffer.from(marker, "base64").toString("utf8"));
  if (!m) throw new AwsError("InvalidMarkerException", "The marker that specifies where pagination should next begin is not valid.");
  return { start: Number(m[1]), limit };
}

function aliasName(input: Record<string, unknown>): string {
  const name = requiredString(input, "AliasName");
  if (name.length < 1 || name.length > 256) throw constraintError(name, "aliasName", "Member must have length less than or equal to 256");
  if (!/^[a-zA-Z0-9:/_-]+$/.test(name)) throw constraintError(name, "aliasName", "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$");
  if (!name.startsWith("alias/")) {
    throw new AwsError(
      "InvalidAliasNameException",
      'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
    );
  }
  if (name.startsWith("alias/aws/")) {
    throw new AwsError(
      "InvalidAliasNameException",
      "Alias must not begin with 'alias/aws/'. Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
    );
  }
  return name;
}

/** Builds the alias operations; `requireUsable` throws for keys an alias may not point at (pending deletion). */
export function aliasOperations(state: KmsState, requireUsable: (k: KeyRecord) => void): Record<string, Operation> {
  const target = (input: Record<string, unknown>, now: number): KeyRecord => {
    const k = state.resolve(requiredString(input, "TargetKeyId"), now, false);
    requireUsable(k);
    return k;
  };
  return {
    CreateAlias: (input, ctx) => {
      const name = aliasName(input);
      const now = ctx.now.getTime();
      const k = target(input, now);
      if (state.alias(name)) throw new AwsError("AlreadyExistsException", `An alias with the name ${state.aliasArn(name)} already exists`);
      state.putAlias({ aliasName: name, targetKeyId: k.keyId, createdAt: now, updatedAt: now });
      return {};
    },
    UpdateAlias: (input, ctx) => {
      const name = aliasName(input);
      const now = ctx.now.getTime();
      const existing = state.alias(name);
      if (!existing) throw new AwsError("NotFoundException", `Alias ${state.aliasArn(name)} is not found.`);
      const k = target(input, now);
      state.putAlias({ ...existing, targetKeyId: k.keyId, updatedAt: now });
      return {};
    },
    DeleteAlias: (input) => {
      const name = aliasName(input);
      if (!state.alias(name)) throw new AwsError("NotFoundException", `Alias ${state.aliasArn(name)} is not found.`);
      state.deleteAlias(name);
      return {};
    },
    ListAliases: (input, ctx) => {
      const keyId = optionalString(input, "KeyId");
      const now = ctx.now.getTime();
      state.keys(now);
      const filter = keyId === undefined ? undefined : state.resolve(keyId, now, false).keyId;
      const own = state.aliases().filter((a) => filter === undefined || a.targetKeyId === filter).map((a) => ({
        AliasName: a.aliasName,
        AliasArn: state.aliasArn(a.aliasName),
        TargetKeyId: a.targetKeyId,
        CreationDate: epochSeconds(a.createdAt),
        LastUpdatedDate: epochSeconds(a.updatedAt),
      }));
      const managed = filter === undefined ? AWS_MANAGED.map((n) => ({ AliasName: n, AliasArn: state.aliasArn(n) })) : [];
      const all: Array<Record<string, unknown>> = [...own, ...managed];
      const { start, limit } = readPage(input, 100);
      const truncated = start + limit < all.length;
      return {
        Aliases: all.slice(start, start + limit),
        Truncated: truncated,
        ...(truncated ? { NextMarker: pageMarker(start + limit) } : {}),
      };
    },
  };
}
