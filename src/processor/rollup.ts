/**
 * Spend rollups: per agent (all time, UTC day, UTC month), per model, per task type
 * and per task. Money is summed as integer nano-USD (never a float running sum) and
 * converted to USD only when read. Every table is bounded: agents, models and task
 * types by a cap (overflow goes to one `(other)` bucket), tasks by a cap on open
 * tasks plus a cap and a TTL on finished ones.
 */
import type { Attributes } from '@opentelemetry/api';
import { nanosToUsd } from '../internal/money.ts';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOKEN_TYPE,
  ATTR_SAVING_KIND,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_TASK_TYPE,
} from '../semconv.ts';

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
      costUsd: nanosToUsd(this.costNanos),
      calls: this.calls,
      attempts: this.attempts,
      failedAttempts: this.failedAttempts,
      failedCostUsd: nanosToUsd(this.failedNanos),
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

export { utcDayEnd, utcDayStart, utcMonthEnd, utcMonthStart } from '../internal/utc.ts';

/** An accumulator that restarts at a calendar boundary. */
export class WindowAcc {
  readonly acc = new Acc();
  startMs = 0;
  endMs = 0;
}

/** How many more Combos may be cached, shared by every agent of a processor. */
export interface ComboBudget {
  left: number;
}

/** One agent's rollups. */
export class AgentRollup {
  /** The agent name (OTHER_KEY for the shared overflow rollup). */
  readonly name: string;
  readonly total = new Acc();
  readonly day = new WindowAcc();
  readonly month = new WindowAcc();
  readonly byModel: AccMap;
  readonly byTaskType: AccMap;
  private readonly combos = new Map<string, Map<string | undefined, Combo>>();
  private lastCombo: Combo | undefined = undefined;
  constructor(name: string, maxKeys: number) {
    this.name = name;
    this.byModel = new AccMap(maxKeys);
    this.byTaskType = new AccMap(maxKeys);
  }

  /**
   * The (model, task type) combination of this agent's call `agent`: its model and
   * task-type accumulators and its metric attribute sets. Cached while `budget`
   * lasts, and only when `agent` is this rollup's own name (an overflow agent
   * shares the `(other)` rollup but keeps its name in metric attributes).
   */
  combo(agent: string, model: string, taskType: string | undefined, budget: ComboBudget): Combo {
    const last = this.lastCombo;
    if (last !== undefined && last.model === model && last.taskType === taskType && agent === this.name) return last;
    let byType = this.combos.get(model);
    let c = agent === this.name ? byType?.get(taskType) : undefined;
    if (c === undefined) {
      c = new Combo(agent, model, taskType, this.byModel.get(model), this.byTaskType.get(taskType ?? NO_TYPE_KEY));
      if (agent !== this.name) return c;
      if (budget.left > 0) {
        budget.left--;
        if (byType === undefined) {
          byType = new Map();
          this.combos.set(model, byType);
        }
        byType.set(taskType, c);
      }
    }
    this.lastCombo = c;
    return c;
  }
}

/**
 * Attribute sets of the cost metrics for one (agent, priced model, task type)
 * combination, and the accumulators its calls add to: found once per call by
 * {@link AgentRollup.combo}, so the hot path builds no attribute object and does
 * no per-rollup Map lookup.
 */
export class Combo {
  readonly model: string;
  readonly taskType: string | undefined;
  readonly byModel: Acc;
  readonly byTaskType: Acc;
  private readonly agent: string;
  private lastProvider: string | undefined = undefined;
  private lastOperation: string | undefined = undefined;
  private lastCost: Attributes | undefined = undefined;
  /** Other (provider, operation) pairs, keyed `provider\u0000operation`; capped. */
  private costMore: Map<string, Attributes> | undefined = undefined;
  private saved: Attributes | undefined = undefined;
  /** The GenAI client-metric attribute sets this combination used last (usually the only ones). */
  conv: ConvSeries | undefined = undefined;

  constructor(agent: string, model: string, taskType: string | undefined, byModel: Acc, byTaskType: Acc) {
    this.agent = agent;
    this.model = model;
    this.taskType = taskType;
    this.byModel = byModel;
    this.byTaskType = byTaskType;
  }

  /** `tollgate.cost.usd` attributes: agent, provider, priced model, operation, task type (undefined ones left out). */
  costAttributes(provider: string | undefined, operation: string): Attributes {
    if (this.lastCost !== undefined && provider === this.lastProvider && operation === this.lastOperation) return this.lastCost;
    const key = `${provider ?? ''}\u0000${operation}`;
    let attrs = this.costMore?.get(key);
    if (attrs === undefined) {
      attrs = { [ATTR_GEN_AI_AGENT_NAME]: this.agent };
      if (provider !== undefined) attrs[ATTR_GEN_AI_PROVIDER_NAME] = provider;
      attrs[ATTR_GEN_AI_REQUEST_MODEL] = this.model;
      attrs[ATTR_GEN_AI_OPERATION_NAME] = operation;
      if (this.taskType !== undefined) attrs[ATTR_TASK_TYPE] = this.taskType;
      this.costMore ??= new Map();
      if (this.costMore.size < MAX_VARIANTS) this.costMore.set(key, attrs);
    }
    this.lastProvider = provider;
    this.lastOperation = operation;
    this.lastCost = attrs;
    return attrs;
  }

  /** `tollgate.cost.saved.usd` attributes of a prompt-cache saving. */
  savedAttributes(): Attributes {
    return (this.saved ??= { [ATTR_GEN_AI_AGENT_NAME]: this.agent, [ATTR_GEN_AI_REQUEST_MODEL]: this.model, [ATTR_SAVING_KIND]: 'cache' });
  }
}

/** Cap on the (provider, operation) variants one Combo caches, and on error types per ConvSeries. */
const MAX_VARIANTS = 64;

/**
 * Attribute sets of the GenAI client histograms for one series (operation, provider,
 * request model, response model, server address, server port). Undefined values are
 * left out (the metrics SDK keys series on every attribute present).
 */
export class ConvSeries {
  readonly operation: string;
  readonly provider: string | undefined;
  readonly requestModel: string;
  readonly responseModel: string | undefined;
  readonly serverAddress: string | undefined;
  readonly serverPort: number | undefined;
  readonly input: Attributes;
  readonly output: Attributes;
  /** Duration of a call that did not fail. */
  readonly ok: Attributes;
  private errors: Map<string, Attributes> | undefined = undefined;

  constructor(operation: string, provider: string | undefined, requestModel: string, responseModel: string | undefined, serverAddress: string | undefined, serverPort: number | undefined) {
    this.operation = operation;
    this.provider = provider;
    this.requestModel = requestModel;
    this.responseModel = responseModel;
    this.serverAddress = serverAddress;
    this.serverPort = serverPort;
    this.input = this.with(ATTR_GEN_AI_TOKEN_TYPE, 'input');
    this.output = this.with(ATTR_GEN_AI_TOKEN_TYPE, 'output');
    this.ok = this.with(undefined, undefined);
  }

  matches(operation: string, provider: string | undefined, requestModel: string, responseModel: string | undefined, serverAddress: string | undefined, serverPort: number | undefined): boolean {
    return (
      this.requestModel === requestModel &&
      this.responseModel === responseModel &&
      this.operation === operation &&
      this.provider === provider &&
      this.serverAddress === serverAddress &&
      this.serverPort === serverPort
    );
  }

  /** Duration attributes of a failed call. */
  failed(errorType: string): Attributes {
    let attrs = this.errors?.get(errorType);
    if (attrs === undefined) {
      attrs = this.with(ATTR_ERROR_TYPE, errorType);
      this.errors ??= new Map();
      if (this.errors.size < MAX_VARIANTS) this.errors.set(errorType, attrs);
    }
    return attrs;
  }

  private with(key: string | undefined, value: string | undefined): Attributes {
    const attrs: Attributes = { [ATTR_GEN_AI_OPERATION_NAME]: this.operation };
    if (this.provider !== undefined) attrs[ATTR_GEN_AI_PROVIDER_NAME] = this.provider;
    attrs[ATTR_GEN_AI_REQUEST_MODEL] = this.requestModel;
    if (this.responseModel !== undefined) attrs[ATTR_GEN_AI_RESPONSE_MODEL] = this.responseModel;
    if (this.serverAddress !== undefined) attrs[ATTR_SERVER_ADDRESS] = this.serverAddress;
    if (this.serverPort !== undefined) attrs[ATTR_SERVER_PORT] = this.serverPort;
    if (key !== undefined && value !== undefined) attrs[key] = value;
    return attrs;
  }

  /** Map key of a series. */
  static key(operation: string, provider: string | undefined, requestModel: string, responseModel: string | undefined, serverAddress: string | undefined, serverPort: number | undefined): string {
    return `${operation}\u0000${provider ?? '\u0001'}\u0000${requestModel}\u0000${responseModel ?? '\u0001'}\u0000${serverAddress ?? '\u0001'}\u0000${serverPort ?? ''}`;
  }
}

/**
 * One task's rollup (its own totals: a TaskEntry IS its accumulator) and the
 * bookkeeping that tells when it has ended.
 */
export class TaskEntry extends Acc {
  readonly id: string;
  type: string | undefined;
  agent: string | undefined = undefined;
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
  /** The entry is the one its TaskTable holds under its id (saves a lookup per task end). */
  indexed = false;
  constructor(id: string, type: string | undefined) {
    super();
    this.id = id;
    this.type = type;
  }
  /** The task's spend (totals, per model) as getSpend reports it. */
  task(): TaskSpend {
    return {
      ...this.snapshot(),
      id: this.id,
      type: this.type,
      agent: this.agent,
      ended: this.ended,
      byModel: this.byModel?.snapshot() ?? (this.model !== undefined ? { [this.model]: this.snapshot() } : {}),
    };
  }
}

/**
 * Open and ended tasks, in ONE Map by id (an entry's `ended` flag tells which), so
 * a task that starts and ends costs one insertion and one eviction, not a move
 * between two tables. Open ones are capped (oldest dropped first when a
 * never-ending trace leaks); ended ones are also listed in a ring in end order, so
 * the cap and the TTL sweep look only at the ring's head: O(1) per insertion.
 * (Evicting through a Map's own iteration order is not O(1): V8 keeps deleted
 * slots until it rehashes, and every `keys().next()` skips them.)
 */
export class TaskTable {
  private readonly byId = new Map<string, TaskEntry>();
  private openCount = 0;
  private endedCount = 0;
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
  private openRingCount = 0;
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
    return this.byId.get(id);
  }

  /** The open task `id`, created if absent (an ended task of that id restarts as a new run). */
  openTask(id: string, type: string | undefined, nowMillis: number): TaskEntry {
    let e = this.byId.get(id);
    if (e !== undefined && !e.ended) return e;
    // Before reopening `e`: the cap must never pick it (stale open-ring slots of it may remain).
    if (this.openCount >= this.maxTasks) this.dropOldestOpen();
    if (e !== undefined) {
      // A task id seen again after its end (a retry of the whole task, a late span):
      // keep accumulating on it, as one task.
      e.ended = false;
      e.type ??= type;
      this.endedCount--;
    } else {
      e = new TaskEntry(id, type);
      this.byId.set(id, e);
      e.indexed = true;
    }
    this.openCount++;
    this.pushOpen(e);
    this.sweep(nowMillis);
    return e;
  }

  private isLiveOpen(x: TaskEntry | undefined): x is TaskEntry {
    return x !== undefined && !x.ended && x.indexed;
  }

  private pushOpen(e: TaskEntry): void {
    const cap = this.openRing.length;
    if (this.openRingCount === cap) {
      // Ring full of mostly stale slots: compact it to the live open tasks.
      const live: TaskEntry[] = [];
      for (let i = 0; i < cap; i++) {
        const x = this.openRing[(this.openHead + i) % cap];
        if (this.isLiveOpen(x)) live.push(x);
        this.openRing[(this.openHead + i) % cap] = undefined;
      }
      this.openHead = 0;
      this.openRingCount = live.length;
      for (let i = 0; i < live.length; i++) this.openRing[i] = live[i];
    }
    this.openRing[(this.openHead + this.openRingCount) % cap] = e;
    this.openRingCount++;
  }

  private dropOldestOpen(): void {
    const cap = this.openRing.length;
    while (this.openRingCount > 0) {
      const x = this.openRing[this.openHead];
      this.openRing[this.openHead] = undefined;
      this.openHead = (this.openHead + 1) % cap;
      this.openRingCount--;
      if (this.isLiveOpen(x)) {
        this.byId.delete(x.id);
        x.indexed = false;
        this.openCount--;
        this.droppedOpen++;
        return;
      }
    }
  }

  /** Marks an ended task finished (kept for getSpend), or drops it if it spent nothing. */
  finish(e: TaskEntry, nowMillis: number): void {
    // Normally `e` itself; another entry of that id only after `e` was dropped by the open cap.
    let cur = e.indexed ? e : this.byId.get(e.id);
    if (cur !== undefined && !cur.ended) {
      this.openCount--;
      if (cur !== e || e.calls === 0) {
        this.byId.delete(e.id);
        cur.indexed = false;
        cur = undefined;
      }
    }
    if (e.calls === 0) {
      e.ended = true;
      e.endedAtMillis = nowMillis;
      return;
    }
    // `e` is not flagged ended yet, so this never evicts `e` itself through a stale slot.
    if (this.ringSize === this.maxTasks) this.evictHead();
    if (cur !== undefined && !cur.indexed) cur = undefined;
    e.ended = true;
    e.endedAtMillis = nowMillis;
    // Replacing an ended entry of the same id leaves the count as it is.
    if (cur === undefined || cur === e) this.endedCount++;
    if (cur !== e) {
      if (cur !== undefined) cur.indexed = false;
      this.byId.set(e.id, e);
      e.indexed = true;
    }
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
    if (e !== undefined && e.ended && e.seq === seq && e.indexed) {
      this.byId.delete(e.id);
      e.indexed = false;
      this.endedCount--;
    }
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
    return { open: this.openCount, ended: this.endedCount };
  }
}
