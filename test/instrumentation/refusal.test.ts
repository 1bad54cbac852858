/**
 * Gate decisions carry values, not ready-made errors: the policy's `block` holds a `refusal`
 * (scope, limit, spent, reserved, window, ...) and the instrumentation, the one place that
 * throws, builds the error from it (errors.ts `refusalError`) with the fields and messages the
 * public error contract names.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { resolveConfig } from '../../src/config/index.ts';
import { BudgetExceededError, LedgerUnavailableError, TollgateError, refusalError, type BudgetRefusal, type Refusal } from '../../src/errors.ts';
import type { CallGate, GateDecision } from '../../src/gate.ts';
import { CallTracker } from '../../src/instrumentation/core/index.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { createBudgetPolicy, type BudgetExceededEvent } from '../../src/policy/index.ts';
import { createPriceTable } from '../../src/pricing/index.ts';

const prices = createPriceTable({ overrides: [{ provider: 'openai', model: 'acme-large', input: 1000, output: 1000, maxOutputTokens: 1000 }] });

const DAILY: BudgetRefusal = {
  code: 'BUDGET_EXCEEDED',
  scope: 'agent.daily',
  agent: 'svc',
  taskId: 'job-7',
  limitUsd: 1,
  spentUsd: 0.75,
  reservedUsd: 0.2,
  estimatedUsd: 0.1,
  resetAt: '2026-11-26T00:00:00.000Z',
};

test('a budget refusal builds the BudgetExceededError of the contract: code, every field, the message', () => {
  const e = refusalError(DAILY);
  assert.ok(e instanceof BudgetExceededError);
  assert.ok(e instanceof TollgateError);
  assert.equal(e.name, 'BudgetExceededError');
  assert.equal(e.code, 'BUDGET_EXCEEDED');
  assert.deepEqual(
    { scope: e.scope, agent: e.agent, taskId: e.taskId, limitUsd: e.limitUsd, spentUsd: e.spentUsd, reservedUsd: e.reservedUsd, estimatedUsd: e.estimatedUsd, resetAt: e.resetAt },
    { scope: 'agent.daily', agent: 'svc', taskId: 'job-7', limitUsd: 1, spentUsd: 0.75, reservedUsd: 0.2, estimatedUsd: 0.1, resetAt: '2026-11-26T00:00:00.000Z' },
  );
  assert.equal(
    e.message,
    'tollgate: budget agent.daily of agent "svc" (task job-7) exceeded: limit $1, spent $0.75, reserved $0.2, this call needs up to $0.1; resets at 2026-11-26T00:00:00.000Z',
  );
  // The same refusal is the same error: what onBudgetExceeded sees is what the call throws.
  assert.equal(refusalError(DAILY), e);
  assert.notEqual(refusalError({ ...DAILY }), e);
});

test('runaway-guard refusals keep their own messages; ledger and unpriced refusals build their errors', () => {
  const attempts = refusalError({ ...DAILY, scope: 'task.attempts', limitUsd: 0, spentUsd: 0, reservedUsd: 0, resetAt: null, guard: { kind: 'attempts', calls: 4, max: 3 } });
  assert.equal(attempts.message, 'tollgate: task job-7 of agent "svc" made 4 LLM calls, more than maxAttemptsPerTask 3 (runaway-loop guard)');
  assert.equal(attempts.scope, 'task.attempts');
  const rate = refusalError({ ...DAILY, scope: 'agent.rate', limitUsd: 0.5, spentUsd: 0.6, reservedUsd: 0, resetAt: '2026-11-25T12:01:00.000Z', guard: { kind: 'rate' } });
  assert.equal(
    rate.message,
    'tollgate: agent "svc" spent $0.600000 in the last minute, at or above rateUsdPerMinute 0.5 (runaway-loop guard); blocked until 2026-11-25T12:01:00.000Z',
  );
  const cause = new Error('ECONNREFUSED');
  const ledger = refusalError({ code: 'LEDGER_UNAVAILABLE', ledger: 'redis://127.0.0.1:6379/0', reason: 'no answer within 1000 ms', cause });
  assert.ok(ledger instanceof LedgerUnavailableError);
  assert.equal(ledger.code, 'LEDGER_UNAVAILABLE');
  assert.equal(ledger.ledger, 'redis://127.0.0.1:6379/0');
  assert.equal(ledger.reason, 'no answer within 1000 ms');
  assert.equal(ledger.message, 'tollgate: ledger redis://127.0.0.1:6379/0 unavailable: no answer within 1000 ms');
  assert.equal(ledger.cause, cause);
  const unpriced = refusalError({ code: 'MODEL_UNPRICED', model: 'acme-9', provider: 'openai' });
  assert.equal(unpriced.code, 'MODEL_UNPRICED');
  assert.match(unpriced.message, /model "acme-9" \(openai\) is in no price table/);
});

test("the policy's block decisions are plain values (no Error inside), and onBudgetExceeded gets the error the call throws", async () => {
  const events: BudgetExceededEvent[] = [];
  const policy = await createBudgetPolicy({
    config: resolveConfig({ env: {}, overrides: { agent: 'svc', limits: { dailyUsd: 0.001 } } }),
    ledger: new MemoryLedger(),
    prices,
    onBudgetExceeded: (e) => events.push(e),
  });
  const d = await policy.admit({
    provider: 'openai',
    operation: 'chat',
    model: 'acme-large',
    maxTokens: 100,
    stream: false,
    body: { model: 'acme-large', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] },
    agent: undefined,
    task: undefined,
    attempt: 1,
  });
  assert.equal(d.action, 'block');
  assert.equal(d.error, undefined);
  const refusal = d.refusal;
  assert.ok(refusal !== undefined && refusal.code === 'BUDGET_EXCEEDED');
  // A value: survives a structured clone and a JSON round trip unchanged.
  assert.deepEqual(structuredClone(refusal), refusal);
  assert.deepEqual(JSON.parse(JSON.stringify(refusal)), refusal);
  assert.equal(refusal.scope, 'agent.daily');
  assert.equal(refusal.limitUsd, 0.001);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.error, refusalError(refusal));
});

function trackerWith(decision: GateDecision): { tracker: CallTracker; exporter: InMemorySpanExporter } {
  const gate: CallGate = { admit: () => Promise.resolve(decision), complete() {}, abort() {} };
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  return { tracker: new CallTracker(() => provider.getTracer('refusal-test'), { prices, gate }), exporter };
}

test('the instrumentation throws the error built from the refusal, and the span says why', async () => {
  const refusal: Refusal = DAILY;
  const { tracker, exporter } = trackerWith({ action: 'block', refusal, reason: 'budget agent.daily exceeded' });
  const body = { model: 'acme-large', max_tokens: 10, messages: [] };
  const call = tracker.start({ provider: 'openai', operation: 'chat', model: 'acme-large', maxTokens: 10, maxTokensField: 'max_tokens', stream: false, body });
  const thrown = await Promise.resolve().then(() => call.admitBody(body)).then(
    () => assert.fail('a refused call must not be admitted'),
    (e: unknown) => e,
  );
  call.fail(thrown);
  assert.equal(thrown, refusalError(refusal));
  const [span] = exporter.getFinishedSpans();
  assert.ok(span !== undefined);
  assert.equal(span.attributes['tollgate.policy.action'], 'block');
  assert.equal(span.attributes['error.type'], 'tollgate.budget_exceeded');
  const event = span.events.find((e) => e.name === 'tollgate.call.blocked');
  assert.ok(event !== undefined, span.events.map((e) => e.name).join(','));
  assert.equal(event.attributes?.['tollgate.budget.scope'], 'agent.daily');
  assert.equal(event.attributes?.['tollgate.budget.limit_usd'], 1);
  assert.equal(event.attributes?.['tollgate.budget.spent_usd'], 0.75);
});

test('a gate written before refusals (a ready-made error) still blocks with that error', async () => {
  const error = new BudgetExceededError({ scope: 'team', agent: 'svc', taskId: null, limitUsd: 2, spentUsd: 2, reservedUsd: 0, estimatedUsd: 0.1, resetAt: null });
  const { tracker } = trackerWith({ action: 'block', error });
  const body = { model: 'acme-large', max_tokens: 10, messages: [] };
  const call = tracker.start({ provider: 'openai', operation: 'chat', model: 'acme-large', maxTokens: 10, maxTokensField: 'max_tokens', stream: false, body });
  await assert.rejects(Promise.resolve().then(() => call.admitBody(body)), (e: unknown) => e === error);
  call.fail(error);
});
