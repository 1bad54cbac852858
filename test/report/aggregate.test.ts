import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanAggregator } from '../../src/report/aggregate.ts';
import type { AttrValue, OtlpSpan } from '../../src/report/otlp.ts';
import { reportFromAggregate } from '../../src/report/report.ts';
import type { CostReport } from '../../src/report/report.ts';

const DAY = Date.UTC(2026, 10, 25, 12);

function span(id: string, attrs: Record<string, AttrValue>, opts: { parent?: string; trace?: string; status?: number; resource?: Record<string, string> } = {}): OtlpSpan {
  return {
    traceId: opts.trace ?? 't1',
    spanId: id,
    parentSpanId: opts.parent ?? '',
    name: 'chat',
    startTimeMillis: DAY,
    endTimeMillis: DAY + 1000,
    statusCode: opts.status ?? 0,
    attributes: new Map(Object.entries(attrs)),
    resource: new Map(Object.entries(opts.resource ?? { 'service.name': 'svc' })),
  };
}

const chat = (model: string, extra: Record<string, AttrValue> = {}): Record<string, AttrValue> => ({
  'gen_ai.operation.name': 'chat',
  'gen_ai.request.model': model,
  'gen_ai.usage.input_tokens': 100,
  'gen_ai.usage.output_tokens': 10,
  ...extra,
});

function run(spans: readonly OtlpSpan[], dedupeWindowSpans?: number): CostReport {
  const agg = new SpanAggregator(dedupeWindowSpans === undefined ? {} : { dedupeWindowSpans });
  for (const s of spans) agg.add(s);
  return reportFromAggregate(agg.result(), { lines: 1, skippedLines: 0, gzip: false });
}

describe('SpanAggregator: nested duplicates of one call', () => {
  const outer = span('p', chat('m', { 'tollgate.cost.usd': 0.5 }));
  const inner = span('c', chat('m', { 'gen_ai.usage.cache_read.input_tokens': 40 }), { parent: 'p' });

  it('counts a parent and its same-model child once, whichever comes first, filling what the parent lacks from the child', () => {
    for (const order of [
      [outer, inner],
      [inner, outer],
    ]) {
      const r = run(order);
      assert.equal(r.totals.calls, 1);
      assert.equal(r.totals.inputTokens, 100);
      assert.equal(r.totals.costUsd, 0.5);
      assert.equal(r.totals.cacheReadTokens, 40);
      assert.equal(r.input.nestedMerged, 1);
      assert.deepEqual(r.byModel.map((m) => [m.model, m.calls]), [['m', 1]]);
    }
  });

  it('takes the cost from the child when only the inner span was priced', () => {
    const r = run([span('p', chat('m')), span('c', chat('m', { 'tollgate.cost.usd': 0.25 }), { parent: 'p' })]);
    assert.equal(r.totals.calls, 1);
    assert.equal(r.totals.unpriced, 0);
    assert.equal(r.totals.costUsd, 0.25);
  });

  it('merges a three-level chain into one call in any order', () => {
    const a = span('a', chat('m', { 'tollgate.cost.usd': 1 }));
    const b = span('b', chat('m'), { parent: 'a' });
    const c = span('c', chat('m'), { parent: 'b' });
    for (const order of [[a, b, c], [c, b, a], [b, c, a], [c, a, b], [a, c, b]]) {
      const r = run(order);
      assert.equal(r.totals.calls, 1, order.map((s) => s.spanId).join(''));
      assert.equal(r.totals.costUsd, 1);
      assert.equal(r.input.nestedMerged, 2);
    }
  });

  it('matches a wrapper that knows only the requested alias with a child that has the dated response model', () => {
    const r = run([span('p', chat('gpt-4o', { 'tollgate.cost.usd': 0.1 })), span('c', chat('gpt-4o', { 'gen_ai.response.model': 'gpt-4o-2024-08-06' }), { parent: 'p' })]);
    assert.equal(r.totals.calls, 1);
    // The outer span's model wins: it is the one the cost was computed for.
    assert.deepEqual(r.byModel.map((m) => m.model), ['gpt-4o']);
  });

  it('keeps two calls when the child is a different model (e.g. a judge call inside a call span) or another trace', () => {
    assert.equal(run([span('p', chat('m')), span('c', chat('other'), { parent: 'p' })]).totals.calls, 2);
    assert.equal(run([span('p', chat('m')), span('c', chat('m'), { parent: 'p', trace: 't2' })]).totals.calls, 2);
  });

  it('ignores non-inference spans, including invoke_agent spans that carry their children\'s usage', () => {
    const r = run([
      span('agent', { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.usage.input_tokens': 999, 'tollgate.cost.usd': 9 }),
      span('c', chat('m', { 'tollgate.cost.usd': 0.5 }), { parent: 'agent' }),
      span('tool', { 'gen_ai.operation.name': 'execute_tool' }, { parent: 'agent' }),
    ]);
    assert.equal(r.input.spans, 3);
    assert.equal(r.input.inferenceSpans, 1);
    assert.equal(r.totals.calls, 1);
    assert.equal(r.totals.costUsd, 0.5);
  });

  it('forgets spans beyond the dedupe window: a pair further apart is counted twice (the documented bound)', () => {
    const far = [span('p', chat('m')), span('x1', chat('m'), { trace: 'tx' }), span('x2', chat('m'), { trace: 'ty' }), span('c', chat('m'), { parent: 'p' })];
    assert.equal(run(far, 2).totals.calls, 4);
    assert.equal(run(far, 3).totals.calls, 3);
    // A child waiting for its parent is forgotten with the window too.
    const childFirst = [span('c', chat('m'), { parent: 'p' }), span('x1', chat('m'), { trace: 'tx' }), span('x2', chat('m'), { trace: 'ty' }), span('p', chat('m'))];
    assert.equal(run(childFirst, 2).totals.calls, 4);
    assert.equal(run(childFirst, 3).totals.calls, 3);
  });
});

describe('SpanAggregator: what is counted', () => {
  it('resolves the agent from the span, then the resource agent name, then service.name', () => {
    const r = run([
      span('a', chat('m', { 'gen_ai.agent.name': 'from-span' }), { resource: { 'service.name': 'svc', 'gen_ai.agent.name': 'from-resource' } }),
      span('b', chat('m'), { resource: { 'service.name': 'svc', 'gen_ai.agent.name': 'from-resource' } }),
      span('c', chat('m'), { resource: { 'service.name': 'svc' } }),
      span('d', chat('m'), { resource: {} }),
    ]);
    assert.deepEqual(r.byAgent.map((a) => a.agent), ['-', 'from-resource', 'from-span', 'svc']);
  });

  it('counts blocked calls apart from sent calls, and sent calls without cost as unpriced, never $0', () => {
    const r = run([
      span('a', chat('m', { 'error.type': 'tollgate.budget_exceeded', 'gen_ai.usage.input_tokens': 0 }), { status: 2 }),
      span('b', chat('m')),
      span('c', chat('m', { 'gen_ai.usage.cost': 0.125 }), { status: 2 }),
    ]);
    assert.deepEqual(
      { calls: r.totals.calls, blocked: r.totals.blocked, errors: r.totals.errors, unpriced: r.totals.unpriced, costUsd: r.totals.costUsd },
      { calls: 2, blocked: 1, errors: 1, unpriced: 1, costUsd: 0.125 },
    );
  });

  it('derives cache savings from the span\'s own breakdown, and counts calls where it cannot', () => {
    const priced = (id: string, extra: Record<string, AttrValue>): OtlpSpan =>
      span(id, chat('m', { 'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.cache_read.input_tokens': 800, 'tollgate.cost.usd': 1, ...extra }));
    const r = run([
      // 200 uncached tokens cost $0.0005 ($2.5/MTok); 800 cached at $1.25/MTok = $0.001 instead of $0.002.
      priced('a', { 'tollgate.cost.input_usd': 0.0005, 'tollgate.cost.cache_read_usd': 0.001 }),
      // No breakdown: unknown.
      priced('b', {}),
      // Everything cached or written: no uncached token to take the input rate from.
      priced('c', { 'gen_ai.usage.cache_creation.input_tokens': 200, 'tollgate.cost.input_usd': 0, 'tollgate.cost.cache_read_usd': 0.001 }),
    ]);
    assert.equal(r.totals.cacheSavingsUsd, 0.001);
    assert.equal(r.totals.cacheSavingsUnknown, 2);
  });

  it('sums money exactly (integer nano-USD), where float addition drifts', () => {
    const spans = Array.from({ length: 10 }, (_, i) => span(`s${i}`, chat('m', { 'tollgate.cost.usd': 0.1 })));
    assert.notEqual(spans.reduce((sum) => sum + 0.1, 0), 1);
    assert.equal(run(spans).totals.costUsd, 1);
  });
});
