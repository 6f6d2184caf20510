/** The shape of one emulated API operation and the input readers every service shares. @module */
import { constraintError } from "./aws_error.ts";
import type { Principal } from "./identity.ts";

/** Per-request facts an operation may use. */
export interface CallContext {
  principal: Principal;
  /** The emulator's clock (wall clock plus any configured offset). */
  now: Date;
  requestId: string;
  /** The region the request was signed for (EC2 shows only that region's instances). */
  region: string;
}

/** An operation takes the decoded request members and returns the response members. */
export type Operation = (input: Record<string, unknown>, ctx: CallContext) => Promise<unknown> | unknown;

/** Lower-camel member path as AWS validation messages spell it ("CertificateAuthorityArn" → "certificateAuthorityArn"). */
function memberPath(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/** A required string member. @throws {AwsError} ValidationException when missing or not a string */
export function requiredString(input: Record<string, unknown>, name: string): string {
  const v = input[name];
  if (typeof v !== "string") throw constraintError("null", memberPath(name), "Member must not be null");
  return v;
}

/** An optional string member. @throws {AwsError} ValidationException when present but not a string */
export function optionalString(input: Record<string, unknown>, name: string): string | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw constraintError(String(v), memberPath(name), "Member must be a string");
  return v;
}

/** An optional integer member. @throws {AwsError} ValidationException when present but not an integer */
export function optionalInteger(input: Record<string, unknown>, name: string): number | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw constraintError(String(v), memberPath(name), "Member must be an integer");
  return v;
}

/** A required blob member (base64 in JSON). */
export function requiredBlob(input: Record<string, unknown>, name: string): Uint8Array {
  const v = requiredString(input, name);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw constraintError("[binary]", memberPath(name), "Member must be valid base64");
  return new Uint8Array(Buffer.from(v, "base64"));
}

/** Epoch seconds as a JSON number, the timestamp format of awsJson1_1. */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}
