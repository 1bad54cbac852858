/**
 * Agent and task attribution, task totals on the root span, retries, the
 * no-double-count rule, UTC windows under a fake clock and the memory bounds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { context, propagation, trace, SpanStatusCode, type Attributes, type Context, type Tracer } from '@opentelemetry/api';
import { withAgent, withTask } from '../../src/context.ts';
import { CostSpanProcessor, getSpend, tollgateSpanProcessors, type TaskEnd, type ForeignSpend } from '../../src/processor/index.ts';
import { harness, nanos, PRICES } from './harness.ts';

/** acme-large, 1000 in / 100 out = 2000 + 800 = 2800 micro-USD. */
const CALL_NANOS = 2_800_000;
const CHAT: Attributes = {
  'gen_ai.operation.name': 'chat',
  'gen_ai.provider.name': 'openai',
  'gen_ai.request.model': 'acme-large',
  'gen_ai.usage.input_tokens': 1000,
  'gen_ai.usage.output_tokens': 100,
};

function call(tracer: Tracer, extra: Attributes = {}, ctx?: Context): void {
  const span = tracer.startSpan('chat acme-large', { attributes: { ...CHAT, ...extra } }, ctx);
  span.end();
}

/** A simulated async call: starts a span, yields, ends it. */
async function asyncCall(tracer: Tracer, delayTicks: number): Promise<void> {
  const span = tracer.startSpan('chat acme-large', { attributes: CHAT });
  for (let i = 0; i < delayTicks; i++) await new Promise<void>((r) => setImmediate(r));
  span.end();
}

void test('agent: span attribute, else withAgent, else resource gen_ai.agent.name, else service.name', async () => {
  const h = harness({}, { 'service.name': 'svc', 'gen_ai.agent.name': 'res-agent' });
  const t = h.provider.getTracer('lib');
  call(t, { 'gen_ai.agent.name': 'own' });
  withAgent('ctx-agent', () => call(t));
  call(t);
  const plain = harness({}, { 'service.name': 'only-svc' });
  call(plain.provider.getTracer('lib'));
  await h.provider.forceFlush();
  await plain.provider.forceFlush();
  assert.deepEqual(Object.keys(h.processor.getSpend().agents).sort(), ['ctx-agent', 'own', 'res-agent']);
  assert.deepEqual(Object.keys(plain.processor.getSpend().agents), ['only-svc']);
  assert.deepEqual(h.spans().map((s) => s.attributes['gen_ai.agent.name']), ['own', 'ctx-agent', 'res-agent']);
});

void test('baggage carries the task id; it chooses the agent only with trustBaggageAgent', () => {
  const inbound = propagation.setBaggage(
    context.active(),
    propagation.createBaggage({ 'tollgate.task.id': { value: 'remote-task' }, 'tollgate.task.type': { value: 'triage' }, 'gen_ai.agent.name': { value: 'victim' } }),
  );
  for (const trust of [false, true]) {
    const h = harness({ trustBaggageAgent: trust });
    call(h.provider.getTracer('lib'), {}, inbound);
    const spend = h.processor.getSpend({ taskId: 'remote-task' });
    assert.equal(spend.task?.type, 'triage');
    assert.equal(spend.task?.calls, 1);
    assert.deepEqual(Object.keys(spend.agents), [trust ? 'victim' : 'svc']);
  }
});

void test('withTask puts the task id and type in W3C baggage for other processes', () => {
  withTask({ id: 't-42', type: 'summarise' }, () => {
    const bag = propagation.getBaggage(context.active());
    assert.equal(bag?.getEntry('tollgate.task.id')?.value, 't-42');
    assert.equal(bag?.getEntry('tollgate.task.type')?.value, 'summarise');
    assert.equal(bag?.getEntry('gen_ai.agent.name'), undefined);
  });
  withAgent('a', () => assert.equal(propagation.getBaggage(context.active())?.getEntry('gen_ai.agent.name')?.value, 'a'), { propagate: true });
});

void test('two agents, many tasks interleaved on one event loop are attributed correctly', async () => {
  const ended: TaskEnd[] = [];
  const h = harness({ onTaskEnd: (t) => ended.push(t) });
  const t = h.provider.getTracer('lib');
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < 40; i++) {
    const agent = i % 2 === 0 ? 'alpha' : 'beta';
    const calls = (i % 3) + 1;
    jobs.push(
      withAgent(agent, () =>
        withTask({ id: `task-${i}`, type: agent === 'alpha' ? 'a-type' : 'b-type' }, async () => {
          for (let c = 0; c < calls; c++) await asyncCall(t, (i * 7 + c) % 5);
        }),
      ),
    );
  }
  await Promise.all(jobs);
  await new Promise<void>((r) => setImmediate(r));
  for (let i = 0; i < 40; i++) {
    const task = h.processor.getSpend({ taskId: `task-${i}` }).task;
    assert.equal(task?.calls, (i % 3) + 1, `task-${i}`);
    assert.equal(task?.agent, i % 2 === 0 ? 'alpha' : 'beta');
    assert.equal(task?.ended, true);
  }
  const alphaCalls = [...Array(40).keys()].filter((i) => i % 2 === 0).reduce((n, i) => n + (i % 3) + 1, 0);
  const all = h.processor.getSpend();
  assert.equal(all.agents['alpha']?.calls, alphaCalls);
  assert.equal(all.agents['beta']?.calls, all.total.calls - alphaCalls);
  assert.equal(nanos(all.byTaskType['a-type']?.costUsd), alphaCalls * CALL_NANOS);
  assert.equal(ended.length, 40);
  assert.equal(ended.find((e) => e.id === 'task-5')?.calls, 3);
});

void test('without withTask the trace is the task: its root span gets the task totals when it ends', async () => {
  const ended: TaskEnd[] = [];
  const h = harness({ onTaskEnd: (e) => ended.push(e) });
  const t = h.provider.getTracer('lib');
  const root = t.startSpan('handle request');
  const ctx = trace.setSpan(context.active(), root);
  const http = t.startSpan('GET /x', {}, ctx);
  call(t, {}, trace.setSpan(ctx, http));
  http.end();
  call(t, { 'tollgate.attempts': 3 }, ctx);
  assert.equal(ended.length, 0);
  root.end();
  await h.provider.forceFlush();
  const r = h.span('handle request');
  assert.equal(nanos(r.attributes['tollgate.task.cost_usd']), 2 * CALL_NANOS);
  assert.equal(r.attributes['tollgate.task.calls'], 2);
  assert.equal(r.attributes['tollgate.task.attempts'], 4);
  assert.equal(h.span('GET /x').attributes['tollgate.task.cost_usd'], undefined);
  const traceId = root.spanContext().traceId;
  assert.deepEqual(ended, [{ id: traceId, type: undefined, costUsd: (2 * CALL_NANOS) / 1e9, calls: 2, attempts: 4 }]);
  const task = h.processor.getSpend({ taskId: traceId }).task;
  assert.equal(task?.failedAttempts, 2);
  assert.equal(task?.failedCostUsd, 0);
});

void test('retries: a failed inference span is a failed attempt with its cost', () => {
  const h = harness();
  const t = h.provider.getTracer('lib');
  withTask({ id: 'r1' }, () => {
    const failed = t.startSpan('chat acme-large', { attributes: CHAT });
    failed.setStatus({ code: SpanStatusCode.ERROR, message: 'timeout' });
    failed.end();
    call(t);
  });
  const task = h.processor.getSpend({ taskId: 'r1' }).task;
  assert.deepEqual(
    { calls: task?.calls, attempts: task?.attempts, failedAttempts: task?.failedAttempts, failed: nanos(task?.failedCostUsd), cost: nanos(task?.costUsd) },
    { calls: 2, attempts: 2, failedAttempts: 1, failed: CALL_NANOS, cost: 2 * CALL_NANOS },
  );
});

void test('no double count: a tollgate span and a foreign span on the same call, in both nestings', async () => {
  for (const tollgateOuter of [true, false]) {
    const foreign: ForeignSpend[] = [];
    const h = harness({ onForeignSpend: (e) => foreign.push(e) });
    const tg = h.provider.getTracer('tollgate.openai');
    const fx = h.provider.getTracer('@opentelemetry/instrumentation-openai');
    const [outerT, innerT] = tollgateOuter ? [tg, fx] : [fx, tg];
    const outer = outerT.startSpan('chat acme-large', { attributes: CHAT });
    const octx = trace.setSpan(context.active(), outer);
    const http = fx.startSpan('POST', {}, octx); // an HTTP span between the two
    const inner = innerT.startSpan('chat acme-large', { attributes: CHAT }, trace.setSpan(octx, http));
    // tollgate's span arrives priced (by its instrumentation) at 0.0028
    (tollgateOuter ? outer : inner).setAttribute('tollgate.cost.usd', CALL_NANOS / 1e9);
    inner.end();
    http.end();
    outer.end();
    await h.provider.forceFlush();
    const s = h.processor.getSpend();
    assert.equal(s.total.calls, 1, `tollgateOuter=${tollgateOuter}`);
    assert.equal(nanos(s.total.costUsd), CALL_NANOS);
    assert.equal(foreign.length, 0, 'tollgate spend is settled by the policy, not reported as foreign');
    const priced = h.spans().filter((x) => x.attributes['tollgate.cost.usd'] !== undefined);
    assert.equal(priced.length, 1);
    assert.ok(priced[0]!.instrumentationScope.name.startsWith('tollgate'));
  }
});

void test('no double count between two foreign instrumentations: the outermost counts, using nested usage if it has none', async () => {
  const foreign: ForeignSpend[] = [];
  const h = harness({ onForeignSpend: (e) => foreign.push(e) });
  const a = h.provider.getTracer('openllmetry');
  const b = h.provider.getTracer('openinference');
  withAgent('bot', () =>
    withTask({ id: 'ft', type: 'x' }, () => {
      const outer = a.startSpan('openai.chat', { attributes: { 'llm.request.type': 'chat', 'gen_ai.request.model': 'acme-large' } });
      const inner = b.startSpan('ChatCompletion', { attributes: { 'openinference.span.kind': 'LLM', 'llm.model_name': 'acme-large', 'llm.token_count.prompt': 1000, 'llm.token_count.completion': 100 } }, trace.setSpan(context.active(), outer));
      inner.end();
      outer.end();
    }),
  );
  await h.provider.forceFlush();
  assert.equal(h.processor.getSpend().total.calls, 1);
  assert.equal(nanos(h.span('openai.chat').attributes['tollgate.cost.usd']), CALL_NANOS);
  assert.equal(h.span('ChatCompletion').attributes['tollgate.cost.usd'], undefined);
  assert.deepEqual(foreign, [{ agent: 'bot', task: { id: 'ft', type: 'x' }, model: 'acme-large', costUsd: CALL_NANOS / 1e9 }]);
});

void test('windows roll over at UTC midnight and at the month start (fake clock)', () => {
  const h = harness();
  const t = h.provider.getTracer('lib');
  h.clock.now = Date.UTC(2026, 0, 31, 23, 59, 59, 999);
  call(t);
  let a = h.processor.getSpend({ agent: 'svc' }).agents['svc']!;
  assert.equal(a.day.calls, 1);
  assert.equal(a.month.calls, 1);
  assert.equal(a.day.resetsAt, '2026-02-01T00:00:00.000Z');
  assert.equal(a.month.resetsAt, '2026-02-01T00:00:00.000Z');
  h.clock.now = Date.UTC(2026, 1, 1, 0, 0, 0, 0);
  a = h.processor.getSpend({ agent: 'svc' }).agents['svc']!;
  assert.equal(a.day.calls, 0, 'day resets at midnight even before the next call');
  assert.equal(a.month.calls, 0);
  call(t);
  call(t);
  h.clock.now = Date.UTC(2026, 1, 2, 8);
  call(t);
  a = h.processor.getSpend({ agent: 'svc' }).agents['svc']!;
  assert.deepEqual([a.day.calls, a.month.calls, a.calls], [1, 3, 4]);
  assert.equal(a.day.startsAt, '2026-02-02T00:00:00.000Z');
  assert.equal(a.month.startsAt, '2026-02-01T00:00:00.000Z');
  assert.equal(a.month.resetsAt, '2026-03-01T00:00:00.000Z');
  assert.equal(nanos(a.month.costUsd), 3 * CALL_NANOS);
});

void test('memory bound: ended tasks leave the table (cap and TTL), open ones are capped', () => {
  const h = harness({ maxTasks: 100, taskTtlMillis: 60_000 });
  const t = h.provider.getTracer('lib');
  for (let i = 0; i < 5000; i++) withTask({ id: `m${i}` }, () => call(t));
  assert.deepEqual(h.processor.stats(), { openTasks: 0, endedTasks: 100, droppedOpenTasks: 0, agents: 1 });
  assert.equal(h.processor.getSpend({ taskId: 'm4999' }).task?.calls, 1);
  assert.equal(h.processor.getSpend({ taskId: 'm0' }).task, undefined);
  assert.equal(h.processor.getSpend().total.calls, 5000);
  h.clock.now += 60_001;
  withTask({ id: 'late' }, () => call(t));
  withTask({ id: 'later' }, () => call(t));
  // Each insertion sweeps a few expired entries from the head.
  assert.ok(h.processor.stats().endedTasks <= 100 - 6);
  // Traces that never end are dropped past the cap.
  for (let i = 0; i < 500; i++) t.startSpan('leaked root');
  assert.equal(h.processor.stats().openTasks, 100);
  assert.equal(h.processor.stats().droppedOpenTasks, 400);
});

void test('tollgateSpanProcessors returns [processor] that getSpend reads', () => {
  const [p] = tollgateSpanProcessors({ prices: PRICES, now: () => 0 });
  assert.ok(p !== undefined);
  assert.equal(getSpend().total.calls, 0);
  assert.deepEqual(getSpend({ agent: 'nobody' }).agents, {});
});

void test('the injected clock is `now`, as on the policy and the ledgers; `clock` stays a deprecated alias that `now` wins over', () => {
  const T = Date.UTC(2026, 4, 1, 8, 0, 0);
  assert.equal(new CostSpanProcessor({ prices: PRICES, now: () => T }).getSpend().at, new Date(T).toISOString());
  assert.equal(new CostSpanProcessor({ prices: PRICES, clock: () => T }).getSpend().at, new Date(T).toISOString());
  assert.equal(new CostSpanProcessor({ prices: PRICES, now: () => T, clock: () => 0 }).getSpend().at, new Date(T).toISOString());
});
