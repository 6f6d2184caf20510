/** SPIRE's CA rotation thresholds (pkg/server/ca/manager/slot.go), as pure functions of time. @module */

const DAY = 24 * 3600 * 1000;

/** True once the next CA should be prepared: past notAfter − min(lifetime/2, 30 days). */
export function shouldPrepareNext(issuedAt: Date, notAfter: Date, now: Date): boolean {
  const lifetime = notAfter.getTime() - issuedAt.getTime();
  return now.getTime() > notAfter.getTime() - Math.min(lifetime / 2, 30 * DAY);
}

/** True once the next CA should become active: past notAfter − min(lifetime/6, 7 days). */
export function shouldActivateNext(issuedAt: Date, notAfter: Date, now: Date): boolean {
  const lifetime = notAfter.getTime() - issuedAt.getTime();
  return now.getTime() > notAfter.getTime() - Math.min(lifetime / 6, 7 * DAY);
}

/** The largest SVID TTL that still rotates cleanly for a CA TTL (SPIRE's MaxSVIDTTLForCATTL). */
export function maxSVIDTTLForCATTL(caTTLms: number): number {
  return Math.min(caTTLms / 6, 7 * DAY);
}
