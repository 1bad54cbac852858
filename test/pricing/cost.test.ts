/**
 * computeCost against worked cases. Every rate below names its public source; the
 * same rates are cross-checked against the shared LiteLLM / genai-prices reference
 * tables in data.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeCost } from '../../src/pricing/index.ts';
import type { CostBreakdown, ModelPrice } from '../../src/pricing/index.ts';

/** Money compared to 1e-12 USD: float sums of exact decimal rates differ in the last bits only. */
function assertCost(actual: CostBreakdown, expected: Omit<CostBreakdown, 'totalUsd'> & { totalUsd: number }): void {
  for (const key of ['inputUsd', 'outputUsd', 'cacheReadUsd', 'cacheWriteUsd', 'totalUsd'] as const) {
    assert.ok(Math.abs(actual[key] - expected[key]) < 1e-12, `${key}: got ${actual[key]}, expected ${expected[key]}`);
  }
  assert.ok(Math.abs(actual.totalUsd - (actual.inputUsd + actual.outputUsd + actual.cacheReadUsd + actual.cacheWriteUsd)) < 1e-15);
}

// Anthropic pricing page (https://www.anthropic.com/pricing#api) and prompt-caching docs
// (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#pricing), Claude Sonnet 4:
// input $3, output $15, 5-minute cache write $3.75 (1.25x), 1-hour cache write $6 (2x), cache read $0.30 (0.1x).
// Long context (https://docs.anthropic.com/en/docs/build-with-claude/context-windows#1m-token-context-window):
// requests over 200K input tokens: input $6, output $22.50, cache write $7.50, 1h $12, cache read $0.60.
const SONNET_4: ModelPrice = {
  provider: 'anthropic',
  model: 'claude-sonnet-4',
  input: 3,
  output: 15,
  cacheRead: 0.3,
  cacheWrite: 3.75,
  cacheWrite1h: 6,
  tiers: [{ aboveInputTokens: 200_000, input: 6, output: 22.5, cacheRead: 0.6, cacheWrite: 7.5, cacheWrite1h: 12 }],
};

// OpenAI pricing page (https://openai.com/api/pricing/): gpt-4o input $2.50, cached input $1.25, output $10;
// Batch API (https://platform.openai.com/docs/guides/batch): 50% discount on both.
const GPT_4O: ModelPrice = { provider: 'openai', model: 'gpt-4o', input: 2.5, output: 10, cacheRead: 1.25, batchDiscount: 0.5 };

// OpenAI pricing page: gpt-5 input $1.25, cached input $0.125, output $10 (reasoning tokens bill as output).
const GPT_5: ModelPrice = { provider: 'openai', model: 'gpt-5', input: 1.25, output: 10, cacheRead: 0.125 };

void test('Anthropic call with 5-minute and 1-hour cache writes and a cache read', () => {
  // Anthropic usage: input_tokens 1000 (uncached), cache_creation_input_tokens 2000
  // (ephemeral_5m 1500, ephemeral_1h 500), cache_read_input_tokens 10000, output_tokens 500.
  // GenAI convention: input = 1000 + 2000 + 10000 = 13000.
  const cost = computeCost(
    { inputTokens: 13_000, outputTokens: 500, cacheReadTokens: 10_000, cacheWriteTokens: 2_000, cacheWrite1hTokens: 500 },
    SONNET_4,
  );
  assertCost(cost, {
    inputUsd: 0.003, // 1000 x $3/M
    cacheReadUsd: 0.003, // 10000 x $0.30/M
    cacheWriteUsd: 0.008625, // 1500 x $3.75/M + 500 x $6/M
    outputUsd: 0.0075, // 500 x $15/M
    totalUsd: 0.022125,
  });
});

void test('a request strictly above 200k input tokens is repriced entirely at the long-context tier', () => {
  const cost = computeCost(
    { inputTokens: 250_000, outputTokens: 1_000, cacheReadTokens: 100_000, cacheWriteTokens: 10_000, cacheWrite1hTokens: 4_000 },
    SONNET_4,
  );
  assertCost(cost, {
    inputUsd: 0.84, // 140000 x $6/M
    cacheReadUsd: 0.06, // 100000 x $0.60/M
    cacheWriteUsd: 0.093, // 6000 x $7.50/M + 4000 x $12/M
    outputUsd: 0.0225, // 1000 x $22.50/M
    totalUsd: 1.0155,
  });
});

void test('exactly 200k input tokens stays on the base rates (the threshold is strict)', () => {
  const cost = computeCost({ inputTokens: 200_000, outputTokens: 1_000 }, SONNET_4);
  assertCost(cost, { inputUsd: 0.6, cacheReadUsd: 0, cacheWriteUsd: 0, outputUsd: 0.015, totalUsd: 0.615 });
  const above = computeCost({ inputTokens: 200_001, outputTokens: 1_000 }, SONNET_4);
  assertCost(above, { inputUsd: 1.200006, cacheReadUsd: 0, cacheWriteUsd: 0, outputUsd: 0.0225, totalUsd: 1.222506 });
});

void test('the highest tier whose threshold is exceeded wins, whatever their order', () => {
  const price: ModelPrice = {
    provider: 'x',
    model: 'y',
    input: 1,
    output: 2,
    tiers: [
      { aboveInputTokens: 500_000, input: 4, output: 8 },
      { aboveInputTokens: 100_000, input: 2, output: 4 },
    ],
  };
  assertCost(computeCost({ inputTokens: 600_000, outputTokens: 0 }, price), { inputUsd: 2.4, outputUsd: 0, cacheReadUsd: 0, cacheWriteUsd: 0, totalUsd: 2.4 });
  assertCost(computeCost({ inputTokens: 200_000, outputTokens: 0 }, price), { inputUsd: 0.4, outputUsd: 0, cacheReadUsd: 0, cacheWriteUsd: 0, totalUsd: 0.4 });
});

void test('OpenAI chat call with cached prompt tokens (cached tokens are part of prompt_tokens)', () => {
  // usage: prompt_tokens 2000, prompt_tokens_details.cached_tokens 1024, completion_tokens 300
  const cost = computeCost({ inputTokens: 2_000, outputTokens: 300, cacheReadTokens: 1_024 }, GPT_4O);
  assertCost(cost, {
    inputUsd: 0.00244, // 976 x $2.50/M
    cacheReadUsd: 0.00128, // 1024 x $1.25/M
    cacheWriteUsd: 0,
    outputUsd: 0.003, // 300 x $10/M
    totalUsd: 0.00672,
  });
});

void test('the recorded Responses stream (fixture 08, gpt-5.3-codex) prices at $1.75 / $0.175 cached / $14', () => {
  // Fixture 08 usage: input_tokens 7112, cached_tokens 3072, output_tokens 463, reasoning_tokens 64.
  // Rates: OpenAI pricing page, gpt-5.3-codex $1.75 input, $0.175 cached input, $14 output.
  const price: ModelPrice = { provider: 'openai', model: 'gpt-5.3-codex', input: 1.75, output: 14, cacheRead: 0.175 };
  const cost = computeCost({ inputTokens: 7_112, outputTokens: 463, cacheReadTokens: 3_072, reasoningTokens: 64 }, price);
  assertCost(cost, {
    inputUsd: 0.00707, // 4040 x $1.75/M
    cacheReadUsd: 0.0005376, // 3072 x $0.175/M
    cacheWriteUsd: 0,
    outputUsd: 0.006482, // 463 x $14/M: reasoning is inside output, billed once
    totalUsd: 0.0140896,
  });
});

void test('reasoning tokens are inside output and bill at the output rate when no reasoning rate is given', () => {
  const cost = computeCost({ inputTokens: 1_000, outputTokens: 1_000, reasoningTokens: 700 }, GPT_5);
  assertCost(cost, { inputUsd: 0.00125, cacheReadUsd: 0, cacheWriteUsd: 0, outputUsd: 0.01, totalUsd: 0.01125 });
});

void test('a separate reasoning rate bills only the reasoning part at that rate', () => {
  const cost = computeCost({ inputTokens: 0, outputTokens: 1_000, reasoningTokens: 700 }, { ...GPT_5, reasoning: 20 });
  assertCost(cost, { inputUsd: 0, cacheReadUsd: 0, cacheWriteUsd: 0, outputUsd: 0.017, totalUsd: 0.017 }); // 300 x $10 + 700 x $20
});

void test('batch calls are priced at batchDiscount x every rate', () => {
  const cost = computeCost({ inputTokens: 1_000_000, outputTokens: 1_000_000, cacheReadTokens: 200_000, batch: true }, GPT_4O);
  assertCost(cost, { inputUsd: 1, cacheReadUsd: 0.125, cacheWriteUsd: 0, outputUsd: 5, totalUsd: 6.125 });
  const noDiscount = computeCost({ inputTokens: 1_000_000, outputTokens: 0, batch: true }, GPT_5);
  assertCost(noDiscount, { inputUsd: 1.25, cacheReadUsd: 0, cacheWriteUsd: 0, outputUsd: 0, totalUsd: 1.25 }); // no known discount: full price
});

void test('cacheWrite1h absent: 1-hour writes cost 2 x input', () => {
  const price: ModelPrice = { provider: 'anthropic', model: 'm', input: 3, output: 15, cacheWrite: 3.75 };
  const cost = computeCost({ inputTokens: 3_000, outputTokens: 0, cacheWriteTokens: 2_000, cacheWrite1hTokens: 1_000 }, price);
  assertCost(cost, { inputUsd: 0.003, cacheReadUsd: 0, cacheWriteUsd: 0.00975, outputUsd: 0, totalUsd: 0.01275 }); // 1000 x 3.75 + 1000 x 6
});

void test('cacheRead and cacheWrite absent: those tokens bill at the input rate (no invented discount)', () => {
  const price: ModelPrice = { provider: 'groq', model: 'm', input: 0.59, output: 0.79 };
  const cost = computeCost({ inputTokens: 10_000, outputTokens: 0, cacheReadTokens: 4_000, cacheWriteTokens: 1_000 }, price);
  assertCost(cost, { inputUsd: 0.00295, cacheReadUsd: 0.00236, cacheWriteUsd: 0.00059, outputUsd: 0, totalUsd: 0.0059 });
});

void test('a tier without cache rates falls back to the tier input rate, not the base cache rate', () => {
  const price: ModelPrice = { provider: 'x', model: 'y', input: 1, output: 2, cacheRead: 0.1, tiers: [{ aboveInputTokens: 10, input: 5, output: 6 }] };
  const cost = computeCost({ inputTokens: 100, outputTokens: 0, cacheReadTokens: 100 }, price);
  assertCost(cost, { inputUsd: 0, cacheReadUsd: 0.0005, cacheWriteUsd: 0, outputUsd: 0, totalUsd: 0.0005 });
});

void test('bad counts are clamped: never negative, never NaN, sub-counts never exceed their totals', () => {
  const zero = { inputUsd: 0, outputUsd: 0, cacheReadUsd: 0, cacheWriteUsd: 0, totalUsd: 0 };
  assertCost(computeCost({ inputTokens: -5, outputTokens: Number.NaN }, SONNET_4), zero);
  assertCost(computeCost({ inputTokens: Number.POSITIVE_INFINITY, outputTokens: 0 }, SONNET_4), zero);
  // Cache read larger than the whole input: capped at the input, nothing left at the plain rate.
  assertCost(computeCost({ inputTokens: 100, outputTokens: 10, cacheReadTokens: 500, reasoningTokens: 50 }, SONNET_4), {
    inputUsd: 0,
    cacheReadUsd: 0.00003,
    cacheWriteUsd: 0,
    outputUsd: 0.00015,
    totalUsd: 0.00018,
  });
  // Read + write above the input: the read is taken first, the write gets what is left; 1h within writes.
  assertCost(computeCost({ inputTokens: 100, outputTokens: 0, cacheReadTokens: 60, cacheWriteTokens: 60, cacheWrite1hTokens: 90, reasoningTokens: -3 }, SONNET_4), {
    inputUsd: 0,
    cacheReadUsd: 0.000018,
    cacheWriteUsd: 0.00024, // 40 x $6/M (all 1h)
    outputUsd: 0,
    totalUsd: 0.000258,
  });
  const broken: ModelPrice = { provider: 'x', model: 'y', input: Number.NaN, output: -1, batchDiscount: Number.NaN };
  assertCost(computeCost({ inputTokens: 10, outputTokens: 10, batch: true }, broken), zero);
});

void test('computeCost does not modify its arguments', () => {
  const usage = Object.freeze({ inputTokens: 13_000, outputTokens: 500, cacheReadTokens: 10_000 });
  const price = Object.freeze({ ...SONNET_4 });
  assert.doesNotThrow(() => computeCost(usage, price));
});
