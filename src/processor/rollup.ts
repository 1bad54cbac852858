/**
 * Spend rollups: per agent (all time, UTC day, UTC month), per model, per task type
 * and per task. Money is summed as integer nano-USD (never a float running sum) and
 * converted to USD only when read. Every table is bounded: agents, models and task
 * types by a cap (overflow goes to one `(other)` bucket), tasks by a cap on open
 * tasks plus a cap and a TTL on finished ones.
 */
import { NANOS_PER_USD } from '../ledger/types.ts';

/** Totals of one rollup. Costs in USD. */
export interface SpendTotals {
  /** Every counted inference call, failed ones included. */
  readonly costUsd: number;
  readonly calls: number;
  /** Requests sent: calls plus their retries. */
  readonly attempts: number;
  /** Attempts that failed (an errored call, or the retries before a call succeeded). */
  readonly failedAttempts: number;
  /** Part of costUsd spent by failed attempts. */
  readonly failedCostUsd: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/** A calendar window (UTC day or UTC month) of an agent's spend. */
export interface SpendWindow extends SpendTotals {
  /** ISO time the window started. */
  readonly startsAt: string;
  /** ISO time the window resets (UTC midnight / first of next month). */
  readonly resetsAt: string;
}

/** One agent's spend. `costUsd` etc. are totals since the process started. */
export interface AgentSpend extends SpendTotals {
  readonly agent: string;
  readonly day: SpendWindow;
  readonly month: SpendWindow;
  readonly byModel: Readonly<Record<string, SpendTotals>>;
  readonly byTaskType: Readonly<Record<string, SpendTotals>>;
}

/** One task's spend (kept for `taskTtlMillis` after it ends). */
export interface TaskSpend extends SpendTotals {
  readonly id: string;
  readonly type: string | undefined;
  /** The agent of the task's first counted call. */
  readonly agent: string | undefined;
  readonly ended: boolean;
  readonly byModel: Readonly<Record<string, SpendTotals>>;
}

/** What `getSpend` returns. */
export interface SpendReport {
  /** ISO time of the snapshot (the processor's clock). */
  readonly at: string;
  /** Process-wide totals; with `agent` given, that agent's totals. */
  readonly total: SpendTotals;
  /** Per agent; only the asked agent when `agent` is given (empty if it spent nothing). */
  readonly agents: Readonly<Record<string, AgentSpend>>;
  /** Process-wide per priced model; with `agent`, that agent's. */
  readonly byModel: Readonly<Record<string, SpendTotals>>;
  /** Process-wide per task type (`(none)` for tasks without one); with `agent`, that agent's. */
  readonly byTaskType: Readonly<Record<string, SpendTotals>>;
  /** The asked task, when `taskId` is given and the task is still in the table. */
  readonly task: TaskSpend | undefined;
}

/** Mutable accumulator. */
export class Acc {
  costNanos = 0;
  calls = 0;
  attempts = 0;
  failedAttempts = 0;
  failedNanos = 0;
  inputTokens = 0;
  outputTokens = 0;

  add(costNanos: number, attempts: number, failedAttempts: number, failedNanos: number, inputTokens: number, outputTokens: number): void {
    this.costNanos += costNanos;
    this.calls += 1;
    this.attempts += attempts;
    this.failedAttempts += failedAttempts;
    this.failedNanos += failedNanos;
    this.inputTokens += inputTokens;
    this.outputTokens += outputTokens;
  }

  merge(o: Acc): void {
    this.costNanos += o.costNanos;
    this.calls += o.calls;
    this.attempts += o.attempts;
    this.failedAttempts += o.failedAttempts;
    this.failedNanos += o.failedNanos;
    this.inputTokens += o.inputTokens;
    this.outputTokens += o.outputTokens;
  }

  reset(): void {
    this.costNanos = 0;
    this.calls = 0;
    this.attempts = 0;
    this.failedAttempts = 0;
    this.failedNanos = 0;
    this.inputTokens = 0;
    this.outputTokens = 0;
  }

  snapshot(): SpendTotals {
    return {
      costUsd: this.costNanos / NANOS_PER_USD,
      calls: this.calls,
      attempts: this.attempts,
      failedAttempts: this.failedAttempts,
      failedCostUsd: this.failedNanos / NANOS_PER_USD,
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
    };
  }
}

export const OTHER_KEY = '(other)';
export const NO_TYPE_KEY = '(none)';

/** A Map of accumulators whose key count is capped; keys past the cap share `(other)`. */
export class AccMap {
  readonly map = new Map<string, Acc>();
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  get(key: string): Acc {
    let acc = this.map.get(key);
    if (acc === undefined) {
      if (this.map.size >= this.max) key = OTHER_KEY;
      acc = this.map.get(key);
      if (acc === undefined) {
        acc = new Acc();
        this.map.set(key, acc);
      }
    }
    return acc;
  }
  snapshot(): Record<string, SpendTotals> {
    const out: Record<string, SpendTotals> = {};
    for (const [k, v] of this.map) out[k] = v.snapshot();
    return out;
  }
}

const DAY_MILLIS = 86_400_000;

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

/** An accumulator that restarts at a calendar boundary. */
export class WindowAcc {
  readonly acc = new Acc();
  startMs = 0;
  endMs = 0;
}

/** One agent's rollups. */
export class AgentRollup {
  readonly total = new Acc();
  readonly day = new WindowAcc();
  readonly month = new WindowAcc();
  readonly byModel: AccMap;
  readonly byTaskType: AccMap;
  constructor(maxKeys: number) {
    this.byModel = new AccMap(maxKeys);
    this.byTaskType = new AccMap(maxKeys);
  }
}

/** One task's rollup and the bookkeeping that tells when it has ended. */
export class TaskEntry {
  readonly id: string;
  type: string | undefined;
  agent: string | undefined = undefined;
  readonly acc = new Acc();
  /** The model of the task's first call. */
  model: string | undefined = undefined;
  /** Per model, allocated only when a second model appears (most tasks use one). */
  byModel: AccMap | undefined = undefined;
  /** Task-root spans (outermost spans of the task) started and not yet ended. */
  openRoots = 0;
  /** withTask calls of this task still running in this process. */
  openScopes = 0;
  ended = false;
  endedAtMillis = 0;
  /** Sequence number of the entry's latest end (ring bookkeeping). */
  seq = 0;
  constructor(id: string, type: string | undefined) {
    this.id = id;
    this.type = type;
  }
  snapshot(): TaskSpend {
    return {
      ...this.acc.snapshot(),
      id: this.id,
      type: this.type,
      agent: this.agent,
      ended: this.ended,
      byModel: this.byModel?.snapshot() ?? (this.model !== undefined ? { [this.model]: this.acc.snapshot() } : {}),
    };
  }
}

/**
 * Open and ended tasks. Open ones are capped (oldest dropped first when a
 * never-ending trace leaks); ended ones are also listed in a ring in end order, so
 * the cap and the TTL sweep look only at the ring's head: O(1) per insertion.
 * (Evicting through a Map's own iteration order is not O(1): V8 keeps deleted
 * slots until it rehashes, and every `keys().next()` skips them.)
 */
export class TaskTable {
  private readonly open = new Map<string, TaskEntry>();
  private readonly done = new Map<string, TaskEntry>();
  private readonly maxTasks: number;
  private readonly ttlMillis: number;
  private readonly ring: (TaskEntry | undefined)[];
  private readonly ringSeq: number[];
  private ringHead = 0;
  private ringSize = 0;
  private seq = 0;
  /** Open tasks in start order, for the open cap (same ring idea; stale slots are skipped). */
  private readonly openRing: (TaskEntry | undefined)[];
  private openHead = 0;
  private openCount = 0;
  /** Count of open tasks dropped by the cap (a leak indicator). */
  droppedOpen = 0;

  constructor(maxTasks: number, ttlMillis: number) {
    this.maxTasks = maxTasks;
    this.ttlMillis = ttlMillis;
    this.ring = new Array<TaskEntry | undefined>(maxTasks).fill(undefined);
    this.ringSeq = new Array<number>(maxTasks).fill(0);
    this.openRing = new Array<TaskEntry | undefined>(maxTasks * 2).fill(undefined);
  }

  get(id: string): TaskEntry | undefined {
    return this.open.get(id) ?? this.done.get(id);
  }

  /** The open task `id`, created if absent (an ended task of that id restarts as a new run). */
  openTask(id: string, type: string | undefined, nowMillis: number): TaskEntry {
    let e = this.open.get(id);
    if (e !== undefined) return e;
    e = this.done.get(id);
    if (e !== undefined) {
      // A task id seen again after its end (a retry of the whole task, a late span):
      // keep accumulating on it, as one task.
      this.done.delete(id);
      e.ended = false;
      e.type ??= type;
    } else {
      e = new TaskEntry(id, type);
    }
    if (this.open.size >= this.maxTasks) this.dropOldestOpen();
    this.open.set(id, e);
    this.pushOpen(e);
    this.sweep(nowMillis);
    return e;
  }

  private pushOpen(e: TaskEntry): void {
    const cap = this.openRing.length;
    if (this.openCount === cap) {
      // Ring full of mostly stale slots: compact it to the live open tasks.
      const live: TaskEntry[] = [];
      for (let i = 0; i < cap; i++) {
        const x = this.openRing[(this.openHead + i) % cap];
        if (x !== undefined && !x.ended && this.open.get(x.id) === x) live.push(x);
        this.openRing[(this.openHead + i) % cap] = undefined;
      }
      this.openHead = 0;
      this.openCount = live.length;
      for (let i = 0; i < live.length; i++) this.openRing[i] = live[i];
    }
    this.openRing[(this.openHead + this.openCount) % cap] = e;
    this.openCount++;
  }

  private dropOldestOpen(): void {
    const cap = this.openRing.length;
    while (this.openCount > 0) {
      const x = this.openRing[this.openHead];
      this.openRing[this.openHead] = undefined;
      this.openHead = (this.openHead + 1) % cap;
      this.openCount--;
      if (x !== undefined && !x.ended && this.open.get(x.id) === x) {
        this.open.delete(x.id);
        this.droppedOpen++;
        return;
      }
    }
  }

  /** Moves an ended task to the finished table, or drops it if it spent nothing. */
  finish(e: TaskEntry, nowMillis: number): void {
    this.open.delete(e.id);
    e.ended = true;
    e.endedAtMillis = nowMillis;
    if (e.acc.calls === 0) return;
    if (this.ringSize === this.maxTasks) this.evictHead();
    this.done.set(e.id, e);
    const seq = ++this.seq;
    e.seq = seq;
    const slot = (this.ringHead + this.ringSize) % this.maxTasks;
    this.ring[slot] = e;
    this.ringSeq[slot] = seq;
    this.ringSize++;
    this.sweep(nowMillis);
  }

  private evictHead(): void {
    const e = this.ring[this.ringHead];
    const seq = this.ringSeq[this.ringHead];
    this.ring[this.ringHead] = undefined;
    this.ringHead = (this.ringHead + 1) % this.maxTasks;
    this.ringSize--;
    // Only if this slot is still the entry's latest end (it may have reopened and ended again since).
    if (e !== undefined && e.ended && e.seq === seq && this.done.get(e.id) === e) this.done.delete(e.id);
  }

  private sweep(nowMillis: number): void {
    for (let i = 0; i < 4 && this.ringSize > 0; i++) {
      const e = this.ring[this.ringHead];
      if (e !== undefined && e.ended && e.seq === this.ringSeq[this.ringHead] && nowMillis - e.endedAtMillis < this.ttlMillis) return;
      this.evictHead();
    }
  }

  /** Sizes, for tests of the bounds. */
  sizes(): { open: number; ended: number } {
    return { open: this.open.size, ended: this.done.size };
  }
}
