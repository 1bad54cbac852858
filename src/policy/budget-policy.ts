/**
 * The budget policy: before each LLM request leaves the process it decides to let it
 * go, rewrite `model` / `max_tokens` so it fits, or block it. Decisions are values
 * (GateDecision); the instrumentation throws and rewrites.
 *
 * admit, in order:
 *  1. agent (the call's, else the process's) and task;
 *  2. routing (user function, config rules, built-in rules);
 *  3. output ceiling: the call's max_tokens, capped by the configured ceiling; with none,
 *     the ceiling, else the model's maxOutputTokens, else DEFAULT_MAX_TOKENS (set on the call);
 *  4. worst case = input tokens (fast upper bound; exact count only when the bound does not
 *     fit) + output ceiling, at the model's highest applicable rates;
 *  5. runaway guards: attempts per task, USD per minute per agent;
 *  6. reserve atomically on every capped scope (task, agent.daily, agent.monthly, config
 *     scopes) with a TTL; if no room and on_exceed=downgrade: clamp max_tokens (not below the
 *     floor), then walk the model ladder (downgrade.ts); else block.
 *
 * A block carries a refusal, plain values (refusals.ts); the instrumentation builds the error. The
 * parts live beside this file: routing.ts, estimate.ts (worst case, output ceiling), agents.ts
 * (per-agent state), ledger-guard.ts (every ledger call: timeouts, fail-fast, writes),
 * waiters.ts (the wait option), status.ts (getAgentStatus).
 */
import { context, metrics, trace, type Attributes, type Counter, type Meter, type ObservableGauge } from '@opentelemetry/api';
import type { TollgateConfig } from '../config/types.ts';
import type { TaskInfo } from '../context.ts';
import { LedgerUnavailableError, refusalError, type BudgetExceededError, type LedgerRefusal } from '../errors.ts';
import type { CallDescription, CallGate, CallOutcome, CallSettlement, GateDecision } from '../gate.ts';
import { boundedNanos, nanosToUsd, usdToNanos, MAX_CHARGE_NANOS, type BudgetScope, type Ledger, type Reservation, type ReserveResult } from '../ledger/types.ts';
import { WarnOnce } from '../internal/warn-once.ts';
import { MAX_CALL_DURATION_MS } from '../pricing/index.ts';
import type { PriceLookup, PriceTable } from '../pricing/types.ts';
import {
  ATTR_BUDGET_SCOPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_SAVING_KIND,
  METRIC_BUDGET_UTILIZATION,
  METRIC_CALLS_BLOCKED,
  METRIC_COST_SAVED_USD,
} from '../semconv.ts';
import { AgentStates, type AgentState } from './agents.ts';
import { downgrade, type Downgraded } from './downgrade.ts';
import { cacheWriteKind, outputCeiling, worstCaseNanos, worstRatesNanos } from './estimate.ts';
import { LedgerGuard } from './ledger-guard.ts';
import { TaskCostMedians } from './median.ts';
import { budgetRefusal, runawayGuard, type Refused } from './refusals.ts';
import { Router, type RouteFunction } from './routing.ts';
import { agentStatus, type AgentStatus } from './status.ts';
import { RoomWaiters } from './waiters.ts';

export type { AgentBudget, AgentStatus } from './status.ts';

/** Output ceiling assumed (and set on the call) when neither the call, the config nor the price table gives one. */
export const DEFAULT_MAX_TOKENS = 4096;

/** What an unconstrained call gets (see BudgetPolicy.decideNow): no ticket, nothing to settle. */
const ALLOW: GateDecision = Object.freeze({ action: 'allow' });

/**
 * Counts input tokens of a request body (src/tokens createInputEstimator). `upperBound` must
 * be fast and never below `count`; `format` is the body's shape.
 */
export interface InputEstimator {
  upperBound(format: 'openai' | 'anthropic', body: unknown): number;
  count(format: 'openai' | 'anthropic', body: unknown): number;
}

/**
 * Anthropic's tokenizer is not public; the exact count uses o200k_base, which can be lower
 * than what Anthropic bills. Counts of Anthropic bodies are scaled by this margin (and never
 * exceed the byte upper bound, which holds for any byte-level BPE).
 */
export const ANTHROPIC_COUNT_MARGIN = 1.3;

/** Passed to `onBudgetExceeded`. */
export interface BudgetExceededEvent {
  readonly error: BudgetExceededError;
  readonly agent: string;
  readonly call: CallDescription;
}

/** Options of {@link BudgetPolicy}. */
export interface BudgetPolicyOptions {
  /** The resolved configuration (resolveConfig). */
  readonly config: TollgateConfig;
  readonly ledger: Ledger;
  readonly prices: PriceTable;
  readonly estimator: InputEstimator;
  /** Clock in epoch ms. @default Date.now */
  readonly now?: () => number;
  /** Where tollgate.calls.blocked, tollgate.cost.saved.usd and tollgate.budget.utilization go. @default the global meter `tollgate` */
  readonly meter?: Meter;
  /** User routing function, consulted before config rules. */
  readonly route?: RouteFunction;
  /** Called (synchronously, errors swallowed) for every refused call. */
  readonly onBudgetExceeded?: (event: BudgetExceededEvent) => void;
  /** How long a reservation holds without settle / release. @default 600_000 (10 min) */
  readonly reservationTtlMillis?: number;
  /** Longest wait for a remote ledger answer before treating it as unavailable. @default 1000 */
  readonly ledgerTimeoutMillis?: number;
  /** After a ledger failure, how long calls skip it (fail fast) before trying it again; also the flush retry interval. @default 5000 */
  readonly ledgerRetryMillis?: number;
  /** Output ceiling used when nothing else gives one. @default DEFAULT_MAX_TOKENS */
  readonly defaultMaxTokens?: number;
  /** Most tasks whose attempt counts are remembered. @default 10_000 */
  readonly maxTrackedTasks?: number;
  /** Most agents with cached state. @default 1_000 */
  readonly maxAgents?: number;
  /**
   * An estimate whose input part is at least this share of the room known to be left is priced
   * with the exact token count (cached per message) rather than the fast byte bound, so a burst
   * of calls that each fit does not hold several times what they can cost. @default 0.001
   */
  readonly exactCountShare?: number;
  /** While waiting (wait option), how often the ledger is asked again for room other processes freed, ms. @default 25 */
  readonly waitPollMillis?: number;
}

interface Ticket {
  readonly reservation: Reservation | null;
  readonly scopes: readonly BudgetScope[];
  readonly state: AgentState;
  /** Saved USD per USD spent, from routing / ladder moves (worst-case ratio). */
  readonly savedRatio: number;
  readonly savedModelAttrs: Attributes | null;
  done: boolean;
  /** Room in the tightest capped scope with the hold taken (from the reservation), for the room after the call. */
  roomNanos?: number;
}

/** A call on its way through `admit`: what is decided so far. */
interface Admission {
  readonly call: CallDescription;
  readonly st: AgentState;
  readonly task: TaskInfo | undefined;
  readonly format: 'openai' | 'anthropic';
  readonly cacheKind: 'none' | '5m' | '1h';
  readonly priceOf: (model: string) => PriceLookup;
  /** The model the call goes to (routing may have changed it) and its price. */
  readonly model: string;
  readonly lookup: PriceLookup;
  /** The output ceiling priced, and whether the call goes out with it. */
  readonly maxTokens: number;
  readonly setMaxTokens: boolean;
  readonly scopes: readonly BudgetScope[];
  /** For `tollgate.policy.reason`. */
  readonly reasons: string[];
  readonly savedRatio: number;
}

/** A task named by nothing but the trace: without `withTask`, a task is the trace. */
function traceTask(): TaskInfo | undefined {
  const sc = trace.getSpanContext(context.active());
  return sc === undefined || !trace.isSpanContextValid(sc) ? undefined : { id: `trace:${sc.traceId}` };
}

/** The budget policy: a {@link CallGate}. */
export class BudgetPolicy implements CallGate {
  readonly #config: TollgateConfig;
  readonly #guard: LedgerGuard;
  readonly #prices: PriceTable;
  readonly #estimator: InputEstimator;
  readonly #now: () => number;
  readonly #router: Router;
  readonly #onExceeded: ((event: BudgetExceededEvent) => void) | undefined;
  readonly #defaultMaxTokens: number;
  readonly #exactShare: number;
  readonly #medians: TaskCostMedians;
  readonly #agents: AgentStates;
  readonly #waiters: RoomWaiters;
  readonly #blocked: Counter;
  readonly #saved: Counter;
  readonly #utilization: ObservableGauge;
  readonly #warnings = new WarnOnce();

  constructor(options: BudgetPolicyOptions) {
    this.#config = options.config;
    this.#prices = options.prices;
    this.#estimator = options.estimator;
    this.#now = options.now ?? Date.now;
    this.#onExceeded = options.onBudgetExceeded;
    this.#guard = new LedgerGuard(options.ledger, {
      timeoutMillis: options.ledgerTimeoutMillis ?? 1000,
      retryMillis: options.ledgerRetryMillis ?? 5000,
      ttlMillis: options.reservationTtlMillis ?? 600_000,
      now: this.#now,
      warn: (key, message, err) => this.#warnOnce(key, message, err),
    });
    this.#defaultMaxTokens = options.defaultMaxTokens ?? DEFAULT_MAX_TOKENS;
    this.#exactShare = options.exactCountShare ?? 0.001;
    this.#medians = new TaskCostMedians(options.config.taskAuto);
    this.#agents = new AgentStates(options.config, this.#medians, this.#now(), options.maxAgents ?? 1_000, options.maxTrackedTasks ?? 10_000);
    this.#waiters = new RoomWaiters(this.#guard, options.waitPollMillis ?? 25);
    this.#router = new Router(options.config, options.route, (key, message, err) => this.#warnOnce(key, message, err));
    const meter = options.meter ?? metrics.getMeter('tollgate');
    this.#blocked = meter.createCounter(METRIC_CALLS_BLOCKED, { description: 'LLM calls refused by a budget before they were sent', unit: '{call}' });
    this.#saved = meter.createCounter(METRIC_COST_SAVED_USD, {
      description: 'USD saved: prompt-cache reads (cache), model routing (routing), max_tokens clamps (max_tokens)',
      unit: '{USD}',
    });
    this.#utilization = meter.createObservableGauge(METRIC_BUDGET_UTILIZATION, {
      description: 'Share of a budget spent or reserved (1 = full), per agent and scope',
      unit: '1',
    });
    this.#utilization.addCallback((result) => {
      for (const st of this.#agents.values()) {
        for (let i = 0; i < st.scopes.length; i++) result.observe(st.util[i]!, st.utilAttrs[i]!);
      }
    });
  }

  /**
   * The decision for a call that nothing constrains, without an estimate or a ledger round trip:
   * its agent has no cap, guard or output ceiling, no config scope covers it, no task cap applies,
   * nothing routes, and the call's output ceiling needs no default (it sets one, or the model
   * states its limit). Undefined otherwise: ask `admit`. What `admit` decides for such a call;
   * the instrumentation asks this first, so `admit` does not ask it again.
   */
  decideNow(call: CallDescription): GateDecision | undefined {
    try {
      if (this.#router.enabled) return undefined;
      const agent = call.agent ?? this.#config.agent;
      const st = this.#agents.get(agent, this.#now());
      // A task cap applies to a call in a task: withTask's, else the trace's.
      if (!st.unconstrained || (st.limits.taskUsd !== undefined && (call.task !== undefined || traceTask() !== undefined))) return undefined;
      if (call.maxTokens !== undefined && this.#config.unknownModel !== 'block') return ALLOW;
      const lookup = this.#prices.lookup(call.model, call.provider);
      if (lookup.source === 'fallback') return undefined;
      return call.maxTokens !== undefined || lookup.price.maxOutputTokens !== undefined || call.operation === 'embeddings' ? ALLOW : undefined;
    } catch {
      return undefined;
    }
  }

  /** Decides what happens to a call before it is sent. Never rejects: a fault in tollgate lets the call go. */
  async admit(call: CallDescription): Promise<GateDecision> {
    try {
      return await this.#admit(call);
    } catch (err) {
      this.#warnOnce('admit', 'tollgate: budget policy failed; the call goes through unchecked', err);
      return { action: 'allow' };
    }
  }

  async #admit(call: CallDescription): Promise<GateDecision> {
    const now = this.#now();
    const st = this.#agents.get(call.agent ?? this.#config.agent, now);
    const task = call.task ?? (st.limits.taskUsd !== undefined || st.limits.maxAttemptsPerTask !== undefined ? traceTask() : undefined);
    const { provider, body } = call;
    const format = provider === 'anthropic' ? 'anthropic' : 'openai';
    const cacheKind = provider === 'anthropic' ? cacheWriteKind(body) : 'none';
    const inputTokens = this.#estimator.upperBound(format, body);
    // Reserve at the highest price in force while the call may run: a dated price or a time-of-day
    // window (DeepSeek's) can start mid-call. On the service tier the body asks for.
    const tier = typeof body['service_tier'] === 'string' ? body['service_tier'] : undefined;
    const priceOf = (m: string): PriceLookup => this.#prices.lookupDuring(m, provider, now, now + MAX_CALL_DURATION_MS, tier);
    const reasons: string[] = [];
    let model = call.model;
    let lookup = priceOf(model);
    let savedRatio = 0;

    // Routing, before the budget check.
    const ceiling = st.limits.maxTokens;
    if (this.#router.enabled && call.operation !== 'embeddings') {
      const asked = call.maxTokens !== undefined && ceiling !== undefined ? Math.min(call.maxTokens, ceiling) : (call.maxTokens ?? ceiling);
      const routed = this.#router.route({ call, agent: st.name, task, lookup, inputTokens, maxTokens: asked, defaultMaxTokens: this.#defaultMaxTokens, cacheKind, priceOf });
      if (routed !== undefined) {
        reasons.push(routed.reason);
        ({ model, lookup, savedRatio } = routed);
      }
    }
    if (lookup.source === 'fallback' && this.#config.unknownModel === 'block') {
      this.#countBlock(st.name, model, 'model.unpriced');
      return { action: 'block', refusal: { code: 'MODEL_UNPRICED', model, provider }, reason: `unpriced model ${model}` };
    }

    const { maxTokens, setMaxTokens } = outputCeiling(call, ceiling, lookup, this.#defaultMaxTokens, reasons);
    const guarded = runawayGuard(this.#agents, st, task, worstCaseNanos(worstRatesNanos(lookup.price, inputTokens, cacheKind), inputTokens, maxTokens), now);
    if (guarded !== undefined) return this.#refuse(call, st, model, guarded);

    const a: Admission = { call, st, task, format, cacheKind, priceOf, model, lookup, maxTokens, setMaxTokens, scopes: this.#agents.scopesFor(st, task), reasons, savedRatio };
    if (a.scopes.length === 0) return this.#admitted(a, null, undefined);
    if (this.#guard.isDown(now)) return this.#ledgerDown(a, undefined);
    try {
      return await this.#budget(a, inputTokens);
    } catch (err) {
      return this.#ledgerDown(a, err);
    }
  }

  /** The budget step: reserve the worst case on every capped scope; downgrade or refuse when it does not fit. Throws when the ledger fails. */
  async #budget(a: Admission, fastInputTokens: number): Promise<GateDecision> {
    const { result, inputTokens, estimate } = await this.#reserve(a, fastInputTokens);
    if (result.ok) {
      // A local hold the ledger answered by itself (failure=open) is settled through it.
      if (result.unchecked === true) return this.#ledgerDown(a, undefined, result.reservation);
      this.#agents.noteRoom(a.st, a.scopes, result.remainingNanos);
      return this.#admitted(a, result.reservation, minRemaining(result.remainingNanos));
    }
    if (a.st.onExceed === 'downgrade' && a.call.operation !== 'embeddings') {
      const down = await downgrade(this.#guard, this.#config, { ...a, provider: a.call.provider, inputTokens });
      if (down !== undefined) return this.#downgraded(a, down, result.scope.scope, estimate, inputTokens);
    }
    return this.#refuse(a.call, a.st, a.model, budgetRefusal(result, a.st.name, a.task, estimate));
  }

  /** The decision for a call admitted by a downgrade (a cheaper model, a lower max_tokens, or both). */
  #downgraded(a: Admission, down: Downgraded, scope: string, estimate: number, inputTokens: number): GateDecision {
    const reasons = a.reasons;
    let savedRatio = a.savedRatio;
    if (down.model !== a.model) {
      reasons.push(`budget ${scope}: model ${a.model} -> ${down.model}`);
      const ratio = estimate / Math.max(1, worstCaseNanos(down.rates, inputTokens, down.maxTokens)) - 1;
      savedRatio = (1 + savedRatio) * (1 + Math.max(0, ratio)) - 1;
    }
    const clamped = down.maxTokens !== a.maxTokens;
    if (clamped) reasons.push(`budget ${scope}: max_tokens ${a.maxTokens} -> ${down.maxTokens}`);
    this.#agents.noteRoom(a.st, a.scopes, down.reserved.remainingNanos);
    const moved: Admission = { ...a, model: down.model, maxTokens: down.maxTokens, setMaxTokens: clamped || a.setMaxTokens, savedRatio };
    return this.#admitted(moved, down.reserved.reservation, minRemaining(down.reserved.remainingNanos), clamped);
  }

  /**
   * Reserves the call's worst case: priced with the exact input count up front when the input
   * is a noticeable share of the room known to be left, else with the fast bound and, when that
   * does not fit, again with the exact count; then, with the wait option, waits for in-flight
   * holds when only they stand in the way. Throws when the ledger fails.
   */
  async #reserve(a: Admission, fastInputTokens: number): Promise<{ result: ReserveResult; inputTokens: number; estimate: number }> {
    const { st, scopes, lookup, cacheKind, maxTokens } = a;
    let inputTokens = fastInputTokens;
    let rates = worstRatesNanos(lookup.price, inputTokens, cacheKind);
    let estimate = worstCaseNanos(rates, inputTokens, maxTokens);
    const recount = (): boolean => {
      const counted = this.#exactInput(a.format, a.call.body, inputTokens);
      if (counted >= inputTokens) return false;
      inputTokens = counted;
      rates = worstRatesNanos(lookup.price, inputTokens, cacheKind);
      estimate = worstCaseNanos(rates, inputTokens, maxTokens);
      return true;
    };
    // The input's share of the room left is noticeable: price it with the exact count (cached
    // per message, well under a millisecond) so a burst does not hold far more than it costs.
    const exact = inputTokens * rates.input >= this.#exactShare * this.#agents.knownRoom(st, scopes);
    if (exact) recount();
    let result = await this.#guard.reserve(scopes, estimate);
    // The fast bound did not fit: count exactly (cached per message) and try again if it helps.
    if (!result.ok && !exact && recount()) result = await this.#guard.reserve(scopes, estimate);
    if (!result.ok && st.waitMs > 0 && result.spentNanos + estimate <= result.scope.limitNanos!) {
      // Refused only because of other calls' in-flight holds: wait for them to settle (bounded),
      // then decide on what is settled.
      result = await this.#waiters.wait(st.name, scopes, estimate, st.waitMs, result);
    }
    return { result, inputTokens, estimate };
  }

  /** Settles a call with its real cost; reports the room left after it. */
  complete(ticket: unknown, outcome: CallOutcome): CallSettlement | undefined {
    const t = ticket as Ticket | undefined;
    if (t === undefined || t === null || t.done) return undefined;
    t.done = true;
    try {
      const nanos = this.#chargeNanos(outcome, t);
      const settled = roomAfter(t, nanos);
      const cost = nanosToUsd(nanos);
      t.state.rate?.add(this.#now(), cost);
      if (t.savedRatio > 0 && t.savedModelAttrs !== null && cost > 0) this.#saved.add(cost * t.savedRatio, t.savedModelAttrs);
      if (t.reservation !== null) this.#guard.settle(t.reservation, nanos);
      else if (t.scopes.length > 0 && nanos > 0) {
        // Admitted without a hold (ledger down, failure=open): the cost still counts.
        this.#guard.record(t.scopes, nanos);
      }
      return settled;
    } catch (err) {
      this.#warnOnce('complete', 'tollgate: budget policy failed to settle a call', err);
      return undefined;
    }
  }

  /** Releases a call that failed before it cost anything; reports the room left after it. */
  abort(ticket: unknown): CallSettlement | undefined {
    const t = ticket as Ticket | undefined;
    if (t === undefined || t === null || t.done) return undefined;
    t.done = true;
    if (t.reservation === null) return undefined;
    try {
      this.#guard.release(t.reservation);
    } catch (err) {
      this.#warnOnce('abort', 'tollgate: budget policy failed to release a call', err);
    }
    return roomAfter(t, 0);
  }

  /** Feeds `taskUsd: 'auto'`: the cost of a task that completed. */
  observeCompletedTask(task: { readonly type?: string | undefined; readonly costUsd: number }): void {
    this.#medians.observe(task.type, task.costUsd);
  }

  /** The current `auto` cap of a task type in USD, or undefined while too few tasks completed. */
  autoTaskCapUsd(type: string | undefined): number | undefined {
    return this.#medians.capUsd(type);
  }

  /**
   * Adds spend that did not go through admit (priced from another instrumentation's span):
   * charged to the agent's scopes and the task, with no reservation.
   */
  async recordForeign(spend: { readonly agent?: string | undefined; readonly task?: TaskInfo | undefined; readonly costUsd: number }): Promise<void> {
    if (!(spend.costUsd > 0) || !Number.isFinite(spend.costUsd)) return;
    const now = this.#now();
    const agent = spend.agent ?? this.#config.agent;
    const st = this.#agents.get(agent, now);
    const nanos = boundedNanos(usdToNanos(spend.costUsd));
    st.rate?.add(now, nanosToUsd(nanos));
    const scopes = this.#agents.scopesFor(st, spend.task);
    if (scopes.length === 0) return;
    this.#guard.record(scopes, nanos);
    await Promise.resolve();
  }

  /** An agent's budgets and whether it is blocked (until its window resets). */
  getAgentStatus(agent: string): Promise<AgentStatus> {
    const now = this.#now();
    return agentStatus(this.#guard, this.#agents.get(agent, now), now);
  }

  /** Spend writes the ledger buffered while it was away (0 in normal operation). */
  get pendingWrites(): number {
    return this.#guard.pendingWrites;
  }

  /** Waits for writes in flight and asks the ledger to write what it buffered; resolves with how many are still buffered. */
  flush(): Promise<number> {
    return this.#guard.flush();
  }

  /** Ends waits in progress and writes what can be written. Does not close the ledger. */
  async close(): Promise<void> {
    this.#waiters.close();
    await this.#guard.flush();
  }

  // --- internals ---

  /** Admits the call: a ticket for complete / abort, and `allow` or `rewrite` with what changed. */
  #admitted(a: Admission, reservation: Reservation | null, remainingNanos: number | undefined, budgetClamped = false): GateDecision {
    const { call, model } = a;
    const maxTokens = a.setMaxTokens ? a.maxTokens : undefined;
    const savedModelAttrs = a.savedRatio > 0 ? { [ATTR_GEN_AI_AGENT_NAME]: a.st.name, [ATTR_GEN_AI_REQUEST_MODEL]: model, [ATTR_SAVING_KIND]: 'routing' } : null;
    const ticket: Ticket = { reservation, scopes: a.scopes, state: a.st, savedRatio: a.savedRatio, savedModelAttrs, done: false };
    // Setting a ceiling on a call that had none is an `allow` with maxTokens (GateDecision);
    // lowering the caller's value, or clamping for budget, is a rewrite.
    const changedTokens = maxTokens !== undefined && maxTokens !== call.maxTokens && (call.maxTokens !== undefined || budgetClamped);
    const rewrite = model !== call.model || changedTokens;
    if (remainingNanos !== undefined) ticket.roomNanos = remainingNanos;
    return {
      action: rewrite ? 'rewrite' : 'allow',
      ...(model !== call.model ? { model } : {}),
      ...(maxTokens !== undefined && maxTokens !== call.maxTokens ? { maxTokens } : {}),
      ...(a.reasons.length > 0 ? { reason: a.reasons.join('; ') } : {}),
      ticket,
      ...(remainingNanos !== undefined ? { remainingUsd: nanosToUsd(remainingNanos) } : {}),
    };
  }

  /** Refuses the call: counted, reported to `onBudgetExceeded`, and (agent-wide scopes) the agent marked blocked until the window resets. */
  #refuse(call: CallDescription, st: AgentState, model: string, refused: Refused): GateDecision {
    const { refusal, blockedUntil } = refused;
    this.#countBlock(st.name, model, refusal.scope);
    // Task-level refusals leave the agent free; agent-wide and shared scopes block it until they reset.
    if (blockedUntil !== undefined && !refusal.scope.startsWith('task')) {
      if (blockedUntil > st.blockedUntil || st.blockedUntil <= this.#now()) {
        st.blockedUntil = blockedUntil;
        st.blockedScope = refusal.scope;
      }
    }
    if (this.#onExceeded !== undefined) {
      try {
        this.#onExceeded({ error: refusalError(refusal), agent: st.name, call });
      } catch (err) {
        this.#warnOnce('onBudgetExceeded', 'tollgate: the onBudgetExceeded callback threw', err);
      }
    }
    return { action: 'block', refusal, reason: `budget ${refusal.scope} exceeded` };
  }

  #countBlock(agent: string, model: string, scope: string): void {
    this.#blocked.add(1, { [ATTR_GEN_AI_AGENT_NAME]: agent, [ATTR_GEN_AI_REQUEST_MODEL]: model, [ATTR_BUDGET_SCOPE]: scope });
  }

  /**
   * The ledger failed (`err`), is in its fail-fast window (no `err`), or answered with a hold it
   * took without checking (`unchecked`, failure=open): admitted unchecked, or refused (failure=closed).
   */
  #ledgerDown(a: Admission, err: unknown, unchecked?: Reservation): GateDecision {
    if (err !== undefined) {
      this.#guard.markDown();
      this.#warnOnce('ledger-down', `tollgate: ledger ${this.#guard.description} unavailable (failure policy: ${this.#config.ledgerFailure})`, err);
    }
    if (this.#config.ledgerFailure === 'open' || unchecked !== undefined) {
      a.reasons.push('ledger unavailable: admitted unchecked (failure=open)');
      // A local hold the ledger answered by itself is settled through it (it records the cost).
      return this.#admitted({ ...a, savedRatio: 0 }, unchecked ?? null, undefined);
    }
    const refusal: LedgerRefusal =
      err instanceof LedgerUnavailableError
        ? { code: 'LEDGER_UNAVAILABLE', ledger: err.ledger, reason: err.reason, cause: err.cause }
        : { code: 'LEDGER_UNAVAILABLE', ledger: this.#guard.description, reason: err === undefined ? 'failed recently; retrying shortly' : errorMessage(err), cause: err };
    this.#countBlock(a.st.name, a.model, 'ledger.unavailable');
    return { action: 'block', refusal, reason: 'ledger unavailable (failure=closed)' };
  }

  #exactInput(format: 'openai' | 'anthropic', body: unknown, upperBound: number): number {
    const n = this.#estimator.count(format, body);
    return format === 'anthropic' ? Math.min(upperBound, Math.ceil(n * ANTHROPIC_COUNT_MARGIN)) : n;
  }

  /**
   * What a completed call is charged, nano-USD: its cost, bounded (MAX_CHARGE_NANOS). A cost that
   * is not a number >= 0 (an absurd or broken usage report) is never charged as $0: the call's
   * hold (its admitted worst case) is charged instead, and the fault reported.
   */
  #chargeNanos(outcome: CallOutcome, t: Ticket): number {
    const usd = outcome.costUsd;
    if (usd >= 0 && Number.isFinite(usd)) {
      const nanos = boundedNanos(usdToNanos(usd));
      if (nanos === MAX_CHARGE_NANOS) this.#warnOnce('absurd-cost', `tollgate: a call of ${outcome.model} reported a cost of $${usd}; charged the bound $${nanosToUsd(MAX_CHARGE_NANOS)}`);
      return nanos;
    }
    const held = t.reservation?.amountNanos ?? 0;
    const nanos = usd === Infinity ? MAX_CHARGE_NANOS : held;
    this.#warnOnce(`bad-cost:${String(usd)}`, `tollgate: a call of ${outcome.model} reported a cost of ${String(usd)} USD; charged $${nanosToUsd(nanos)} (${usd === Infinity ? 'the bound' : 'its reservation'})`);
    return nanos;
  }

  /** Warns once per key and policy (internal/warn-once.ts). */
  #warnOnce(key: string, message: string, err?: unknown): void {
    this.#warnings.warn(key, err === undefined ? message : `${message}: ${errorMessage(err)}`);
  }
}

/**
 * The room left in the tightest capped scope once a call cost `nanos`: the room there was with
 * its hold taken, plus the hold (which settle replaces), minus the cost; never below 0. Worked
 * out from the reservation, so it needs no second ledger read; concurrent calls of the same
 * agent may have moved the counters since, as they may between any read and the span.
 */
function roomAfter(t: Ticket, nanos: number): CallSettlement | undefined {
  if (t.roomNanos === undefined || t.reservation === null) return undefined;
  return { remainingUsd: nanosToUsd(Math.max(0, t.roomNanos + t.reservation.amountNanos - nanos)) };
}

function minRemaining(remaining: readonly (number | null)[]): number | undefined {
  let min: number | undefined;
  for (const r of remaining) if (r !== null && (min === undefined || r < min)) min = r;
  return min;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
