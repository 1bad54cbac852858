/**
 * Refusals as values (a `Refusal` of errors.ts): the budget a reservation did not fit, and the
 * runaway-loop guards (calls per task, USD per minute per agent). The policy counts and reports
 * them; the instrumentation builds the error it throws from them.
 */
import type { TaskInfo } from '../context.ts';
import type { BudgetRefusal } from '../errors.ts';
import { nanosToUsd } from '../internal/money.ts';
import type { ReserveResult } from '../ledger/types.ts';
import type { AgentState, AgentStates } from './agents.ts';

/** A refusal, and until when it blocks the agent (agent-wide scopes only; undefined: it does not). */
export interface Refused {
  readonly refusal: BudgetRefusal;
  readonly blockedUntil?: number;
}

/** The scope a reservation did not fit, with what the ledger said was spent and held there. */
export function budgetRefusal(failed: Extract<ReserveResult, { ok: false }>, agent: string, task: TaskInfo | undefined, estimateNanos: number): Refused {
  const s = failed.scope;
  return {
    refusal: {
      code: 'BUDGET_EXCEEDED',
      scope: s.scope,
      agent,
      taskId: task?.id ?? null,
      limitUsd: s.limitNanos === null ? 0 : nanosToUsd(s.limitNanos),
      spentUsd: nanosToUsd(failed.spentNanos),
      reservedUsd: nanosToUsd(failed.reservedNanos),
      estimatedUsd: nanosToUsd(estimateNanos),
      resetAt: s.resetAt === null ? null : new Date(s.resetAt).toISOString(),
    },
    blockedUntil: s.resetAt ?? Infinity,
  };
}

/**
 * The runaway-loop guards: more calls in a task than `maxAttemptsPerTask` (the call is counted
 * here), or an agent at or above `rateUsdPerMinute` over the last minute. A refusal, or undefined.
 */
export function runawayGuard(agents: AgentStates, st: AgentState, task: TaskInfo | undefined, estimateNanos: number, now: number): Refused | undefined {
  const agent = st.name;
  const maxAttempts = st.limits.maxAttemptsPerTask;
  if (task !== undefined && maxAttempts !== undefined) {
    const calls = agents.bumpAttempts(agent, task.id);
    if (calls > maxAttempts) {
      return {
        refusal: {
          code: 'BUDGET_EXCEEDED',
          scope: 'task.attempts',
          agent,
          taskId: task.id,
          limitUsd: 0,
          spentUsd: 0,
          reservedUsd: 0,
          estimatedUsd: nanosToUsd(estimateNanos),
          resetAt: null,
          guard: { kind: 'attempts', calls, max: maxAttempts },
        },
      };
    }
  }
  const perMinute = st.limits.rateUsdPerMinute;
  if (st.rate !== null && perMinute !== undefined) {
    const spent = st.rate.lastMinuteUsd(now);
    if (spent >= perMinute) {
      const until = st.rate.belowAt(now, perMinute);
      return {
        refusal: {
          code: 'BUDGET_EXCEEDED',
          scope: 'agent.rate',
          agent,
          taskId: task?.id ?? null,
          limitUsd: perMinute,
          spentUsd: spent,
          reservedUsd: 0,
          estimatedUsd: nanosToUsd(estimateNanos),
          resetAt: new Date(until).toISOString(),
          guard: { kind: 'rate' },
        },
        blockedUntil: until,
      };
    }
  }
  return undefined;
}
