/**
 * CostSpanProcessor: prices the inference spans of any instrumentation, attributes
 * each call to an agent and a task, rolls spend up, and records the cost metrics.
 *
 * Spend totals never depend on span export (BatchSpanProcessor drops spans under
 * load): everything is read and written in `onStart` / `onEnding`, synchronously.
 *
 * ## Per-span cost
 * The hooks run for every span, so they do no more than they must: a span's
 * bookkeeping lives on the span (no table of open spans), each attribute is read
 * once, a task is one entry of one Map from start to eviction, rollups are integer
 * adds into accumulators found once per (agent, model, task type), and metric
 * attribute sets are built once per series and reused. What remains per priced
 * call is mostly the OTel SDK's own work for the outputs docs/telemetry.md lists: the
 * span attributes set here (each `setAttribute` is a validated keyed store) and
 * four metric records (the metrics SDK hashes the attribute set on every record).
 * `npm run bench -- processor` measures it.
 *
 * ## One call, two instrumentations (no double counting)
 * When two instrumentations trace the same call (tollgate's and e.g.
 * `@opentelemetry/instrumentation-openai`), their spans nest: whichever patched
 * last is the parent. Rule:
 * - inference spans nested (directly or through non-inference spans such as HTTP
 *   client spans) inside an open inference span form ONE call group;
 * - if a tollgate span (instrumentation scope starting with `tollgate`) is in the
 *   group, it is the one counted, already priced by the instrumentation; the others
 *   are neither priced nor counted;
 * - otherwise the outermost span of the group is counted; if it carries no usage
 *   (e.g. a stream the outer library did not measure), the usage of the nested span
 *   that had some is priced onto it.
 * An inference call never legitimately contains another inference call, so
 * nesting is taken as "the same call instrumented twice".
 *
 * Two instrumentations built on OTel's `InstrumentationBase` that patch the same
 * method (tollgate's and the official OpenAI one both patch
 * `Chat.Completions.prototype.create`) do not nest: its `_wrap` first unwraps any
 * wrapper already there, so the one enabled last replaces the other and each call
 * has one span (test/processor/foreign-double-count.test.ts). The nesting rule is
 * for wrappers that do layer (client wrappers, a second patch point).
 *
 * Metrics follow the counted span only; the GenAI client histograms are skipped
 * for spans whose instrumentation records them itself (SELF_METERED_SCOPES).
 */
import { metrics, SpanStatusCode, trace, type Attributes, type Context, type Meter, type MeterProvider } from '@opentelemetry/api';
import { hrTimeToMilliseconds, hrTimeToSeconds } from '@opentelemetry/core';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { agentFromBaggage, agentFromContext, taskFromBaggage, taskScopeFromContext, type TaskInfo, type TaskScope } from '../context.ts';
import { ConfigError } from '../errors.ts';
import type { ForeignSpend, SpendSink, TaskEnd } from '../gate.ts';
import { isThenable, str } from '../internal/values.ts';
import { warnOnce } from '../internal/warn-once.ts';
import { nanosToUsd, usdToNanos } from '../internal/money.ts';
import { computeCost, priceCall, writeCostAttributes } from '../pricing/index.ts';
import type { PriceTable, Usage } from '../pricing/types.ts';
import {
  ATTR_ATTEMPTS,
  ATTR_COST_SOURCE,
  ATTR_GEN_AI_OPENAI_REQUEST_SERVICE_TIER,
  ATTR_GEN_AI_OPENAI_RESPONSE_SERVICE_TIER,
  ATTR_OPENAI_REQUEST_SERVICE_TIER,
  ATTR_OPENAI_RESPONSE_SERVICE_TIER,
  ATTR_COST_USD,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_TASK_ATTEMPTS,
  ATTR_TASK_CALLS,
  ATTR_TASK_COST_USD,
  ATTR_TASK_ID,
  ATTR_TASK_TYPE,
  ERROR_TYPE_BUDGET_EXCEEDED,
  TOLLGATE_SCOPE_PREFIX,
} from '../semconv.ts';
import { isInferenceSpan, modelOf, operationOf, providerOf, readUsage } from './dialects.ts';
import { CostInstruments, defined } from './metrics.ts';
import {
  Acc,
  AccMap,
  AgentRollup,
  type Combo,
  ConvSeries,
  OTHER_KEY,
  TaskTable,
  type ComboBudget,
  utcDayEnd,
  utcDayStart,
  utcMonthEnd,
  utcMonthStart,
  type AgentSpend,
  type SpendReport,
  type SpendWindow,
  type TaskEntry,
  type WindowAcc,
} from './rollup.ts';

/** Options of {@link CostSpanProcessor}. Read once, at construction. */
export interface CostSpanProcessorOptions {
  /** The price table that prices spans arriving without a cost. */
  readonly prices: PriceTable;
  /**
   * Clock in epoch ms (the name every tollgate option uses); drives the UTC day / month windows
   * and task TTLs.
   * @default Date.now
   */
  readonly now?: () => number;
  /** @deprecated Use `now`; read only when `now` is not given. */
  readonly clock?: () => number;
  /** Meter for the cost metrics. Wins over `meterProvider`. */
  readonly meter?: Meter;
  /**
   * Meter provider for the cost metrics (meter `tollgate`).
   * @default the global meter provider
   */
  readonly meterProvider?: MeterProvider;
  /**
   * How long an ended task stays readable through getSpend.
   * @default 3_600_000 (one hour)
   */
  readonly taskTtlMillis?: number;
  /**
   * Cap on open tasks, and separately on ended tasks kept for getSpend.
   * @default 10_000
   */
  readonly maxTasks?: number;
  /**
   * Cap on distinct agents, and on models / task types per rollup; past it, new
   * keys share one `(other)` rollup.
   * @default 1_000
   */
  readonly maxKeys?: number;
  /**
   * The budget policy (any {@link SpendSink}) the processor reports back to: spend priced from
   * foreign spans (not tollgate's own, whose spend the policy settles itself) so it reaches the
   * ledger, and tasks as they end (the `auto` task cap). Pass the policy your instrumentations
   * use as their `gate`. `onForeignSpend` / `onTaskEnd`, when given, replace its methods.
   * @default none (spend is rolled up here only)
   */
  readonly policy?: SpendSink;
  /**
   * Called with spend priced from a foreign span. Runs synchronously in `onEnding`: keep it
   * O(1); errors are caught.
   * @default policy.recordForeign
   */
  readonly onForeignSpend?: (spend: ForeignSpend) => void;
  /**
   * Called once when a task that spent something ends (feeds the `auto` task cap).
   * @default policy.observeCompletedTask
   */
  readonly onTaskEnd?: (task: TaskEnd) => void;
  /**
   * Let inbound W3C baggage (`gen_ai.agent.name`) choose the agent. Off by default:
   * any caller can write baggage, so trusting it lets a caller pick whose budget is
   * charged. Turn on only behind a trust boundary.
   * @default false
   */
  readonly trustBaggageAgent?: boolean;
}

/** Per-span bookkeeping between onStart and onEnding. */
interface SpanState {
  /** Agent from withAgent (or trusted baggage) in the parent context. */
  readonly agent: string | undefined;
  /** The task of the span, when it is a task root or an inference span. */
  readonly task: TaskEntry | undefined;
  readonly explicitTask: TaskInfo | undefined;
  readonly isRoot: boolean;
  readonly inference: boolean;
  readonly tollgate: boolean;
  /** The outermost inference span state of the call group this span is in, if any. */
  call: SpanState | undefined;
  /** On a group's outermost state: a tollgate span is in the group. */
  hasTollgate: boolean;
  /** On a group's outermost state: a span of a SELF_METERED_SCOPES instrumentation is in the group. */
  hasSelfMetered: boolean;
  /** On a group's outermost state: attributes of a nested span that had usage. */
  stash: Attributes | undefined;
}

/** A span as the processor stores its bookkeeping on it, under the processor's own symbol. */
type Carrier = Record<symbol, SpanState | undefined>;

/**
 * Instrumentation scopes that record `gen_ai.client.token.usage` and
 * `gen_ai.client.operation.duration` themselves, for their own spans:
 * the processor records only `tollgate.*` metrics for those spans.
 */
const SELF_METERED_SCOPES: ReadonlySet<string> = new Set(['@opentelemetry/instrumentation-openai']);

const DEFAULT_TTL_MILLIS = 3_600_000;
const DEFAULT_MAX_TASKS = 10_000;
const DEFAULT_MAX_KEYS = 1_000;
/** Cached metric attribute sets: (agent, model, task type) combinations, and GenAI histogram series. */
const MAX_CACHED_COMBOS = 10_000;
const MAX_CACHED_SERIES = 4_096;

/**
 * Prices and attributes LLM call spans from any instrumentation, rolls spend up per
 * agent (UTC day / month), task, model and task type, and records cost metrics.
 * Place it BEFORE the export processor so exported spans carry the cost attributes.
 */
export class CostSpanProcessor implements SpanProcessor {
  private readonly prices: PriceTable;
  private readonly now: () => number;
  private readonly instruments: CostInstruments;
  private readonly onForeignSpend: ((spend: ForeignSpend) => void) | undefined;
  private readonly onTaskEnd: ((task: TaskEnd) => void) | undefined;
  private readonly trustBaggageAgent: boolean;
  private readonly maxKeys: number;

  /**
   * Where a span's bookkeeping lives between onStart and onEnding: a property of the
   * span itself, under a symbol of this processor (so two processors never share
   * it). No table of open spans: nothing to look up, nothing to cap, and a span
   * that never ends takes its bookkeeping with it when it is collected. (A WeakMap
   * would do the same, but ephemeron tables cost the GC far more per span.)
   */
  private readonly stateKey = Symbol('tollgate.cost-processor.state');
  private readonly tasks: TaskTable;
  private readonly seenScopes = new WeakSet<TaskScope>();
  private readonly agents = new Map<string, AgentRollup>();
  private lastAgent: string | undefined = undefined;
  private lastAgentRollup: AgentRollup | undefined = undefined;
  private readonly comboBudget: ComboBudget = { left: MAX_CACHED_COMBOS };
  private readonly series = new Map<string, ConvSeries>();
  private lastScope: unknown = undefined;
  private lastScopeTollgate = false;
  private lastScopeSelfMetered = false;

  private dayStart = -1;
  private dayEnd = -1;
  private monthStart = -1;
  private monthEnd = -1;
  private lastResource: unknown = undefined;
  private lastResourceAgent = 'unknown_service';
  private shutDown = false;

  constructor(options: CostSpanProcessorOptions) {
    if (options === null || typeof options !== 'object' || typeof options.prices?.lookup !== 'function') {
      throw new ConfigError('CostSpanProcessor options.prices', options?.prices, 'a PriceTable (createPriceTable() / defaultPriceTable())');
    }
    this.prices = options.prices;
    this.now = options.now ?? options.clock ?? Date.now;
    const meter = options.meter ?? (options.meterProvider ?? metrics.getMeterProvider()).getMeter(TOLLGATE_SCOPE_PREFIX);
    this.instruments = new CostInstruments(meter);
    const policy = options.policy;
    this.onForeignSpend = options.onForeignSpend ?? (policy === undefined ? undefined : foreignSpendTo(policy));
    this.onTaskEnd = options.onTaskEnd ?? (policy === undefined ? undefined : (task) => policy.observeCompletedTask(task));
    this.trustBaggageAgent = options.trustBaggageAgent === true;
    this.maxKeys = positive(options.maxKeys, DEFAULT_MAX_KEYS, 'maxKeys');
    this.tasks = new TaskTable(positive(options.maxTasks, DEFAULT_MAX_TASKS, 'maxTasks'), positive(options.taskTtlMillis, DEFAULT_TTL_MILLIS, 'taskTtlMillis'));
  }

  onStart(span: Span, parentContext: Context): void {
    if (this.shutDown) return;
    try {
      this.start(span, parentContext);
    } catch (err) {
      this.warnOnce('onStart', err);
    }
  }

  onEnding(span: Span): void {
    if (this.shutDown) return;
    try {
      this.ending(span);
    } catch (err) {
      this.warnOnce('onEnding', err);
    }
  }

  onEnd(_span: ReadableSpan): void {
    // Everything happens in onEnding, while the span can still be changed.
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.shutDown = true;
    return Promise.resolve();
  }

  /**
   * Spend so far. With `agent`: that agent only (its totals, windows, models and
   * task types). With `taskId`: also that task (a withTask / baggage id, or the
   * trace id of a task that is a trace), while it is in the table.
   */
  getSpend(query: { agent?: string; taskId?: string } = {}): SpendReport {
    const now = this.now();
    this.refreshWindows(now);
    const agents: Record<string, AgentSpend> = {};
    let report: Omit<SpendReport, 'task' | 'agents' | 'at'>;
    if (query.agent !== undefined) {
      const a = this.agents.get(query.agent);
      if (a !== undefined) agents[query.agent] = this.agentSnapshot(query.agent, a);
      report = a !== undefined
        ? { total: a.total.snapshot(), byModel: a.byModel.snapshot(), byTaskType: a.byTaskType.snapshot() }
        : { total: new Acc().snapshot(), byModel: {}, byTaskType: {} };
    } else {
      const total = new Acc();
      const byModel = new AccMap(Number.MAX_SAFE_INTEGER);
      const byTaskType = new AccMap(Number.MAX_SAFE_INTEGER);
      for (const [name, a] of this.agents) {
        agents[name] = this.agentSnapshot(name, a);
        total.merge(a.total);
        for (const [k, v] of a.byModel.map) byModel.get(k).merge(v);
        for (const [k, v] of a.byTaskType.map) byTaskType.get(k).merge(v);
      }
      report = { total: total.snapshot(), byModel: byModel.snapshot(), byTaskType: byTaskType.snapshot() };
    }
    const task = query.taskId !== undefined ? this.tasks.get(query.taskId)?.task() : undefined;
    return { at: new Date(now).toISOString(), ...report, agents, task };
  }

  /** Table sizes, to watch the memory bounds. */
  stats(): { openTasks: number; endedTasks: number; droppedOpenTasks: number; agents: number } {
    const s = this.tasks.sizes();
    return { openTasks: s.open, endedTasks: s.ended, droppedOpenTasks: this.tasks.droppedOpen, agents: this.agents.size };
  }

  // ---- hooks -------------------------------------------------------------------------

  private start(span: Span, parentContext: Context): void {
    const key = this.stateKey;
    const parentSpan = trace.getSpan(parentContext);
    const parentState = parentSpan !== undefined ? (parentSpan as unknown as Carrier)[key] : undefined;
    const remoteParent = parentSpan !== undefined && parentSpan.spanContext().isRemote === true;
    const attrs = span.attributes;
    const tollgate = this.isTollgateScope(span.instrumentationScope);
    const inference = isInferenceSpan(span.name, attrs) || (tollgate && attrs[ATTR_COST_USD] !== undefined);
    const scope = taskScopeFromContext(parentContext);
    const isTaskRoot = parentSpan === undefined || remoteParent || (scope !== undefined && parentSpan === scope.outerSpan);

    const enclosingCall = parentState?.call;
    if (!isTaskRoot && !inference && enclosingCall === undefined) {
      // The common span: nothing to keep. Written anyway so every span has the same shape.
      (span as unknown as Carrier)[key] = undefined;
      return;
    }
    let isRoot = isTaskRoot;
    const explicitTask = scope !== undefined ? scope.info : taskFromBaggage(parentContext);

    let agent = agentFromContext(parentContext);
    if (agent === undefined && this.trustBaggageAgent) agent = agentFromBaggage(parentContext);

    let task: TaskEntry | undefined;
    if (isRoot || inference) {
      const id = explicitTask?.id ?? span.spanContext().traceId;
      const now = this.now();
      if (isRoot) {
        task = this.tasks.openTask(id, explicitTask?.type ?? str(attrs[ATTR_TASK_TYPE]), now);
        task.openRoots++;
      } else {
        task = this.tasks.get(id);
        if (task === undefined || task.ended) {
          // No live root (unsampled root, evicted entry): this call stands for the task.
          task = this.tasks.openTask(id, explicitTask?.type, now);
          task.openRoots++;
          isRoot = true;
        }
      }
      if (scope !== undefined && !scope.settled && !this.seenScopes.has(scope)) {
        this.seenScopes.add(scope);
        task.openScopes++;
        const entry = task;
        (scope.listeners ??= []).push(() => this.scopeSettled(entry));
      }
    }

    const state: SpanState = {
      agent,
      task,
      explicitTask,
      isRoot,
      inference,
      tollgate,
      call: enclosingCall,
      hasTollgate: false,
      hasSelfMetered: false,
      stash: undefined,
    };
    // Join the enclosing call group, or start one.
    if (enclosingCall === undefined && inference) state.call = state;
    if (inference) {
      const group = enclosingCall ?? state;
      if (tollgate && enclosingCall !== undefined) group.hasTollgate = true;
      if (this.isSelfMeteredScope(span.instrumentationScope)) group.hasSelfMetered = true;
    }
    (span as unknown as Carrier)[key] = state;
  }

  private ending(span: Span): void {
    const carrier = span as unknown as Carrier;
    let state = carrier[this.stateKey];
    if (state !== undefined) {
      carrier[this.stateKey] = undefined;
      // A task root (or a span under a task scope) that started without attributes and got its
      // GenAI attributes later (Mistral's own spans): an inference call of its own, unless it is
      // nested in one already (then it is that call, counted by the enclosing span).
      if (!state.inference && state.call === undefined && isInferenceSpan(span.name, span.attributes)) {
        state = { ...state, inference: true, tollgate: this.isTollgateScope(span.instrumentationScope) };
        state.call = state;
      }
    } else {
      // Attributes set after start can make a span an inference span only now.
      if (!isInferenceSpan(span.name, span.attributes)) return;
      state = this.lateState(span);
    }
    const root = state.isRoot ? state.task : undefined;
    if (!state.inference && root === undefined) return;
    // One clock read per span end: the windows and the task end share it.
    const now = this.now();
    if (state.inference) this.endInference(span, state, now);
    if (root !== undefined) this.endRoot(span, root, now);
  }

  private lateState(span: Span): SpanState {
    const now = this.now();
    const id = span.spanContext().traceId;
    let task = this.tasks.get(id);
    let isRoot = false;
    if (task === undefined || task.ended) {
      task = this.tasks.openTask(id, undefined, now);
      task.openRoots++;
      isRoot = true;
    }
    const tollgate = this.isTollgateScope(span.instrumentationScope);
    const s: SpanState = { agent: undefined, task, explicitTask: undefined, isRoot, inference: true, tollgate, call: undefined, hasTollgate: false, hasSelfMetered: false, stash: undefined };
    s.call = s;
    return s;
  }

  /** Whether an instrumentation scope is tollgate's own; memoised on the scope object (one per tracer). */
  private isTollgateScope(scope: { readonly name: string }): boolean {
    if (scope !== this.lastScope) this.rememberScope(scope);
    return this.lastScopeTollgate;
  }

  /** Whether an instrumentation scope records the GenAI client histograms itself (same memo). */
  private isSelfMeteredScope(scope: { readonly name: string }): boolean {
    if (scope !== this.lastScope) this.rememberScope(scope);
    return this.lastScopeSelfMetered;
  }

  private rememberScope(scope: { readonly name: string }): void {
    this.lastScope = scope;
    this.lastScopeTollgate = scope.name.startsWith(TOLLGATE_SCOPE_PREFIX);
    this.lastScopeSelfMetered = SELF_METERED_SCOPES.has(scope.name);
  }

  private endInference(span: Span, state: SpanState, now: number): void {
    const attrs = span.attributes;
    const group = state.call ?? state;
    if (!state.tollgate) {
      if (group !== state) {
        // Same call as an enclosing span: never counted here; keep its usage in case
        // the outermost span has none.
        if (group.stash === undefined && readUsage(attrs) !== undefined) group.stash = attrs;
        return;
      }
      if (state.hasTollgate) return; // a nested tollgate span counted this call
    }
    const errorAttr = attrs[ATTR_ERROR_TYPE];
    if (errorAttr === ERROR_TYPE_BUDGET_EXCEEDED) return; // blocked: nothing was sent

    const failed = span.status.code === SpanStatusCode.ERROR;
    const preCost = attrs[ATTR_COST_USD];
    let usage = readUsage(attrs);
    let source = attrs;
    if (usage === undefined && typeof preCost !== 'number' && state.stash !== undefined) {
      source = state.stash;
      usage = readUsage(source);
    }
    // Each attribute read once; the model / provider fall back to the stashed span's.
    const responseModel = str(attrs[ATTR_GEN_AI_RESPONSE_MODEL]);
    const requestModel = str(attrs[ATTR_GEN_AI_REQUEST_MODEL]);
    const model = responseModel ?? requestModel ?? modelOf(attrs) ?? (source !== attrs ? modelOf(source) : undefined) ?? 'unknown';
    const provider = providerOf(attrs) ?? (source !== attrs ? providerOf(source) : undefined);
    const operation = operationOf(attrs);
    const agentAttr = attrs[ATTR_GEN_AI_AGENT_NAME];
    const agent = str(agentAttr) ?? state.agent ?? this.resourceAgent(span);
    const task = state.task;
    const taskType = task?.type;

    let costUsd = 0;
    let pricedHere = false;
    let fallback = false;
    let realCostUsd: number | undefined;
    let startMs: number | undefined;
    if (typeof preCost === 'number') {
      costUsd = preCost;
      fallback = attrs[ATTR_COST_SOURCE] === 'fallback';
    } else if (usage !== undefined) {
      // The price in force when the call STARTED (the span's start, not this clock), on the tier that served it.
      startMs = hrTimeToMilliseconds(span.startTime);
      const priced = priceCall(this.prices, usage, model, provider, startMs, serviceTierOf(attrs));
      // A span that came without a cost (a foreign instrumentation's): priced here, once.
      costUsd = writeCostAttributes(span, priced);
      realCostUsd = priced.tableUsd;
      pricedHere = true;
      fallback = priced.source === 'fallback';
    } else if (!failed) {
      return; // no usage, no cost, no failure: nothing to count (e.g. a cut stream the library did not measure)
    }
    if (agentAttr === undefined) span.setAttribute(ATTR_GEN_AI_AGENT_NAME, agent);
    if (task !== undefined && attrs[ATTR_TASK_ID] === undefined) {
      span.setAttribute(ATTR_TASK_ID, task.id);
      if (taskType !== undefined) span.setAttribute(ATTR_TASK_TYPE, taskType);
    }

    // Rollups: integer nano-USD into accumulators found once per (agent, model, task type).
    const nanos = usdToNanos(costUsd);
    const attemptsAttr = attrs[ATTR_ATTEMPTS];
    const attempts = typeof attemptsAttr === 'number' && attemptsAttr >= 1 ? Math.floor(attemptsAttr) : 1;
    const failedAttempts = failed ? attempts : attempts - 1;
    const failedNanos = failed ? nanos : 0;
    const inTok = usage?.inputTokens ?? 0;
    const outTok = usage?.outputTokens ?? 0;
    this.refreshWindows(now);
    const a = this.agentRollup(agent);
    const combo = a.combo(agent, model, taskType, this.comboBudget);
    a.total.add(nanos, attempts, failedAttempts, failedNanos, inTok, outTok);
    this.windowAdd(a.day, this.dayStart, this.dayEnd, nanos, attempts, failedAttempts, failedNanos, inTok, outTok);
    this.windowAdd(a.month, this.monthStart, this.monthEnd, nanos, attempts, failedAttempts, failedNanos, inTok, outTok);
    combo.byModel.add(nanos, attempts, failedAttempts, failedNanos, inTok, outTok);
    combo.byTaskType.add(nanos, attempts, failedAttempts, failedNanos, inTok, outTok);
    // Process-wide totals are summed over agents when read (fewer writes on the hot path).
    if (task !== undefined) {
      task.add(nanos, attempts, failedAttempts, failedNanos, inTok, outTok);
      // Per-model detail of a task only once it uses a second model (most use one).
      if (task.model === undefined) task.model = model;
      else if (task.model !== model || task.byModel !== undefined) {
        if (task.byModel === undefined) {
          task.byModel = new AccMap(this.maxKeys);
          const first = task.byModel.get(task.model);
          first.costNanos = task.costNanos - nanos;
          first.calls = task.calls - 1;
          first.attempts = task.attempts - attempts;
          first.failedAttempts = task.failedAttempts - failedAttempts;
          first.failedNanos = task.failedNanos - failedNanos;
          first.inputTokens = task.inputTokens - inTok;
          first.outputTokens = task.outputTokens - outTok;
        }
        task.byModel.get(model).add(nanos, attempts, failedAttempts, failedNanos, inTok, outTok);
      }
      task.agent ??= agent;
    }

    // Metrics, with attribute sets cached per series (no object built per call).
    const ins = this.instruments;
    ins.cost.add(costUsd, combo.costAttributes(provider, operation));
    if (fallback) ins.fallback.add(1, defined({ [ATTR_GEN_AI_AGENT_NAME]: agent, [ATTR_GEN_AI_PROVIDER_NAME]: provider, [ATTR_GEN_AI_REQUEST_MODEL]: model }));
    if (usage !== undefined && (usage.cacheReadTokens ?? 0) > 0) this.recordCacheSaving(usage, model, provider, realCostUsd, combo, startMs ?? hrTimeToMilliseconds(span.startTime), serviceTierOf(attrs));
    // The GenAI client histograms, unless the span's instrumentation, or another one that
    // traced the same call (a span of its call group), records them itself: two series of
    // one call under two scopes double every token sum.
    if (!this.isSelfMeteredScope(span.instrumentationScope) && !group.hasSelfMetered) {
      const portAttr = attrs[ATTR_SERVER_PORT];
      const conv = this.convSeries(combo, operation, provider, requestModel ?? model, responseModel, str(attrs[ATTR_SERVER_ADDRESS]), typeof portAttr === 'number' ? portAttr : undefined);
      if (usage !== undefined) {
        ins.tokens.record(usage.inputTokens, conv.input);
        if (operation !== 'embeddings') ins.tokens.record(usage.outputTokens, conv.output);
      }
      const d = span.duration;
      ins.duration.record(hrTimeToSeconds(d), failed ? conv.failed(str(errorAttr) ?? '_OTHER') : conv.ok);
    }

    if (pricedHere && this.onForeignSpend !== undefined) {
      try {
        this.onForeignSpend({ agent, task: state.explicitTask, model, costUsd });
      } catch (err) {
        this.warnOnce('onForeignSpend', err);
      }
    }
  }

  /** The GenAI histogram attribute sets of a series: the combination's last one, else the cache. */
  private convSeries(combo: Combo, operation: string, provider: string | undefined, requestModel: string, responseModel: string | undefined, serverAddress: string | undefined, serverPort: number | undefined): ConvSeries {
    const last = combo.conv;
    if (last !== undefined && last.matches(operation, provider, requestModel, responseModel, serverAddress, serverPort)) return last;
    const k = ConvSeries.key(operation, provider, requestModel, responseModel, serverAddress, serverPort);
    let conv = this.series.get(k);
    if (conv === undefined) {
      conv = new ConvSeries(operation, provider, requestModel, responseModel, serverAddress, serverPort);
      if (this.series.size < MAX_CACHED_SERIES) this.series.set(k, conv);
    }
    combo.conv = conv;
    return conv;
  }

  /**
   * Saving = the same call with its cache reads billed as plain input, minus the real
   * cost (`realCostUsd` when this processor just priced the call with the same price).
   */
  private recordCacheSaving(usage: Usage, model: string, provider: string | undefined, realCostUsd: number | undefined, combo: Combo, startMs: number, tier: string | undefined): void {
    const lookup = this.prices.lookup(model, provider, startMs, tier);
    const real = realCostUsd ?? computeCost(usage, lookup.price).totalUsd;
    const saved = computeCost(withoutCacheReads(usage), lookup.price).totalUsd - real;
    if (saved > 0) this.instruments.saved.add(saved, combo.savedAttributes());
  }

  private endRoot(span: Span, task: TaskEntry, now: number): void {
    if (task.calls > 0) {
      span.setAttribute(ATTR_TASK_COST_USD, nanosToUsd(task.costNanos));
      span.setAttribute(ATTR_TASK_CALLS, task.calls);
      span.setAttribute(ATTR_TASK_ATTEMPTS, task.attempts);
    }
    task.openRoots--;
    if (task.openRoots <= 0 && task.openScopes <= 0 && !task.ended) this.finishTask(task, now);
  }

  private scopeSettled(task: TaskEntry): void {
    task.openScopes--;
    if (task.openRoots <= 0 && task.openScopes <= 0 && !task.ended) this.finishTask(task, this.now());
  }

  private finishTask(task: TaskEntry, now: number): void {
    this.tasks.finish(task, now);
    if (task.calls > 0 && this.onTaskEnd !== undefined) {
      try {
        this.onTaskEnd({ id: task.id, type: task.type, costUsd: nanosToUsd(task.costNanos), calls: task.calls, attempts: task.attempts });
      } catch (err) {
        this.warnOnce('onTaskEnd', err);
      }
    }
  }

  // ---- attribution and windows --------------------------------------------------------

  /** The agent when neither the span nor the context names one: resource gen_ai.agent.name, else service.name. */
  private resourceAgent(span: Span): string {
    const resource = span.resource;
    if (resource !== this.lastResource) {
      const ra = resource.attributes;
      this.lastResourceAgent = str(ra[ATTR_GEN_AI_AGENT_NAME]) ?? str(ra[ATTR_SERVICE_NAME]) ?? 'unknown_service';
      this.lastResource = resource;
    }
    return this.lastResourceAgent;
  }

  private agentRollup(agent: string): AgentRollup {
    if (agent === this.lastAgent && this.lastAgentRollup !== undefined) return this.lastAgentRollup;
    let a = this.agents.get(agent);
    if (a === undefined) {
      let name = agent;
      if (this.agents.size >= this.maxKeys) {
        name = OTHER_KEY;
        a = this.agents.get(name);
      }
      if (a === undefined) {
        a = new AgentRollup(name, this.maxKeys);
        this.agents.set(name, a);
      }
    }
    this.lastAgent = agent;
    this.lastAgentRollup = a;
    return a;
  }
  private refreshWindows(now: number): void {
    if (now >= this.dayEnd || now < this.dayStart) {
      this.dayStart = utcDayStart(now);
      this.dayEnd = utcDayEnd(now);
    }
    if (now >= this.monthEnd || now < this.monthStart) {
      this.monthStart = utcMonthStart(now);
      this.monthEnd = utcMonthEnd(now);
    }
  }

  private windowAdd(w: WindowAcc, start: number, end: number, nanos: number, attempts: number, failedAttempts: number, failedNanos: number, inTok: number, outTok: number): void {
    if (w.startMs !== start) {
      w.acc.reset();
      w.startMs = start;
      w.endMs = end;
    }
    w.acc.add(nanos, attempts, failedAttempts, failedNanos, inTok, outTok);
  }

  private windowSnapshot(w: WindowAcc, start: number, end: number): SpendWindow {
    const totals = w.startMs === start ? w.acc.snapshot() : new Acc().snapshot();
    return { ...totals, startsAt: new Date(start).toISOString(), resetsAt: new Date(end).toISOString() };
  }

  private agentSnapshot(name: string, a: AgentRollup): AgentSpend {
    return {
      ...a.total.snapshot(),
      agent: name,
      day: this.windowSnapshot(a.day, this.dayStart, this.dayEnd),
      month: this.windowSnapshot(a.month, this.monthStart, this.monthEnd),
      byModel: a.byModel.snapshot(),
      byTaskType: a.byTaskType.snapshot(),
    };
  }

  /** Reports a fault once per hook (not once ever: a later fault elsewhere is news), through the capped warn-once. */
  private warnOnce(where: 'onStart' | 'onEnding' | 'onForeignSpend' | 'onTaskEnd', err: unknown): void {
    warnOnce(`processor:${where}`, `tollgate: CostSpanProcessor failed in ${where}; spend from that span may be missing (reported once per hook)`, err);
  }
}

/** Reports foreign spend to a policy; a rejected write is warned about, never thrown into `onEnding`. */
function foreignSpendTo(policy: SpendSink): (spend: ForeignSpend) => void {
  return (spend) => {
    const pending = policy.recordForeign(spend);
    if (isThenable(pending)) {
      pending.then(undefined, (err: unknown) => warnOnce('processor:recordForeign', 'tollgate: recording spend of a foreign span failed', err));
    }
  };
}

/** `usage` with its cache reads billed as plain input (they stay counted in inputTokens). */
function withoutCacheReads(usage: Usage): Usage {
  const u: { -readonly [K in keyof Usage]: Usage[K] } = { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens };
  if (usage.cacheWriteTokens !== undefined) u.cacheWriteTokens = usage.cacheWriteTokens;
  if (usage.cacheWrite1hTokens !== undefined) u.cacheWrite1hTokens = usage.cacheWrite1hTokens;
  if (usage.reasoningTokens !== undefined) u.reasoningTokens = usage.reasoningTokens;
  if (usage.batch !== undefined) u.batch = usage.batch;
  return u;
}

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ConfigError(`CostSpanProcessor options.${name}`, v, 'a positive finite number');
  }
  return v;
}

/** The service tier a span says served the call: the response's, else the request's (registry names first). */
function serviceTierOf(attrs: Attributes): string | undefined {
  const v =
    attrs[ATTR_OPENAI_RESPONSE_SERVICE_TIER] ??
    attrs[ATTR_GEN_AI_OPENAI_RESPONSE_SERVICE_TIER] ??
    attrs[ATTR_OPENAI_REQUEST_SERVICE_TIER] ??
    attrs[ATTR_GEN_AI_OPENAI_REQUEST_SERVICE_TIER];
  return typeof v === 'string' && v !== '' ? v : undefined;
}
