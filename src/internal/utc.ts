/**
 * UTC calendar windows: budgets and rollups reset at UTC midnight and on the first of the UTC
 * month (docs/configuration.md). One copy, for the processor's rollups and the report's days.
 */

/** Milliseconds in a UTC day (UTC has no daylight saving; leap seconds are not in epoch time). */
export const DAY_MILLIS = 86_400_000;

/** Start of the UTC day containing `ms`. */
export function utcDayStart(ms: number): number {
  return Math.floor(ms / DAY_MILLIS) * DAY_MILLIS;
}

/** Start of the next UTC day. */
export function utcDayEnd(ms: number): number {
  return utcDayStart(ms) + DAY_MILLIS;
}

/** Start of the UTC month containing `ms`. */
export function utcMonthStart(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** Start of the next UTC month. */
export function utcMonthEnd(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** The UTC date of `ms` as `YYYY-MM-DD`. */
export function utcDate(ms: number): string {
  return new Date(utcDayStart(ms)).toISOString().slice(0, 10);
}
