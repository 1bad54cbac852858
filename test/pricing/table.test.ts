import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { computeCost, createPriceTable, defaultPriceTable } from '../../src/pricing/index.ts';
import type { ModelPrice } from '../../src/pricing/index.ts';

const warnings: string[] = [];
const logger: DiagLogger = {
  error: () => {},
  warn: (msg: string) => warnings.push(msg),
  info: () => {},
  debug: () => {},
  verbose: () => {},
};
diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });

function priced(model: string, provider?: string): [string, string, number, number] {
  const l = defaultPriceTable().lookup(model, provider);
  return [l.source, l.price.model, l.price.input, l.price.output];
}

void test('normalises case, dated snapshots, -latest and provider prefixes', () => {
  assert.deepEqual(priced('gpt-4o'), ['table', 'gpt-4o', 2.5, 10]);
  assert.deepEqual(priced('GPT-4o'), ['table', 'gpt-4o', 2.5, 10]);
  assert.deepEqual(priced('gpt-4o-2024-08-06'), ['table', 'gpt-4o', 2.5, 10]);
  assert.deepEqual(priced('gpt-4o-2031-01-01'), ['table', 'gpt-4o', 2.5, 10]); // an unseen snapshot of a known model
  assert.deepEqual(priced('openai/gpt-4o'), ['table', 'gpt-4o', 2.5, 10]);
  assert.deepEqual(priced('azure/gpt-4o'), ['table', 'gpt-4o', 2.5, 10]);
  assert.deepEqual(priced('claude-sonnet-4-5-20250929'), ['table', 'claude-sonnet-4-5', 3, 15]);
  assert.deepEqual(priced('anthropic/claude-sonnet-4-5'), ['table', 'claude-sonnet-4-5', 3, 15]);
  assert.deepEqual(priced('claude-3-5-haiku-latest'), ['table', 'claude-3-5-haiku-latest', 0.8, 4]);
  assert.deepEqual(priced('models/gemini-2.5-pro'), ['table', 'gemini-2.5-pro', 1.25, 10]);
});

void test('a snapshot priced differently from its alias keeps its own price', () => {
  // OpenAI pricing page: gpt-4o-2024-05-13 is $5 / $15, the gpt-4o alias $2.50 / $10.
  assert.deepEqual(priced('gpt-4o-2024-05-13'), ['table', 'gpt-4o-2024-05-13', 5, 15]);
});

void test('Bedrock and Vertex ids resolve to the hosted model', () => {
  const bedrock = defaultPriceTable().lookup('anthropic.claude-3-5-sonnet-20240620-v1:0', 'aws.bedrock');
  assert.equal(bedrock.source, 'table');
  assert.equal(bedrock.price.provider, 'aws');
  assert.deepEqual([bedrock.price.input, bedrock.price.output], [3, 15]);
  const crossRegion = defaultPriceTable().lookup('us.anthropic.claude-3-5-sonnet-20240620-v1:0');
  assert.equal(crossRegion.price.provider, 'aws'); // the id's own shape says Bedrock
  assert.deepEqual([crossRegion.price.input, crossRegion.price.output], [3, 15]);
  const vertex = defaultPriceTable().lookup('claude-3-5-sonnet-v2@20241022', 'gcp.vertex_ai');
  assert.deepEqual([vertex.source, vertex.price.provider, vertex.price.input, vertex.price.output], ['table', 'google', 3, 15]);
  const vertexNoHint = defaultPriceTable().lookup('claude-sonnet-4@20250514');
  assert.deepEqual([vertexNoHint.source, vertexNoHint.price.model, vertexNoHint.price.input], ['table', 'claude-sonnet-4-0', 3]);
});

void test('an Azure call is priced by the response model it reports', () => {
  // Fixture 09: Azure model-router, gen_ai.response.model gpt-5-nano-2025-08-07 (OpenAI pricing page: $0.05 / $0.40).
  const l = defaultPriceTable().lookup('gpt-5-nano-2025-08-07', 'azure.ai.openai');
  assert.deepEqual([l.source, l.price.model, l.price.input, l.price.output], ['table', 'gpt-5-nano', 0.05, 0.4]);
});

void test('the provider hint picks the host of an open-weight model', () => {
  const groq = defaultPriceTable().lookup('llama-3.3-70b-versatile', 'groq');
  assert.deepEqual([groq.price.provider, groq.price.input, groq.price.output], ['groq', 0.59, 0.79]);
});

void test('unknown model: the provider\'s most expensive rates, flagged fallback, warned once, never $0', () => {
  const table = createPriceTable();
  warnings.length = 0;
  const first = table.lookup('gpt-99-ultra', 'openai');
  const again = table.lookup('gpt-99-ultra', 'openai');
  assert.equal(first, again);
  assert.equal(first.source, 'fallback');
  assert.equal(first.price.provider, 'openai');
  assert.equal(first.price.model, 'gpt-99-ultra');
  const openaiMax = Math.max(...table.entries().filter((e) => e.price.provider === 'openai').flatMap((e) => [e.price.input, ...(e.price.tiers ?? []).map((t) => t.input)]));
  assert.equal(first.price.input, openaiMax);
  assert.ok(first.price.input >= 15, 'at least the price of the priciest current OpenAI model');
  assert.ok(computeCost({ inputTokens: 1, outputTokens: 1 }, first.price).totalUsd > 0);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /no price for model "gpt-99-ultra" \(provider openai\)/);
  table.lookup('gpt-99-ultra', 'openai');
  assert.equal(warnings.length, 1);
  // The provider is guessed from the name when the caller gives none.
  const claude = table.lookup('claude-nonexistent-9');
  assert.equal(claude.source, 'fallback');
  assert.equal(claude.price.provider, 'anthropic');
  assert.equal(warnings.length, 2);
  assert.equal(table.find('claude-nonexistent-9'), undefined);
  assert.equal(table.find('gpt-4o')?.price.model, 'gpt-4o');
  assert.equal(warnings.length, 2);
});

void test('a model no provider claims falls back to the highest rates of the whole table', () => {
  const table = createPriceTable();
  const l = table.lookup('totally-unknown-model');
  const max = Math.max(...table.entries().map((e) => e.price.output));
  assert.equal(l.source, 'fallback');
  assert.ok(l.price.output >= max);
});

void test('overrides win over the built-in table, by name, glob and through normalisation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-prices-'));
  const file = join(dir, 'prices.json');
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      models: [
        { provider: 'openai', model: 'acme-large', match: ['acme-large', 'acme-large-*'], input: 2.5, output: 10, cacheRead: 0.25 },
        { provider: 'openai', model: 'gpt-4o', input: 1, output: 2 },
      ],
    }),
  );
  const inCode: ModelPrice = { provider: 'anthropic', model: 'claude-sonnet-4-5', input: 9, output: 9 };
  const table = createPriceTable({ overridesPath: file, overrides: [inCode] });
  assert.deepEqual([table.lookup('acme-large-2026').source, table.lookup('acme-large-2026').price.input], ['override', 2.5]);
  assert.deepEqual([table.lookup('ACME-LARGE').source], ['override']);
  assert.equal(table.lookup('acme-largest').source, 'fallback');
  assert.deepEqual([table.lookup('gpt-4o-2024-08-06').source, table.lookup('gpt-4o-2024-08-06').price.input], ['override', 1]);
  assert.deepEqual([table.lookup('openai/gpt-4o').source, table.lookup('openai/gpt-4o').price.input], ['override', 1]);
  assert.equal(table.lookup('claude-sonnet-4-5-20250929').price.input, 9);
  assert.equal(table.entries()[0]?.source, 'override');
  assert.equal(table.entries()[0]?.price.model, 'claude-sonnet-4-5');
  // The built-in default table is untouched.
  assert.equal(defaultPriceTable().lookup('gpt-4o').price.input, 2.5);
});

void test('lookups of a name seen before return the same object (memoised), also past the memo cap', () => {
  const table = createPriceTable({ memoEntries: 16 });
  const a = table.lookup('gpt-4o-mini');
  assert.equal(table.lookup('gpt-4o-mini'), a);
  for (let i = 0; i < 100; i++) table.lookup(`gpt-4o-mini-2024-07-${i}`);
  const b = table.lookup('gpt-4o-mini');
  assert.equal(b.price, a.price); // recomputed after eviction, same compiled price
});

void test('the built-in table carries output limits and the long-context tiers', () => {
  const sonnet = defaultPriceTable().lookup('claude-sonnet-4-5');
  assert.equal(sonnet.price.maxOutputTokens, 64000);
  assert.deepEqual(sonnet.price.tiers?.[0], { aboveInputTokens: 200000, input: 6, output: 22.5, cacheRead: 0.6, cacheWrite: 7.5, cacheWrite1h: 12 });
  assert.equal(defaultPriceTable().lookup('gpt-4o').price.maxOutputTokens, 16384);
  assert.equal(defaultPriceTable().lookup('gpt-4o').price.batchDiscount, 0.5);
});

void test('Mistral models the Mistral client names are priced under gen_ai.provider.name mistral_ai', () => {
  const table = defaultPriceTable();
  // USD per million tokens, from the compiled genai-prices data.
  const expected: readonly (readonly [string, string, number, number])[] = [
    ['mistral-large-latest', 'mistral-large', 2, 6],
    ['mistral-small-latest', 'mistral-small-latest', 0.1, 0.3],
    ['mistral-embed', 'mistral-embed', 0.1, 0.1],
    ['codestral-latest', 'codestral', 0.3, 0.9],
    ['codestral-2501', 'codestral', 0.3, 0.9],
  ];
  for (const [id, model, input, output] of expected) {
    const lookup = table.lookup(id, 'mistral_ai');
    assert.deepEqual([lookup.source, lookup.price.provider, lookup.price.model, lookup.price.input, lookup.price.output], ['table', 'mistral', model, input, output], id);
  }
  // Prompt-cache reads have their own rate where Mistral publishes one.
  assert.equal(table.lookup('mistral-large-2512', 'mistral_ai').price.cacheRead, 0.05);
});
