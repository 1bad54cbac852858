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
 *     floor), then walk the model ladder; else block with BudgetExceededError.
 */
import { context, diag, metrics, trace, type Attributes, type Counter, type Meter, type ObservableGauge } from '@opentelemetry/api';
import type { TollgateConfig } from '../config/types.ts';
import type { TaskInfo } from '../context.ts';
import { LedgerUnavailableError, refusalError, type BudgetExceededError, type BudgetRefusal, type LedgerRefusal } from '../errors.ts';
import type { CallDescription, CallGate, CallOutcome, CallSettlement, GateDecision } from '../gate.ts';
import { boundedNanos, nanosToUsd, MAX_CHARGE_NANOS, NANOS_PER_USD, type BudgetScope, type Ledger, type Reservation, type ReserveResult } from '../ledger/types.ts';
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
import { affordableOutputTokens, cacheWriteKind, hasImages, hasTools, worstCaseNanos, worstRatesNanos, type TokenRatesNanos } from './estimate.ts';
import { AgentStates, type AgentState } from './agents.ts';
import { LedgerGuard } from './ledger-guard.ts';
import { TaskCostMedians } from './median.ts';
import { builtinRoute, ruleMatches, type RouteFunction, type RouteInput } from './routing.ts';
import { RoomWaiters } from './waiters.ts';

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

/** One budget of an agent, as read from the ledger. */
export interface AgentBudget {
  readonly scope: string;
  readonly limitUsd: number;
  readonly spentUsd: number;
  readonly reservedUsd: number;
  /** limit - spent - reserved, never below 0. */
  readonly remainingUsd: number;
  readonly resetAt: string | null;
}

/** An agent's standing, for dashboards and escalation. */
export interface AgentStatus {
  readonly agent: string;
  /** A call of the agent was refused by an agent-wide budget (or a budget is full) and its window has not reset yet. */
  readonly blocked: boolean;
  readonly blockedScope: string | null;
  /** When the blocking window resets (ISO), or null when it never does or nothing blocks. */
  readonly blockedUntil: string | null;
  readonly budgets: readonly AgentBudget[];
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

/** A task named by nothing but the trace: without `withTask`, a task is the trace. */
function traceTask(): TaskInfo | undefined {
  const sc = trace.getSpanContext(context.active());
  return sc === undefined || !trace.isSpanContextValid(sc) ? undefined : { id: `trace:${sc.traceId}` };
}

interface Candidate {
  readonly model: string;
  readonly rates: TokenRatesNanos;
  readonly maxTokens: number;
  readonly nanos: number;
}

/** The budget policy: a {@link CallGate}. */
export class BudgetPolicy implements CallGate {
  readonly #config: TollgateConfig;
  readonly #guard: LedgerGuard;
  readonly #prices: PriceTable;
  readonly #estimator: InputEstimator;
  readonly #now: () => number;
  readonly #route: RouteFunction | undefined;
  readonly #onExceeded: ((event: BudgetExceededEvent) => void) | undefined;
  readonly #defaultMaxTokens: number;
  readonly #exactShare: number;
  readonly #medians: TaskCostMedians;
  readonly #agents: AgentStates;
  readonly #waiters: RoomWaiters;
  readonly #blocked: Counter;
  readonly #saved: Counter;
  readonly #utilization: ObservableGauge;
  readonly #hasRouting: boolean;
  #warned = new Set<string>();

  constructor(options: BudgetPolicyOptions) {
    this.#config = options.config;
    this.#prices = options.prices;
    this.#estimator = options.estimator;
    this.#now = options.now ?? Date.now;
    this.#route = options.route;
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
    this.#hasRouting = options.route !== undefined || options.config.routes.length > 0 || options.config.builtinRoutes;
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
      if (this.#hasRouting) return undefined;
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
    const agent = call.agent ?? this.#config.agent;
    const st = this.#agents.get(agent, now);
    const task = call.task ?? (st.limits.taskUsd !== undefined || st.limits.maxAttemptsPerTask !== undefined ? traceTask() : undefined);
    const provider = call.provider;
    const body = call.body;
    const chat = call.operation !== 'embeddings';

    const format = provider === 'anthropic' ? 'anthropic' : 'openai';
    let inputTokens = this.#estimator.upperBound(format, body);
    const ceiling = st.limits.maxTokens;
    const reasons: string[] = [];
    let model = call.model;
    // Reserve at the highest price in force while the call may run: a dated price or a time-of-day
    // window (DeepSeek's) can start mid-call. On the service tier the body asks for.
    const tier = typeof body['service_tier'] === 'string' ? body['service_tier'] : undefined;
    const priceOf = (m: string): PriceLookup => this.#prices.lookupDuring(m, provider, now, now + MAX_CALL_DURATION_MS, tier);
    let lookup = priceOf(model);
    const cacheKind = provider === 'anthropic' ? cacheWriteKind(body) : 'none';

    // Routing, before the budget check.
    let savedRatio = 0;
    if (this.#hasRouting && chat) {
      const askedTokens = call.maxTokens !== undefined && ceiling !== undefined ? Math.min(call.maxTokens, ceiling) : (call.maxTokens ?? ceiling);
      const routed = this.#routeCall(call, agent, task, inputTokens, askedTokens);
      if (routed !== undefined && routed.model !== model) {
        const to = priceOf(routed.model);
        if (to.source === 'fallback' && this.#config.unknownModel === 'block') {
          this.#warnOnce(`route-unpriced:${routed.model}`, `tollgate: route ${routed.rule} names unpriced model ${routed.model}; not routing`);
        } else {
          const out = askedTokens ?? this.#defaultMaxTokens;
          const before = worstCaseNanos(worstRatesNanos(lookup.price, inputTokens, cacheKind), inputTokens, out);
          const after = worstCaseNanos(worstRatesNanos(to.price, inputTokens, cacheKind), inputTokens, out);
          if (after > 0 && before > after) savedRatio = before / after - 1;
          reasons.push(`route ${routed.rule}: ${model} -> ${routed.model}`);
          model = routed.model;
          lookup = to;
        }
      }
    }

    if (lookup.source === 'fallback' && this.#config.unknownModel === 'block') {
      this.#countBlock(agent, model, 'model.unpriced');
      return { action: 'block', refusal: { code: 'MODEL_UNPRICED', model, provider }, reason: `unpriced model ${model}` };
    }

    const { maxTokens, setMaxTokens } = this.#outputCeiling(call, ceiling, lookup, chat, reasons);

    let rates = worstRatesNanos(lookup.price, inputTokens, cacheKind);
    let estimate = worstCaseNanos(rates, inputTokens, maxTokens);

    const guarded = this.#runawayGuards(call, st, task, model, estimate, now);
    if (guarded !== undefined) return guarded;

    // Budgets.
    const scopes = this.#agents.scopesFor(st, task);
    const modelAttrs = savedRatio > 0 ? { [ATTR_GEN_AI_AGENT_NAME]: agent, [ATTR_GEN_AI_REQUEST_MODEL]: model, [ATTR_SAVING_KIND]: 'routing' } : null;
    if (scopes.length === 0) {
      const ticket: Ticket = { reservation: null, scopes, state: st, savedRatio, savedModelAttrs: modelAttrs, done: false };
      return this.#decision(call, model, setMaxTokens ? maxTokens : undefined, reasons, ticket, undefined);
    }

    if (this.#guard.isDown(now)) return this.#ledgerDown(call, st, model, scopes, setMaxTokens ? maxTokens : undefined, reasons, undefined);
    let result: ReserveResult;
    try {
      ({ result, inputTokens, rates, estimate } = await this.#reserve(st, scopes, call, format, lookup, cacheKind, inputTokens, maxTokens));
      if (result.ok && result.unchecked === true) {
        return this.#ledgerDown(call, st, model, scopes, setMaxTokens ? maxTokens : undefined, reasons, undefined, result.reservation);
      }
      if (!result.ok && st.onExceed === 'downgrade' && chat) {
        const down = await this.#downgrade(scopes, provider, model, inputTokens, maxTokens, cacheKind, priceOf);
        if (down !== undefined) {
          const [cand, res] = down;
          if (cand.model !== model) {
            reasons.push(`budget ${result.scope.scope}: model ${model} -> ${cand.model}`);
            const ratio = estimate / Math.max(1, worstCaseNanos(cand.rates, inputTokens, cand.maxTokens)) - 1;
            savedRatio = (1 + savedRatio) * (1 + Math.max(0, ratio)) - 1;
          }
          if (cand.maxTokens !== maxTokens) reasons.push(`budget ${result.scope.scope}: max_tokens ${maxTokens} -> ${cand.maxTokens}`);
          const newModel = cand.model;
          const attrs = savedRatio > 0 ? { [ATTR_GEN_AI_AGENT_NAME]: agent, [ATTR_GEN_AI_REQUEST_MODEL]: newModel, [ATTR_SAVING_KIND]: 'routing' } : null;
          const ticket: Ticket = { reservation: res.reservation, scopes, state: st, savedRatio, savedModelAttrs: attrs, done: false };
          this.#agents.noteRoom(st, scopes, res.remainingNanos);
          const tokens = cand.maxTokens !== maxTokens || setMaxTokens ? cand.maxTokens : undefined;
          return this.#decision(call, newModel, tokens, reasons, ticket, minRemaining(res.remainingNanos), cand.maxTokens !== maxTokens);
        }
      }
    } catch (err) {
      return this.#ledgerDown(call, st, model, scopes, setMaxTokens ? maxTokens : undefined, reasons, err);
    }

    if (!result.ok) {
      const s = result.scope;
      return this.#refuse(
        call,
        st,
        model,
        {
          code: 'BUDGET_EXCEEDED',
          scope: s.scope,
          agent,
          taskId: task?.id ?? null,
          limitUsd: s.limitNanos === null ? 0 : nanosToUsd(s.limitNanos),
          spentUsd: nanosToUsd(result.spentNanos),
          reservedUsd: nanosToUsd(result.reservedNanos),
          estimatedUsd: nanosToUsd(estimate),
          resetAt: s.resetAt === null ? null : new Date(s.resetAt).toISOString(),
        },
        s.resetAt ?? Infinity,
      );
    }
    this.#agents.noteRoom(st, scopes, result.remainingNanos);
    const ticket: Ticket = { reservation: result.reservation, scopes, state: st, savedRatio, savedModelAttrs: modelAttrs, done: false };
    return this.#decision(call, model, setMaxTokens ? maxTokens : undefined, reasons, ticket, minRemaining(result.remainingNanos));
  }

  /**
   * Output ceiling: the call's (capped by the configured ceiling); with none, the ceiling, else
   * the model's own output limit, else DEFAULT_MAX_TOKENS set on the call (`setMaxTokens`).
   */
  #outputCeiling(call: CallDescription, ceiling: number | undefined, lookup: PriceLookup, chat: boolean, reasons: string[]): { maxTokens: number; setMaxTokens: boolean } {
    let maxTokens: number;
    let setMaxTokens = false;
    if (!chat) maxTokens = 0;
    else if (call.maxTokens !== undefined) {
      maxTokens = ceiling !== undefined && call.maxTokens > ceiling ? ceiling : call.maxTokens;
      if (maxTokens !== call.maxTokens) {
        setMaxTokens = true;
        reasons.push(`max_tokens ceiling ${ceiling}`);
      }
    } else if (ceiling !== undefined) {
      maxTokens = ceiling;
      setMaxTokens = true;
    } else if (lookup.price.maxOutputTokens !== undefined && lookup.source !== 'fallback') {
      maxTokens = lookup.price.maxOutputTokens;
    } else {
      maxTokens = this.#defaultMaxTokens;
      setMaxTokens = true;
    }
    return { maxTokens, setMaxTokens };
  }

  /** Runaway-loop guards: attempts per task, USD per minute per agent. A refusal, or undefined. */
  #runawayGuards(call: CallDescription, st: AgentState, task: TaskInfo | undefined, model: string, estimate: number, now: number): GateDecision | undefined {
    const agent = st.name;
    if (task !== undefined && st.limits.maxAttemptsPerTask !== undefined) {
      const attempts = this.#agents.bumpAttempts(agent, task.id);
      if (attempts > st.limits.maxAttemptsPerTask) {
        return this.#refuse(
          call,
          st,
          model,
          {
            code: 'BUDGET_EXCEEDED',
            scope: 'task.attempts',
            agent,
            taskId: task.id,
            limitUsd: 0,
            spentUsd: 0,
            reservedUsd: 0,
            estimatedUsd: nanosToUsd(estimate),
            resetAt: null,
            guard: { kind: 'attempts', calls: attempts, max: st.limits.maxAttemptsPerTask },
          },
        );
      }
    }
    if (st.rate !== null && st.limits.rateUsdPerMinute !== undefined) {
      const spent = st.rate.lastMinuteUsd(now);
      if (spent >= st.limits.rateUsdPerMinute) {
        const until = st.rate.belowAt(now, st.limits.rateUsdPerMinute);
        return this.#refuse(
          call,
          st,
          model,
          {
            code: 'BUDGET_EXCEEDED',
            scope: 'agent.rate',
            agent,
            taskId: task?.id ?? null,
            limitUsd: st.limits.rateUsdPerMinute,
            spentUsd: spent,
            reservedUsd: 0,
            estimatedUsd: nanosToUsd(estimate),
            resetAt: new Date(until).toISOString(),
            guard: { kind: 'rate' },
          },
          until,
        );
      }
    }
    return undefined;
  }

  /**
   * Reserves the call's worst case: priced with the exact input count up front when the input
   * is a noticeable share of the room known to be left, else with the fast bound and, when that
   * does not fit, again with the exact count; then, with the wait option, waits for in-flight
   * holds when only they stand in the way. Throws when the ledger fails.
   */
  async #reserve(
    st: AgentState,
    scopes: readonly BudgetScope[],
    call: CallDescription,
    format: 'openai' | 'anthropic',
    lookup: PriceLookup,
    cacheKind: 'none' | '5m' | '1h',
    inputTokens: number,
    maxTokens: number,
  ): Promise<{ result: ReserveResult; inputTokens: number; rates: TokenRatesNanos; estimate: number }> {
    const body = call.body;
    let rates = worstRatesNanos(lookup.price, inputTokens, cacheKind);
    let estimate = worstCaseNanos(rates, inputTokens, maxTokens);
    let exact = false;
    if (inputTokens * rates.input >= this.#exactShare * this.#agents.knownRoom(st, scopes)) {
      // The input's share of the room left is noticeable: price it with the exact count (cached
      // per message, well under a millisecond) so a burst does not hold far more than it costs.
      const counted = this.#exactInput(format, body, inputTokens);
      exact = true;
      if (counted < inputTokens) {
        inputTokens = counted;
        rates = worstRatesNanos(lookup.price, inputTokens, cacheKind);
        estimate = worstCaseNanos(rates, inputTokens, maxTokens);
      }
    }
    let result = await this.#guard.reserve(scopes, estimate);
    if (!result.ok && !exact) {
      // The fast bound did not fit: count exactly (cached per message) and try again if it helps.
      const counted = this.#exactInput(format, body, inputTokens);
      if (counted < inputTokens) {
        inputTokens = counted;
        rates = worstRatesNanos(lookup.price, inputTokens, cacheKind);
        estimate = worstCaseNanos(rates, inputTokens, maxTokens);
        result = await this.#guard.reserve(scopes, estimate);
      }
    }
    if (!result.ok && st.waitMs > 0 && result.spentNanos + estimate <= result.scope.limitNanos!) {
      // Refused only because of other calls' in-flight holds: wait for them to settle (bounded),
      // then decide on what is settled.
      result = await this.#waiters.wait(st.name, scopes, estimate, st.waitMs, result);
    }
    return { result, inputTokens, rates, estimate };
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
    const nanos = boundedNanos(spend.costUsd * NANOS_PER_USD);
    st.rate?.add(now, nanosToUsd(nanos));
    const scopes = this.#agents.scopesFor(st, spend.task);
    if (scopes.length === 0) return;
    this.#guard.record(scopes, nanos);
    await Promise.resolve();
  }

  /** An agent's budgets and whether it is blocked (until its window resets). */
  async getAgentStatus(agent: string): Promise<AgentStatus> {
    const now = this.#now();
    const st = this.#agents.get(agent, now);
    const scopes = st.scopes;
    const spends = scopes.length === 0 ? [] : await this.#guard.spent(scopes);
    const budgets: AgentBudget[] = scopes.map((s, i) => {
      const sp = spends[i] ?? { spentNanos: 0, reservedNanos: 0 };
      const limit = s.limitNanos ?? 0;
      return {
        scope: s.scope,
        limitUsd: nanosToUsd(limit),
        spentUsd: nanosToUsd(sp.spentNanos),
        reservedUsd: nanosToUsd(sp.reservedNanos),
        remainingUsd: nanosToUsd(Math.max(0, limit - sp.spentNanos - sp.reservedNanos)),
        resetAt: s.resetAt === null ? null : new Date(s.resetAt).toISOString(),
      };
    });
    let blockedScope: string | null = null;
    let until: number | null = null;
    if (st.blockedUntil > now) {
      blockedScope = st.blockedScope;
      until = Number.isFinite(st.blockedUntil) ? st.blockedUntil : null;
    } else {
      const full = budgets.findIndex((b) => b.remainingUsd <= 0);
      if (full >= 0) {
        blockedScope = budgets[full]!.scope;
        until = scopes[full]!.resetAt;
      }
    }
    return {
      agent,
      blocked: blockedScope !== null,
      blockedScope,
      blockedUntil: until === null ? null : new Date(until).toISOString(),
      budgets,
    };
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

  #decision(
    call: CallDescription,
    model: string,
    maxTokens: number | undefined,
    reasons: string[],
    ticket: Ticket,
    remainingNanos: number | undefined,
    budgetClamped = false,
  ): GateDecision {
    // Setting a ceiling on a call that had none is an `allow` with maxTokens (GateDecision);
    // lowering the caller's value, or clamping for budget, is a rewrite.
    const changedTokens = maxTokens !== undefined && maxTokens !== call.maxTokens && (call.maxTokens !== undefined || budgetClamped);
    const rewrite = model !== call.model || changedTokens;
    if (remainingNanos !== undefined) ticket.roomNanos = remainingNanos;
    return {
      action: rewrite ? 'rewrite' : 'allow',
      ...(model !== call.model ? { model } : {}),
      ...(maxTokens !== undefined && maxTokens !== call.maxTokens ? { maxTokens } : {}),
      ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}),
      ticket,
      ...(remainingNanos !== undefined ? { remainingUsd: nanosToUsd(remainingNanos) } : {}),
    };
  }

  #refuse(call: CallDescription, st: AgentState, model: string, details: BudgetRefusal, blockedUntil?: number): GateDecision {
    this.#countBlock(st.name, model, details.scope);
    // Task-level refusals leave the agent free; agent-wide and shared scopes block it until they reset.
    if (blockedUntil !== undefined && !details.scope.startsWith('task')) {
      if (blockedUntil > st.blockedUntil || st.blockedUntil <= this.#now()) {
        st.blockedUntil = blockedUntil;
        st.blockedScope = details.scope;
      }
    }
    if (this.#onExceeded !== undefined) {
      try {
        this.#onExceeded({ error: refusalError(details), agent: st.name, call });
      } catch (err) {
        this.#warnOnce('onBudgetExceeded', 'tollgate: the onBudgetExceeded callback threw', err);
      }
    }
    return { action: 'block', refusal: details, reason: `budget ${details.scope} exceeded` };
  }

  #countBlock(agent: string, model: string, scope: string): void {
    this.#blocked.add(1, { [ATTR_GEN_AI_AGENT_NAME]: agent, [ATTR_GEN_AI_REQUEST_MODEL]: model, [ATTR_BUDGET_SCOPE]: scope });
  }

  #ledgerDown(
    call: CallDescription,
    st: AgentState,
    model: string,
    scopes: readonly BudgetScope[],
    maxTokens: number | undefined,
    reasons: string[],
    err: unknown,
    unchecked?: Reservation,
  ): GateDecision {
    if (err !== undefined) {
      this.#guard.markDown();
      this.#warnOnce('ledger-down', `tollgate: ledger ${this.#guard.description} unavailable (failure policy: ${this.#config.ledgerFailure})`, err);
    }
    if (this.#config.ledgerFailure === 'open' || unchecked !== undefined) {
      reasons.push('ledger unavailable: admitted unchecked (failure=open)');
      // A local hold the ledger answered by itself is settled through it (it records the cost).
      const ticket: Ticket = { reservation: unchecked ?? null, scopes, state: st, savedRatio: 0, savedModelAttrs: null, done: false };
      return this.#decision(call, model, maxTokens, reasons, ticket, undefined);
    }
    const refusal: LedgerRefusal =
      err instanceof LedgerUnavailableError
        ? { code: 'LEDGER_UNAVAILABLE', ledger: err.ledger, reason: err.reason, cause: err.cause }
        : { code: 'LEDGER_UNAVAILABLE', ledger: this.#guard.description, reason: err === undefined ? 'failed recently; retrying shortly' : errorMessage(err), cause: err };
    this.#countBlock(st.name, model, 'ledger.unavailable');
    return { action: 'block', refusal, reason: 'ledger unavailable (failure=closed)' };
  }

  /** Clamp max_tokens on the current model, then walk the ladder; first candidate that reserves wins. */
  async #downgrade(
    scopes: readonly BudgetScope[],
    provider: string,
    model: string,
    inputTokens: number,
    maxTokens: number,
    cacheKind: 'none' | '5m' | '1h',
    priceOf: (model: string) => PriceLookup,
  ): Promise<[Candidate, Extract<ReserveResult, { ok: true }>] | undefined> {
    const spends = await this.#guard.spent(scopes);
    let room = Infinity;
    scopes.forEach((s, i) => {
      if (s.limitNanos === null) return;
      const sp = spends[i]!;
      room = Math.min(room, s.limitNanos - sp.spentNanos - sp.reservedNanos);
    });
    const floor = Math.min(this.#config.maxTokensFloor, maxTokens);
    const ladder = this.#config.ladders[provider];
    const models = [model];
    if (ladder !== undefined) {
      const at = ladder.indexOf(model);
      if (at >= 0) models.push(...ladder.slice(at + 1));
    }
    for (const m of models) {
      const lookup = priceOf(m);
      if (lookup.source === 'fallback' && this.#config.unknownModel === 'block') continue;
      const rates = worstRatesNanos(lookup.price, inputTokens, cacheKind);
      const tries: number[] = [];
      if (m !== model) tries.push(maxTokens);
      const afford = Math.min(affordableOutputTokens(rates, inputTokens, room), maxTokens);
      if (afford >= floor && afford < maxTokens) tries.push(afford);
      for (const tokens of tries) {
        const nanos = worstCaseNanos(rates, inputTokens, tokens);
        if (nanos > room) continue;
        const res = await this.#guard.reserve(scopes, nanos);
        if (res.ok) return [{ model: m, rates, maxTokens: tokens, nanos }, res];
      }
    }
    return undefined;
  }

  #routeCall(
    call: CallDescription,
    agent: string,
    task: TaskInfo | undefined,
    inputTokens: number,
    maxTokens: number | undefined,
  ): { model: string; rule: string } | undefined {
    const input: RouteInput = {
      provider: call.provider,
      operation: call.operation,
      model: call.model,
      agent,
      taskId: task?.id,
      taskType: task?.type,
      inputTokens,
      maxTokens,
      hasTools: hasTools(call.body),
      hasImages: hasImages(call.body),
      body: call.body,
    };
    if (this.#route !== undefined) {
      try {
        const m = this.#route(input);
        if (typeof m === 'string' && m.length > 0) return { model: m, rule: 'route()' };
      } catch (err) {
        this.#warnOnce('route', 'tollgate: the route function threw; routing skipped', err);
      }
    }
    for (const rule of this.#config.routes) if (ruleMatches(rule, input)) return { model: rule.model, rule: rule.name };
    if (this.#config.builtinRoutes) {
      const m = builtinRoute(input, this.#config.ladders[call.provider]);
      if (m !== undefined) return { model: m, rule: 'builtin small-prompt' };
    }
    return undefined;
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
      const nanos = boundedNanos(usd * NANOS_PER_USD);
      if (nanos === MAX_CHARGE_NANOS) this.#warnOnce('absurd-cost', `tollgate: a call of ${outcome.model} reported a cost of $${usd}; charged the bound $${nanosToUsd(MAX_CHARGE_NANOS)}`);
      return nanos;
    }
    const held = t.reservation?.amountNanos ?? 0;
    const nanos = usd === Infinity ? MAX_CHARGE_NANOS : held;
    this.#warnOnce(`bad-cost:${String(usd)}`, `tollgate: a call of ${outcome.model} reported a cost of ${String(usd)} USD; charged $${nanosToUsd(nanos)} (${usd === Infinity ? 'the bound' : 'its reservation'})`);
    return nanos;
  }

  #warnOnce(key: string, message: string, err?: unknown): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    diag.warn(err === undefined ? message : `${message}: ${errorMessage(err)}`);
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
