/**
 * Gates the instrumentation tests switch per test: the instrumentation patches an SDK once per
 * process, so its gate stays the same object and forwards to what the current test installed.
 */
import { BudgetExceededError } from '../../src/errors.ts';
import type { CallDescription, CallGate, CallOutcome, GateDecision } from '../../src/gate.ts';
import type { BudgetPolicy } from '../../src/policy/index.ts';

/** Forwards to `policy` when a test set one, else allows. */
export class PolicySwitchGate implements CallGate {
  policy: BudgetPolicy | undefined;
  admit(call: CallDescription): Promise<GateDecision> {
    return this.policy === undefined ? Promise.resolve({ action: 'allow' }) : this.policy.admit(call);
  }
  complete(ticket: unknown, outcome: CallOutcome): void {
    this.policy?.complete(ticket, outcome);
  }
  abort(ticket: unknown): void {
    this.policy?.abort(ticket);
  }
}

/** A refusal like the policy's for a spent daily cap. */
export function dailyRefusal(): BudgetExceededError {
  return new BudgetExceededError({ scope: 'agent.daily', agent: 'svc', taskId: null, limitUsd: 1, spentUsd: 1, reservedUsd: 0, estimatedUsd: 0.01, resetAt: null });
}

/** Allows, or (with `refuse`) blocks every call with {@link dailyRefusal}; counts admissions. */
export class RefusingGate implements CallGate {
  refuse = false;
  admitted = 0;
  admit(): Promise<GateDecision> {
    this.admitted++;
    return Promise.resolve(this.refuse ? { action: 'block', error: dailyRefusal() } : { action: 'allow' });
  }
  complete(): void {}
  abort(): void {}
}
