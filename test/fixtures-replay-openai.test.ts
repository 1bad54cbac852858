// Replays real recorded OpenAI / Azure OpenAI payloads (test/fixtures/recorded, see
// SOURCES.md there) through the stand-in server to the real `openai` 7 client, and asserts the
// exact token counts and costs on the span.
//
// Rates, USD per 1M tokens (built-in table, from genai-prices; cross-checked on openai.com/api/pricing):
//   gpt-4o-mini   input 0.15, cached input 0.075, output 0.60
//   gpt-5.3-codex input 1.75, cached input 0.175, output 14.00
//   gpt-5-nano    input 0.05, cached input 0.005, output 0.40
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { onlySpan, startHarness } from './standin/harness.ts';
import type { Harness } from './standin/harness.ts';
import { defaultPriceTable } from '../src/pricing/index.ts';

const FIXTURES = new URL('./fixtures/recorded/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');

interface NockEntry {
  path: string;
  body: Record<string, unknown>;
  status: number;
  response: string | string[];
  rawHeaders: Record<string, string>;
}
const nock = (name: string): NockEntry => {
  const entry = (JSON.parse(read(name)) as NockEntry[])[0];
  if (entry === undefined) throw new Error(`${name}: no entry`);
  return entry;
};
/** AI SDK chunk files: one SSE data payload per line. */
const sseFromChunks = (name: string, done: boolean): string =>
  read(name)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => `data: ${l}\n\n`)
    .join('') + (done ? 'data: [DONE]\n\n' : '');

const M = 1e6;
function assertCost(attrs: Record<string, unknown>, expected: { input: number; output: number; cacheRead: number; reasoning?: number; usd: number; model: string }): void {
  assert.equal(attrs['gen_ai.response.model'], expected.model);
  assert.equal(attrs['gen_ai.usage.input_tokens'], expected.input);
  assert.equal(attrs['gen_ai.usage.output_tokens'], expected.output);
  assert.equal(attrs['gen_ai.usage.cache_read.input_tokens'], expected.cacheRead);
  assert.equal(attrs['gen_ai.usage.reasoning.output_tokens'], expected.reasoning ?? 0);
  assert.equal(attrs['tollgate.usage.estimated'], false);
  assert.equal(attrs['tollgate.cost.source'], 'table');
  const usd = attrs['tollgate.cost.usd'] as number;
  assert.ok(Math.abs(usd - expected.usd) < 1e-12, `cost ${usd} != ${expected.usd}`);
  assert.equal(attrs['gen_ai.usage.cost'], usd);
}

let h: Harness;
before(async () => {
  h = await startHarness({ prices: defaultPriceTable() });
});
after(async () => {
  await h.close();
});
beforeEach(() => h.reset());

void test('01 chat stream with caller-set include_usage: the final usage chunk is priced and passed through', async () => {
  const fx = nock('01-openai-chat-completions-stream-include_usage.nock.json');
  h.server.setNextResponse({ status: fx.status, headers: { 'content-type': 'text/event-stream' }, body: fx.response as string });
  const stream = await h.client('openai').chat.completions.create(fx.body);
  const chunks: { choices: unknown[] }[] = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks.at(-1)?.choices.length, 0, 'the caller asked for usage: its chunk is visible');
  assert.deepEqual((h.server.requests[0]?.body as Record<string, unknown>)['stream_options'], { include_usage: true });
  const span = await onlySpan(h);
  assert.deepEqual(span.attributes['gen_ai.response.finish_reasons'], ['stop']);
  assertCost(span.attributes, { model: 'gpt-4o-mini-2024-07-18', input: 22, output: 4, cacheRead: 0, usd: (22 * 0.15 + 4 * 0.6) / M });
});

void test('02 chat non-stream (recorded gzip body, served as recorded)', async () => {
  const fx = nock('02-openai-chat-completions-nonstream.nock.json');
  const gz = Buffer.concat((fx.response as string[]).map((hex) => Buffer.from(hex, 'hex')));
  h.server.setNextResponse({ status: fx.status, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gz });
  const completion = await h.client('openai').chat.completions.create(fx.body);
  assert.equal(completion.choices[0].message.content, 'Atlantic Ocean.');
  const span = await onlySpan(h);
  assert.equal(span.attributes['gen_ai.response.id'], 'chatcmpl-Bs24CNH3ITxv65qJpGjVXijYv6qX2');
  assertCost(span.attributes, { model: 'gpt-4o-mini-2024-07-18', input: 22, output: 3, cacheRead: 0, usd: (22 * 0.15 + 3 * 0.6) / M });
});

void test('03 Responses stream: usage from response.completed', async () => {
  const fx = nock('03-openai-responses-stream.nock.json');
  h.server.setNextResponse({ status: fx.status, headers: { 'content-type': 'text/event-stream' }, body: fx.response as string });
  const stream = await h.client('openai').responses.create(fx.body);
  for await (const _ of stream) void _;
  const span = await onlySpan(h);
  assert.deepEqual(span.attributes['gen_ai.response.finish_reasons'], ['stop']);
  assertCost(span.attributes, { model: 'gpt-4o-mini-2024-07-18', input: 22, output: 3, cacheRead: 0, usd: (22 * 0.15 + 3 * 0.6) / M });
});

void test('06 Responses non-stream with cached tokens: cached part billed at the cache-read rate', async () => {
  h.server.setNextResponse({ headers: { 'content-type': 'application/json' }, body: read('06-openai-responses-cached-tokens.decoded-body.json') });
  await h.client('openai').responses.create({ model: 'gpt-4o-mini', input: 'Tell me a joke about OpenTelemetry' });
  const span = await onlySpan(h);
  assertCost(span.attributes, { model: 'gpt-4o-mini-2024-07-18', input: 14, output: 26, cacheRead: 13, usd: (1 * 0.15 + 13 * 0.075 + 26 * 0.6) / M });
  assert.ok(Math.abs((span.attributes['tollgate.cost.cache_read_usd'] as number) - (13 * 0.075) / M) < 1e-15);
});

void test('08 Responses stream (gpt-5.3-codex): cached input and reasoning output', async () => {
  h.server.setNextResponse({ headers: { 'content-type': 'text/event-stream' }, body: sseFromChunks('08-openai-responses-stream-cached-reasoning.chunks.jsonl', false) });
  const stream = await h.client('openai').responses.create({ model: 'gpt-5.3-codex', input: 'morning brief', stream: true });
  for await (const _ of stream) void _;
  const span = await onlySpan(h);
  assert.equal(span.attributes['gen_ai.response.id'], 'resp_0a63f40a2632b74300699f8818e5648196a8fa657ae8091421');
  assertCost(span.attributes, {
    model: 'gpt-5.3-codex',
    input: 7112,
    output: 463,
    cacheRead: 3072,
    reasoning: 64,
    // Reasoning tokens are part of output and bill at the output rate.
    usd: ((7112 - 3072) * 1.75 + 3072 * 0.175 + 463 * 14) / M,
  });
});

void test('09 Azure model-router stream: guarded choices[0], usage-only chunk hidden, priced by the response model', async () => {
  h.server.setNextResponse({ headers: { 'content-type': 'text/event-stream' }, body: sseFromChunks('09-azure-openai-chat-stream-usage-only-chunk.chunks.jsonl', true) });
  const mod = h.require('openai') as { AzureOpenAI: new (o: object) => { chat: { completions: { create(b: object): Promise<AsyncIterable<{ choices: unknown[]; usage?: unknown }>> } } } };
  const azure = new mod.AzureOpenAI({ endpoint: h.server.url, apiKey: 'k', apiVersion: '2025-01-01-preview', deployment: 'model-router', maxRetries: 0 });
  const stream = await azure.chat.completions.create({ model: 'model-router', messages: [{ role: 'user', content: 'hi' }], stream: true });
  const chunks: { choices: unknown[]; usage?: unknown }[] = [];
  for await (const c of stream) chunks.push(c);
  assert.ok(!chunks.some((c) => c.choices.length === 0 && c.usage != null), 'the usage-only chunk tollgate asked for is hidden');
  assert.equal(chunks[0]?.choices.length, 0, 'the content-filter chunk is the provider\'s own and stays');
  const span = await onlySpan(h);
  assert.equal(span.name, 'chat model-router');
  assert.equal(span.attributes['gen_ai.provider.name'], 'azure.ai.openai');
  assert.equal(span.attributes['gen_ai.request.model'], 'model-router');
  assertCost(span.attributes, { model: 'gpt-5-nano-2025-08-07', input: 15, output: 78, cacheRead: 0, reasoning: 64, usd: (15 * 0.05 + 78 * 0.4) / M });
});
