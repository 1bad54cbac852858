/**
 * The committed built-in table is exactly what scripts/build-prices.ts produces (so it
 * cannot go stale silently), and its rates agree with LiteLLM's independent table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildPriceData, DATA_PATH, serialisePriceData } from '../../scripts/build-prices.ts';
import { defaultPriceTable, BUILTIN_PRICES_INFO } from '../../src/pricing/index.ts';
import type { PriceData } from '../../src/pricing/data.ts';

const LITELLM = JSON.parse(
  readFileSync(new URL('../../scripts/data/litellm_model_prices_and_context_window.json', import.meta.url), 'utf8'),
) as Record<string, Record<string, unknown>>;

void test('src/pricing/data/prices.json equals a fresh build of scripts/build-prices.ts', () => {
  const committed = readFileSync(DATA_PATH, 'utf8');
  const asOf = (JSON.parse(committed) as PriceData).asOf;
  assert.equal(asOf, BUILTIN_PRICES_INFO.asOf);
  assert.equal(serialisePriceData(buildPriceData(asOf)), committed, 'stale: run node scripts/build-prices.ts');
});

void test('dated prices are kept in the compiled data, not resolved at build time', () => {
  const sonnet = buildPriceData('2026-12-03').providers.find((p) => p.id === 'anthropic')?.models.find((m) => m.id === 'claude-sonnet-4-6');
  // genai-prices: Sonnet 4.6's >200k tier was dropped from 2026-03-13 (flat pricing across the 1M window).
  assert.equal(sonnet?.tiers?.[0]?.aboveInputTokens, 200000);
  assert.deepEqual(sonnet?.when, [{ startDate: '2026-03-13', input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75, cacheWrite1h: 6 }]);
  const before = defaultPriceTable().lookup('claude-sonnet-4-6', 'anthropic', Date.parse('2026-03-12T23:59:59Z'));
  const after = defaultPriceTable().lookup('claude-sonnet-4-6', 'anthropic', Date.parse('2026-03-13T00:00:00Z'));
  assert.equal(before.price.tiers?.[0]?.input, 6);
  assert.equal(after.price.tiers, undefined);
  assert.equal(after.price.input, 3);
});

// [model as a caller names it, LiteLLM key]: ten spot checks across providers.
const SPOT_CHECKS: readonly [string, string, string?][] = [
  ['gpt-4o', 'gpt-4o'],
  ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
  ['gpt-5', 'gpt-5'],
  ['o3', 'o3'],
  ['gpt-4.1', 'gpt-4.1'],
  ['claude-sonnet-4-20250514', 'claude-sonnet-4-20250514'],
  ['claude-haiku-4-5', 'claude-haiku-4-5'],
  ['claude-opus-4-1', 'claude-opus-4-1'],
  ['gemini-2.5-pro', 'gemini/gemini-2.5-pro'],
  ['gemini-2.5-flash', 'gemini-2.5-flash'],
  ['llama-3.1-8b-instant', 'groq/llama-3.1-8b-instant', 'groq'],
  ['grok-4', 'xai/grok-4'],
];

void test('spot checks agree with LiteLLM\'s table (input, output, cache read, cache write, long-context tier)', () => {
  for (const [model, key, provider] of SPOT_CHECKS) {
    const ref = LITELLM[key];
    assert.ok(ref !== undefined, `LiteLLM has no ${key}`);
    const { price, source } = defaultPriceTable().lookup(model, provider);
    assert.equal(source, 'table', model);
    const perM = (k: string): number | undefined => (typeof ref[k] === 'number' ? Math.round((ref[k] as number) * 1e6 * 1e6) / 1e6 : undefined);
    assert.equal(price.input, perM('input_cost_per_token'), `${model} input`);
    assert.equal(price.output, perM('output_cost_per_token'), `${model} output`);
    if (perM('cache_read_input_token_cost') !== undefined) assert.equal(price.cacheRead, perM('cache_read_input_token_cost'), `${model} cacheRead`);
    if (perM('cache_creation_input_token_cost') !== undefined) assert.equal(price.cacheWrite, perM('cache_creation_input_token_cost'), `${model} cacheWrite`);
    if (perM('cache_creation_input_token_cost_above_1hr') !== undefined) assert.equal(price.cacheWrite1h, perM('cache_creation_input_token_cost_above_1hr'), `${model} cacheWrite1h`);
    if (perM('input_cost_per_token_above_200k_tokens') !== undefined) {
      const tier = price.tiers?.find((t) => t.aboveInputTokens === 200000);
      assert.equal(tier?.input, perM('input_cost_per_token_above_200k_tokens'), `${model} tier input`);
      assert.equal(tier?.output, perM('output_cost_per_token_above_200k_tokens'), `${model} tier output`);
    }
    if (typeof ref.max_output_tokens === 'number') assert.equal(price.maxOutputTokens, ref.max_output_tokens, `${model} maxOutputTokens`);
  }
});
