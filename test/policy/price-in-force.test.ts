/**
 * The policy reserves at the highest price in force while the call may run (MAX_CALL_DURATION_MS
 * from now): a call starting 10 minutes before DeepSeek's standard window opens is reserved at the
 * standard rate, one starting a second earlier at the off-peak rate; on the service tier it asks for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resolveConfig } from '../../src/config/index.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { BudgetPolicy } from '../../src/policy/index.ts';
import { defaultPriceTable, MAX_CALL_DURATION_MS } from '../../src/pricing/index.ts';
import { call, errorOf, fixedEstimator } from './helpers.ts';

/** The estimate of a 1000-in / 1000-out call at `iso`, read from the refusal of a $0.000001 cap. */
async function estimateAt(iso: string, model: string, body: Record<string, unknown> = {}): Promise<number> {
  const now = (): number => Date.parse(iso);
  const policy = new BudgetPolicy({
    config: resolveConfig({ env: {}, overrides: { agent: 'main', limits: { dailyUsd: 0.000001 } } }),
    ledger: new MemoryLedger({ now }),
    prices: defaultPriceTable(),
    estimator: fixedEstimator(1000),
    now,
    meter: new MeterProvider().getMeter('tollgate'),
  });
  const d = await policy.admit(call({ model, maxTokens: 1000, body: { model, messages: [{ role: 'user', content: 'hi' }], ...body } }));
  assert.equal(d.action, 'block');
  const error = errorOf(d);
  assert.ok(error instanceof BudgetExceededError);
  return error.estimatedUsd;
}

void test('a window opening within the maximum call duration is reserved at its (higher) rate', async () => {
  assert.equal(MAX_CALL_DURATION_MS, 600_000);
  // deepseek-chat off-peak $0.135 / $0.55, standard (00:30-16:30 UTC) $0.27 / $1.10 per million.
  assert.equal(await estimateAt('2026-12-03T00:19:59Z', 'deepseek-chat'), 0.000685);
  assert.equal(await estimateAt('2026-12-03T00:20:00Z', 'deepseek-chat'), 0.00137);
  assert.equal(await estimateAt('2026-12-03T16:29:59Z', 'deepseek-chat'), 0.00137);
  assert.equal(await estimateAt('2026-12-03T16:30:00Z', 'deepseek-chat'), 0.000685);
  // Gemini 3.6 Flash doubles at 2027-01-01T00:00:00Z: $0.75 / $3.75 -> $1.50 / $7.50.
  assert.equal(await estimateAt('2026-12-31T23:49:59Z', 'gemini-3.6-flash'), 0.0045);
  assert.equal(await estimateAt('2026-12-31T23:50:00Z', 'gemini-3.6-flash'), 0.009);
});

void test('the service tier the body asks for is reserved at its rates', async () => {
  // gpt-5: standard $1.25 / $10, flex $0.625 / $5, priority $2.50 / $20 per million.
  assert.equal(await estimateAt('2026-12-03T12:00:00Z', 'gpt-5'), 0.01125);
  assert.equal(await estimateAt('2026-12-03T12:00:00Z', 'gpt-5', { service_tier: 'flex' }), 0.005625);
  assert.equal(await estimateAt('2026-12-03T12:00:00Z', 'gpt-5', { service_tier: 'priority' }), 0.0225);
});
