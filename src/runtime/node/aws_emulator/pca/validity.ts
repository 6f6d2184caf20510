/** Turns IssueCertificate's Validity and ValidityNotBefore members into certificate dates, with PCA's rules. @module */
import { AwsError, constraintError, validationError } from "../aws_error.ts";

const VALIDITY_TYPES = ["END_DATE", "ABSOLUTE", "DAYS", "MONTHS", "YEARS"];
const DAY_MS = 24 * 3600 * 1000;
/** PCA backdates NotBefore by 60 minutes to absorb clock skew. */
const BACKDATE_MS = 3600 * 1000;

interface Validity {
  Value: number;
  Type: string;
}

function parseValidity(v: unknown, member: string): Validity {
  if (typeof v !== "object" || v === null) throw constraintError("null", member, "Member must not be null");
  const { Value, Type } = v as Record<string, unknown>;
  if (typeof Value !== "number" || !Number.isInteger(Value)) throw constraintError(Value, `${member}.value`, "Member must not be null");
  if (Value < 1) throw constraintError(Value, `${member}.value`, "Member must have value greater than or equal to 1");
  if (typeof Type !== "string" || !VALIDITY_TYPES.includes(Type)) {
    throw constraintError(Type, `${member}.type`, `Member must satisfy enum value set: [${VALIDITY_TYPES.join(", ")}]`);
  }
  return { Value, Type };
}

/** Parses END_DATE text: YYMMDDHHMMSS (UTCTime rules: YY ≥ 50 is 19YY) or YYYYMMDDHHMMSS. */
function parseEndDate(value: number): Date {
  const s = String(value);
  let m: RegExpExecArray | null;
  let year: number;
  if ((m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(s))) {
    const yy = +m[1]!;
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if ((m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(s))) {
    year = +m[1]!;
  } else {
    throw new AwsError("InvalidArgsException", `The END_DATE validity value ${s} is not in YYMMDDHHMMSS or YYYYMMDDHHMMSS format.`);
  }
  const [mo, d, h, mi, se] = [+m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!];
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, se));
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) {
    throw new AwsError("InvalidArgsException", `The END_DATE validity value ${s} is not a valid date.`);
  }
  return date;
}

function addMonths(from: Date, months: number): Date {
  const d = new Date(from.getTime());
  d.setUTCMonth(d.getUTCMonth() + months);
  return d;
}

/**
 * Computes NotBefore and NotAfter for an IssueCertificate call.
 * @throws {AwsError} ValidationException for bad members or a NotAfter beyond the issuing CA's NotAfter
 */
export function resolveValidity(opts: {
  validity: unknown;
  validityNotBefore: unknown;
  now: Date;
  caNotAfter: Date;
}): { notBefore: Date; notAfter: Date } {
  const v = parseValidity(opts.validity, "validity");
  const now = opts.now.getTime();
  let notAfter: Date;
  switch (v.Type) {
    case "ABSOLUTE":
      notAfter = new Date(v.Value * 1000);
      break;
    case "END_DATE":
      notAfter = parseEndDate(v.Value);
      break;
    case "DAYS":
      notAfter = new Date(now + v.Value * DAY_MS);
      break;
    case "MONTHS":
      notAfter = addMonths(opts.now, v.Value);
      break;
    default:
      notAfter = addMonths(opts.now, 12 * v.Value);
  }
  let notBefore = new Date(now - BACKDATE_MS);
  if (opts.validityNotBefore !== undefined && opts.validityNotBefore !== null) {
    const nb = parseValidity(opts.validityNotBefore, "validityNotBefore");
    if (nb.Type !== "ABSOLUTE") {
      throw new AwsError("InvalidArgsException", `ValidityNotBefore only supports the ABSOLUTE type, not ${nb.Type}.`);
    }
    notBefore = new Date(nb.Value * 1000);
  }
  if (Number.isNaN(notAfter.getTime()) || notAfter.getTime() > 253402300799000) {
    throw validationError(`The validity end date is out of range.`);
  }
  if (notAfter.getTime() <= now) {
    throw validationError(`The validity end date ${notAfter.toISOString()} is in the past.`);
  }
  if (notBefore.getTime() >= notAfter.getTime()) {
    throw new AwsError("InvalidArgsException", "The ValidityNotBefore date must be before the Validity end date.");
  }
  if (notAfter.getTime() > opts.caNotAfter.getTime()) {
    throw validationError(
      `The validity period of the certificate authority certificate ends before the validity period of the requested certificate (${opts.caNotAfter.toISOString()} < ${notAfter.toISOString()}).`,
    );
  }
  return { notBefore, notAfter };
}
