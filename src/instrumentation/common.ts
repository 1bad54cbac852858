/**
 * What every tollgate SDK instrumentation shares: configuration, the life of one
 * GenAI call as a span (start, pre-call budget gate, usage, price, end), and the
 * hooks that fit the Stainless-generated SDKs (`openai`, `@anthropic-ai/sdk`).
 *
 * The API, in the order an instrumentation uses it:
 * - `new CallTracker(() => this.tracer, config)` once per instrumentation; `tracker.configure(config)` on setConfig.
 * - `tracker.start(spec)` in the patched `create(body, options)`: starts the CLIENT span, returns a {@link TrackedCall}.
 * - `call.run(() => original.call(this, body, markOptions(options, call)))`: the SDK call with the span active
 *   and the call marker in the request options.
 * - `wrapPrepareOptions` replaces the client's `prepareOptions`: it finds the marker and awaits
 *   `call.beforeAttempt(options)` (the gate; rewrites `options.body` or throws the block error).
 * - `observeApiPromise(promise, call, onResult)` watches the SDK's own APIPromise without replacing it;
 *   `wrapStreamIterator(stream, observer)` watches a Stream without replacing it.
 * - `call.setResponse(...)`, then `call.end(usage)` / `call.endEstimated(...)` / `call.fail(error, usage?)`.
 * - `ownCreate(...)` around the patched `create`, and `wrapRequest` on the client's `request`:
 *   the gate still holds when another instrumentation displaced the `create` wrapper (see "Displaced create").
 *
 * Rule kept everywhere here: a fault inside tollgate is caught and reported once through `diag`;
 * the user's call proceeds. The only errors that reach the user are the ones the gate decided on
 * (BudgetExceededError, LedgerUnavailableError), thrown before anything is sent.
 */
import { context, diag, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import { agentFromContext, taskFromContext } from '../context.ts';
import { BudgetExceededError, LedgerUnavailableError } from '../errors.ts';
import { ALLOW_ALL } from '../gate.ts';
import type { CallDescription, CallGate, GateDecision } from '../gate.ts';
import { defaultPriceTable, priceCall } from '../pricing/index.ts';
import type { PriceTable, Usage } from '../pricing/types.ts';
import { overridesOrFallback } from './strict-prices.ts';
import {
  ATTR_ATTEMPTS,
  ATTR_BUDGET_REMAINING_USD,
  ATTR_COST_CACHE_READ_USD,
  ATTR_COST_CACHE_WRITE_USD,
  ATTR_COST_INPUT_USD,
  ATTR_COST_OUTPUT_USD,
  ATTR_COST_SOURCE,
  ATTR_OPENAI_REQUEST_SERVICE_TIER,
  ATTR_OPENAI_RESPONSE_SERVICE_TIER,
  ATTR_COST_USD,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_REQUEST_STREAM,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_COST,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  ATTR_POLICY_ACTION,
  ATTR_POLICY_ORIGINAL_MAX_TOKENS,
  ATTR_POLICY_ORIGINAL_MODEL,
  ATTR_POLICY_REASON,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_TASK_ID,
  ATTR_TASK_TYPE,
  ATTR_USAGE_ESTIMATED,
  ERROR_TYPE_BUDGET_EXCEEDED,
  EVENT_CALL_BLOCKED,
  EVENT_GEN_AI_OPERATION_DETAILS,
} from '../semconv.ts';

// ---------------------------------------------------------------------------
// Configuration

/** How message content is recorded, as `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` names it. */
export type ContentCaptureMode = 'NO_CONTENT' | 'SPAN_ONLY' | 'EVENT_ONLY' | 'SPAN_AND_EVENT';

/** Options shared by tollgate's SDK instrumentations. */
export interface TollgateInstrumentationConfig extends InstrumentationConfig {
  /**
   * The price table calls are priced with.
   * @default defaultPriceTable() (the built-in data; pass a table built with overrides to use them)
   */
  prices?: PriceTable;
  /**
   * The budget policy consulted before each call is sent.
   * @default ALLOW_ALL (no budget)
   */
  gate?: CallGate;
  /**
   * Record prompts and completions (`gen_ai.input.messages` / `gen_ai.output.messages`).
   * `true` means SPAN_ONLY.
   * @default from OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, read when the instrumentation is built; off when unset
   */
  captureMessageContent?: boolean | ContentCaptureMode;
}

/** Configuration resolved once (explicit option, then env var, then default). */
export interface ResolvedSettings {
  readonly prices: PriceTable;
  readonly gate: CallGate;
  readonly capture: ContentCaptureMode;
  /** OTEL_SEMCONV_STABILITY_OPT_IN contains gen_ai_latest_experimental: also emit unreleased names. */
  readonly latestExperimental: boolean;
}

const CAPTURE_MODES: ReadonlySet<string> = new Set(['NO_CONTENT', 'SPAN_ONLY', 'EVENT_ONLY', 'SPAN_AND_EVENT']);

/**
 * Parses a content-capture setting. Accepts booleans, `true`/`false` (any case) and the four
 * mode names. An unrecognised env value falls back to NO_CONTENT with a warning: content
 * capture is a privacy switch and must fail closed.
 */
export function resolveContentCapture(
  value: boolean | string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ContentCaptureMode {
  const raw = value ?? env['OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'];
  if (raw === undefined || raw === '') return 'NO_CONTENT';
  if (raw === true) return 'SPAN_ONLY';
  if (raw === false) return 'NO_CONTENT';
  const text = raw.trim();
  const lower = text.toLowerCase();
  if (lower === 'true') return 'SPAN_ONLY';
  if (lower === 'false') return 'NO_CONTENT';
  const upper = text.toUpperCase();
  if (CAPTURE_MODES.has(upper)) return upper as ContentCaptureMode;
  diag.warn(
    `tollgate: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=${JSON.stringify(raw)} is not one of true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT; message content is not recorded`,
  );
  return 'NO_CONTENT';
}

/** Resolves a config once; `env` is injectable for tests. */
export function resolveSettings(config: TollgateInstrumentationConfig, env: NodeJS.ProcessEnv = process.env): ResolvedSettings {
  const optIn = env['OTEL_SEMCONV_STABILITY_OPT_IN'] ?? '';
  return {
    prices: config.prices ?? defaultPriceTable(),
    gate: config.gate ?? ALLOW_ALL,
    capture: resolveContentCapture(config.captureMessageContent, env),
    latestExperimental: optIn.split(',').some((s) => s.trim() === 'gen_ai_latest_experimental'),
  };
}

// ---------------------------------------------------------------------------
// Fault reporting

const reportedFaults = new Set<string>();

/**
 * Reports a fault in tollgate's own code once per `where` through `diag.warn` (the user's call
 * goes on). The set of keys is small and fixed by the call sites, capped anyway.
 */
export function reportFault(where: string, error: unknown): void {
  if (reportedFaults.has(where)) return;
  if (reportedFaults.size < 256) reportedFaults.add(where);
  diag.warn(`tollgate: internal fault in ${where}; the LLM call is not affected`, error);
}

// ---------------------------------------------------------------------------
// One call

/** What an instrumentation knows about a call before it is sent. */
export interface CallSpec {
  /** `gen_ai.provider.name`: `openai`, `azure.ai.openai`, `anthropic`, ... */
  readonly provider: string;
  /** Provider name used to look the price up (e.g. `openai` for Azure OpenAI deployments). @default provider */
  readonly pricingProvider?: string;
  /**
   * `overrides-only`: an OpenAI-compatible host tollgate does not know. Only the user's override
   * prices apply, every other model is priced at the fallback rates (strict-prices.ts), never
   * at the rates of a provider the table happens to know the model name from.
   * @default 'table'
   */
  readonly pricing?: 'table' | 'overrides-only';
  /** `chat`, `embeddings`, ... */
  readonly operation: string;
  /** The model the caller asked for (`''` when absent). */
  readonly model: string;
  /** The output ceiling the caller set, if any. */
  readonly maxTokens: number | undefined;
  /** Body key of the output ceiling in this API (`max_tokens`, `max_completion_tokens`, `max_output_tokens`); undefined when the API has none. */
  readonly maxTokensField: string | undefined;
  readonly stream: boolean;
  /** The request body as the caller passed it. Never mutated. */
  readonly body: Readonly<Record<string, unknown>>;
  readonly serverAddress?: string | undefined;
  readonly serverPort?: number | undefined;
  /** The service tier the caller asked for (OpenAI's `service_tier`), recorded as `openai.request.service_tier`. */
  readonly serviceTier?: string | undefined;
}

/** What came back, as far as it is known; every field optional. */
export interface ResponseInfo {
  readonly id?: string | undefined;
  readonly model?: string | undefined;
  readonly finishReasons?: readonly string[] | undefined;
}

/** Local token counts for a call whose usage did not come back. */
export interface EstimateInput {
  /** Known input token count (e.g. from a partial usage block); else counted from `inputText`. */
  readonly inputTokens?: number | undefined;
  readonly inputText?: string | undefined;
  /** Known output token count; else counted from `outputText`. */
  readonly outputTokens?: number | undefined;
  readonly outputText?: string | undefined;
}

type CountTokens = (text: string, model: string) => number | Promise<number>;
let tokenCounter: Promise<CountTokens> | undefined;

/**
 * The local tokenizer, loaded on first use only: it costs ~0.7 s and ~80 MB, which a
 * service whose provider always reports usage must never pay. Falls back to ~4 chars per
 * token if the tokenizer cannot be loaded.
 */
function loadTokenCounter(): Promise<CountTokens> {
  tokenCounter ??= import('../tokens/index.ts').then(
    (m: { countTokens: CountTokens }) => m.countTokens,
    (error: unknown) => {
      reportFault('tokenizer load', error);
      return (text: string) => Math.ceil(text.length / 4);
    },
  );
  return tokenCounter;
}

async function countTokens(text: string | undefined, model: string): Promise<number> {
  if (text === undefined || text.length === 0) return 0;
  const count = await loadTokenCounter();
  try {
    return await count(text, model);
  } catch (error) {
    reportFault('countTokens', error);
    return Math.ceil(text.length / 4);
  }
}

/**
 * One GenAI call: its span, its gate ticket and how it ended. Every method is safe to call
 * more than once and after the end (the first end wins) and never throws, except
 * `beforeAttempt`, which throws exactly the gate's block error.
 */
export class TrackedCall {
  /** The CLIENT span of the call. */
  readonly span: Span;
  /** The context with the span active: run the SDK call in it so transport spans are children. */
  readonly context: Context;
  /** Message content recording for this call. */
  readonly capture: ContentCaptureMode;
  /** Number of attempts the SDK made so far (retries included). */
  attempts = 0;
  /** Set when the gate refused the call. */
  blocked = false;

  private readonly settings: ResolvedSettings;
  private readonly spec: CallSpec;
  private readonly agent: string | undefined;
  private readonly task: CallDescription['task'];
  private model: string;
  private responseModel: string | undefined;
  private ticket: unknown;
  private admitted = false;
  private rewrittenBody: Record<string, unknown> | undefined;
  private ended = false;
  /** The span's start, epoch ms: the instant whose prices the call pays. */
  private readonly startedAt: number;

  /** Use {@link CallTracker.start}. */
  constructor(tracer: Tracer, settings: ResolvedSettings, spec: CallSpec, parent: Context) {
    this.settings = settings;
    this.spec = spec;
    this.model = spec.model;
    this.capture = settings.capture;
    this.agent = agentFromContext(parent);
    this.task = taskFromContext(parent);
    const attributes: Attributes = {
      [ATTR_GEN_AI_OPERATION_NAME]: spec.operation,
      [ATTR_GEN_AI_PROVIDER_NAME]: spec.provider,
      [ATTR_GEN_AI_REQUEST_MODEL]: spec.model,
      [ATTR_GEN_AI_REQUEST_STREAM]: spec.stream,
    };
    if (spec.maxTokens !== undefined) attributes[ATTR_GEN_AI_REQUEST_MAX_TOKENS] = spec.maxTokens;
    if (spec.serverAddress !== undefined) attributes[ATTR_SERVER_ADDRESS] = spec.serverAddress;
    if (spec.serverPort !== undefined) attributes[ATTR_SERVER_PORT] = spec.serverPort;
    if (spec.serviceTier !== undefined) attributes[ATTR_OPENAI_REQUEST_SERVICE_TIER] = spec.serviceTier;
    if (this.agent !== undefined) attributes[ATTR_GEN_AI_AGENT_NAME] = this.agent;
    if (this.task !== undefined) {
      attributes[ATTR_TASK_ID] = this.task.id;
      if (this.task.type !== undefined) attributes[ATTR_TASK_TYPE] = this.task.type;
    }
    this.span = tracer.startSpan(
      spec.model === '' ? spec.operation : `${spec.operation} ${spec.model}`,
      { kind: SpanKind.CLIENT, attributes },
      parent,
    );
    this.context = trace.setSpan(parent, this.span);
    this.startedAt = spanStartMs(this.span);
  }

  /** The model the provider receives (after a rewrite). */
  get requestModel(): string {
    return this.model;
  }

  /** True once the span has ended. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** Runs `fn` with the call's span active. */
  run<T>(fn: () => T): T {
    return context.with(this.context, fn);
  }

  /**
   * The pre-send hook, awaited by the SDK's `prepareOptions` once per attempt. On the first
   * attempt it asks the gate; a rewrite replaces `options.body` with a rewritten copy (the
   * caller's body is never touched); a block throws (rejects with) the decision's error so the
   * SDK's own promise rejects and nothing is sent. Later attempts count retries and re-apply the
   * rewrite. Returns undefined when it decided synchronously (no gate, the gate's `decideNow`
   * fast path, or a retry).
   */
  beforeAttempt(options: { body?: unknown }): Promise<void> | undefined {
    this.attempts++;
    if (this.attempts > 1) {
      this.span.setAttribute(ATTR_ATTEMPTS, this.attempts);
      if (this.rewrittenBody !== undefined && options.body !== this.rewrittenBody) options.body = this.rewrittenBody;
      return undefined;
    }
    const gate = this.settings.gate;
    // No policy: decide synchronously, no extra promise on the hot path.
    if (gate === ALLOW_ALL) {
      this.apply(ALLOW, options);
      return undefined;
    }
    const description = this.describe(options.body);
    if (gate.decideNow !== undefined) {
      let now: GateDecision | undefined;
      try {
        now = gate.decideNow(description);
      } catch (error) {
        reportFault('gate.decideNow', error);
      }
      if (now !== undefined) {
        this.apply(now, options);
        return undefined;
      }
    }
    let admitted: Promise<GateDecision>;
    try {
      admitted = gate.admit(description);
    } catch (error) {
      admitted = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return admitted.then(
      (decision) => this.apply(decision, options),
      (error: unknown) => {
        // A policy that throws instead of deciding: budget/ledger errors still block, anything else is our fault.
        if (error instanceof BudgetExceededError || error instanceof LedgerUnavailableError) {
          this.apply({ action: 'block', error }, options);
        } else {
          reportFault('gate.admit', error);
          this.apply(ALLOW, options);
        }
      },
    );
  }

  private describe(body: unknown): CallDescription {
    return {
      provider: this.spec.provider,
      operation: this.spec.operation,
      model: this.spec.model,
      maxTokens: this.spec.maxTokens,
      stream: this.spec.stream,
      body: (isRecord(body) ? body : this.spec.body),
      agent: this.agent,
      task: this.task,
      attempt: this.attempts,
    };
  }

  private apply(decision: GateDecision, options: { body?: unknown }): void {
    const span = this.span;
    span.setAttribute(ATTR_POLICY_ACTION, decision.action);
    if (decision.remainingUsd !== undefined) span.setAttribute(ATTR_BUDGET_REMAINING_USD, decision.remainingUsd);
    if (decision.reason !== undefined) span.setAttribute(ATTR_POLICY_REASON, decision.reason);
    if (decision.action === 'block') {
      this.blocked = true;
      const error = decision.error ?? blockErrorFor(decision, this.spec, this.agent, this.task);
      span.addEvent(EVENT_CALL_BLOCKED, blockEventAttributes(error, decision));
      throw error;
    }
    this.admitted = true;
    this.ticket = decision.ticket;
    const newModel = decision.action === 'rewrite' && decision.model !== undefined && decision.model !== this.spec.model ? decision.model : undefined;
    const field = this.spec.maxTokensField;
    const newMax =
      decision.maxTokens !== undefined && field !== undefined && decision.maxTokens !== this.spec.maxTokens ? decision.maxTokens : undefined;
    if (newModel === undefined && newMax === undefined) return;
    const source = isRecord(options.body) ? options.body : this.spec.body;
    const body: Record<string, unknown> = { ...source };
    if (newModel !== undefined) {
      body['model'] = newModel;
      this.model = newModel;
      span.setAttribute(ATTR_POLICY_ORIGINAL_MODEL, this.spec.model);
      span.setAttribute(ATTR_GEN_AI_REQUEST_MODEL, newModel);
      span.updateName(`${this.spec.operation} ${newModel}`);
    }
    if (newMax !== undefined && field !== undefined) {
      body[field] = newMax;
      if (this.spec.maxTokens !== undefined) span.setAttribute(ATTR_POLICY_ORIGINAL_MAX_TOKENS, this.spec.maxTokens);
      span.setAttribute(ATTR_GEN_AI_REQUEST_MAX_TOKENS, newMax);
    }
    this.rewrittenBody = body;
    options.body = body;
  }

  /** Records what the response said about itself. Call as often as pieces arrive. */
  setResponse(info: ResponseInfo): void {
    if (this.ended) return;
    try {
      if (info.id !== undefined && info.id !== '') this.span.setAttribute(ATTR_GEN_AI_RESPONSE_ID, info.id);
      if (info.model !== undefined && info.model !== '') {
        this.responseModel = info.model;
        this.span.setAttribute(ATTR_GEN_AI_RESPONSE_MODEL, info.model);
      }
      if (info.finishReasons !== undefined && info.finishReasons.length > 0) {
        this.span.setAttribute(ATTR_GEN_AI_RESPONSE_FINISH_REASONS, [...info.finishReasons]);
      }
    } catch (error) {
      reportFault('setResponse', error);
    }
  }

  /** Records message content (already in the GenAI JSON shape) when capture is on. */
  recordContent(kind: 'input' | 'output', messages: unknown): void {
    if (this.capture === 'NO_CONTENT' || this.ended) return;
    try {
      const json = JSON.stringify(messages);
      const key = kind === 'input' ? ATTR_GEN_AI_INPUT_MESSAGES : ATTR_GEN_AI_OUTPUT_MESSAGES;
      if (this.capture === 'SPAN_ONLY' || this.capture === 'SPAN_AND_EVENT') this.span.setAttribute(key, json);
      if (this.capture === 'EVENT_ONLY' || this.capture === 'SPAN_AND_EVENT') this.span.addEvent(EVENT_GEN_AI_OPERATION_DETAILS, { [key]: json });
    } catch (error) {
      reportFault('recordContent', error);
    }
  }

  /** Ends the call successfully with the usage the provider reported (or none, for calls that have no usage). */
  end(usage: Usage | undefined, estimated = false): void {
    if (this.ended) return;
    this.ended = true;
    try {
      const cost = usage === undefined ? undefined : this.price(usage, estimated);
      this.settle(cost);
    } catch (error) {
      reportFault('end', error);
    }
    this.span.end();
  }

  /**
   * Ends the call with usage counted locally (the stream was cut short, the provider omitted
   * usage, the consumer broke out early). Marked `tollgate.usage.estimated=true`. Pass `error`
   * when the call also failed. The span ends once the tokenizer has counted.
   */
  endEstimated(estimate: EstimateInput, error?: unknown): Promise<void> {
    if (this.ended) return Promise.resolve();
    this.ended = true;
    const model = this.responseModel ?? this.model;
    const input = estimate.inputTokens !== undefined ? Promise.resolve(estimate.inputTokens) : countTokens(estimate.inputText, model);
    const output = estimate.outputTokens !== undefined ? Promise.resolve(estimate.outputTokens) : countTokens(estimate.outputText, model);
    return Promise.all([input, output]).then(
      ([inputTokens, outputTokens]) => {
        try {
          if (error !== undefined) this.markError(error);
          this.settle(this.price({ inputTokens, outputTokens }, true));
        } catch (fault) {
          reportFault('endEstimated', fault);
        }
        this.span.end();
      },
      (fault: unknown) => {
        reportFault('endEstimated', fault);
        this.span.end();
      },
    );
  }

  /**
   * Ends the call as failed: status ERROR, `error.type` (`tollgate.budget_exceeded` for a
   * blocked call, else the SDK error class name or HTTP status). Priced only when `usage` came back.
   */
  fail(error: unknown, usage?: Usage): void {
    if (this.ended) return;
    this.ended = true;
    try {
      this.markError(error);
      this.settle(usage === undefined ? undefined : this.price(usage, false));
    } catch (fault) {
      reportFault('fail', fault);
    }
    this.span.end();
  }

  private markError(error: unknown): void {
    const type = this.blocked && error instanceof BudgetExceededError ? ERROR_TYPE_BUDGET_EXCEEDED : errorType(error);
    this.span.setAttribute(ATTR_ERROR_TYPE, type);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  }

  private price(usage: Usage, estimated: boolean): number {
    const span = this.span;
    span.setAttribute(ATTR_GEN_AI_USAGE_INPUT_TOKENS, usage.inputTokens);
    span.setAttribute(ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, usage.outputTokens);
    if (usage.cacheReadTokens !== undefined) span.setAttribute(ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cacheReadTokens);
    if (usage.cacheWriteTokens !== undefined) {
      span.setAttribute(ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, usage.cacheWriteTokens);
      if (this.settings.latestExperimental) span.setAttribute(ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, usage.cacheWriteTokens);
    }
    if (usage.reasoningTokens !== undefined) span.setAttribute(ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoningTokens);
    span.setAttribute(ATTR_USAGE_ESTIMATED, estimated);
    if (usage.serviceTier !== undefined) span.setAttribute(ATTR_OPENAI_RESPONSE_SERVICE_TIER, usage.serviceTier);
    // Azure deployments and aliases are priced by what actually answered.
    const model = this.responseModel ?? this.model;
    // The price in force when the call started (dated prices, time-of-day windows), on its service tier.
    const table = this.spec.pricing === 'overrides-only' ? overridesOrFallback(this.settings.prices) : this.settings.prices;
    const { cost, source } = priceCall(table, usage, model, this.spec.pricingProvider ?? this.spec.provider, this.startedAt, this.spec.serviceTier);
    span.setAttribute(ATTR_COST_USD, cost.totalUsd);
    span.setAttribute(ATTR_GEN_AI_USAGE_COST, cost.totalUsd);
    span.setAttribute(ATTR_COST_INPUT_USD, cost.inputUsd);
    span.setAttribute(ATTR_COST_OUTPUT_USD, cost.outputUsd);
    span.setAttribute(ATTR_COST_CACHE_READ_USD, cost.cacheReadUsd);
    span.setAttribute(ATTR_COST_CACHE_WRITE_USD, cost.cacheWriteUsd);
    span.setAttribute(ATTR_COST_SOURCE, source);
    return cost.totalUsd;
  }

  /** Settles the gate ticket: the real cost when priced, else releases the reservation. */
  private settle(costUsd: number | undefined): void {
    if (!this.admitted) return;
    const gate = this.settings.gate;
    if (gate === ALLOW_ALL) return;
    try {
      if (costUsd === undefined) gate.abort(this.ticket);
      else gate.complete(this.ticket, { costUsd, model: this.responseModel ?? this.model });
    } catch (error) {
      reportFault('gate.complete', error);
    }
  }
}

const ALLOW: GateDecision = { action: 'allow' };

/** A span's start time in epoch ms (the SDK span's `startTime`), else now. */
function spanStartMs(span: Span): number {
  const start = (span as { startTime?: unknown }).startTime;
  return Array.isArray(start) && typeof start[0] === 'number' && typeof start[1] === 'number' ? start[0] * 1000 + start[1] / 1e6 : Date.now();
}

function blockErrorFor(decision: GateDecision, spec: CallSpec, agent: string | undefined, task: CallDescription['task']): Error {
  return new BudgetExceededError(
    {
      scope: 'unknown',
      agent: agent ?? '',
      taskId: task?.id ?? null,
      limitUsd: 0,
      spentUsd: 0,
      reservedUsd: 0,
      estimatedUsd: 0,
      resetAt: null,
    },
    `tollgate: call to ${spec.model} blocked${decision.reason === undefined ? '' : `: ${decision.reason}`}`,
  );
}

function blockEventAttributes(error: Error, decision: GateDecision): Attributes {
  const attributes: Attributes = { 'exception.type': error.name, 'exception.message': error.message };
  if (error instanceof BudgetExceededError) {
    attributes['tollgate.budget.scope'] = error.scope;
    attributes['tollgate.budget.limit_usd'] = error.limitUsd;
    attributes['tollgate.budget.spent_usd'] = error.spentUsd;
    attributes['tollgate.budget.estimated_usd'] = error.estimatedUsd;
  }
  if (decision.reason !== undefined) attributes[ATTR_POLICY_REASON] = decision.reason;
  return attributes;
}

/**
 * `error.type` for a failed call: the SDK error's class name (`RateLimitError`,
 * `APIConnectionError`), else its HTTP status, else the error's name, else `_OTHER`.
 */
export function errorType(error: unknown): string {
  if (error instanceof Error) {
    const ctorName = error.constructor.name;
    if (ctorName !== '' && ctorName !== 'Error') return ctorName;
    const status = (error as { status?: unknown }).status;
    if (typeof status === 'number') return String(status);
    if (error.name !== '' && error.name !== 'Error') return error.name;
  }
  return '_OTHER';
}

/** Starts tracked calls with one instrumentation's tracer and settings. */
export class CallTracker {
  private readonly getTracer: () => Tracer;
  private current: ResolvedSettings;

  /**
   * @param getTracer returns the instrumentation's current tracer (`() => this.tracer`), so a
   *   later `setTracerProvider` takes effect.
   */
  constructor(getTracer: () => Tracer, config: TollgateInstrumentationConfig, env: NodeJS.ProcessEnv = process.env) {
    this.getTracer = getTracer;
    this.current = resolveSettings(config, env);
  }

  /** Re-resolves the settings (from `setConfig`). */
  configure(config: TollgateInstrumentationConfig, env: NodeJS.ProcessEnv = process.env): void {
    this.current = resolveSettings(config, env);
  }

  /** The resolved settings in force. */
  get settings(): ResolvedSettings {
    return this.current;
  }

  /**
   * Starts the span of one call, child of `parent`.
   * @param parent the context to start in; @default the active context (pass it when already read, to save a lookup)
   */
  start(spec: CallSpec, parent: Context = context.active()): TrackedCall {
    return new TrackedCall(this.getTracer(), this.current, spec, parent);
  }
}

// ---------------------------------------------------------------------------
// Stainless SDK hooks (openai-node, anthropic-sdk-typescript)

/**
 * Marks request options as belonging to a tracked call. The SDKs copy request options with
 * object spread, which keeps symbol keys, so the marker reaches `prepareOptions` on every attempt.
 */
export const kTrackedCall: unique symbol = Symbol('tollgate.trackedCall');

/** A copy of the caller's request options carrying the call marker. The caller's object is not touched. */
export function markOptions(options: unknown, call: TrackedCall): Record<PropertyKey, unknown> {
  return isRecord(options) ? { ...options, [kTrackedCall]: call } : { [kTrackedCall]: call };
}

export type PrepareOptions = (this: unknown, options: Record<PropertyKey, unknown>, ...rest: unknown[]) => Promise<void>;

/**
 * Wraps a client's async `prepareOptions(options)`, which both SDKs await before building each
 * request (and again on each retry, with the same options object). For a marked call it awaits
 * the gate first; a block error rejects the SDK's own promise before anything is sent. A request
 * tagged by {@link wrapRequest} (an inference request whose `create` wrapper was displaced) starts
 * its call here, on its first attempt, and is then marked like any other.
 */
export function wrapPrepareOptions(original: PrepareOptions): PrepareOptions {
  return function tollgatePrepareOptions(this: unknown, options, ...rest) {
    let call = isRecord(options) ? options[kTrackedCall] : undefined;
    if (!(call instanceof TrackedCall)) {
      const displaced = isRecord(options) ? options[kDisplacedCall] : undefined;
      if (!(displaced instanceof DisplacedCall)) return original.call(this, options, ...rest);
      call = displaced.begin(options, this);
      if (call === undefined) return original.call(this, options, ...rest);
    }
    let pending: Promise<void> | undefined;
    try {
      pending = (call as TrackedCall).beforeAttempt(options as { body?: unknown });
    } catch (error) {
      // Only a block decision throws here: reject like the async hook would.
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return pending === undefined ? original.call(this, options, ...rest) : pending.then(() => original.call(this, options, ...rest));
  };
}

// ---------------------------------------------------------------------------
// Displaced create
//
// An OTel instrumentation enabled after tollgate that patches the same `create` (the official
// `@opentelemetry/instrumentation-openai` does, on openai 4-6) goes through
// `InstrumentationBase._wrap`, which first unwraps whatever wrapper is there: tollgate's `create`
// wrapper is gone, its calls are no longer marked, and without more the gate never runs. Only
// tollgate patches the client's `request` and `prepareOptions`, so the gate is anchored there:
// - every request issued while no tollgate `create` is on the stack (`ownCreate`)
//   is copied, when the instrumentation recognises it as an inference request (method + path),
//   with a `DisplacedCall` under `kDisplacedCall`, and the SDK's APIPromise is watched through it;
// - `prepareOptions` starts the call on the first attempt (the span, as a child of whatever span
//   is active there: the displacing instrumentation's or the SDK's own), marks the options, and
//   runs the same gate: block throws before sending, rewrite replaces `options.body`. Retries reuse
//   the options object, so the gate admits once per request; the result settles the reservation
//   with the real cost, exactly as on the `create` path.
// The copy is per `request()` call, so an options object a caller reuses for two requests
// (`client.request(opts)` twice) is admitted twice. The displacing instrumentation's span is
// not double-counted: the span processor counts only the tollgate span nested in it.

let createDepth = 0;

/**
 * Wraps tollgate's patched `create`: requests issued while it runs are its own (marked, or
 * deliberately left alone), so {@link wrapRequest} passes them straight through.
 */
export function ownCreate(tracked: (this: unknown, ...args: unknown[]) => unknown): (this: unknown, ...args: unknown[]) => unknown {
  return function tollgateCreate(this: unknown, ...args: unknown[]): unknown {
    createDepth++;
    try {
      return tracked.apply(this, args);
    } finally {
      createDepth--;
    }
  };
}

/** What an instrumentation tells {@link wrapRequest} about the requests it tracks without its `create` wrapper. */
export interface DisplacedRoutes {
  /** Whether resolved request options are an inference request this instrumentation tracks (method and path). Called per request: O(1). */
  matches(options: Readonly<Record<PropertyKey, unknown>>): boolean;
  /**
   * Starts tracking: the call (span started in `parent`) and how its result is read. May replace
   * `options.body` with a copy (e.g. to ask for stream usage). Undefined leaves the request untracked.
   */
  begin(options: Record<PropertyKey, unknown>, client: unknown, parent: Context): { call: TrackedCall; handlers: ResultHandlers } | undefined;
}

/** Tag of request options that reached the client without tollgate's `create`. */
const kDisplacedCall: unique symbol = Symbol('tollgate.displacedCall');

/**
 * A request that may become a tracked call in `prepareOptions`. Stands in for the call while its
 * APIPromise is watched (the call only exists once the options are resolved).
 */
class DisplacedCall implements ObservedCall, ResultHandlers {
  private readonly routes: DisplacedRoutes;
  private call: TrackedCall | undefined;
  private handlers: ResultHandlers | undefined;
  private started = false;

  constructor(routes: DisplacedRoutes) {
    this.routes = routes;
  }

  /** Starts the call on the first attempt; later attempts find the mark left on `options`. */
  begin(options: Record<PropertyKey, unknown>, client: unknown): TrackedCall | undefined {
    if (this.started) return this.call;
    this.started = true;
    const parent = context.active();
    if (isTracingSuppressed(parent)) return undefined;
    try {
      const begun = this.routes.begin(options, client, parent);
      if (begun === undefined) return undefined;
      this.call = begun.call;
      this.handlers = begun.handlers;
      options[kTrackedCall] = begun.call;
      return begun.call;
    } catch (error) {
      reportFault('displaced call (start)', error);
      return undefined;
    }
  }

  get isEnded(): boolean {
    return this.call === undefined || this.call.isEnded;
  }

  end(usage: Usage | undefined): void {
    this.call?.end(usage);
  }

  fail(error: unknown): void {
    this.call?.fail(error);
  }

  onResult(result: unknown): void {
    this.handlers?.onResult(result);
  }

  onRawResponse(response: unknown): void {
    this.handlers?.onRawResponse(response);
  }
}

export type RequestMethod = (this: unknown, options: unknown, ...rest: unknown[]) => unknown;

/**
 * Wraps a client's `request(options)`, through which every `post` of the SDK goes. A request issued
 * outside tollgate's `create` that `routes` recognises gets its own copy of the options, tagged so
 * that `prepareOptions` gates it, and its APIPromise is watched (see "Displaced create").
 */
export function wrapRequest(original: RequestMethod, routes: DisplacedRoutes): RequestMethod {
  const tag = (options: unknown, displaced: DisplacedCall): unknown =>
    isRecord(options) && !isMarked(options) && routes.matches(options) ? { ...options, [kDisplacedCall]: displaced } : options;
  return function tollgateRequest(this: unknown, options: unknown, ...rest: unknown[]): unknown {
    if (createDepth > 0) return original.call(this, options, ...rest);
    let displaced: DisplacedCall;
    let tagged: unknown;
    try {
      // A plain options object (a direct `client.request(...)`) is decided now, without a promise hop.
      if (!isThenable(options) && (!isRecord(options) || isMarked(options) || !routes.matches(options))) {
        return original.call(this, options, ...rest);
      }
      const d = new DisplacedCall(routes);
      displaced = d;
      // methodRequest passes a promise: tag once it resolves (the SDK awaits it anyway).
      tagged = isThenable(options) ? Promise.resolve(options).then((o) => tag(o, d)) : tag(options, d);
    } catch (error) {
      reportFault('request (tag)', error);
      return original.call(this, options, ...rest);
    }
    const result = original.call(this, tagged, ...rest);
    try {
      if (isApiPromise(result)) observeApiPromise(result, displaced, displaced, true);
    } catch (error) {
      reportFault('request (observe)', error);
    }
    return result;
  };
}

function isMarked(options: object): boolean {
  return (options as Record<PropertyKey, unknown>)[kTrackedCall] instanceof TrackedCall;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

/** The parts of a Stainless `APIPromise` that tollgate relies on (stable from openai 4 / anthropic 0.x to now). */
export interface ApiPromiseLike {
  responsePromise: Promise<unknown>;
  parseResponse: (...args: unknown[]) => unknown;
  _thenUnwrap?: (transform: (result: unknown, props: unknown) => unknown) => unknown;
  asResponse?: () => Promise<unknown>;
  parsedPromise?: unknown;
}

/** True when `value` looks like a Stainless APIPromise. */
export function isApiPromise(value: unknown): value is ApiPromiseLike {
  return (
    value instanceof Promise &&
    (value as Partial<ApiPromiseLike>).responsePromise instanceof Promise &&
    typeof (value as Partial<ApiPromiseLike>).parseResponse === 'function'
  );
}

/** What an instrumentation does with the parsed result of a call. */
export interface ResultHandlers {
  /** Called with the parsed body (or the SDK Stream) once per parse. */
  onResult(result: unknown): void;
  /**
   * Called with the raw `Response` when the caller took only that (`.asResponse()` without
   * parsing), before the caller reads it: the body is theirs, read a `clone()` or estimate.
   */
  onRawResponse(response: unknown): void;
}

/** What {@link observeApiPromise} needs of a call ({@link TrackedCall} has it). */
export interface ObservedCall {
  readonly isEnded: boolean;
  end(usage: Usage | undefined): void;
  fail(error: unknown): void;
}

/**
 * Watches the SDK's own APIPromise without replacing it: errors (HTTP, connection, a gate block)
 * through `responsePromise`, results through the instance's `parseResponse`, which every
 * consumer path (`await`, `.parse()`, `.withResponse()`, `_thenUnwrap` helpers) goes through.
 * @param followDerived also watch the promises derived with `_thenUnwrap` for a bare `.asResponse()`
 *   (needed when `promise` is the client's, not the one the caller holds).
 */
export function observeApiPromise(promise: ApiPromiseLike, call: ObservedCall, handlers: ResultHandlers, followDerived = false): void {
  const raw: RawOnly = { only: false };
  const observe = (result: unknown): void => {
    raw.only = false;
    try {
      handlers.onResult(result);
    } catch (error) {
      reportFault('onResult', error);
      call.end(undefined);
    }
  };
  watchParse(promise, call, observe);
  watchThenUnwrap(promise, call, observe, raw, followDerived);
  watchAsResponse(promise, raw);
  promise.responsePromise.then(
    (props: unknown) => {
      // Runs before the caller's own continuation (attached first), so the body is still unread.
      if (raw.only && !call.isEnded) {
        try {
          handlers.onRawResponse(isRecord(props) ? props['response'] : undefined);
        } catch (error) {
          reportFault('onRawResponse', error);
          call.end(undefined);
        }
      }
    },
    (error: unknown) => call.fail(error),
  );
}

/** Set when the caller took only the raw Response (no parse). */
interface RawOnly {
  only: boolean;
}

/**
 * openai >= 7.5x gives each APIPromise its own `_thenUnwrap`, which parses through a closure rather
 * than `this.parseResponse`: observe the raw result inside the transform instead (`observe`
 * undefined: a derived promise whose base already observes). Older SDKs' derived promises parse
 * through the base's watched `parseResponse`; with `follow`, they are still wrapped for `asResponse`.
 */
function watchThenUnwrap(promise: ApiPromiseLike, call: ObservedCall, observe: ((result: unknown) => void) | undefined, raw: RawOnly, follow: boolean): void {
  const thenUnwrap = promise._thenUnwrap;
  if (typeof thenUnwrap !== 'function') return;
  const own = Object.hasOwn(promise, '_thenUnwrap');
  if (!own && !follow) return;
  promise._thenUnwrap = function tollgateThenUnwrap(this: unknown, transform: (result: unknown, props: unknown) => unknown) {
    const derived =
      own && observe !== undefined
        ? thenUnwrap.call(this, (result: unknown, props: unknown) => {
            observe(result);
            return transform(result, props);
          })
        : thenUnwrap.call(this, transform);
    if (isApiPromise(derived)) {
      if (own) watchParse(derived, call, undefined);
      if (follow) {
        watchThenUnwrap(derived, call, undefined, raw, true);
        watchAsResponse(derived, raw);
      }
    }
    return derived;
  };
}

function watchAsResponse(promise: ApiPromiseLike, raw: RawOnly): void {
  const asResponse = promise.asResponse;
  if (typeof asResponse !== 'function') return;
  promise.asResponse = function tollgateAsResponse(this: ApiPromiseLike) {
    // withResponse() starts parse() before asResponse(): only a bare asResponse() is raw-only.
    if (this.parsedPromise === undefined) raw.only = true;
    return asResponse.call(this);
  };
}

/** Wraps the instance's `parseResponse`: parse errors fail the call; results go to `observe`. */
function watchParse(promise: ApiPromiseLike, call: ObservedCall, observe: ((result: unknown) => void) | undefined): void {
  const parseResponse = promise.parseResponse;
  promise.parseResponse = async function tollgateParseResponse(this: unknown, ...args: unknown[]) {
    let result: unknown;
    try {
      result = await parseResponse.apply(this, args);
    } catch (error) {
      call.fail(error);
      throw error;
    }
    observe?.(result);
    return result;
  };
}

/** Callbacks of a watched stream; all optional except `onChunk`. */
export interface StreamObserver<T> {
  /** Sees every event; return false to hide it from the consumer. */
  onChunk(chunk: T): boolean;
  /** The stream ended normally. */
  onDone(): void;
  /** The stream failed (malformed SSE, connection lost, ...). */
  onError(error: unknown): void;
  /** The consumer stopped early (`break`, `return()`, an abandoned `tee` branch pair). */
  onBreak(): void;
}

interface StreamLike<T> {
  iterator: () => AsyncIterator<T>;
}

/**
 * Marks a stream whose iterator is already watched. A symbol-keyed property on the stream rather
 * than a module-wide WeakSet: no weak (ephemeron) entry for the GC to process per streamed call.
 */
const kWatchedStream: unique symbol = Symbol('tollgate.watchedStream');

/**
 * Watches a Stainless `Stream` without replacing it: wraps its `iterator` factory, which
 * `for await`, `tee()` and `toReadableStream()` all draw from. Returns the same stream.
 * Idempotent per stream.
 */
export function wrapStreamIterator<S extends object, T>(stream: S, observer: StreamObserver<T>): S {
  const target = stream as unknown as StreamLike<T> & { [kWatchedStream]?: true } & Record<symbol, unknown>;
  if (typeof target.iterator !== 'function' || target[kWatchedStream] === true) return stream;
  target[kWatchedStream] = true;
  const state = { started: false };
  const inner = target.iterator;
  target.iterator = function tollgateIterator(this: unknown) {
    return closableBeforeStart(inner.call(this), observer, state);
  };
  // openai >= 7.5x gives chat streams their own async iterator, a generator over `iterator`:
  // given up before its first next(), it never calls `iterator` at all. Watch it too.
  const outer = target[Symbol.asyncIterator];
  if (Object.hasOwn(target, Symbol.asyncIterator) && typeof outer === 'function') {
    target[Symbol.asyncIterator] = function tollgateAsyncIterator(this: unknown) {
      const iterator = (outer as () => AsyncIterator<T>).call(this);
      const ownReturn = iterator.return?.bind(iterator);
      if (ownReturn === undefined) return iterator;
      iterator.return = (value?: unknown) => {
        if (!state.started) {
          state.started = true;
          safely('stream break', () => observer.onBreak());
        }
        return ownReturn(value);
      };
      return iterator;
    };
  }
  return stream;
}

/**
 * An async generator's body (and so its `finally`) never runs when `return()` comes before the
 * first `next()`: a consumer that gives up on a stream it never read would leave the span open
 * and the budget reservation held until its TTL. This wrapper closes both in that case.
 */
function closableBeforeStart<T>(source: AsyncIterator<T>, observer: StreamObserver<T>, state: { started: boolean }): AsyncGenerator<T, void, undefined> {
  const generator = observeIterator(source, observer);
  const originalNext = generator.next.bind(generator);
  const originalReturn = generator.return.bind(generator);
  let started = false;
  generator.next = (...args: [] | [undefined]) => {
    started = true;
    state.started = true;
    return originalNext(...args);
  };
  generator.return = async (value?: void | PromiseLike<void>) => {
    if (!started) {
      started = true;
      if (!state.started) {
        state.started = true;
        safely('stream break', () => observer.onBreak());
      }
      await source.return?.();
    }
    return originalReturn(value as void);
  };
  return generator;
}

async function* observeIterator<T>(source: AsyncIterator<T>, observer: StreamObserver<T>): AsyncGenerator<T, void, undefined> {
  let finished = false;
  try {
    for (;;) {
      const step = await source.next();
      if (step.done === true) break;
      let show = true;
      try {
        show = observer.onChunk(step.value);
      } catch (error) {
        reportFault('stream chunk', error);
      }
      if (show) yield step.value;
    }
    finished = true;
    safely('stream done', () => observer.onDone());
  } catch (error) {
    finished = true;
    safely('stream error', () => observer.onError(error));
    throw error;
  } finally {
    if (!finished) {
      // The consumer left early: close the source (aborts the HTTP request), then settle the span.
      safely('stream break', () => observer.onBreak());
      await source.return?.();
    }
  }
}

function safely(where: string, fn: () => void): void {
  try {
    fn();
  } catch (error) {
    reportFault(where, error);
  }
}

// ---------------------------------------------------------------------------
// Small helpers

/** `server.address` / `server.port` of a client base URL; memoised (a service has few base URLs). */
export function serverOf(baseURL: unknown): { address: string; port: number } | undefined {
  if (typeof baseURL !== 'string') return undefined;
  const cached = serverCache.get(baseURL);
  if (cached !== undefined || serverCache.has(baseURL)) return cached;
  let value: { address: string; port: number } | undefined;
  try {
    const url = new URL(baseURL);
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
    value = { address: url.hostname, port };
  } catch {
    value = undefined;
  }
  if (serverCache.size >= 64) serverCache.clear();
  serverCache.set(baseURL, value);
  return value;
}
const serverCache = new Map<string, { address: string; port: number } | undefined>();

const TEXT_KEYS: ReadonlySet<string> = new Set(['content', 'text', 'input', 'instructions', 'system', 'prompt', 'arguments']);

/**
 * The text of a request (or response) for local token counting: every string under a
 * content-like key (`content`, `text`, `input`, `instructions`, `system`, `prompt`, `arguments`),
 * depth-limited. Counting a few structural tokens less than the provider is acceptable for an estimate.
 */
export function collectText(value: unknown, out: string[] = [], depth = 0, underText = false): string[] {
  if (depth > 8) return out;
  if (typeof value === 'string') {
    if (underText) out.push(value);
  } else if (Array.isArray(value)) {
    for (const item of value) collectText(item, out, depth + 1, underText);
  } else if (isRecord(value)) {
    for (const key of Object.keys(value)) collectText(value[key], out, depth + 1, TEXT_KEYS.has(key));
  }
  return out;
}

/** A plain object check that narrows for indexing. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A finite non-negative number, else undefined (usage fields from the wire are untrusted). */
export function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}
