/**
 * `policy.getAgentStatus(agent)`: an agent's budgets as the ledger has them, and whether it is
 * blocked (a refusal by an agent-wide scope, or a full budget) until a window resets.
 */
import { nanosToUsd } from '../internal/money.ts';
import type { AgentState } from './agents.ts';
import type { LedgerGuard } from './ledger-guard.ts';

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

/** The status of the agent `st` at `now`, its counters read through `guard`. */
export async function agentStatus(guard: LedgerGuard, st: AgentState, now: number): Promise<AgentStatus> {
  const scopes = st.scopes;
  const spends = scopes.length === 0 ? [] : await guard.spent(scopes);
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
    agent: st.name,
    blocked: blockedScope !== null,
    blockedScope,
    blockedUntil: until === null ? null : new Date(until).toISOString(),
    budgets,
  };
}
