import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cost } from '../src/cli/cost.ts';
import { prices } from '../src/cli/prices.ts';
import type { CliIO, Command } from '../src/cli/io.ts';

async function run(command: Command, args: string[], env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const io: CliIO = { stdout, stderr, env, cwd };
  const code = await command(args, io);
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-'));
writeFileSync(join(dir, 'prices.json'), JSON.stringify({ version: 1, models: [{ provider: 'openai', model: 'acme-large', match: ['acme-large-*'], input: 2.5, output: 10, cacheRead: 0.25 }] }));
writeFileSync(join(dir, 'bad.json'), JSON.stringify({ version: 1, models: [{ provider: 'openai', model: 'acme', input: 'x', output: 1 }] }));

void test('cost --json quotes an Anthropic call with cache writes of both TTLs (Anthropic pricing page rates)', async () => {
  const r = await run(cost, ['--model', 'claude-sonnet-4-20250514', '--input', '13000', '--output', '500', '--cache-read', '10000', '--cache-write', '1500', '--cache-write-1h', '500', '--json']);
  assert.equal(r.code, 0, r.err);
  const json = JSON.parse(r.out) as Record<string, unknown>;
  assert.deepEqual(Object.keys(json), ['model', 'provider', 'inputUsd', 'outputUsd', 'cacheReadUsd', 'cacheWriteUsd', 'totalUsd', 'source']);
  assert.equal(json.model, 'claude-sonnet-4-20250514');
  assert.equal(json.provider, 'anthropic');
  assert.equal(json.source, 'table');
  assert.equal(json.inputUsd, 0.003);
  assert.equal(json.cacheReadUsd, 0.003);
  assert.equal(json.cacheWriteUsd, 0.008625);
  assert.equal(json.outputUsd, 0.0075);
  assert.equal(json.totalUsd, 0.022125);
});

void test('cost: batch, reasoning and the human-readable form', async () => {
  const r = await run(cost, ['--model', 'gpt-4o', '--input', '1000000', '--output', '1000000', '--batch']);
  assert.equal(r.code, 0);
  assert.match(r.out, /^gpt-4o \(openai, table price, batch\)\n/);
  assert.match(r.out, /total {8}\$6\.250000/);
  const j = await run(cost, ['--model', 'gpt-5', '--input', '0', '--output', '1000', '--reasoning', '700', '--json']);
  assert.equal((JSON.parse(j.out) as { outputUsd: number }).outputUsd, 0.01);
});

void test('cost honours TOLLGATE_PRICES (relative to cwd) and flags unknown models', async () => {
  const r = await run(cost, ['--model', 'acme-large-2', '--input', '1000000', '--output', '0', '--json'], { TOLLGATE_PRICES: 'prices.json' }, dir);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), { model: 'acme-large-2', provider: 'openai', inputUsd: 2.5, outputUsd: 0, cacheReadUsd: 0, cacheWriteUsd: 0, totalUsd: 2.5, source: 'override' });
  const u = await run(cost, ['--model', 'gpt-zzz', '--provider', 'openai', '--input', '10', '--output', '10', '--json']);
  assert.equal(u.code, 0);
  assert.equal((JSON.parse(u.out) as { source: string }).source, 'fallback');
  assert.match(u.err, /warning: no price known for "gpt-zzz"/);
  const bad = await run(cost, ['--model', 'gpt-4o', '--input', '1', '--output', '1'], { TOLLGATE_PRICES: join(dir, 'bad.json') });
  assert.equal(bad.code, 1);
  assert.match(bad.err, /bad\.json \$\.models\[0\]\.input/);
});

void test('cost: bad flags exit 2 with a clear message', async () => {
  const cases: [string[], RegExp][] = [
    [['--input', '1', '--output', '1'], /--model is required/],
    [['--model', 'gpt-4o', '--output', '1'], /--input is required/],
    [['--model', 'gpt-4o', '--input', '1'], /--output is required/],
    [['--model', 'gpt-4o', '--input=-1', '--output', '1'], /--input must be a whole number/],
    [['--model', 'gpt-4o', '--input', '1.5', '--output', '1'], /--input must be a whole number/],
    [['--model', 'gpt-4o', '--input', '10', '--output', '1', '--cache-read', '11'], /exceed --input/],
    [['--model', 'gpt-4o', '--input', '10', '--output', '1', '--reasoning', '2'], /--reasoning \(2\) exceeds --output/],
    [['--model', 'gpt-4o', '--input', '1', '--output', '1', '--bogus'], /Unknown option '--bogus'/],
    [['--model', 'gpt-4o', 'extra'], /Unexpected argument 'extra'/],
  ];
  for (const [args, message] of cases) {
    const r = await run(cost, args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, message);
    assert.equal(r.out, '');
  }
});

void test('prices: the whole table, a query resolved through normalisation, --provider, --json', async () => {
  const all = await run(prices, []);
  assert.equal(all.code, 0);
  assert.match(all.out, /^USD per million tokens; built-in prices from @pydantic\/genai-prices/);
  assert.ok(all.out.split('\n').length > 400);
  const q = await run(prices, ['gpt-4o-2024-08-06', '--json']);
  assert.equal(q.code, 0);
  const rows = JSON.parse(q.out) as { model: string; input: number; source: string }[];
  assert.deepEqual([rows[0]?.model, rows[0]?.input, rows[0]?.source], ['gpt-4o', 2.5, 'table']);
  const p = await run(prices, ['sonnet', '--provider', 'anthropic']);
  assert.equal(p.code, 0);
  const lines = p.out.trim().split('\n').slice(2);
  assert.ok(lines.length > 3 && lines.every((l) => l.startsWith('anthropic ')));
  assert.match(p.out, /claude-sonnet-4-5 +3 +15 +0\.3 +3\.75 +6 +64000 +table +>200000: 6\/22\.5/);
  const o = await run(prices, ['acme'], { TOLLGATE_PRICES: join(dir, 'prices.json') });
  assert.match(o.out.split('\n')[2] ?? '', /^openai +acme-large +2\.5 +10 +0\.25 .*override/);
  const none = await run(prices, ['no-such-model-anywhere']);
  assert.equal(none.code, 1);
  assert.match(none.err, /no price matches "no-such-model-anywhere"/);
  const bad = await run(prices, ['a', 'b']);
  assert.equal(bad.code, 2);
  const flag = await run(prices, ['--nope']);
  assert.equal(flag.code, 2);
  assert.match(flag.err, /Unknown option '--nope'/);
});

void test('the tollgate command runs cost end to end in a child process', () => {
  const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
  const r = spawnSync(process.execPath, [main, 'cost', '--model', 'gpt-4o-mini', '--input', '2000', '--output', '300', '--cache-read', '1024', '--json'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  assert.equal(r.status, 0, r.stderr);
  // OpenAI pricing page, gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output.
  const json = JSON.parse(r.stdout) as { totalUsd: number };
  assert.ok(Math.abs(json.totalUsd - (976 * 0.15 + 1024 * 0.075 + 300 * 0.6) / 1e6) < 1e-15);
  const bad = spawnSync(process.execPath, [main, 'cost', '--model'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
});

void test('cost --at: the price in force for a call starting then, exact seconds on both sides of each boundary', async () => {
  const cases: [string, string, number][] = [
    ['deepseek-chat', '2026-12-03T00:29:59Z', 0.685],
    ['deepseek-chat', '2026-12-03T00:30:00Z', 1.37],
    ['deepseek-chat', '2026-12-03T16:29:59Z', 1.37],
    ['deepseek-chat', '2026-12-03T16:30:00Z', 0.685],
    ['gemini-3.6-flash', '2026-12-31T23:59:59Z', 4.5],
    ['gemini-3.6-flash', '2027-01-01T00:00:00Z', 9],
    // The same instant written with an offset.
    ['gemini-3.6-flash', '2027-01-01T01:00:00+01:00', 9],
  ];
  for (const [model, at, total] of cases) {
    const r = await run(cost, ['--model', model, '--input', '1000000', '--output', '1000000', '--at', at, '--json']);
    assert.equal(r.code, 0, r.err);
    const json = JSON.parse(r.out) as { totalUsd: number; at: string; source: string };
    assert.equal(json.totalUsd, total, `${model} at ${at}`);
    assert.equal(json.at, new Date(Date.parse(at)).toISOString());
    assert.equal(json.source, 'table');
  }
  const human = await run(cost, ['--model', 'deepseek-chat', '--input', '1000000', '--output', '0', '--at', '2026-12-03T00:30:00Z']);
  assert.match(human.out, /^deepseek-chat \(deepseek, table price, in force at 2026-12-03T00:30:00\.000Z\)\n/);
  assert.match(human.out, /total {8}\$0\.270000/);
  for (const bad of ['yesterday', '2026-12-03T00:30:00', '2026-13-03T00:30:00Z']) {
    const r = await run(cost, ['--model', 'deepseek-chat', '--input', '1', '--output', '1', '--at', bad]);
    assert.equal(r.code, 2, bad);
    assert.match(r.err, /--at must be an ISO 8601 time with a zone/);
  }
});

void test('cost --service-tier: flex and priority at their rates', async () => {
  const flex = await run(cost, ['--model', 'gpt-5', '--input', '1000000', '--output', '1000000', '--service-tier', 'flex', '--json']);
  assert.deepEqual(JSON.parse(flex.out), { model: 'gpt-5', provider: 'openai', inputUsd: 0.625, outputUsd: 5, cacheReadUsd: 0, cacheWriteUsd: 0, totalUsd: 5.625, source: 'table', serviceTier: 'flex' });
  const priority = await run(cost, ['--model', 'gpt-5', '--input', '1000000', '--output', '1000000', '--service-tier', 'priority']);
  assert.match(priority.out, /^gpt-5 \(openai, table price, priority tier\)\n/);
  assert.match(priority.out, /total {8}\$22\.500000/);
});

void test('TOLLGATE_PRICES naming a genai-prices data file with a changed price changes the quote, no rebuild; a malformed one is a ConfigError naming the path', async () => {
  const { findProvider } = await import('@pydantic/genai-prices');
  const { PROVIDERS } = await import('../src/pricing/compile.ts');
  const providers = PROVIDERS.map((id) => JSON.parse(JSON.stringify(findProvider({ providerId: id }))) as { id: string; models: { id: string; prices: Record<string, unknown> }[] });
  const gpt4o = providers.find((p) => p.id === 'openai')?.models.find((m) => m.id === 'gpt-4o');
  assert.ok(gpt4o !== undefined);
  gpt4o.prices['output_mtok'] = 12;
  writeFileSync(join(dir, 'genai-data.json'), JSON.stringify(providers));
  const before = await run(cost, ['--model', 'gpt-4o', '--input', '0', '--output', '1000000', '--json']);
  assert.equal((JSON.parse(before.out) as { totalUsd: number }).totalUsd, 10);
  const after = await run(cost, ['--model', 'gpt-4o', '--input', '0', '--output', '1000000', '--json'], { TOLLGATE_PRICES: 'genai-data.json' }, dir);
  assert.equal(after.code, 0, after.err);
  assert.equal((JSON.parse(after.out) as { totalUsd: number }).totalUsd, 12);

  gpt4o.prices['output_mtok'] = -1;
  writeFileSync(join(dir, 'genai-bad.json'), JSON.stringify(providers));
  const bad = await run(cost, ['--model', 'gpt-4o', '--input', '0', '--output', '1', '--json'], { TOLLGATE_PRICES: 'genai-bad.json' }, dir);
  assert.equal(bad.code, 1);
  const index = providers[0]?.models.indexOf(gpt4o) ?? -1;
  assert.match(bad.err, new RegExp(`invalid configuration at ${join(dir, 'genai-bad.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\$\\[0\\]\\.models\\[${index}\\]\\.prices\\.output_mtok: got -1`));
  assert.match(bad.err, /field "output_mtok"/);
});

void test('prices --compare lists the models whose rates differ by more than the threshold', async () => {
  writeFileSync(
    join(dir, 'litellm.json'),
    JSON.stringify({
      'gpt-4o': { litellm_provider: 'openai', input_cost_per_token: 2.5e-6, output_cost_per_token: 1e-5 },
      'gpt-4o-mini': { litellm_provider: 'openai', input_cost_per_token: 0.15e-6, output_cost_per_token: 0.62e-6 },
      'gemini/gemini-3.6-flash': { litellm_provider: 'gemini', input_cost_per_token: 1.5e-6, output_cost_per_token: 7.5e-6 },
    }),
  );
  const r = await run(prices, ['--compare', 'litellm.json', '--at', '2026-12-03T12:00:00Z'], {}, dir);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines[0], '2 of 3 models both tables price differ by more than 1 % (rates in force at 2026-12-03T12:00:00.000Z; USD per million tokens)');
  assert.match(lines[2] ?? '', /^google +gemini-3\.6-flash +0\.75\/3\.75 +1\.5\/7\.5 +50 +dated: theirs is our from 2027-01-01 price$/);
  assert.match(lines[3] ?? '', /^openai +gpt-4o-mini +0\.15\/0\.6 +0\.15\/0\.62 +3\.2 +differs: one table is stale or wrong$/);
  const strict = await run(prices, ['--compare', 'litellm.json', '--threshold', '5', '--at', '2026-12-03T12:00:00Z', '--json'], {}, dir);
  assert.equal((JSON.parse(strict.out) as { drifts: unknown[] }).drifts.length, 1);
  const badThreshold = await run(prices, ['--compare', 'litellm.json', '--threshold', 'lots'], {}, dir);
  assert.equal(badThreshold.code, 2);
  const missing = await run(prices, ['--compare', 'nope.json'], {}, dir);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /cannot read nope\.json as JSON/);
});
