/**
 * Per-agent state of the policy: each agent's limits, its capped scopes of the current UTC
 * window (rebuilt once per window change), its utilization, when a refusal blocks it until,
 * its spend rate, and the attempt counts of its tasks. Bounded: at most `maxAgents` agents
 * and `maxTasks` task attempt counts (the oldest are forgotten).
 */
import type { Attributes } from '@opentelemetry/api';
import { limitsFor } from '../config/index.ts';
import type { AgentLimits, OnExceed, TollgateConfig } from '../config/types.ts';
import type { TaskInfo } from '../context.ts';
import { usdToNanosFloor } from '../internal/money.ts';
import type { BudgetScope } from '../ledger/types.ts';
import { ATTR_BUDGET_SCOPE, ATTR_GEN_AI_AGENT_NAME } from '../semconv.ts';
import type { TaskCostMedians } from './median.ts';
import { SpendRate } from './rate.ts';
import { WindowClock } from './windows.ts';

/** One agent as the policy tracks it. */
export interface AgentState {
  readonly name: string;
  readonly limits: AgentLimits;
  readonly onExceed: OnExceed;
  readonly rate: SpendRate | null;
  /** Wait option: ms a call refused only by in-flight holds may wait (0 = never). */
  readonly waitMs: number;
  /** Agent-wide capped scopes of the current window (daily, monthly, config scopes). */
  scopes: BudgetScope[];
  /** Utilization of each of `scopes` after the last reservation. */
  util: Float64Array;
  /** Room left (nano-USD) in each of `scopes` after the last reservation; NaN until known. */
  room: Float64Array;
  utilAttrs: Attributes[];
  generation: number;
  blockedUntil: number;
  blockedScope: string | null;
  /** No cap, guard, ceiling or scope applies to the agent in this window (tasks aside): see BudgetPolicy.decideNow. */
  unconstrained: boolean;
}

/** See the module comment. */
export class AgentStates {
  readonly #config: TollgateConfig;
  readonly #windows: WindowClock;
  readonly #medians: TaskCostMedians;
  readonly #maxAgents: number;
  readonly #maxTasks: number;
  readonly #agents = new Map<string, AgentState>();
  readonly #attempts = new Map<string, number>();

  constructor(config: TollgateConfig, medians: TaskCostMedians, now: number, maxAgents: number, maxTasks: number) {
    this.#config = config;
    this.#medians = medians;
    this.#windows = new WindowClock(now);
    this.#maxAgents = maxAgents;
    this.#maxTasks = maxTasks;
  }

  /** Every tracked agent (for the utilization gauge). */
  values(): IterableIterator<AgentState> {
    return this.#agents.values();
  }

  /** The agent's state, its window scopes current at `now`. */
  get(agent: string, now: number): AgentState {
    const w = this.#windows.at(now);
    let st = this.#agents.get(agent);
    if (st === undefined) {
      const limits = limitsFor(this.#config, agent);
      st = {
        name: agent,
        limits,
        onExceed: limits.onExceed ?? 'block',
        rate: limits.rateUsdPerMinute !== undefined ? new SpendRate() : null,
        waitMs: limits.waitMs ?? 0,
        scopes: [],
        util: new Float64Array(0),
        room: new Float64Array(0),
        utilAttrs: [],
        generation: -1,
        blockedUntil: 0,
        blockedScope: null,
        unconstrained: false,
      };
      if (this.#agents.size >= this.#maxAgents) {
        const oldest = this.#agents.keys().next();
        if (oldest.done !== true) this.#agents.delete(oldest.value);
      }
      this.#agents.set(agent, st);
    }
    if (st.generation !== this.#windows.generation) {
      // New UTC day (or first use): rebuild the window scopes once.
      const scopes: BudgetScope[] = [];
      const l = st.limits;
      if (l.dailyUsd !== undefined) scopes.push({ scope: 'agent.daily', agent, key: w.dayKey, limitNanos: usdLimit(l.dailyUsd), resetAt: w.dayReset });
      if (l.monthlyUsd !== undefined) {
        scopes.push({ scope: 'agent.monthly', agent, key: w.monthKey, limitNanos: usdLimit(l.monthlyUsd), resetAt: w.monthReset });
      }
      for (const c of this.#config.scopes) {
        if (c.agents !== null && !c.agents.includes(agent)) continue;
        const [key, resetAt] = c.period === 'day' ? [w.dayKey, w.dayReset] : c.period === 'month' ? [w.monthKey, w.monthReset] : ['total', null];
        // A shared scope's counter belongs to no single agent: it lives under `scope:<name>`.
        scopes.push({ scope: c.name, agent: `scope:${c.name}`, key, limitNanos: usdLimit(c.limitUsd), resetAt });
      }
      st.scopes = scopes;
      st.util = new Float64Array(scopes.length);
      st.room = new Float64Array(scopes.length).fill(NaN);
      st.utilAttrs = scopes.map((s) => ({ [ATTR_GEN_AI_AGENT_NAME]: agent, [ATTR_BUDGET_SCOPE]: s.scope }));
      st.unconstrained = scopes.length === 0 && l.maxTokens === undefined && l.maxAttemptsPerTask === undefined && l.rateUsdPerMinute === undefined;
      st.generation = this.#windows.generation;
    }
    return st;
  }

  /** Agent-wide scopes first (their index matches AgentState.util), then the task's. */
  scopesFor(st: AgentState, task: TaskInfo | undefined): BudgetScope[] {
    let taskCap: number | undefined;
    if (task !== undefined) {
      const t = st.limits.taskUsd;
      taskCap = t === 'auto' ? this.#medians.capUsd(task.type) : t;
    }
    if (taskCap === undefined) return st.scopes;
    const scopes = st.scopes.slice();
    scopes.push({ scope: 'task', agent: st.name, key: `task:${task!.id}`, limitNanos: usdLimit(taskCap), resetAt: null });
    return scopes;
  }

  /** Counts one more call of a task; returns the count. */
  bumpAttempts(agent: string, taskId: string): number {
    const key = `${agent}\u0000${taskId}`;
    const n = (this.#attempts.get(key) ?? 0) + 1;
    if (n === 1 && this.#attempts.size >= this.#maxTasks) {
      const oldest = this.#attempts.keys().next();
      if (oldest.done !== true) this.#attempts.delete(oldest.value);
    }
    this.#attempts.set(key, n);
    return n;
  }

  /** Records utilization and room after a reservation (remaining per scope, as the ledger answered). */
  noteRoom(st: AgentState, scopes: readonly BudgetScope[], remaining: readonly (number | null)[]): void {
    const n = Math.min(st.scopes.length, scopes.length);
    for (let i = 0; i < n; i++) {
      const limit = scopes[i]!.limitNanos;
      const left = remaining[i];
      if (limit === null || left === null || left === undefined) continue;
      st.util[i] = limit === 0 ? 1 : (limit - left) / limit;
      st.room[i] = left;
    }
  }

  /**
   * The least room known for the call's scopes: the agent scopes' room after the last
   * reservation (their limit before any), and the task cap. Tells the policy whether an
   * estimate is a noticeable share of what is left.
   */
  knownRoom(st: AgentState, scopes: readonly BudgetScope[]): number {
    let room = Infinity;
    for (let i = 0; i < scopes.length; i++) {
      const s = scopes[i]!;
      if (s.limitNanos === null) continue;
      const r = i < st.room.length && !Number.isNaN(st.room[i]!) ? st.room[i]! : s.limitNanos;
      if (r < room) room = r;
    }
    return room;
  }
}

/** A cap in nano-USD. Floor: a cap never admits more than its USD value. */
export function usdLimit(usd: number): number {
  return usdToNanosFloor(usd);
}
