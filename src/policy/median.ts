/**
 * `taskUsd: 'auto'`: the cap of a task is `multiplier` x the rolling median cost of
 * the last `windowTasks` completed tasks of the same type, once `minTasks` of them
 * completed; before that, tasks of the type have no cap.
 */
import type { TaskAutoConfig } from '../config/types.ts';

class Ring {
  readonly values: Float64Array;
  size = 0;
  next = 0;
  median: number | undefined;
  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
  }
}

/** Rolling medians of completed task costs, per task type. Bounded: at most `maxTypes` types. */
export class TaskCostMedians {
  readonly #config: TaskAutoConfig;
  readonly #types = new Map<string, Ring>();
  readonly #maxTypes: number;

  constructor(config: TaskAutoConfig, maxTypes = 1000) {
    this.#config = config;
    this.#maxTypes = maxTypes;
  }

  /** Adds a completed task's cost. Tasks without a type share the type `''`. */
  observe(type: string | undefined, costUsd: number): void {
    if (!(costUsd >= 0) || !Number.isFinite(costUsd)) return;
    const key = type ?? '';
    let ring = this.#types.get(key);
    if (ring === undefined) {
      if (this.#types.size >= this.#maxTypes) {
        const oldest = this.#types.keys().next();
        if (oldest.done !== true) this.#types.delete(oldest.value);
      }
      ring = new Ring(this.#config.windowTasks);
      this.#types.set(key, ring);
    }
    ring.values[ring.next] = costUsd;
    ring.next = (ring.next + 1) % ring.values.length;
    if (ring.size < ring.values.length) ring.size++;
    ring.median = undefined;
  }

  /** The cap for a task of `type` in USD, or undefined while fewer than `minTasks` completed. */
  capUsd(type: string | undefined): number | undefined {
    const ring = this.#types.get(type ?? '');
    if (ring === undefined || ring.size < this.#config.minTasks) return undefined;
    if (ring.median === undefined) {
      // Recomputed only after a new observation; sorting <= windowTasks numbers.
      const sorted = ring.values.slice(0, ring.size).sort();
      const mid = sorted.length >> 1;
      ring.median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    }
    return ring.median * this.#config.multiplier;
  }

  /** Completed tasks of `type` currently in the window. */
  count(type: string | undefined): number {
    return this.#types.get(type ?? '')?.size ?? 0;
  }
}
