/**
 * Synthetic spans in every usage dialect, priced end to end through a real
 * TracerProvider. acme-large: input 2, output 8, cache read 0.5, cache write 2.5,
 * 1h write 4 (USD per million tokens).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { harness, nanos } from './harness.ts';

async function run(name: string, attrs: Attributes, scope = 'some-foreign-lib'): Promise<{ cost: unknown; attrs: Attributes }> {
  const h = harness();
  const span = h.provider.getTracer(scope).startSpan(name, { kind: SpanKind.CLIENT, attributes: attrs });
  span.end();
  await h.provider.forceFlush();
  const done = h.span(name);
  return { cost: done.attributes['tollgate.cost.usd'], attrs: done.attributes };
}

// in 1000 (cache read 200, cache write 100 of which 1h 40), out 500 (reasoning 100):
// (1000-200-100)*2 + 200*0.5 + 60*2.5 + 40*4 + 500*8 = 1400 + 100 + 150 + 160 + 4000 = 5810 micro-USD
const FULL_NANOS = 5_810_000;

void test('current GenAI names, with cache read, cache creation and reasoning', async () => {
  const { cost, attrs } = await run('chat acme-large', {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'acme-large',
    'gen_ai.usage.input_tokens': 1000,
    'gen_ai.usage.output_tokens': 500,
    'gen_ai.usage.cache_read.input_tokens': 200,
    'gen_ai.usage.cache_creation.input_tokens': 100,
    'anthropic.usage.cache_creation.ephemeral_1h_input_tokens': 40,
    'gen_ai.usage.reasoning.output_tokens': 100,
  });
  assert.equal(nanos(cost), FULL_NANOS);
  assert.equal(nanos(attrs['gen_ai.usage.cost']), FULL_NANOS);
  assert.equal(nanos(attrs['tollgate.cost.input_usd']), 1_400_000);
  assert.equal(nanos(attrs['tollgate.cost.cache_read_usd']), 100_000);
  assert.equal(nanos(attrs['tollgate.cost.cache_write_usd']), 310_000);
  assert.equal(nanos(attrs['tollgate.cost.output_usd']), 4_000_000);
  assert.equal(attrs['tollgate.cost.source'], 'override');
  assert.equal(attrs['gen_ai.agent.name'], 'svc');
});

void test('Anthropic SDK own span: cache_write name and the 1h part (input already includes the cache)', async () => {
  const { cost } = await run('anthropic.messages.create', {
    'gen_ai.operation.name': 'chat',
    'gen_ai.request.model': 'acme-large',
    'gen_ai.usage.input_tokens': 1000,
    'gen_ai.usage.output_tokens': 500,
    'gen_ai.usage.cache_read.input_tokens': 200,
    'gen_ai.usage.cache_write.input_tokens': 100,
    'anthropic.usage.cache_creation.ephemeral_5m_input_tokens': 60,
    'anthropic.usage.cache_creation.ephemeral_1h_input_tokens': 40,
    'gen_ai.usage.reasoning.output_tokens': 100,
  }, 'com.anthropic.sdk.typescript');
  assert.equal(nanos(cost), FULL_NANOS);
});

void test('older names gen_ai.usage.prompt_tokens / completion_tokens', async () => {
  const { cost } = await run('chat acme-large', {
    'gen_ai.operation.name': 'chat',
    'gen_ai.system': 'openai',
    'gen_ai.request.model': 'acme-large',
    'gen_ai.usage.prompt_tokens': 1000,
    'gen_ai.usage.completion_tokens': 500,
  });
  assert.equal(nanos(cost), 2_000_000 + 4_000_000);
});

void test('OpenLLMetry: llm.request.type and underscore cache names', async () => {
  const { cost } = await run('openai.chat', {
    'llm.request.type': 'chat',
    'gen_ai.system': 'openai',
    'gen_ai.request.model': 'acme-large',
    'gen_ai.usage.prompt_tokens': 1000,
    'gen_ai.usage.completion_tokens': 500,
    'gen_ai.usage.cache_read_input_tokens': 200,
  });
  assert.equal(nanos(cost), 800 * 2000 + 200 * 500 + 500 * 8000);
});

void test('OpenInference llm.token_count.* with prompt and completion details', async () => {
  const { cost } = await run('ChatCompletion', {
    'openinference.span.kind': 'LLM',
    'llm.provider': 'openai',
    'llm.model_name': 'acme-large',
    'llm.token_count.prompt': 1000,
    'llm.token_count.completion': 500,
    'llm.token_count.total': 1500,
    'llm.token_count.prompt_details.cache_read': 200,
    'llm.token_count.prompt_details.cache_write': 100,
    'llm.token_count.completion_details.reasoning': 100,
  });
  // no 1h part here: 100 written at 2.5
  assert.equal(nanos(cost), FULL_NANOS - 160_000 + 100_000);
});

void test('OpenInference EMBEDDING span', async () => {
  const { cost } = await run('CreateEmbeddings', {
    'openinference.span.kind': 'EMBEDDING',
    'embedding.model_name': 'acme-embed',
    'llm.provider': 'openai',
    'llm.token_count.prompt': 5000,
  });
  assert.equal(nanos(cost), 500_000);
});

void test('Vercel AI SDK v4 doGenerate span: ai.usage.promptTokens / completionTokens', async () => {
  const { cost } = await run('ai.generateText.doGenerate', {
    'operation.name': 'ai.generateText.doGenerate',
    'ai.operationId': 'ai.generateText.doGenerate',
    'ai.model.id': 'acme-large',
    'ai.model.provider': 'openai.chat',
    'ai.usage.promptTokens': 1000,
    'ai.usage.completionTokens': 500,
  });
  assert.equal(nanos(cost), 6_000_000);
});

void test('Vercel AI SDK v5+ doStream span: ai.usage.inputTokens / outputTokens and token details', async () => {
  const { cost } = await run('ai.streamText.doStream', {
    'ai.operationId': 'ai.streamText.doStream',
    'ai.model.id': 'acme-large',
    'ai.model.provider': 'openai.responses',
    'ai.usage.inputTokens': 1000,
    'ai.usage.outputTokens': 500,
    'ai.usage.cachedInputTokens': 200,
    'ai.usage.inputTokenDetails.cacheReadTokens': 200,
    'ai.usage.inputTokenDetails.cacheWriteTokens': 100,
    'ai.usage.outputTokenDetails.reasoningTokens': 100,
  });
  assert.equal(nanos(cost), FULL_NANOS - 160_000 + 100_000);
});

void test('an exclusive input count (cache above input) is read as exclusive, never negative', async () => {
  // Anthropic's raw usage copied verbatim: input_tokens 100 excludes 800 read + 100 written.
  const { cost } = await run('chat acme-large', {
    'gen_ai.operation.name': 'chat',
    'gen_ai.request.model': 'acme-large',
    'gen_ai.usage.input_tokens': 100,
    'gen_ai.usage.output_tokens': 10,
    'gen_ai.usage.cache_read.input_tokens': 800,
    'gen_ai.usage.cache_creation.input_tokens': 100,
  });
  assert.equal(nanos(cost), 100 * 2000 + 800 * 500 + 100 * 2500 + 10 * 8000);
});

void test('agent and workflow spans that repeat their children usage are never priced', async () => {
  for (const [name, attrs] of [
    ['invoke_agent planner', { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.request.model': 'acme-large', 'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 10 }],
    ['execute_tool search', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.usage.input_tokens': 1000 }],
    ['ai.generateText', { 'ai.operationId': 'ai.generateText', 'ai.model.id': 'acme-large', 'ai.usage.inputTokens': 1000, 'ai.usage.outputTokens': 10 }],
    ['Agent', { 'openinference.span.kind': 'AGENT', 'llm.model_name': 'acme-large', 'llm.token_count.prompt': 1000 }],
    ['GET /', { 'http.request.method': 'GET' }],
  ] as const) {
    const { cost } = await run(name, attrs);
    assert.equal(cost, undefined, name);
  }
});

void test('a span already priced is not repriced; a span without usage is not priced', async () => {
  const pre = await run('chat acme-large', { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'acme-large', 'gen_ai.usage.input_tokens': 1000, 'tollgate.cost.usd': 0.5 });
  assert.equal(pre.cost, 0.5);
  const none = await run('chat acme-large', { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'acme-large' });
  assert.equal(none.cost, undefined);
});

void test('unknown model: fallback-priced, flagged, never $0', async () => {
  const { cost, attrs } = await run('chat no-such-model-zz', {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'no-such-model-zz',
    'gen_ai.usage.input_tokens': 1000,
    'gen_ai.usage.output_tokens': 100,
  });
  assert.equal(attrs['tollgate.cost.source'], 'fallback');
  assert.ok(typeof cost === 'number' && cost > 0);
});

void test('the response model is priced when present (the served snapshot)', async () => {
  const { cost } = await run('chat alias', {
    'gen_ai.operation.name': 'chat',
    'gen_ai.request.model': 'acme-alias-not-in-table',
    'gen_ai.response.model': 'acme-large',
    'gen_ai.usage.input_tokens': 1000,
    'gen_ai.usage.output_tokens': 0,
  });
  assert.equal(nanos(cost), 2_000_000);
});

void test('an errored inference span with usage is priced and counted as a failed attempt', async () => {
  const h = harness();
  const span = h.provider.getTracer('x').startSpan('chat acme-large', {
    attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'acme-large', 'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 0 },
  });
  span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
  const s = h.processor.getSpend({ agent: 'svc' });
  assert.equal(s.total.calls, 1);
  assert.equal(s.total.failedAttempts, 1);
  assert.equal(nanos(s.total.failedCostUsd), 2_000_000);
});
