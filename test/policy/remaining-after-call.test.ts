/**
 * `tollgate.budget.remaining_usd` is the room left in the tightest scope AFTER the call,
 * from its real cost (docs/telemetry.md, "Spans, calls covered, processor"), not the room once its worst case was held.
 * The real `openai` SDK, the instrumentation with the real policy as its gate, a memory
 * ledger, and the stand-in provider (canned answers where a usage larger than the hold is
 * needed, as a provider can return).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/config/index.ts';
import { withAgent } from '../../src/context.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { NANOS_PER_USD, usdToNanos } from '../../src/ledger/types.ts';
import { computeCost, createPriceTable } from '../../src/pricing/index.ts';
import { BudgetPolicy } from '../../src/policy/index.ts';
import { createInputEstimator } from '../../src/tokens/index.ts';
import { startHarness, type Harness } from '../standin/harness.ts';

const ledger = new MemoryLedger();
const config = resolveConfig({
  env: {},
  overrides: { agent: 'svc', configFile: { version: 1, agents: { roomy: { dailyUsd: 1 }, tight: { dailyUsd: 0.01 }, failing: { dailyUsd: 1 } } } },
});
const prices = createPriceTable();
const policy = new BudgetPolicy({ config, ledger, prices, estimator: createInputEstimator() });
let h: Harness;

before(async () => {
  h = await startHarness({ gate: policy, captureMessageContent: false });
});
after(async () => {
  await h.close();
});

/** The agent's spend today in the ledger, in nano-USD. */
async function spentNanos(agent: string): Promise<number> {
  const key = `day:${new Date().toISOString().slice(0, 10)}`;
  const [s] = await ledger.spent([{ scope: 'agent.daily', agent, key, limitNanos: null, resetAt: null }]);
  return s?.spentNanos ?? -1;
}

function chat(maxTokens: number): Promise<unknown> {
  return h.client('openai').chat.completions.create({ model: 'gpt-4o', max_tokens: maxTokens, messages: [{ role: 'user', content: 'How much room is left?' }] }) as Promise<unknown>;
}

function lastSpanAttributes(): Record<string, unknown> {
  return h.spans().at(-1)!.attributes as Record<string, unknown>;
}

void test('after each call: the cap minus everything spent, from the real cost, not from the worst case held', async () => {
  for (let call = 1; call <= 2; call++) {
    await withAgent('roomy', () => chat(1000));
    const a = lastSpanAttributes();
    const cost = a['tollgate.cost.usd'] as number;
    // gpt-4o, $10 per M output: a 1000-token ceiling held ~$0.01; the stand-in's short answer cost far less.
    assert.ok(cost > 0 && cost < 0.001, `cost ${cost}`);
    const expected = (1 * NANOS_PER_USD - (await spentNanos('roomy'))) / NANOS_PER_USD;
    assert.equal(a['tollgate.budget.remaining_usd'], expected, `call ${call}`);
    assert.ok(expected > 1 - 0.01 * call, 'above what the worst-case holds would have left');
  }
});

void test('a call that costs more than its hold and goes past the cap leaves 0, not the room the estimate left', async () => {
  // The case: a $0.01 cap, a hold of ~$0.0025 for max_tokens=100, and a provider that
  // reports 1800 output tokens anyway: $0.018 spent.
  h.server.setNextResponse({
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      id: 'chatcmpl-over',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-4o-2024-08-06',
      choices: [{ index: 0, message: { role: 'assistant', content: 'A long answer.' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 12, completion_tokens: 1800, total_tokens: 1812 },
    }),
  });
  await withAgent('tight', () => chat(100));
  const a = lastSpanAttributes();
  const cost = computeCost({ inputTokens: 12, outputTokens: 1800 }, prices.lookup('gpt-4o-2024-08-06').price).totalUsd;
  assert.equal(a['tollgate.cost.usd'], cost);
  assert.ok(cost > 0.018 && cost < 0.0181);
  assert.equal(a['tollgate.policy.action'], 'allow');
  assert.equal(a['tollgate.budget.remaining_usd'], 0);
  assert.equal(await spentNanos('tight'), usdToNanos(cost));
});

void test('a failed call spends nothing: the room after it is the whole cap again', async () => {
  h.server.injectFault({ kind: 'status', status: 500 });
  await assert.rejects(withAgent('failing', () => chat(1000)));
  const a = lastSpanAttributes();
  assert.equal(a['tollgate.cost.usd'], undefined);
  assert.equal(a['tollgate.budget.remaining_usd'], 1);
});
