/**
 * UTC day and month windows: the counter key of the current window and when it
 * resets. Computed once per window change, so the hot path only compares numbers.
 * The calendar arithmetic is internal/utc.ts, shared with the processor and the report.
 */
import { utcDate, utcDayEnd, utcDayStart, utcMonthEnd } from '../internal/utc.ts';

/** The current UTC day and month of an instant. */
export interface Windows {
  /** `day:2026-11-25` */
  readonly dayKey: string;
  readonly dayStart: number;
  /** Next UTC midnight, epoch ms. */
  readonly dayReset: number;
  /** `month:2026-11` */
  readonly monthKey: string;
  /** First instant of next UTC month, epoch ms. */
  readonly monthReset: number;
}

/** The windows containing `now` (epoch ms). */
export function windowsAt(now: number): Windows {
  const date = utcDate(now); // YYYY-MM-DD
  const dayStart = utcDayStart(now);
  return {
    dayKey: `day:${date}`,
    dayStart,
    dayReset: utcDayEnd(now),
    monthKey: `month:${date.slice(0, 7)}`,
    monthReset: utcMonthEnd(now),
  };
}

/** Caches {@link windowsAt} until the day changes (either way: fake clocks go back). */
export class WindowClock {
  #w: Windows;
  #generation = 0;

  constructor(now: number) {
    this.#w = windowsAt(now);
  }

  /** The windows at `now`. */
  at(now: number): Windows {
    if (now >= this.#w.dayReset || now < this.#w.dayStart) {
      this.#w = windowsAt(now);
      this.#generation++;
    }
    return this.#w;
  }

  /** Changes whenever the day does; lets callers cache per-window objects. */
  get generation(): number {
    return this.#generation;
  }
}
