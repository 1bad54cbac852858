/**
 * The errors tollgate raises. Every one extends {@link TollgateError}, carries a
 * stable `code`, and is recognised by `instanceof` even when two copies of the
 * package are installed (each class checks a `Symbol.for` brand, as undici does).
 */

const kTollgateError = Symbol.for('tollgate.error');
const kBudgetExceeded = Symbol.for('tollgate.error.budget_exceeded');
const kConfigError = Symbol.for('tollgate.error.config_invalid');
const kLedgerUnavailable = Symbol.for('tollgate.error.ledger_unavailable');

function hasBrand(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/**
 * Every `code` a {@link TollgateError} carries: a closed list, so a `switch` over it is checked
 * for exhaustiveness and a new code is a visible change of the API.
 * - `BUDGET_EXCEEDED`: a call did not fit a budget ({@link BudgetExceededError}).
 * - `CONFIG_INVALID`: a setting is invalid ({@link ConfigError}).
 * - `LEDGER_UNAVAILABLE`: the ledger could not be reached and the policy fails closed ({@link LedgerUnavailableError}).
 * - `MODEL_UNPRICED`: a model is in no price table and the config says `unknownModel: "block"`.
 * - `REPORT_INPUT`: `tollgate report` could not open or read its input file.
 */
export type TollgateErrorCode = 'BUDGET_EXCEEDED' | 'CONFIG_INVALID' | 'LEDGER_UNAVAILABLE' | 'MODEL_UNPRICED' | 'REPORT_INPUT';

/** Root of every error tollgate raises. */
export class TollgateError extends Error {
  /** A stable, machine-readable code (see {@link TollgateErrorCode}). */
  readonly code: TollgateErrorCode;

  constructor(code: TollgateErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TollgateError';
    this.code = code;
    Object.defineProperty(this, kTollgateError, { value: true });
  }

  static override [Symbol.hasInstance](instance: unknown): boolean {
    return hasBrand(instance, kTollgateError);
  }
}

/** Fields of a {@link BudgetExceededError}. Money is in USD. */
export interface BudgetExceededDetails {
  /** `task`, `agent.daily`, `agent.monthly`, `agent.rate`, `task.attempts` or a config-defined scope. */
  readonly scope: string;
  readonly agent: string;
  readonly taskId: string | null;
  readonly limitUsd: number;
  readonly spentUsd: number;
  readonly reservedUsd: number;
  /** Worst-case cost of the call that was refused. */
  readonly estimatedUsd: number;
  /** When the scope's window resets (ISO 8601), or null for scopes that never reset. */
  readonly resetAt: string | null;
}

/**
 * LangChain.js (>= 1) reads this own property of an error (`getRetryable` in `@langchain/core/errors`):
 * `false` makes its AsyncCaller give up at once.
 */
const kLangChainRetryable = Symbol.for('langchain.errors.retryable');

/**
 * The brand `APICallError.isInstance` of the AI SDK's `@ai-sdk/provider` checks. Mastra's model-call retry
 * (p-retry in its agent loop) retries every error except an `APICallError` whose `isRetryable` is false;
 * the AI SDK itself retries only an `APICallError` whose `isRetryable` is true, so the brand changes
 * nothing there.
 */
const kAiSdkApiCallError = Symbol.for('vercel.ai.error.AI_APICallError');

/**
 * Marks an error as not worth retrying, in each way the retry loops tollgate's users run under read it:
 * - LangChain.js >= 1: the `Symbol.for('langchain.errors.retryable')` own property, `false`;
 * - LangChain.js 0.x (`STATUS_NO_RETRY`), `@openai/agents` retry advice and policies, p-retry wrappers
 *   that look at an HTTP status: `status` 402 (Payment Required; no reader retries it, unlike 408/409/429/5xx);
 * - the AI SDK's and Mastra's naming: `isRetryable` and `retryable`, `false`;
 * - Mastra's agent loop: the AI SDK `APICallError` brand, so that its retry reads `isRetryable`.
 * All non-enumerable, so the error's own fields (and its JSON) are unchanged.
 */
function markNotRetryable(error: Error): void {
  const hidden = (value: unknown): PropertyDescriptor => ({ value, configurable: true, writable: true, enumerable: false });
  Object.defineProperty(error, kLangChainRetryable, hidden(false));
  Object.defineProperty(error, 'status', hidden(402));
  Object.defineProperty(error, 'isRetryable', hidden(false));
  Object.defineProperty(error, 'retryable', hidden(false));
  Object.defineProperty(error, kAiSdkApiCallError, hidden(true));
}

/**
 * Thrown before a request is sent when it does not fit a budget. Nothing reached the provider.
 * Marked as not retryable (see `markNotRetryable`): retrying cannot succeed before the budget resets,
 * and a framework's backoff would stall the caller for minutes.
 */
export class BudgetExceededError extends TollgateError implements BudgetExceededDetails {
  /** 402 Payment Required, for retry loops that decide by HTTP status. Not an HTTP answer: nothing was sent. */
  declare readonly status: 402;
  /** Always false: a refusal is not retried. */
  declare readonly isRetryable: false;
  /** Always false: a refusal is not retried. */
  declare readonly retryable: false;
  readonly scope: string;
  readonly agent: string;
  readonly taskId: string | null;
  readonly limitUsd: number;
  readonly spentUsd: number;
  readonly reservedUsd: number;
  readonly estimatedUsd: number;
  readonly resetAt: string | null;

  constructor(details: BudgetExceededDetails, message?: string) {
    super(
      'BUDGET_EXCEEDED',
      message ??
        `tollgate: budget ${details.scope} of agent "${details.agent}"${details.taskId === null ? '' : ` (task ${details.taskId})`} ` +
          `exceeded: limit $${fmt(details.limitUsd)}, spent $${fmt(details.spentUsd)}, reserved $${fmt(details.reservedUsd)}, ` +
          `this call needs up to $${fmt(details.estimatedUsd)}` +
          (details.resetAt === null ? '' : `; resets at ${details.resetAt}`),
    );
    this.name = 'BudgetExceededError';
    this.scope = details.scope;
    this.agent = details.agent;
    this.taskId = details.taskId;
    this.limitUsd = details.limitUsd;
    this.spentUsd = details.spentUsd;
    this.reservedUsd = details.reservedUsd;
    this.estimatedUsd = details.estimatedUsd;
    this.resetAt = details.resetAt;
    Object.defineProperty(this, kBudgetExceeded, { value: true });
    markNotRetryable(this);
  }

  static override [Symbol.hasInstance](instance: unknown): boolean {
    return hasBrand(instance, kBudgetExceeded);
  }
}

/** A configuration value (env var, resource attribute, config or price file) is invalid. Raised at start-up. */
export class ConfigError extends TollgateError {
  /** Where the value came from, e.g. `OTEL_RESOURCE_ATTRIBUTES tollgate.budget.daily_usd` or `prices.json $.models[0].input`. */
  readonly source: string;
  /** The offending value, as found. */
  readonly value: unknown;
  /** What would have been accepted. */
  readonly expected: string;

  constructor(source: string, value: unknown, expected: string, options?: { cause?: unknown }) {
    super('CONFIG_INVALID', `tollgate: invalid configuration at ${source}: got ${describe(value)}, expected ${expected}`, options);
    this.name = 'ConfigError';
    this.source = source;
    this.value = value;
    this.expected = expected;
    Object.defineProperty(this, kConfigError, { value: true });
  }

  static override [Symbol.hasInstance](instance: unknown): boolean {
    return hasBrand(instance, kConfigError);
  }
}

/** The spend ledger could not be reached and the failure policy is `closed`: the call was not sent. */
export class LedgerUnavailableError extends TollgateError {
  /** The ledger, without credentials, e.g. `redis://127.0.0.1:6379/0`. */
  readonly ledger: string;
  /** What went wrong, e.g. `no answer within 1000 ms` (the message's tail). */
  readonly reason: string;

  constructor(ledger: string, reason: string, options?: { cause?: unknown }) {
    super('LEDGER_UNAVAILABLE', `tollgate: ledger ${ledger} unavailable: ${reason}`, options);
    this.name = 'LedgerUnavailableError';
    this.ledger = ledger;
    this.reason = reason;
    Object.defineProperty(this, kLedgerUnavailable, { value: true });
  }

  static override [Symbol.hasInstance](instance: unknown): boolean {
    return hasBrand(instance, kLedgerUnavailable);
  }
}

/**
 * Why the gate refused a call, as plain values: what a `GateDecision` of `block` carries
 * (docs/api.md, "Errors"). The instrumentation, the one place that throws, builds the error from
 * it with {@link refusalError}.
 */
export type Refusal = BudgetRefusal | LedgerRefusal | UnpricedRefusal;

/** A call that does not fit a budget, or that a runaway-loop guard stopped. */
export interface BudgetRefusal extends BudgetExceededDetails {
  readonly code: 'BUDGET_EXCEEDED';
  /** Set when a runaway-loop guard refused: the task's calls and its cap (`task.attempts`), or the USD-per-minute rate (`agent.rate`). */
  readonly guard?: { readonly kind: 'attempts'; readonly calls: number; readonly max: number } | { readonly kind: 'rate' };
}

/** The ledger could not answer and the failure policy is `closed`. */
export interface LedgerRefusal {
  readonly code: 'LEDGER_UNAVAILABLE';
  /** The ledger, without credentials. */
  readonly ledger: string;
  readonly reason: string;
  readonly cause?: unknown;
}

/** The model is in no price table and the config says `unknownModel: "block"`. */
export interface UnpricedRefusal {
  readonly code: 'MODEL_UNPRICED';
  readonly model: string;
  readonly provider: string;
}

/** One error per refusal: the error thrown into the call and the one `onBudgetExceeded` sees are the same object. */
const refusalErrors = new WeakMap<Refusal, TollgateError>();

/** The error a refusal throws (the same object for the same refusal). */
export function refusalError(refusal: BudgetRefusal): BudgetExceededError;
export function refusalError(refusal: LedgerRefusal): LedgerUnavailableError;
export function refusalError(refusal: Refusal): TollgateError;
export function refusalError(refusal: Refusal): TollgateError {
  let error = refusalErrors.get(refusal);
  if (error === undefined) {
    error = buildRefusalError(refusal);
    refusalErrors.set(refusal, error);
  }
  return error;
}

function buildRefusalError(r: Refusal): TollgateError {
  switch (r.code) {
    case 'BUDGET_EXCEEDED': {
      const { code: _code, guard, ...details } = r;
      if (guard?.kind === 'attempts') {
        return new BudgetExceededError(
          details,
          `tollgate: task ${r.taskId} of agent "${r.agent}" made ${guard.calls} LLM calls, more than maxAttemptsPerTask ${guard.max} (runaway-loop guard)`,
        );
      }
      if (guard?.kind === 'rate') {
        return new BudgetExceededError(
          details,
          `tollgate: agent "${r.agent}" spent $${r.spentUsd.toFixed(6)} in the last minute, at or above rateUsdPerMinute ${r.limitUsd} (runaway-loop guard); blocked until ${r.resetAt}`,
        );
      }
      return new BudgetExceededError(details);
    }
    case 'LEDGER_UNAVAILABLE':
      return new LedgerUnavailableError(r.ledger, r.reason, r.cause === undefined ? undefined : { cause: r.cause });
    case 'MODEL_UNPRICED':
      return new TollgateError(
        'MODEL_UNPRICED',
        `tollgate: model "${r.model}" (${r.provider}) is in no price table and the config says unknownModel: "block"; add it to TOLLGATE_PRICES`,
      );
  }
}

function fmt(usd: number): string {
  return usd.toFixed(6).replace(/0+$/, '').replace(/\.$/, '');
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  try {
    const s = JSON.stringify(value);
    return s.length > 200 ? `${s.slice(0, 200)}…` : s;
  } catch {
    return String(value);
  }
}
