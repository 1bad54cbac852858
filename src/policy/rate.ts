/**
 * Spend in the last 60 s, per agent, in one-second buckets: O(60) to read,
 * O(1) to add, 960 bytes per agent.
 */
const BUCKETS = 60;

/** USD spent by one agent over a sliding minute. */
export class SpendRate {
  readonly #usd = new Float64Array(BUCKETS);
  readonly #second = new Float64Array(BUCKETS).fill(-1);

  /** Adds spend at `now` (epoch ms). */
  add(now: number, usd: number): void {
    const s = Math.floor(now / 1000);
    const i = s % BUCKETS;
    if (this.#second[i] !== s) {
      this.#second[i] = s;
      this.#usd[i] = 0;
    }
    this.#usd[i]! += usd;
  }

  /** USD spent in the 60 s ending at `now`. */
  lastMinuteUsd(now: number): number {
    const s = Math.floor(now / 1000);
    let sum = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const at = this.#second[i]!;
      if (at > s - BUCKETS && at <= s) sum += this.#usd[i]!;
    }
    return sum;
  }

  /**
   * When enough of the current spend will have slid out of the window for the
   * total to fall below `limitUsd` (epoch ms); `now` if it already is.
   */
  belowAt(now: number, limitUsd: number): number {
    const s = Math.floor(now / 1000);
    let total = this.lastMinuteUsd(now);
    if (total < limitUsd) return now;
    // Walk the buckets oldest first, dropping each as it expires.
    for (let age = BUCKETS - 1; age >= 0; age--) {
      const sec = s - age;
      const i = ((sec % BUCKETS) + BUCKETS) % BUCKETS;
      if (this.#second[i] !== sec) continue;
      total -= this.#usd[i]!;
      if (total < limitUsd) return (sec + BUCKETS) * 1000;
    }
    return (s + BUCKETS) * 1000;
  }
}
