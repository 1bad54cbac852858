/**
 * The seam between an instrumentation and the budget policy. Before a request
 * is built, the instrumentation describes the call and awaits `admit`; the
 * answer lets it go, rewrites model / max_tokens, or blocks it (the decision
 * carries values; the instrumentation builds the error from them and throws it). When the call
 * ends, the instrumentation reports the real cost through `complete`, or
 * `abort` when it failed without usage.
 *
 * The other direction, from the export side: a span processor prices spans the gate never saw
 * (another instrumentation's calls) and sees tasks end; it reports both to a {@link SpendSink}
 * (the budget policy), so that spend reaches the ledger and task history feeds the `auto` cap.
 */
import type { TaskInfo } from './context.ts';
import type { Refusal } from './errors.ts';

export interface CallDescription {
  /** `openai`, `anthropic`, `azure.ai.openai`, ... */
  readonly provider: string;
  /** `chat`, `embeddings`, ... */
  readonly operation: string;
  readonly model: string;
  /** The output ceiling the caller set (max_tokens / max_completion_tokens / max_output_tokens), if any. */
  readonly maxTokens: number | undefined;
  readonly stream: boolean;
  /** The request body as the caller passed it. Read only. */
  readonly body: Readonly<Record<string, unknown>>;
  /** The agent set by withAgent, if any; the policy falls back to the process's agent (resource gen_ai.agent.name, else service.name). */
  readonly agent: string | undefined;
  readonly task: TaskInfo | undefined;
  /** 1 for the first try, 2+ for SDK retries of the same call. */
  readonly attempt: number;
}

/** What the policy decided. Decisions are values; the instrumentation acts on them. */
export interface GateDecision {
  readonly action: 'allow' | 'rewrite' | 'block';
  /** With `rewrite`: the model the provider receives. */
  readonly model?: string;
  /** With `rewrite` (or `allow` when the policy sets a ceiling on a call that had none): the output ceiling the provider receives. */
  readonly maxTokens?: number;
  /** Why a rewrite or block happened, for `tollgate.policy.reason`. */
  readonly reason?: string;
  /**
   * With `block`: why, as values (scope, limit, spent, reserved, window, ...). The instrumentation
   * builds the error it throws from them (`refusalError` in errors.ts).
   */
  readonly refusal?: Refusal;
  /**
   * @deprecated A ready-made error, for gates written before `refusal`: thrown as is when a `block`
   * carries no `refusal`. Tollgate's own policy never sets it.
   */
  readonly error?: Error;
  /** Opaque handle passed back to complete / abort. */
  readonly ticket?: unknown;
  /**
   * Room left in the tightest capped scope once this call's worst case is held, in USD. The
   * span's `tollgate.budget.remaining_usd` is the room after the call (what complete / abort
   * report); this value stands in only when the gate reports nothing then.
   */
  readonly remainingUsd?: number;
}

/** What a gate reports once it has settled (complete) or released (abort) a call. */
export interface CallSettlement {
  /**
   * Room left in the tightest capped scope after this call, in USD: the room there was once
   * the call's hold was taken, plus the hold, minus the real cost; 0 when the call went past
   * the cap. Undefined when no capped scope applied.
   */
  readonly remainingUsd?: number;
}

export interface CallOutcome {
  /** Total cost of the call in USD, from the price table. */
  readonly costUsd: number;
  /** The model that was priced. */
  readonly model: string;
}

export interface CallGate {
  admit(call: CallDescription): Promise<GateDecision>;
  /**
   * Optional fast path: the decision when it needs no I/O and no estimate (e.g. an agent with no
   * limit, no guard and no route), else undefined and the instrumentation awaits `admit`. Must
   * return what `admit` would; the call is then settled through `complete` / `abort` as usual.
   * The instrumentation asks it once per call, before `admit`.
   */
  decideNow?(call: CallDescription): GateDecision | undefined;
  complete(ticket: unknown, outcome: CallOutcome): CallSettlement | void;
  abort(ticket: unknown): CallSettlement | void;
}

/** A gate that lets every call through: tollgate without a policy. */
export const ALLOW_ALL: CallGate = {
  admit: () => Promise.resolve({ action: 'allow' }),
  complete: () => {},
  abort: () => {},
};

/** Spend the span processor priced from a foreign span (not tollgate's own, whose spend the gate settles itself). */
export interface ForeignSpend {
  readonly agent: string;
  /** The explicit task (withTask, or inbound baggage); undefined when the task is just the trace. */
  readonly task: TaskInfo | undefined;
  /** The priced model. */
  readonly model: string;
  readonly costUsd: number;
}

/** A task that spent something, reported once when it ends. */
export interface TaskEnd {
  /** The withTask / baggage id, or the trace id for a task that is a trace. */
  readonly id: string;
  readonly type: string | undefined;
  readonly costUsd: number;
  readonly calls: number;
  readonly attempts: number;
}

/**
 * What the export side reports back to the budget policy (a `BudgetPolicy` is one). Both methods
 * are called synchronously from the span processor's `onEnding`: keep them O(1), and do any I/O
 * in the returned promise (its rejection is reported through diag, never thrown).
 */
export interface SpendSink {
  /** Charges spend priced from a foreign span to its agent (and task). */
  recordForeign(spend: ForeignSpend): Promise<void> | void;
  /** A task that spent something has ended. */
  observeCompletedTask(task: TaskEnd): void;
}
