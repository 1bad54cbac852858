/**
 * Money conversions. Sums of money are integer nano-USD (1e-9 USD) wherever they accumulate (the
 * ledgers, the processor's rollups, the report): exact, no float drift, and Redis
 * INCRBY-compatible. USD floats appear only at the edges (prices, span attributes, output).
 */

/** One nano-USD per USD. */
export const NANOS_PER_USD = 1_000_000_000;

/** Converts USD to integer nano-USD, rounding up so a reservation never undershoots. */
export function usdToNanosCeil(usd: number): number {
  return Math.ceil(usd * NANOS_PER_USD - 1e-6);
}

/** Converts USD to integer nano-USD, rounding to nearest (for settled costs). */
export function usdToNanos(usd: number): number {
  return Math.round(usd * NANOS_PER_USD);
}

/** Converts USD to integer nano-USD, rounding down: a cap never admits more than its USD value. */
export function usdToNanosFloor(usd: number): number {
  return Math.floor(usd * NANOS_PER_USD + 1e-6);
}

/** Converts integer nano-USD to USD. */
export function nanosToUsd(nanos: number): number {
  return nanos / NANOS_PER_USD;
}
