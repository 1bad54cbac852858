/**
 * Spans of the official `@opentelemetry/instrumentation-openai` (hooks openai < 7) on the
 * real openai 6 client, against the stand-in server, priced by the processor.
 *
 * The client is the `openai-v6` npm alias: its package name is not `openai`, so the
 * instrumentation's require hook never matches it; its own module definition (the function
 * the hook calls) is applied to the module instead.
 *
 * The Vercel AI SDK's spans: foreign-vercel.test.ts. Both the official and tollgate's
 * instrumentation active at once: foreign-double-count.test.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { OpenAIInstrumentation } from '@opentelemetry/instrumentation-openai';
import * as openaiV6 from 'openai-v6';
import { computeCost } from '../../src/pricing/index.ts';
import { startStandinServer } from '../../src/standin/server.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import type { ForeignSpend } from '../../src/processor/index.ts';
import { harness, nanos, PRICES } from './harness.ts';

const server = await startStandinServer({ routes: openaiRoutes() });
after(() => server.close());

function completion(model: string, usage: Record<string, unknown>): { body: string; headers: Record<string, string> } {
  return {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_760_000_000,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop', logprobs: null }],
      usage,
    }),
  };
}
const USAGE = { prompt_tokens: 1000, completion_tokens: 100, total_tokens: 1100, prompt_tokens_details: { cached_tokens: 200 }, completion_tokens_details: { reasoning_tokens: 0 } };

void test('official @opentelemetry/instrumentation-openai spans (openai 6), plain and streamed, are priced exactly', async () => {
  const foreign: ForeignSpend[] = [];
  const h = harness({ onForeignSpend: (e) => foreign.push(e) });
  const instr = new OpenAIInstrumentation();
  instr.setTracerProvider(h.provider);
  // registerInstrumentations / NodeSDK do this; without it the instrumentation's histograms are
  // unset (its class fields overwrite what its base constructor made) and streams throw.
  instr.setMeterProvider(h.meterProvider);
  const def = instr.getModuleDefinitions()[0]!;
  def.patch?.(openaiV6, '6.49.0');
  try {
    const client = new openaiV6.OpenAI({ apiKey: 'k', baseURL: `${server.url}/v1`, maxRetries: 0 });
    server.setNextResponse(completion('acme-large', USAGE));
    await client.chat.completions.create({ model: 'acme-large', messages: [{ role: 'user', content: 'hello' }] });
    await h.provider.forceFlush();
    const span = h.span('chat acme-large');
    assert.equal(span.instrumentationScope.name, '@opentelemetry/instrumentation-openai');
    assert.equal(span.attributes['gen_ai.usage.input_tokens'], 1000);
    // the official instrumentation records no cache details: 1000*2 + 100*8
    assert.equal(nanos(span.attributes['tollgate.cost.usd']), 2_800_000);
    assert.equal(span.attributes['tollgate.cost.source'], 'override');
    assert.deepEqual(foreign.map((f) => [f.model, nanos(f.costUsd)]), [['acme-large', 2_800_000]]);

    // A stream from the stand-in (the caller asks for usage; the instrumentation reads the last chunk).
    h.exporter.reset();
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there' }], stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) void chunk;
    await h.provider.forceFlush();
    const streamed = h.span('chat gpt-4o-mini');
    // stand-in: ceil(11 / 4) + 3 = 6 input tokens, 13 output
    assert.equal(streamed.attributes['gen_ai.usage.input_tokens'], 6);
    assert.equal(streamed.attributes['gen_ai.usage.output_tokens'], 13);
    const expected = computeCost({ inputTokens: 6, outputTokens: 13 }, PRICES.lookup('gpt-4o-mini', 'openai').price).totalUsd;
    assert.equal(nanos(streamed.attributes['tollgate.cost.usd']), nanos(expected));
    assert.equal(nanos(expected), 6 * 150 + 13 * 600); // gpt-4o-mini: $0.15 / $0.60 per 1M
    assert.equal(streamed.attributes['tollgate.cost.source'], 'table');

    const s = h.processor.getSpend();
    assert.equal(s.total.calls, 2);
    assert.equal(nanos(s.total.costUsd), 2_800_000 + 6 * 150 + 13 * 600);
    assert.equal(foreign.length, 2);
  } finally {
    def.unpatch?.(openaiV6, '6.49.0');
    instr.disable();
  }
});
