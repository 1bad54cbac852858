/**
 * The life of one GenAI call as a span, for any client: start, the pre-send budget gate,
 * response facts, usage, price, end. Nothing here knows an SDK; `../stainless/` fits it to the
 * Stainless-generated clients, other clients drive it directly (see `./index.ts`).
 *
 * Rule kept everywhere here: a fault inside tollgate is caught and reported once through `diag`;
 * the user's call proceeds. The only errors that reach the user are the ones the gate decided on
 * (BudgetExceededError, LedgerUnavailableError), thrown before anything is sent.
 */
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import { hrTimeToMilliseconds, isTimeInputHrTime } from '@opentelemetry/core';
import { agentFromContext, taskFromContext } from '../../context.ts';
import { BudgetExceededError, LedgerUnavailableError, refusalError } from '../../errors.ts';
import { ALLOW_ALL } from '../../gate.ts';
import type { CallDescription, GateDecision } from '../../gate.ts';
import { isRecord } from '../../internal/values.ts';
import { reportFault } from '../../internal/warn-once.ts';
import { priceCall, writeCostAttributes } from '../../pricing/index.ts';
import { overridesOrFallback } from './strict-prices.ts';
import type { Usage } from '../../pricing/types.ts';
import {
  ATTR_ATTEMPTS,
  ATTR_BUDGET_REMAINING_USD,
  ATTR_OPENAI_REQUEST_SERVICE_TIER,
  ATTR_OPENAI_RESPONSE_SERVICE_TIER,
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
} from '../../semconv.ts';
import { resolveSettings } from './settings.ts';
import type { ContentCaptureMode, ResolvedSettings, TollgateInstrumentationConfig } from './settings.ts';
import { countTokens } from './text.ts';

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
  private remainingUsd: number | undefined;
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
    // Assignments, not a literal with computed keys: optimised code defines those through a
    // runtime call per key, on every call.
    const attributes: Attributes = {};
    attributes[ATTR_GEN_AI_OPERATION_NAME] = spec.operation;
    attributes[ATTR_GEN_AI_PROVIDER_NAME] = spec.provider;
    attributes[ATTR_GEN_AI_REQUEST_MODEL] = spec.model;
    attributes[ATTR_GEN_AI_REQUEST_STREAM] = spec.stream;
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
          this.span.setAttribute(ATTR_POLICY_ACTION, 'block');
          this.block(error, BLOCK);
        } else {
          reportFault('gate.admit', error);
          this.apply(ALLOW, options);
        }
      },
    );
  }

  /**
   * The gate for a client without a `prepareOptions`-style hook: runs {@link beforeAttempt} for one
   * attempt and gives the body to send (the rewritten copy, or `body` itself), synchronously when the
   * gate decided so (no policy, its `decideNow` fast path: no promise on the hot path), else as a
   * promise. When the gate refused the call, ends it as failed and throws (or rejects with) the block
   * error: send nothing then.
   */
  admitBody(body: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> | Promise<Readonly<Record<string, unknown>>> {
    const options: { body?: unknown } = { body };
    const admitted = (): Readonly<Record<string, unknown>> => (isRecord(options.body) ? options.body : body);
    const refused = (error: unknown): never => {
      this.fail(error);
      throw error;
    };
    let pending: Promise<void> | undefined;
    try {
      pending = this.beforeAttempt(options);
    } catch (error) {
      refused(error);
    }
    return pending === undefined ? admitted() : pending.then(admitted, refused);
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

  /** Marks the call blocked and throws `error` (built from the gate's refusal): nothing is sent. */
  private block(error: Error, decision: GateDecision): never {
    this.blocked = true;
    this.span.addEvent(EVENT_CALL_BLOCKED, blockEventAttributes(error, decision));
    throw error;
  }

  private apply(decision: GateDecision, options: { body?: unknown }): void {
    const span = this.span;
    span.setAttribute(ATTR_POLICY_ACTION, decision.action);
    // tollgate.budget.remaining_usd is the room after the call (settle); the gate's figure with the
    // worst case held stands in only if the gate reports nothing then.
    this.remainingUsd = decision.remainingUsd;
    if (decision.reason !== undefined) span.setAttribute(ATTR_POLICY_REASON, decision.reason);
    if (decision.action === 'block') {
      const refusal = decision.refusal;
      this.block(refusal !== undefined ? refusalError(refusal) : (decision.error ?? blockErrorFor(decision, this.spec, this.agent, this.task)), decision);
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
    return writeCostAttributes(span, priceCall(table, usage, model, this.spec.pricingProvider ?? this.spec.provider, this.startedAt, this.spec.serviceTier));
  }

  /** Settles the gate ticket: the real cost when priced, else releases the reservation. */
  private settle(costUsd: number | undefined): void {
    if (!this.admitted) return;
    const gate = this.settings.gate;
    if (gate === ALLOW_ALL) return;
    try {
      const settled = costUsd === undefined ? gate.abort(this.ticket) : gate.complete(this.ticket, { costUsd, model: this.responseModel ?? this.model });
      const remaining = settled?.remainingUsd ?? this.remainingUsd;
      if (remaining !== undefined) this.span.setAttribute(ATTR_BUDGET_REMAINING_USD, remaining);
    } catch (error) {
      reportFault('gate.complete', error);
    }
  }
}

const ALLOW: GateDecision = { action: 'allow' };
const BLOCK: GateDecision = { action: 'block' };

/** A span's start time in epoch ms (the SDK span's `startTime`), else now. */
function spanStartMs(span: Span): number {
  const start = (span as { startTime?: unknown }).startTime;
  return isTimeInputHrTime(start) ? hrTimeToMilliseconds(start) : Date.now();
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
