/** The STS operations (awsQuery: form-encoded POST, XML answers): AssumeRole and GetCallerIdentity. @module */
import { createHash } from "node:crypto";
import { AwsError, xmlEscape } from "../aws_error.ts";
import type { Identity } from "../identity.ts";
import type { CallContext } from "../operation.ts";

const NS = "https://sts.amazonaws.com/doc/2011-06-15/";
const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** An STS operation reads form parameters and returns the inner XML of its `<Op>Result>` element. */
export type QueryOperation = (params: URLSearchParams, ctx: CallContext) => string;

function validation(message: string): AwsError {
  return new AwsError("ValidationError", message);
}

/** A stable role ID per role ARN, shaped like IAM's "AROA…" identifiers. */
function roleId(arn: string): string {
  const h = createHash("sha256").update(arn).digest();
  let out = "AROA";
  for (let i = 0; i < 17; i++) out += BASE32[h[i]! % 32];
  return out;
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Wraps an operation's result in the awsQuery response envelope. */
export function queryResponse(action: string, resultXml: string, requestId: string, ns = NS): string {
  return `<${action}Response xmlns="${ns}">\n  <${action}Result>\n${resultXml}  </${action}Result>\n` +
    `  <ResponseMetadata>\n    <RequestId>${requestId}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`;
}

/** Builds the STS operations over the emulator's identities. */
export function stsOperations(identity: Identity): Record<string, QueryOperation> {
  return {
    AssumeRole: (params, ctx) => {
      const arn = params.get("RoleArn");
      if (arn === null) throw validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
      if (arn.length < 20 || arn.length > 2048) {
        throw validation(
          `1 validation error detected: Value '${arn}' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20`,
        );
      }
      const m = ROLE_ARN.exec(arn);
      if (!m) throw validation(`${arn} is invalid`);
      const session = params.get("RoleSessionName");
      if (session === null) {
        throw validation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null");
      }
      if (!/^[\w+=,.@-]{2,64}$/.test(session)) {
        throw validation(
          `1 validation error detected: Value '${session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`,
        );
      }
      const durationText = params.get("DurationSeconds");
      const duration = durationText === null ? 3600 : Number(durationText);
      if (!Number.isInteger(duration) || duration < 900) {
        throw validation(
          `1 validation error detected: Value '${durationText}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900`,
        );
      }
      if (duration > 43200) {
        throw validation(
          `1 validation error detected: Value '${durationText}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200`,
        );
      }
      const externalId = params.get("ExternalId");
      if (externalId !== null && !/^[\w+=,.@:/-]{2,1224}$/.test(externalId)) {
        throw validation(
          `1 validation error detected: Value '${externalId}' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*`,
        );
      }
      const now = ctx.now.getTime();
      const rec = identity.addSession({ account: m[1]!, roleName: m[2]!, sessionName: session, roleId: roleId(arn), expiresAt: now + duration * 1000, now });
      return (
        `    <Credentials>\n      <AccessKeyId>${rec.accessKeyId}</AccessKeyId>\n` +
        `      <SecretAccessKey>${xmlEscape(rec.secretAccessKey)}</SecretAccessKey>\n` +
        `      <SessionToken>${xmlEscape(rec.sessionToken)}</SessionToken>\n` +
        `      <Expiration>${isoSeconds(rec.expiresAt)}</Expiration>\n    </Credentials>\n` +
        `    <AssumedRoleUser>\n      <AssumedRoleId>${xmlEscape(rec.userId)}</AssumedRoleId>\n` +
        `      <Arn>${xmlEscape(rec.arn)}</Arn>\n    </AssumedRoleUser>\n`
      );
    },
    GetCallerIdentity: (_params, ctx) =>
      `    <Arn>${xmlEscape(ctx.principal.arn)}</Arn>\n    <UserId>${xmlEscape(ctx.principal.userId)}</UserId>\n` +
      `    <Account>${ctx.principal.account}</Account>\n`,
  };
}
