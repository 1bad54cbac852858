/**
 * BudgetPolicy.decideNow: the synchronous decision for calls nothing constrains. It must
 * decide exactly what the full `admit` path decides, and step aside (undefined) whenever a
 * cap, guard, ceiling, route, task cap or a missing output limit is involved.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { AgentLimits } from '../../src/config/index.ts';
import type { CallDescription } from '../../src/gate.ts';
import { call, harness, type HarnessOptions } from './helpers.ts';

/** A harness with a route function (one that never routes): routing is configured, so the fast path steps aside. */
function routed(o: HarnessOptions = {}) {
  return harness({ ...o, policy: { ...o.policy, route: () => undefined } });
}

const CALLS: Record<string, CallDescription> = {
  'known model, max_tokens set': call({ model: 'big', maxTokens: 1000 }),
  'known model with a stated limit, no max_tokens': call({ model: 'big', maxTokens: undefined }),
  'model without a stated limit, no max_tokens': call({ model: 'small', maxTokens: undefined }),
  'unknown model, max_tokens set': call({ model: 'nobody-prices-this', maxTokens: 50 }),
  'unknown model, no max_tokens': call({ model: 'nobody-prices-this', maxTokens: undefined }),
  embeddings: call({ operation: 'embeddings', model: 'small', maxTokens: undefined }),
  'in a task': call({ model: 'big', task: { id: 't-1', type: 'triage' } }),
  'another agent': call({ model: 'mid', agent: 'helper' }),
};

const LIMITS: Record<string, AgentLimits | undefined> = {
  'no limits': undefined,
  'daily cap': { dailyUsd: 5 },
  'monthly cap': { monthlyUsd: 50 },
  'task cap': { taskUsd: 0.5 },
  'output ceiling': { maxTokens: 300 },
  'attempts guard': { maxAttemptsPerTask: 3 },
  'rate guard': { rateUsdPerMinute: 1 },
};

function shape(d: { action: string; model?: string; maxTokens?: number; reason?: string; remainingUsd?: number }) {
  return { action: d.action, model: d.model, maxTokens: d.maxTokens, reason: d.reason, remainingUsd: d.remainingUsd };
}

void describe('BudgetPolicy.decideNow', () => {
  void it('decides what the full admit path decides, for every call and limit combination where it decides at all', async () => {
    let decided = 0;
    let deferred = 0;
    for (const [limitName, limits] of Object.entries(LIMITS)) {
      for (const [callName, c] of Object.entries(CALLS)) {
        const o: HarnessOptions = limits === undefined ? {} : { limits };
        // `admit` is the full path (it does not consult decideNow).
        const { policy } = harness(o);
        const fast = policy.decideNow(c);
        const full = await policy.admit(c);
        if (fast === undefined) {
          deferred++;
          continue;
        }
        decided++;
        assert.deepEqual(shape(fast), shape(full), `${limitName} / ${callName}`);
        assert.equal(fast.ticket, undefined, `${limitName} / ${callName}: nothing to settle`);
      }
    }
    // Both branches were exercised: the comparison above is not vacuous.
    assert.ok(decided >= 8, `decided ${decided}`);
    assert.ok(deferred >= 30, `deferred ${deferred}`);
  });

  void it('decides only for unconstrained agents, and only when the call needs no default output ceiling', () => {
    const free = harness().policy;
    assert.deepEqual(free.decideNow(CALLS['known model, max_tokens set']!), { action: 'allow' });
    assert.deepEqual(free.decideNow(CALLS['known model with a stated limit, no max_tokens']!), { action: 'allow' });
    assert.deepEqual(free.decideNow(CALLS['embeddings']!), { action: 'allow' });
    // The full path sets DEFAULT_MAX_TOKENS on these: not for the fast path.
    assert.equal(free.decideNow(CALLS['model without a stated limit, no max_tokens']!), undefined);
    assert.equal(free.decideNow(CALLS['unknown model, no max_tokens']!), undefined);

    for (const [name, limits] of Object.entries(LIMITS)) {
      if (limits === undefined || 'taskUsd' in limits) continue;
      assert.equal(harness({ limits }).policy.decideNow(CALLS['known model, max_tokens set']!), undefined, name);
    }
    // A task cap only matters to calls in a task.
    const taskCapped = harness({ limits: { taskUsd: 0.5 } }).policy;
    assert.equal(taskCapped.decideNow(CALLS['in a task']!), undefined);
    assert.deepEqual(taskCapped.decideNow(CALLS['known model, max_tokens set']!), { action: 'allow' });
  });

  void it('steps aside for routing, config scopes, per-agent limits and unknownModel: block', () => {
    assert.equal(routed().policy.decideNow(CALLS['known model, max_tokens set']!), undefined);
    const scoped = harness({ file: { scopes: [{ name: 'team', period: 'day', limitUsd: 10 }] } }).policy;
    assert.equal(scoped.decideNow(CALLS['known model, max_tokens set']!), undefined);
    const perAgent = harness({ file: { agents: { helper: { dailyUsd: 1 } } } }).policy;
    assert.equal(perAgent.decideNow(CALLS['another agent']!), undefined);
    assert.deepEqual(perAgent.decideNow(CALLS['known model, max_tokens set']!), { action: 'allow' });
    const strict = harness({ file: { unknownModel: 'block' } }).policy;
    assert.equal(strict.decideNow(CALLS['unknown model, max_tokens set']!), undefined);
  });

  void it('keeps admit exact for a capped agent: a call over the cap is still refused', async () => {
    const { policy } = harness({ limits: { dailyUsd: 0.001 } });
    const d = await policy.admit(call({ model: 'big', maxTokens: 8000 }));
    assert.equal(d.action, 'block');
  });
});
