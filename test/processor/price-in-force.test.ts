/**
 * Foreign GenAI spans carrying explicit start times are priced by the processor at the rate in
 * force at their START (not the processor's clock, which the harness pins elsewhere), on the
 * service tier the span names; exact seconds on both sides of each boundary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Attributes } from '@opentelemetry/api';
import { defaultPriceTable } from '../../src/pricing/index.ts';
import { harness, nanos } from './harness.ts';

// Below every long-context threshold (gpt-5.6-luna's starts at 272k).
const USAGE = { 'gen_ai.usage.input_tokens': 200_000, 'gen_ai.usage.output_tokens': 100_000 };

function foreignCall(h: ReturnType<typeof harness>, name: string, start: string, attributes: Attributes): void {
  const tracer = h.provider.getTracer('some-other-genai-library');
  const t = Date.parse(start);
  const span = tracer.startSpan(name, { startTime: t, attributes: { 'gen_ai.operation.name': 'chat', ...attributes } });
  span.setAttributes(USAGE);
  span.end(t + 42_000); // it ran 42 s: past the boundary for the calls started a second before one
}

void test('dated prices and time-of-day windows: a foreign span is priced at its start time', async () => {
  const h = harness({ prices: defaultPriceTable() });
  const cases: [string, string, string, number, number][] = [
    ['deepseek', 'deepseek-chat', '2026-12-03T00:29:59Z', 0.135, 0.55],
    ['deepseek', 'deepseek-chat', '2026-12-03T00:30:00Z', 0.27, 1.1],
    ['deepseek', 'deepseek-chat', '2026-12-03T16:29:59Z', 0.27, 1.1],
    ['deepseek', 'deepseek-chat', '2026-12-03T16:30:00Z', 0.135, 0.55],
    ['gcp.gemini', 'gemini-3.6-flash', '2026-12-31T23:59:59Z', 0.75, 3.75],
    ['gcp.gemini', 'gemini-3.6-flash', '2027-01-01T00:00:00Z', 1.5, 7.5],
    ['openai', 'gpt-5.6-luna', '2026-07-29T23:59:59Z', 1, 6],
    ['openai', 'gpt-5.6-luna', '2026-07-30T00:00:00Z', 0.2, 1.2],
  ];
  for (const [provider, model, start] of cases) {
    foreignCall(h, `${model} ${start}`, start, { 'gen_ai.provider.name': provider, 'gen_ai.request.model': model });
  }
  await h.provider.forceFlush();
  for (const [, model, start, input, output] of cases) {
    const a = h.span(`${model} ${start}`).attributes;
    // 200k input tokens at `input`, 100k output at `output`.
    assert.equal(nanos(a['tollgate.cost.usd']), Math.round((input / 5 + output / 10) * 1e9), `${model} at ${start}`);
    assert.equal(a['tollgate.cost.source'], 'table');
  }
});

void test('service tiers named on a foreign span (registry and older names; the response\'s wins) are priced at their rates', async () => {
  const h = harness({ prices: defaultPriceTable() });
  const start = '2026-12-03T12:00:00Z';
  const base = { 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-5' };
  const cases: [string, Attributes, number, number][] = [
    ['none', {}, 1.25, 10],
    ['flex', { 'openai.response.service_tier': 'flex' }, 0.625, 5],
    ['priority', { 'openai.response.service_tier': 'priority' }, 2.5, 20],
    ['legacy name', { 'gen_ai.openai.response.service_tier': 'priority' }, 2.5, 20],
    ['request only', { 'openai.request.service_tier': 'flex' }, 0.625, 5],
    ['response wins', { 'openai.request.service_tier': 'priority', 'openai.response.service_tier': 'default' }, 1.25, 10],
  ];
  for (const [name, attrs] of cases) foreignCall(h, name, start, { ...base, ...attrs });
  await h.provider.forceFlush();
  for (const [name, , input, output] of cases) {
    assert.equal(nanos(h.span(name).attributes['tollgate.cost.usd']), Math.round((input / 5 + output / 10) * 1e9), name);
  }
});
