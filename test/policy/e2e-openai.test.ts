/**
 * The policy end to end: the real `openai` SDK, tollgate's instrumentation with the policy
 * as its gate, and the local stand-in provider. What the stand-in receives is what a
 * provider would: the downgraded model, the clamped max_tokens, and nothing at all for a
 * blocked call.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/config/index.ts';
import { withAgent, withTask } from '../../src/context.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { BudgetPolicy } from '../../src/policy/index.ts';
import { createInputEstimator } from '../../src/tokens/index.ts';
import type { CallDescription, CallGate, CallOutcome, GateDecision } from '../../src/gate.ts';
import { startHarness, type Harness } from '../standin/harness.ts';

const prices = createPriceTable();
const estimator = createInputEstimator();

/** Forwards to whichever policy the current test installed. */
class SwitchGate implements CallGate {
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

const gate = new SwitchGate();
let h: Harness;

before(async () => {
  h = await startHarness({ gate, captureMessageContent: false });
});
after(async () => {
  await h.close();
});
beforeEach(() => h.reset());

function usePolicy(file: Record<string, unknown>, limits: Record<string, unknown>): BudgetPolicy {
  const config = resolveConfig({ env: {}, overrides: { agent: 'svc', configFile: { version: 1, ...file }, limits } });
  const policy = new BudgetPolicy({ config, ledger: new MemoryLedger(), prices, estimator });
  gate.policy = policy;
  return policy;
}

const chat = (client: ReturnType<Harness['client']>, maxTokens: number | undefined, text = 'Say hello.') =>
  client.chat.completions.create({
    model: 'gpt-4o',
    messages: [{ role: 'user', content: text }],
    ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }),
  }) as Promise<{ model: string }>;

void describe('policy + openai SDK + stand-in server', () => {
  void it('the provider receives the clamped max_tokens', async () => {
    // gpt-4o: $2.5 in / $10 out per M. Room $0.001: ~ 12 input tokens -> ~ 97 output tokens.
    usePolicy({ maxTokensFloor: 16 }, { dailyUsd: 0.001, onExceed: 'downgrade' });
    const client = h.client('openai');
    await chat(client, 1000);
    const sent = h.server.requests.at(-1)!.body as { model: string; max_tokens: number };
    assert.equal(sent.model, 'gpt-4o');
    const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 1000 };
    // The fast bound did not fit, so the exact count priced the input.
    const exact = estimator.count('openai', body);
    assert.ok(exact < estimator.upperBound('openai', body));
    assert.equal(sent.max_tokens, Math.floor((1_000_000 - exact * 2500 - 1) / 10_000));
    const span = h.spans().at(-1)!;
    assert.equal(span.attributes['tollgate.policy.action'], 'rewrite');
    assert.equal(span.attributes['tollgate.policy.original_max_tokens'], 1000);
    assert.equal(span.attributes['gen_ai.request.max_tokens'], sent.max_tokens);
    assert.equal(span.attributes['tollgate.policy.reason'], `budget agent.daily: max_tokens 1000 -> ${sent.max_tokens}`);
  });

  void it('the provider receives the downgraded model', async () => {
    usePolicy({ ladders: { openai: ['gpt-4o', 'gpt-4o-mini'] }, maxTokensFloor: 512 }, { dailyUsd: 0.001, onExceed: 'downgrade' });
    const client = h.client('openai');
    const res = await chat(client, 1000);
    const sent = h.server.requests.at(-1)!.body as { model: string; max_tokens: number };
    assert.equal(sent.model, 'gpt-4o-mini');
    assert.equal(sent.max_tokens, 1000);
    assert.equal(res.model.startsWith('gpt-4o-mini'), true);
    const span = h.spans().at(-1)!;
    assert.equal(span.attributes['tollgate.policy.original_model'], 'gpt-4o');
    assert.equal(span.attributes['gen_ai.request.model'], 'gpt-4o-mini');
  });

  void it('sets the configured ceiling on a call without max_tokens', async () => {
    usePolicy({}, { maxTokens: 333 });
    await chat(h.client('openai'), undefined);
    // No max_tokens on the call: the instrumentation sets the current field, max_completion_tokens.
    assert.equal((h.server.requests.at(-1)!.body as { max_completion_tokens: number }).max_completion_tokens, 333);
  });

  void it('a blocked call sends nothing and rejects with BudgetExceededError', async () => {
    usePolicy({}, { dailyUsd: 0.0001 });
    await assert.rejects(chat(h.client('openai'), 1000), (e: unknown) => e instanceof BudgetExceededError && e.scope === 'agent.daily' && e.agent === 'svc');
    assert.equal(h.server.requests.length, 0);
  });

  for (const [label, limits, taskOf] of [
    ['a task cap', { taskUsd: 0.002 }, () => 'T'],
    ['an agent daily cap', { dailyUsd: 0.002 }, (i: number) => `t${i % 7}`],
  ] as const) {
    void it(`500 concurrent SDK calls never spend past ${label}`, async () => {
      const cap = 0.002;
      usePolicy({}, limits);
      const client = h.client('openai');
      const results = await Promise.allSettled(
        Array.from({ length: 500 }, (_, i) =>
          withAgent('svc', () => withTask({ id: taskOf(i), type: 'storm' }, () => client.chat.completions.create({
            model: 'gpt-4o-mini',
            messages: [{ role: 'user', content: `Question number ${i}: say hello.` }],
            max_tokens: 100,
          }) as Promise<unknown>)),
        ),
      );
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const refused = results.filter((r) => r.status === 'rejected');
      assert.equal(h.server.requests.length, ok);
      assert.ok(ok > 0 && refused.length > 0, `ok ${ok}, refused ${refused.length}`);
      for (const r of refused) {
        const e = (r as PromiseRejectedResult).reason as unknown;
        assert.ok(e instanceof BudgetExceededError, String(e));
        assert.equal(e.scope, 'taskUsd' in limits ? 'task' : 'agent.daily');
        assert.equal(e.agent, 'svc');
        assert.equal(e.limitUsd, cap);
        assert.ok(e.spentUsd + e.reservedUsd + e.estimatedUsd > cap);
        assert.ok(e.spentUsd + e.reservedUsd <= cap + 1e-12);
      }
      // The real cost of every call that reached the provider, as priced on its span.
      const spent = h
        .spans()
        .filter((s) => s.attributes['tollgate.policy.action'] !== 'block')
        .reduce((sum, s) => sum + (s.attributes['tollgate.cost.usd'] as number), 0);
      assert.equal(h.spans().filter((s) => s.attributes['tollgate.policy.action'] !== 'block').length, ok);
      assert.ok(spent <= cap, `spent $${spent} over a $${cap} cap`);
    });
  }
});
