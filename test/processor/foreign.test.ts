/**
 * Spans from real foreign instrumentations, priced by the processor:
 * - the official @opentelemetry/instrumentation-openai (hooks openai < 7) on the real
 *   openai 6 client (`openai-v6` alias: the package name is not `openai`, so its
 *   require hook never fires; the instrumentation's own module definition is applied
 *   to the module instead), against the stand-in server;
 * - the Vercel AI SDK (`ai` 7 + `@ai-sdk/openai`) against the stand-in server. ai 7
 *   emits no OpenTelemetry spans itself (that moved to the `@ai-sdk/otel` package,
 *   not installed here); the bridge below turns its telemetry events into the spans
 *   `@ai-sdk/otel`'s LegacyOpenTelemetry emits (names and `ai.usage.*` attributes
 *   as in its source), the outer `ai.generateText` span repeating the step usage.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { context, trace, type Span as ApiSpan } from '@opentelemetry/api';
import { OpenAIInstrumentation } from '@opentelemetry/instrumentation-openai';
import * as openaiV6 from 'openai-v6';
import { generateText, type Telemetry } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { startStandinServer } from '../../src/standin/server.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import type { ForeignSpend } from '../../src/processor/index.ts';
import { harness, nanos } from './harness.ts';

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

void test('official @opentelemetry/instrumentation-openai spans (openai 6) are priced; with a tollgate span around them, counted once', async () => {
  const foreign: ForeignSpend[] = [];
  const h = harness({ onForeignSpend: (e) => foreign.push(e) });
  const instr = new OpenAIInstrumentation();
  instr.setTracerProvider(h.provider);
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
    assert.equal(foreign.length, 1);
    assert.equal(foreign[0]!.model, 'acme-large');

    // Same call with a tollgate span (already priced, as tollgate's instrumentation makes it) around it.
    const tg = h.provider.getTracer('tollgate.openai').startSpan('chat acme-large', { attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'acme-large', 'tollgate.cost.usd': 0.0025 } });
    server.setNextResponse(completion('acme-large', USAGE));
    await context.with(trace.setSpan(context.active(), tg), () => client.chat.completions.create({ model: 'acme-large', messages: [{ role: 'user', content: 'hello' }] }));
    tg.end();
    await h.provider.forceFlush();
    const s = h.processor.getSpend();
    assert.equal(s.total.calls, 2);
    assert.equal(nanos(s.total.costUsd), 2_800_000 + 2_500_000);
    assert.equal(foreign.length, 1, 'the nested official span is not priced again');
  } finally {
    def.unpatch?.(openaiV6, '6.49.0');
    instr.disable();
  }
});

/** Turns ai 7 telemetry events into @ai-sdk/otel legacy spans. */
function legacyBridge(tracer: ReturnType<typeof trace.getTracer>): Telemetry {
  const calls = new Map<string, ApiSpan>();
  let outer: ApiSpan | undefined;
  return {
    onStart(e) {
      outer = tracer.startSpan('ai.generateText', { attributes: { 'ai.operationId': 'ai.generateText', 'ai.model.id': e.modelId, 'ai.model.provider': e.provider } });
    },
    onLanguageModelCallStart(e) {
      const parent = outer !== undefined ? trace.setSpan(context.active(), outer) : context.active();
      calls.set(e.callId, tracer.startSpan('ai.generateText.doGenerate', {
        attributes: { 'operation.name': 'ai.generateText.doGenerate', 'ai.operationId': 'ai.generateText.doGenerate', 'ai.model.id': e.modelId, 'ai.model.provider': e.provider, 'gen_ai.system': e.provider, 'gen_ai.request.model': e.modelId },
      }, parent));
    },
    onLanguageModelCallEnd(e) {
      const span = calls.get(e.callId);
      calls.delete(e.callId);
      if (span === undefined) return;
      const u = e.usage;
      span.setAttributes({
        'ai.usage.inputTokens': u.inputTokens,
        'ai.usage.outputTokens': u.outputTokens,
        'ai.usage.inputTokenDetails.cacheReadTokens': u.inputTokenDetails?.cacheReadTokens,
        'ai.usage.inputTokenDetails.cacheWriteTokens': u.inputTokenDetails?.cacheWriteTokens,
        'ai.usage.outputTokenDetails.reasoningTokens': u.outputTokenDetails?.reasoningTokens,
        'gen_ai.usage.input_tokens': u.inputTokens,
        'gen_ai.usage.output_tokens': u.outputTokens,
      });
      span.end();
    },
    onEnd(e) {
      if (outer === undefined) return;
      const u = (e as { totalUsage?: { inputTokens?: number; outputTokens?: number } }).totalUsage;
      outer.setAttributes({ 'ai.usage.inputTokens': u?.inputTokens, 'ai.usage.outputTokens': u?.outputTokens });
      outer.end();
    },
  };
}

void test('Vercel AI SDK (ai 7 + @ai-sdk/openai) doGenerate spans are priced from ai.usage.*; the outer generateText span is not', async () => {
  const foreign: ForeignSpend[] = [];
  const h = harness({ onForeignSpend: (e) => foreign.push(e) });
  const openai = createOpenAI({ apiKey: 'k', baseURL: `${server.url}/v1` });
  server.setNextResponse(completion('acme-large', USAGE));
  const result = await generateText({
    model: openai.chat('acme-large'),
    prompt: 'hello',
    maxRetries: 0,
    telemetry: { integrations: [legacyBridge(h.provider.getTracer('ai'))] },
  });
  assert.equal(result.usage.inputTokens, 1000);
  await h.provider.forceFlush();
  const call = h.span('ai.generateText.doGenerate');
  // 800*2 + 200*0.5 (cache read) + 100*8 = 2500 micro-USD
  assert.equal(nanos(call.attributes['tollgate.cost.usd']), 2_500_000);
  assert.equal(h.span('ai.generateText').attributes['tollgate.cost.usd'], undefined);
  assert.equal(h.processor.getSpend().total.calls, 1);
  assert.deepEqual(foreign.map((f) => [f.model, nanos(f.costUsd)]), [['acme-large', 2_500_000]]);
});
