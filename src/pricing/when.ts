/**
 * Validity of constrained prices: which of a model's prices is in force at an instant.
 * genai-prices' rule, implemented here (its resolver is not a runtime dependency): the
 * constrained entries are tried from the LAST to the first and the first that holds wins;
 * none holding means the base price. A start date holds from that UTC midnight on; a
 * time-of-day window `[start, end)` holds on UTC clock time and wraps midnight when end < start.
 */
import { DAY_MILLIS } from '../internal/utc.ts';
import type { PriceWhen } from './types.ts';

/** A constraint compiled to numbers, so a check is two comparisons. */
export interface CompiledConstraint {
  /** Epoch ms from which a dated price holds; NaN for a window. */
  readonly fromMs: number;
  /** Window start / end, ms after UTC midnight; NaN for a dated price. */
  readonly startMs: number;
  readonly endMs: number;
}

function timeOfDayMs(time: string): number {
  const [h, m, s] = time.split(':').map(Number);
  return ((h ?? 0) * 3600 + (m ?? 0) * 60 + (s ?? 0)) * 1000;
}

/** Compiles one `when` entry's constraint. */
export function compileConstraint(w: PriceWhen): CompiledConstraint {
  if (w.startDate !== undefined) return { fromMs: Date.parse(`${w.startDate}T00:00:00Z`), startMs: Number.NaN, endMs: Number.NaN };
  return { fromMs: Number.NaN, startMs: timeOfDayMs(w.startTime ?? '00:00:00'), endMs: timeOfDayMs(w.endTime ?? '00:00:00') };
}

/** True when the constraint holds at `t` (epoch ms). */
export function holds(c: CompiledConstraint, t: number): boolean {
  if (c.fromMs === c.fromMs) return t >= c.fromMs; // not NaN: a dated price
  const ms = ((t % DAY_MILLIS) + DAY_MILLIS) % DAY_MILLIS;
  return c.endMs < c.startMs ? ms >= c.startMs || ms < c.endMs : ms >= c.startMs && ms < c.endMs;
}

/** Index of the constrained entry in force at `t`, or -1 for the base price. */
export function resolveIndex(constraints: readonly CompiledConstraint[], t: number): number {
  for (let i = constraints.length - 1; i >= 0; i--) if (holds(constraints[i] as CompiledConstraint, t)) return i;
  return -1;
}

/**
 * Indexes (-1 = base) of every price in force at some instant of `[fromMs, toMs]`. The price is
 * constant between boundaries, so it is enough to look at `fromMs` and at each boundary inside.
 */
export function indexesDuring(constraints: readonly CompiledConstraint[], fromMs: number, toMs: number): Set<number> {
  const out = new Set<number>([resolveIndex(constraints, fromMs)]);
  if (!(toMs > fromMs)) return out;
  const instants: number[] = [];
  const firstDay = Math.floor(fromMs / DAY_MILLIS);
  const lastDay = Math.min(Math.floor(toMs / DAY_MILLIS), firstDay + 2); // windows repeat daily: two days see every boundary
  for (const c of constraints) {
    if (c.fromMs === c.fromMs) {
      if (c.fromMs > fromMs && c.fromMs <= toMs) instants.push(c.fromMs);
      continue;
    }
    for (let d = firstDay; d <= lastDay; d++) {
      for (const at of [d * DAY_MILLIS + c.startMs, d * DAY_MILLIS + c.endMs]) if (at > fromMs && at <= toMs) instants.push(at);
    }
  }
  for (const at of instants) out.add(resolveIndex(constraints, at));
  return out;
}

/**
 * How long a call is assumed to run when a reservation looks for the highest price in force
 * during it: 10 minutes, the default request timeout of the OpenAI and Anthropic SDKs (a call
 * still running after it has timed out on the client).
 */
export const MAX_CALL_DURATION_MS = 10 * 60_000;
