/**
 * Pins the public surface: a change to what `tollgate` exports must be a
 * deliberate edit of this list. Also checks the package's `exports` map and
 * that errors are recognised across two copies of the package.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const EXPECTED = [
  'AiSdkInstrumentation',
  'AnthropicInstrumentation',
  'BedrockInstrumentation',
  'BudgetExceededError',
  'BudgetPolicy',
  'ConfigError',
  'GoogleGenAIInstrumentation',
  'GoogleGenerativeAIInstrumentation',
  'CostSpanProcessor',
  'LedgerUnavailableError',
  'MemoryLedger',
  'MistralInstrumentation',
  'OpenAIInstrumentation',
  'TollgateError',
  'computeCost',
  'countTokens',
  'createBudgetPolicy',
  'createLedger',
  'createPriceTable',
  'defaultPriceTable',
  'getSpend',
  'loadPriceOverrides',
  'resolveConfig',
  'startTollgate',
  'tollgateInstrumentations',
  'tollgateSpanProcessors',
  'withAgent',
  'withTask',
];

test('src/index.ts exports exactly the documented runtime names', async () => {
  const api = (await import('../src/index.ts')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(api).sort(), [...EXPECTED].sort());
});

test('the built package exposes the same names through its exports map, and register as a subpath', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { exports: Record<string, unknown>; engines: { node: string } };
  assert.deepEqual(Object.keys(pkg.exports).sort(), ['.', './package.json', './register']);
  assert.equal(pkg.engines.node, '>=22.15');
  const built = (await import('tollgate')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(built).sort(), [...EXPECTED].sort());
});

test('errors are recognised with instanceof across two copies of the package', async () => {
  const a = await import('../src/errors.ts');
  // A second module instance, as a duplicated install would load.
  const b = (await import(`../src/errors.ts?copy=${Date.now()}`)) as typeof a;
  assert.notEqual(a.BudgetExceededError, b.BudgetExceededError);
  const err = new b.BudgetExceededError({
    scope: 'agent.daily',
    agent: 'writer',
    taskId: null,
    limitUsd: 5,
    spentUsd: 4.9,
    reservedUsd: 0.05,
    estimatedUsd: 0.2,
    resetAt: '2026-11-26T00:00:00.000Z',
  });
  assert.ok(err instanceof a.BudgetExceededError);
  assert.ok(err instanceof a.TollgateError);
  assert.ok(!(err instanceof a.ConfigError));
  assert.equal(err.code, 'BUDGET_EXCEEDED');
  assert.match(err.message, /agent\.daily.*writer.*limit \$5.*spent \$4\.9/);
  const cfg = new b.ConfigError('OTEL_RESOURCE_ATTRIBUTES tollgate.budget.daily_usd', 'five', 'a number of USD >= 0');
  assert.ok(cfg instanceof a.ConfigError && cfg instanceof a.TollgateError);
  assert.ok(!(cfg instanceof a.BudgetExceededError));
  assert.equal(cfg.code, 'CONFIG_INVALID');
  assert.ok(!(new Error('x') instanceof a.TollgateError));
});

test('error codes are a closed list: the union in errors.ts, the list docs/api.md gives, and what each error carries', async () => {
  const errorsText = readFileSync(new URL('../src/errors.ts', import.meta.url), 'utf8');
  const union = /export type TollgateErrorCode = ([^;]+);/.exec(errorsText)?.[1];
  assert.ok(union !== undefined, 'TollgateErrorCode is a union type');
  const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]).sort();
  assert.equal(codes.length, union.split('|').length, 'every member is a string literal');
  const api = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');
  const documented = /closed list \(`TollgateErrorCode`:([^)]+)\)/.exec(api)?.[1];
  assert.ok(documented !== undefined, 'docs/api.md lists the codes');
  assert.deepEqual([...documented.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]).sort(), codes);

  const e = await import('../src/errors.ts');
  const { REPORT_INPUT_ERROR } = await import('../src/report/reader.ts');
  const carried = [
    new e.BudgetExceededError({ scope: 'task', agent: 'a', taskId: null, limitUsd: 1, spentUsd: 1, reservedUsd: 0, estimatedUsd: 0, resetAt: null }).code,
    new e.ConfigError('x', 1, 'y').code,
    new e.LedgerUnavailableError('memory', 'down').code,
    e.refusalError({ code: 'MODEL_UNPRICED', model: 'm', provider: 'p' }).code,
    REPORT_INPUT_ERROR,
  ].sort();
  assert.deepEqual(carried, codes);
});
