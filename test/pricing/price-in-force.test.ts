/**
 * The price of a call is the price in force at its start: dated prices and UTC time-of-day
 * windows (exact seconds on both sides of each boundary), service tiers, provider-reported
 * cost, the reservation's highest price over a call's possible duration, genai-prices data
 * files through TOLLGATE_PRICES, and the start-up staleness warning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calcPrice, findProvider } from '@pydantic/genai-prices';
import { ConfigError } from '../../src/errors.ts';
import { comparePrices } from '../../src/pricing/compare.ts';
import { PROVIDERS } from '../../src/pricing/compile.ts';
import { BUILTIN_PRICE_DATA } from '../../src/pricing/table.ts';
import { computeCost, createPriceTable, defaultPriceTable, MAX_CALL_DURATION_MS, priceCall, STALE_PRICES_DAYS, warnIfPricesStale } from '../../src/pricing/index.ts';
import type { PriceData } from '../../src/pricing/data.ts';

const at = (iso: string): number => Date.parse(iso);

/** [model, provider, start time, input rate, output rate] per million tokens. */
const BOUNDARIES: readonly [string, string, string, number, number][] = [
  // DeepSeek V3: standard 00:30-16:30 UTC, off-peak (half) outside it.
  ['deepseek-chat', 'deepseek', '2026-12-03T00:29:59Z', 0.135, 0.55],
  ['deepseek-chat', 'deepseek', '2026-12-03T00:30:00Z', 0.27, 1.1],
  ['deepseek-chat', 'deepseek', '2026-12-03T16:29:59Z', 0.27, 1.1],
  ['deepseek-chat', 'deepseek', '2026-12-03T16:30:00Z', 0.135, 0.55],
  ['deepseek-reasoner', 'deepseek', '2026-12-03T00:29:59Z', 0.135, 0.55],
  ['deepseek-reasoner', 'deepseek', '2026-12-03T00:30:00Z', 0.55, 2.19],
  // Gemini 3.6 / 3.7 Flash double on 2027-01-01.
  ['gemini-3.6-flash', 'google', '2026-12-31T23:59:59Z', 0.75, 3.75],
  ['gemini-3.6-flash', 'google', '2027-01-01T00:00:00Z', 1.5, 7.5],
  ['gemini-3.7-flash', 'google', '2026-12-31T23:59:59Z', 0.75, 3.75],
  ['gemini-3.7-flash', 'google', '2027-01-01T00:00:00Z', 1.5, 7.5],
  // DeepSeek V4: a dated change, then two peak windows listed after it (the later entries win).
  ['deepseek-v4-pro', 'deepseek', '2026-08-16T23:59:59Z', 0.435, 0.87],
  ['deepseek-v4-pro', 'deepseek', '2026-08-17T00:00:00Z', 0.66, 1.98],
  ['deepseek-v4-pro', 'deepseek', '2026-08-17T00:59:59Z', 0.66, 1.98],
  ['deepseek-v4-pro', 'deepseek', '2026-08-17T01:00:00Z', 1.32, 3.96],
  ['deepseek-v4-pro', 'deepseek', '2026-08-17T03:59:59Z', 1.32, 3.96],
  ['deepseek-v4-pro', 'deepseek', '2026-08-17T04:00:00Z', 0.66, 1.98],
  // Before its date the window still holds (genai-prices' rule: a window entry carries no date).
  ['deepseek-v4-pro', 'deepseek', '2026-08-16T06:00:00Z', 1.32, 3.96],
];

void test('dated prices and time-of-day windows: the rate in force at the start, exact seconds on both sides', () => {
  const table = defaultPriceTable();
  for (const [model, provider, start, input, output] of BOUNDARIES) {
    const { price, source } = table.lookup(model, provider, at(start));
    assert.deepEqual({ source, input: price.input, output: price.output }, { source: 'table', input, output }, `${model} at ${start}`);
    // The same table, asked without a provider, agrees.
    assert.equal(table.lookup(model, undefined, at(start)).price.input, input, `${model} at ${start}, no provider`);
  }
});

void test('the resolver agrees with genai-prices\' own (calcPrice with a timestamp) for every constrained model, hour by hour', () => {
  const table = defaultPriceTable();
  let compared = 0;
  const instants: number[] = [];
  for (const day of ['2025-06-09', '2025-06-10', '2026-03-12', '2026-03-13', '2026-07-30', '2026-08-16', '2026-08-17', '2026-09-01', '2026-12-31', '2027-01-01']) {
    for (let minute = 0; minute < 24 * 60; minute += 30) instants.push(at(`${day}T00:00:00Z`) + minute * 60_000);
  }
  for (const providerId of PROVIDERS) {
    const provider = findProvider({ providerId });
    for (const m of provider?.models ?? []) {
      if (!Array.isArray(m.prices)) continue;
      for (const t of instants) {
        // Below every long-context threshold, so only the validity rule can make them differ.
        const theirs = calcPrice({ input_tokens: 100_000, output_tokens: 10_000 }, m.id, { providerId, timestamp: new Date(t) });
        if (theirs === null) continue;
        const ours = table.lookup(m.id, providerId, t);
        if (ours.source === 'fallback' && theirs.total_price === 0) continue; // priced per page / image only: not compiled
        assert.equal(ours.price.model, m.id, `${providerId}/${m.id}`);
        const cost = computeCost({ inputTokens: 100_000, outputTokens: 10_000 }, ours.price).totalUsd;
        assert.ok(Math.abs(cost - theirs.total_price) < 1e-12, `${providerId}/${m.id} at ${new Date(t).toISOString()}: ${cost} vs ${theirs.total_price}`);
        compared++;
      }
    }
  }
  assert.ok(compared > 5000, `compared ${compared}`);
});

void test('a window that wraps midnight (end < start) holds from its start to the next day\'s end', () => {
  const data: PriceData = {
    version: 1,
    source: 'test',
    asOf: '2026-12-01',
    providers: [{ id: 'openai', models: [{ id: 'night-owl', match: { equals: 'night-owl' }, input: 1, output: 2, when: [{ startTime: '22:00:00', endTime: '02:00:00', input: 0.5, output: 1 }] }] }],
  };
  const table = createPriceTable({ data });
  const cases: [string, number][] = [
    ['2026-12-03T21:59:59Z', 1],
    ['2026-12-03T22:00:00Z', 0.5],
    ['2026-12-03T23:59:59Z', 0.5],
    ['2026-12-04T00:00:00Z', 0.5],
    ['2026-12-04T01:59:59Z', 0.5],
    ['2026-12-04T02:00:00Z', 1],
  ];
  for (const [start, input] of cases) assert.equal(table.lookup('night-owl', 'openai', at(start)).price.input, input, start);
});

void test('a reservation takes the highest price in force while the call may run', () => {
  const table = defaultPriceTable();
  // Starts off-peak 10 minutes before the standard window opens: the standard rate may apply.
  const straddles = table.lookupDuring('deepseek-chat', 'deepseek', at('2026-12-03T00:20:00Z'), at('2026-12-03T00:20:00Z') + MAX_CALL_DURATION_MS);
  assert.deepEqual([straddles.price.input, straddles.price.output], [0.27, 1.1]);
  // Ends a second before the window opens: off-peak throughout.
  const before = table.lookupDuring('deepseek-chat', 'deepseek', at('2026-12-03T00:19:59Z'), at('2026-12-03T00:29:59Z'));
  assert.deepEqual([before.price.input, before.price.output], [0.135, 0.55]);
  // Starting in the window and running past its end: the window's (higher) rate.
  const leaving = table.lookupDuring('deepseek-chat', 'deepseek', at('2026-12-03T16:25:00Z'), at('2026-12-03T16:35:00Z'));
  assert.equal(leaving.price.input, 0.27);
  // The dated Gemini change just before midnight of 2027-01-01.
  assert.equal(table.lookupDuring('gemini-3.6-flash', 'google', at('2026-12-31T23:55:00Z'), at('2027-01-01T00:05:00Z')).price.input, 1.5);
  // A model with no validity: the plain lookup.
  assert.equal(table.lookupDuring('gpt-4o', 'openai', 0, MAX_CALL_DURATION_MS), table.lookup('gpt-4o', 'openai', 0));
});

void test('service tiers: flex and priority at their rates, other tiers at the standard rates', () => {
  const table = defaultPriceTable();
  const t = at('2026-12-03T12:00:00Z');
  const tiers: [string | undefined, number, number, number | undefined, string | undefined][] = [
    [undefined, 1.25, 10, 0.125, undefined],
    ['default', 1.25, 10, 0.125, undefined],
    ['auto', 1.25, 10, 0.125, undefined],
    ['flex', 0.625, 5, 0.0625, 'flex'],
    ['priority', 2.5, 20, 0.25, 'priority'],
  ];
  for (const [tier, input, output, cacheRead, named] of tiers) {
    const { price } = table.lookup('gpt-5', 'openai', t, tier);
    assert.deepEqual([price.input, price.output, price.cacheRead, price.serviceTier], [input, output, cacheRead, named], String(tier));
  }
  // gpt-4o has a priority tier and no flex tier: flex bills at the standard rates.
  assert.equal(table.lookup('gpt-4o', 'openai', t, 'priority').price.input, 4.25);
  assert.equal(table.lookup('gpt-4o', 'openai', t, 'flex').price.input, 2.5);
});

void test('a provider-reported cost is the cost; the breakdown is the table\'s scaled to it', () => {
  const table = defaultPriceTable();
  const t = at('2026-12-03T12:00:00Z');
  const usage = { inputTokens: 1000, outputTokens: 200, costUsd: 0.00042 };
  const priced = priceCall(table, usage, 'meta-llama/llama-3.3-70b-instruct', 'openrouter', t);
  assert.equal(priced.source, 'provider');
  assert.equal(priced.cost.totalUsd, 0.00042);
  // Table: openrouter's 0.05 / 0.24 per million.
  const tableInput = (1000 * 0.05) / 1e6;
  const tableOutput = (200 * 0.24) / 1e6;
  assert.equal(priced.tableUsd, tableInput + tableOutput);
  assert.ok(Math.abs(priced.cost.inputUsd - (tableInput * 0.00042) / (tableInput + tableOutput)) < 1e-18);
  assert.ok(Math.abs(priced.cost.inputUsd + priced.cost.outputUsd - 0.00042) < 1e-18);
  // No reported cost: the table; a broken one (negative, NaN) is ignored, never trusted.
  assert.equal(priceCall(table, { inputTokens: 1000, outputTokens: 200 }, 'meta-llama/llama-3.3-70b-instruct', 'openrouter', t).source, 'table');
  assert.equal(priceCall(table, { inputTokens: 1000, outputTokens: 200, costUsd: -1 }, 'meta-llama/llama-3.3-70b-instruct', 'openrouter', t).source, 'table');
  assert.equal(priceCall(table, { inputTokens: 1000, outputTokens: 200, costUsd: Number.NaN }, 'gpt-4o', 'openai', t).source, 'table');
});

void test('OpenRouter model ids resolve to their models, never to the fallback', () => {
  const table = defaultPriceTable();
  const t = at('2026-12-03T12:00:00Z');
  const llama = table.lookup('meta-llama/llama-3.3-70b-instruct', 'openrouter', t);
  assert.deepEqual([llama.source, llama.price.provider, llama.price.input, llama.price.output], ['table', 'openrouter', 0.05, 0.24]);
  // The openai instrumentation's provider for an OpenAI-compatible host, and no provider at all.
  assert.equal(table.lookup('meta-llama/llama-3.3-70b-instruct', 'openai', t).price.input, 0.05);
  assert.equal(table.lookup('meta-llama/llama-3.3-70b-instruct', undefined, t).price.input, 0.05);
  // OpenRouter's own row when it lists the id; else vendor/model is the vendor's own price.
  const gpt4o = table.lookup('openai/gpt-4o', 'openrouter', t);
  assert.deepEqual([gpt4o.source, gpt4o.price.provider, gpt4o.price.model, gpt4o.price.input], ['table', 'openrouter', 'openai/gpt-4o', 2.5]);
  const sonnet = table.lookup('anthropic/claude-sonnet-4-5-20250929', 'openrouter', t);
  assert.deepEqual([sonnet.source, sonnet.price.provider, sonnet.price.model, sonnet.price.input], ['table', 'anthropic', 'claude-sonnet-4-5', 3]);
  const o3pro = table.lookup('openai/o3-pro-2025-06-10', 'openrouter', t);
  assert.deepEqual([o3pro.source, o3pro.price.provider, o3pro.price.model], ['table', 'openai', 'o3-pro']);
});

/** The installed package's providers, serialised as genai-prices publishes its data file (a JSON array). */
function publishedData(edit: (providers: Record<string, unknown>[]) => void = () => undefined): string {
  const providers = PROVIDERS.map((id) => JSON.parse(JSON.stringify(findProvider({ providerId: id }))) as Record<string, unknown>);
  edit(providers);
  return JSON.stringify(providers);
}

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-prices-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

void test('a genai-prices data file compiles exactly as the built-in table (one compile path)', () => {
  const file = tempFile('data.json', publishedData());
  const table = createPriceTable({ overridesPath: file });
  const builtin = defaultPriceTable();
  const ours = table.entries().map((e) => e.price);
  const theirs = builtin.entries().map((e) => e.price);
  assert.equal(ours.length, theirs.length);
  assert.deepEqual(ours, theirs);
  assert.equal(BUILTIN_PRICE_DATA.providers.length, PROVIDERS.length);
});

void test('a genai-prices data file with a changed price changes the price without a rebuild', () => {
  const file = tempFile('data.json', publishedData((providers) => {
    const openai = providers.find((p) => p['id'] === 'openai') as { models: { id: string; prices: Record<string, unknown> }[] };
    const gpt4o = openai.models.find((m) => m.id === 'gpt-4o');
    assert.ok(gpt4o !== undefined && !Array.isArray(gpt4o.prices));
    gpt4o.prices['input_mtok'] = 3.1;
  }));
  const table = createPriceTable({ overridesPath: file });
  const { price, source } = table.lookup('gpt-4o', 'openai', at('2026-12-03T12:00:00Z'));
  assert.deepEqual([source, price.input, price.output], ['table', 3.1, 10]);
  // What the build took from LiteLLM for the same model stays: output limit, batch discount, service tiers.
  assert.equal(price.maxOutputTokens, 16384);
  assert.equal(price.batchDiscount, 0.5);
  assert.equal(table.lookup('gpt-4o', 'openai', 0, 'priority').price.input, 4.25);
  assert.equal(defaultPriceTable().lookup('gpt-4o', 'openai').price.input, 2.5);
});

void test('a malformed genai-prices data file is a ConfigError naming the path and the field', () => {
  const cases: [string, (providers: Record<string, unknown>[]) => void, string, string][] = [
    [
      'a price that is not a number',
      (ps) => {
        ((ps[0] as { models: { prices: Record<string, unknown> }[] }).models[3] as { prices: Record<string, unknown> }).prices['input_mtok'] = 'cheap';
      },
      '$[0].models[3].prices.input_mtok',
      'input_mtok',
    ],
    [
      'a model without an id',
      (ps) => {
        delete ((ps[1] as { models: Record<string, unknown>[] }).models[0] as Record<string, unknown>)['id'];
      },
      '$[1].models[0].id',
      'id',
    ],
    [
      'a window time without a zone',
      (ps) => {
        const deepseek = ps.find((p) => p['id'] === 'deepseek') as { models: { id: string; prices: { constraint?: Record<string, unknown> }[] }[] };
        const chat = deepseek.models.find((m) => m.id === 'deepseek-chat');
        (chat?.prices[1]?.constraint as Record<string, unknown>)['start_time'] = '00:30';
      },
      '.prices[1].constraint.start_time',
      'start_time',
    ],
  ];
  for (const [what, edit, path, field] of cases) {
    const file = tempFile('bad.json', publishedData(edit));
    assert.throws(
      () => createPriceTable({ overridesPath: file }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, what);
        assert.ok(err.source.startsWith(`${file} $`), `${what}: ${err.source}`);
        assert.ok(err.source.endsWith(path), `${what}: ${err.source} should end with ${path}`);
        assert.match(err.message, new RegExp(`field "${field}"`), what);
        return true;
      },
    );
  }
  const empty = tempFile('empty.json', '[]');
  assert.throws(() => createPriceTable({ overridesPath: empty }), (err: unknown) => err instanceof ConfigError && err.source === `${empty} $`);
});

void test('the staleness warning: once, when the table is more than 60 days old', () => {
  const warnings: Error[] = [];
  const listener = (w: Error): void => void warnings.push(w);
  process.on('warning', listener);
  {
    const built = at('2026-11-25T00:00:00Z');
    assert.equal(STALE_PRICES_DAYS, 60);
    assert.equal(warnIfPricesStale('2026-11-25', built + 60 * 86_400_000 + 86_399_000), false); // day 60: not yet
    assert.equal(warnIfPricesStale('2026-11-25', built + 61 * 86_400_000), true);
    assert.equal(warnIfPricesStale('2026-11-25', built + 90 * 86_400_000), false); // once per process
  }
  return new Promise<void>((resolve) => {
    setImmediate(() => {
      process.off('warning', listener);
      // process.emitWarning delivers on the next tick.
      assert.equal(warnings.length, 1);
      assert.equal((warnings[0] as Error & { code?: string }).code, 'TOLLGATE_STALE_PRICES');
      assert.match((warnings[0] as Error).message, /61 days old \(built 2026-11-25\)/);
      resolve();
    });
  });
});

void test('comparing with a LiteLLM-format table lists the models that differ, and says when a dated price explains it', () => {
  const other = {
    'gpt-4o': { litellm_provider: 'openai', input_cost_per_token: 2.5e-6, output_cost_per_token: 1e-5 },
    'gpt-4o-mini': { litellm_provider: 'openai', input_cost_per_token: 0.15e-6, output_cost_per_token: 0.62e-6 },
    'gemini/gemini-3.6-flash': { litellm_provider: 'gemini', input_cost_per_token: 1.5e-6, output_cost_per_token: 7.5e-6 },
    'not-a-model-we-know': { litellm_provider: 'openai', input_cost_per_token: 1e-6, output_cost_per_token: 1e-6 },
  };
  const result = comparePrices(defaultPriceTable(), other, 1, at('2026-12-03T12:00:00Z'));
  assert.equal(result.shared, 3);
  assert.deepEqual(result.drifts, [
    { provider: 'google', model: 'gemini-3.6-flash', ours: { input: 0.75, output: 3.75 }, theirs: { input: 1.5, output: 7.5 }, diffPercent: 50, reason: 'dated', matches: 'from 2027-01-01' },
    { provider: 'openai', model: 'gpt-4o-mini', ours: { input: 0.15, output: 0.6 }, theirs: { input: 0.15, output: 0.62 }, diffPercent: 3.2, reason: 'differs' },
  ]);
  // A 5 % threshold drops the 3.2 % one; on 2027-01-01 Gemini agrees.
  assert.equal(comparePrices(defaultPriceTable(), other, 5, at('2026-12-03T12:00:00Z')).drifts.length, 1);
  assert.equal(comparePrices(defaultPriceTable(), other, 1, at('2027-01-01T00:00:00Z')).drifts.length, 1);
});
