import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { collectorConfig } from '../../src/cli/collector-config.ts';
import { collectorModelNames, collectorPricesAt, compilePricingPlan, generatePricingConfig, ottlFloat, ottlString, pricingStatements, type CollectorPricingPlan, type ResolvedRates } from '../../src/collector/pricing-config.ts';
import { BUILTIN_PRICES_INFO, computeCost, createPriceTable, defaultPriceTable } from '../../src/pricing/index.ts';
import type { PriceTable, Usage } from '../../src/pricing/types.ts';

const COMMITTED = new URL('../../collector-config/pricing.yaml', import.meta.url);

async function run(args: string[], env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await collectorConfig(args, { stdout, stderr, env, cwd });
  return { code, stdout: out, stderr: err };
}

void test('the committed collector-config/pricing.yaml is what `tollgate collector-config` generates (regenerate it when prices change)', async () => {
  const committed = await readFile(COMMITTED, 'utf8');
  const { code, stdout } = await run([]);
  assert.equal(code, 0);
  assert.ok(
    stdout === committed,
    'collector-config/pricing.yaml is stale: run `node src/cli/main.ts collector-config --out collector-config/pricing.yaml`',
  );
  assert.equal(generatePricingConfig(defaultPriceTable(), { pricesInfo: `${BUILTIN_PRICES_INFO.source} (as of ${BUILTIN_PRICES_INFO.asOf})` }), committed);
});

void test('--check exits 1 on a stale file and 0 on a fresh one; --out writes the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-cc-'));
  try {
    const written = await run(['--out', 'p.yaml'], {}, dir);
    assert.equal(written.code, 0);
    assert.equal(await readFile(join(dir, 'p.yaml'), 'utf8'), await readFile(COMMITTED, 'utf8'));
    assert.equal((await run(['--check', 'p.yaml'], {}, dir)).code, 0);
    await writeFile(join(dir, 'p.yaml'), 'processors: {}\n');
    const stale = await run(['--check', 'p.yaml'], {}, dir);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /p\.yaml is stale/);
    assert.equal((await run(['--bogus'], {}, dir)).code, 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('TOLLGATE_PRICES overrides are generated first, with their globs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-cc-'));
  try {
    await writeFile(
      join(dir, 'prices.json'),
      JSON.stringify({ version: 1, models: [{ provider: 'openai', model: 'acme-large', match: ['acme-large-*'], input: 2.5, output: 10 }] }),
    );
    const { code, stdout } = await run([], { TOLLGATE_PRICES: 'prices.json' }, dir);
    assert.equal(code, 0);
    const firstMatch = stdout.split('\n').findIndex((l) => l.includes('merge_maps(span.cache, {"k":'));
    assert.match(stdout.split('\n')[firstMatch] ?? '', /"k":"override:openai\/acme-large","src":"override","ri":2\.5,"ro":10\.0,/);
    assert.ok(stdout.includes('IsMatch(span.cache["m1"], "^acme-large-.*$$")'), 'glob as an anchored regex, $ escaped for the collector');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('ottlFloat writes every rate as a dotted literal without exponent that parses back to the same double', () => {
  assert.equal(ottlFloat(2.5), '2.5');
  assert.equal(ottlFloat(10), '10.0');
  assert.equal(ottlFloat(0), '0.0');
  assert.equal(ottlFloat(1e-6), '0.000001');
  assert.equal(ottlFloat(2.5e-7), '0.00000025');
  assert.equal(ottlFloat(1.25e21), '1250000000000000000000.0');
  for (const n of [0.075, 0.0375, 3.75, 1e-7, 123456.789, 0.1 + 0.2]) assert.equal(Number(ottlFloat(n)), n);
  assert.throws(() => ottlFloat(Number.NaN), RangeError);
  assert.equal(ottlString('a"b\\c'), '"a\\"b\\\\c"');
});

void test('the generated statements use no exponent literal and read token counts through Double()', () => {
  const statements = pricingStatements(compilePricingPlan(defaultPriceTable()));
  for (const st of statements) assert.doesNotMatch(st, /\d[eE][+-]?\d/, st);
  const tokenReads = statements.filter((st) => st.includes('span.attributes["gen_ai.usage.') && st.startsWith('set(span.cache'));
  assert.ok(tokenReads.length >= 6);
  for (const st of tokenReads) assert.match(st, /^set\(span\.cache\["\w+"\], Double\(span\.attributes\[/);
});

// --- The plan, replayed in JS: which price the collector picks for a name, vs the SDK's lookup.

/** What the generated OTTL does, step by step (normalise, match first-wins, tiers, computeCost arithmetic). */
function replay(plan: CollectorPricingPlan, model: string, provider: string | undefined, usage: Usage): { id: string; source: string; totalUsd: number } {
  const { full: m0, fullUnsnapshotted: m3, normalised: m1, unsnapshotted: m2 } = collectorModelNames(model);
  const pid = provider === undefined ? undefined : plan.providerAliases.get(provider.toLowerCase());
  const match = plan.matches.find((m) => {
    if (m.kind === 'glob') return [m0, m1, m2].some((n) => new RegExp(m.regex).test(n));
    if (m.kind === 'name') return (m.providerId === undefined || m.providerId === pid) && (m.field === 'full' ? m0 === m.name || m3 === m.name : (m.field === 'normalised' ? m1 : m2) === m.name);
    return m.providerId === undefined || m.providerId === pid;
  });
  assert.ok(match, `no rule for ${model}`);
  let rates: ResolvedRates = match.rule.rates;
  for (const t of match.rule.tiers) if (usage.inputTokens > t.aboveInputTokens) rates = t.rates;
  const cr = Math.min(usage.cacheReadTokens ?? 0, usage.inputTokens);
  const cw = Math.min(usage.cacheWriteTokens ?? 0, usage.inputTokens - cr);
  const re = Math.min(usage.reasoningTokens ?? 0, usage.outputTokens);
  const cin = ((usage.inputTokens - cr - cw) * rates.input) / 1000000;
  const ccr = (cr * rates.cacheRead) / 1000000;
  const ccw = ((cw - 0) * rates.cacheWrite + 0 * rates.cacheWrite1h) / 1000000;
  const cout = ((usage.outputTokens - re) * rates.output + re * rates.reasoning) / 1000000;
  return { id: match.rule.id, source: match.rule.source, totalUsd: cin + cout + ccr + ccw };
}

function sdk(table: PriceTable, model: string, provider: string | undefined, usage: Usage): { source: string; totalUsd: number } {
  const lookup = table.lookup(model, provider, collectorPricesAt());
  return { source: lookup.source, totalUsd: computeCost(usage, lookup.price).totalUsd };
}

void test('for common model names (dated snapshots, gateway prefixes, Bedrock / Vertex ids, tiers, unknown models) the collector picks the price the SDK picks', () => {
  const table = defaultPriceTable();
  const plan = compilePricingPlan(table);
  const usage: Usage = { inputTokens: 12_345, outputTokens: 678, cacheReadTokens: 2000, cacheWriteTokens: 300, reasoningTokens: 100 };
  const long: Usage = { inputTokens: 300_000, outputTokens: 1000, cacheReadTokens: 50_000 };
  const names: [string, string | undefined, Usage][] = [
    ['gpt-4o', 'openai', usage], ['gpt-4o-2024-08-06', 'openai', usage], ['gpt-4o-2024-05-13', 'openai', usage], ['GPT-4o-Mini', 'openai', usage],
    ['gpt-4.1', 'openai', usage], ['gpt-4.1-mini-2025-04-14', 'openai', usage], ['o3-mini', 'openai', usage], ['gpt-5.4', 'openai', long],
    ['openai/gpt-4.1-mini', undefined, usage], ['text-embedding-3-small', 'openai', usage],
    ['claude-sonnet-4-5', 'anthropic', usage], ['claude-sonnet-4-5-20250929', 'anthropic', usage], ['claude-sonnet-4-5', 'anthropic', long],
    ['claude-haiku-4-5', 'anthropic', usage], ['claude-3-5-haiku-latest', 'anthropic', usage], ['anthropic/claude-sonnet-4-5', undefined, usage],
    ['claude-3-5-haiku@20241022', 'gcp.vertex_ai', usage], ['us.anthropic.claude-3-5-haiku-20241022-v1:0', 'aws.bedrock', usage],
    ['gemini-2.5-pro', 'gcp.gemini', long], ['gemini-2.5-flash', 'gcp.gemini', usage], ['models/gemini-2.5-flash', 'gcp.gemini', usage],
    ['mystery-llm-9', 'openai', usage], ['mystery-llm-9', 'anthropic', usage], ['mystery-llm-9', undefined, usage],
  ];
  for (const [model, provider, u] of names) {
    const want = sdk(table, model, provider, u);
    const got = replay(plan, model, provider, u);
    assert.deepEqual({ source: got.source, totalUsd: got.totalUsd }, want, `${model} (${String(provider)}) -> ${got.id}`);
  }
});

void test('every built-in model id, and its dated snapshot, resolves to the SDK price under its own provider', () => {
  const table = defaultPriceTable();
  const plan = compilePricingPlan(table);
  const usage: Usage = { inputTokens: 1000, outputTokens: 100 };
  let checked = 0;
  let sdkFallbacks = 0;
  const mismatches: string[] = [];
  for (const { price } of table.entries()) {
    for (const name of [price.model, `${price.model}-2025-01-01`]) {
      const want = sdk(table, name, price.provider, usage);
      if (want.source === 'fallback') {
        // The SDK's own matching (genai-prices rules) does not resolve this table id: nothing to agree with.
        sdkFallbacks++;
        continue;
      }
      const got = replay(plan, name, price.provider, usage);
      checked++;
      if (want.totalUsd !== got.totalUsd || want.source !== got.source) mismatches.push(`${price.provider}/${name}: collector ${got.id} ${String(got.totalUsd)} vs SDK ${String(want.totalUsd)}`);
    }
  }
  // The SDK matches with genai-prices rules (prefixes, aliases spelled unlike the id); the collector matches
  // ids, their dated snapshots and normalised names. Measured: 30 of 2041 differ: 10 Fireworks ids whose
  // rules expect `accounts/fireworks/models/...` so the SDK prices the bare id at another provider's row,
  // and 20 OpenRouter ids (`openai/gpt-4o-2024-05-13`) the SDK prices at the vendor's own row. This OTTL
  // generator is being replaced by the Go collector processor; pin it so a regression shows.
  assert.ok(checked > 1800, `${String(checked)} checked, ${String(sdkFallbacks)} SDK fallbacks`);
  assert.ok(mismatches.length <= 30, `${String(mismatches.length)} of ${String(checked)} differ:\n${mismatches.join('\n')}`);
  assert.ok(
    mismatches.every((m) => m.startsWith('fireworks/') || m.startsWith('openrouter/')),
    mismatches.filter((m) => !m.startsWith('fireworks/') && !m.startsWith('openrouter/')).join('\n'),
  );
});

void test('an override table wins over the built-in prices in the plan', () => {
  const table = createPriceTable({ overrides: [{ provider: 'openai', model: 'gpt-4o', input: 1, output: 2 }] });
  const plan = compilePricingPlan(table);
  const got = replay(plan, 'gpt-4o-2024-08-06', 'openai', { inputTokens: 1_000_000, outputTokens: 1_000_000 });
  assert.equal(got.id, 'override:openai/gpt-4o');
  assert.equal(got.totalUsd, 3);
});
