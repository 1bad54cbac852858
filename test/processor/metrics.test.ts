/** Metrics read back through a MetricReader with exact values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import { withAgent, withTask } from '../../src/context.ts';
import { harness, nanos, points } from './harness.ts';

void test('cost, cache saving, token and duration histograms, fallback counter: exact values, no task ids', async () => {
  const h = harness();
  const t = h.provider.getTracer('lib');
  // Times are offsets from an epoch instant: the SDK reads a number at or below
  // performance.now() as a performance-clock time, so small literals made the durations
  // depend on how long the test process had been running.
  const t0 = Date.now() - 60_000;
  const chat = (extra: Record<string, string | number>, startMs: number, endMs: number) => {
    const s = t.startSpan('chat', { startTime: t0 + startMs, attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'server.address': 'api.example', 'server.port': 443, ...extra } });
    s.end(t0 + endMs);
  };
  withAgent('alpha', () =>
    withTask({ id: 'secret-task-id', type: 'triage' }, () => {
      // 1000 in (400 cache read), 100 out: 600*2 + 400*0.5 + 100*8 = 1200+200+800 = 2200 micro-USD; saving 400*(2-0.5) = 600
      chat({ 'gen_ai.request.model': 'acme-large', 'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 100, 'gen_ai.usage.cache_read.input_tokens': 400 }, 1000, 1250);
      // 10 in / 5 out: 20 + 40 = 60 micro-USD
      chat({ 'gen_ai.request.model': 'acme-large', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 }, 2000, 5000);
      chat({ 'gen_ai.request.model': 'no-such-model-zz', 'gen_ai.usage.input_tokens': 1, 'gen_ai.usage.output_tokens': 1 }, 0, 10);
    }),
  );
  const cost = await points(h.reader, 'tollgate.cost.usd');
  const acme = cost.filter((p) => p.attributes['gen_ai.request.model'] === 'acme-large');
  assert.equal(acme.length, 1);
  assert.deepEqual(acme[0]!.attributes, { 'gen_ai.agent.name': 'alpha', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'acme-large', 'gen_ai.operation.name': 'chat', 'tollgate.task.type': 'triage' });
  assert.equal(nanos(acme[0]!.value), 2_260_000);
  for (const p of cost) assert.ok(!Object.values(p.attributes).includes('secret-task-id'));

  const saved = await points(h.reader, 'tollgate.cost.saved.usd');
  assert.equal(saved.length, 1);
  assert.deepEqual(saved[0]!.attributes, { 'gen_ai.agent.name': 'alpha', 'gen_ai.request.model': 'acme-large', 'tollgate.saving.kind': 'cache' });
  assert.equal(nanos(saved[0]!.value), 600_000);

  const tokens = await points(h.reader, 'gen_ai.client.token.usage');
  const input = tokens.find((p) => p.attributes['gen_ai.token.type'] === 'input' && p.attributes['gen_ai.request.model'] === 'acme-large')!;
  const output = tokens.find((p) => p.attributes['gen_ai.token.type'] === 'output' && p.attributes['gen_ai.request.model'] === 'acme-large')!;
  const hin = input.value as Histogram;
  assert.equal(hin.sum, 1010);
  assert.equal(hin.count, 2);
  assert.deepEqual(hin.buckets.boundaries, [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]);
  assert.equal((output.value as Histogram).sum, 105);
  assert.deepEqual(input.attributes, { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'acme-large', 'server.address': 'api.example', 'server.port': 443, 'gen_ai.token.type': 'input' });

  const dur = (await points(h.reader, 'gen_ai.client.operation.duration')).find((p) => p.attributes['gen_ai.request.model'] === 'acme-large')!;
  const hd = dur.value as Histogram;
  assert.equal(hd.count, 2);
  assert.equal(hd.sum, 3.25);
  assert.deepEqual(hd.buckets.boundaries, [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]);

  const fb = await points(h.reader, 'tollgate.calls.fallback_priced');
  assert.equal(fb.length, 1);
  assert.equal(fb[0]!.value, 1);
  assert.equal(fb[0]!.attributes['gen_ai.request.model'], 'no-such-model-zz');
});
