import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.ts';
import { createPriceTable, loadPriceOverrides } from '../../src/pricing/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-overrides-'));
let n = 0;
function file(content: unknown): string {
  const path = join(dir, `prices-${n++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const good = { provider: 'openai', model: 'acme-large', input: 2.5, output: 10 };

function rejects(content: unknown, jsonPath: string, expected: RegExp, ...value: unknown[]): void {
  const path = file(content);
  assert.throws(
    () => loadPriceOverrides(path),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
      assert.equal(err.code, 'CONFIG_INVALID');
      assert.equal(err.source, `${path} ${jsonPath}`);
      assert.match(err.expected, expected);
      if (value.length > 0) assert.deepEqual(err.value, value[0]);
      assert.ok(err.message.includes(path));
      return true;
    },
  );
}

void test('the docs/pricing.md example loads as written', () => {
  const path = file({
    version: 1,
    models: [
      {
        provider: 'openai',
        model: 'acme-large',
        match: ['acme-large', 'acme-large-*'],
        input: 2.5,
        output: 10,
        cacheRead: 0.25,
        cacheWrite: 3.125,
        cacheWrite1h: 5,
        reasoning: 10,
        batchDiscount: 0.5,
        tiers: [{ aboveInputTokens: 200000, input: 5, output: 15, cacheRead: 0.5, cacheWrite: 6.25 }],
      },
    ],
  });
  assert.deepEqual(loadPriceOverrides(path), [
    {
      provider: 'openai',
      model: 'acme-large',
      match: ['acme-large', 'acme-large-*'],
      input: 2.5,
      output: 10,
      cacheRead: 0.25,
      cacheWrite: 3.125,
      cacheWrite1h: 5,
      reasoning: 10,
      batchDiscount: 0.5,
      tiers: [{ aboveInputTokens: 200000, input: 5, output: 15, cacheRead: 0.5, cacheWrite: 6.25 }],
    },
  ]);
});

void test('every field wrong in turn names the file, the JSON path and what was expected', () => {
  rejects({ version: 2, models: [] }, '$.version', /the number 1/, 2);
  rejects({ models: [] }, '$.version', /the number 1/);
  rejects({ version: 1 }, '$.models', /array of model prices/);
  rejects({ version: 1, models: {} }, '$.models', /array of model prices/, {});
  rejects({ version: 1, models: [good, good, { ...good, model: 'b', input: -1 }] }, '$.models[2].input', /finite number >= 0/, -1);
  rejects({ version: 1, models: [{ ...good, output: '10' }] }, '$.models[0].output', /finite number >= 0/, '10');
  rejects({ version: 1, models: [{ ...good, provider: '' }] }, '$.models[0].provider', /non-empty string/, '');
  rejects({ version: 1, models: [{ ...good, model: 7 }] }, '$.models[0].model', /non-empty model name/, 7);
  rejects({ version: 1, models: [{ ...good, match: 'acme-*' }] }, '$.models[0].match', /globs/, 'acme-*');
  rejects({ version: 1, models: [{ ...good, match: ['ok', ''] }] }, '$.models[0].match[1]', /glob/, '');
  rejects({ version: 1, models: [{ ...good, cacheRead: null }] }, '$.models[0].cacheRead', /finite number >= 0/, null);
  rejects({ version: 1, models: [{ ...good, batchDiscount: 1.5 }] }, '$.models[0].batchDiscount', /> 0 and <= 1/, 1.5);
  rejects({ version: 1, models: [{ ...good, batchDiscount: 0 }] }, '$.models[0].batchDiscount', /> 0 and <= 1/, 0);
  rejects({ version: 1, models: [{ ...good, maxOutputTokens: 1.5 }] }, '$.models[0].maxOutputTokens', /positive integer/, 1.5);
  rejects({ version: 1, models: [{ ...good, tiers: [{ aboveInputTokens: -1, input: 1, output: 1 }] }] }, '$.models[0].tiers[0].aboveInputTokens', /integer >= 0/, -1);
  rejects({ version: 1, models: [{ ...good, tiers: [{ aboveInputTokens: 10, input: 1 }] }] }, '$.models[0].tiers[0].output', /finite number >= 0/);
  rejects({ version: 1, models: [{ ...good, tiers: [{ aboveInputTokens: 10, input: 1, output: 1 }, { aboveInputTokens: 10, input: 2, output: 2 }] }] }, '$.models[0].tiers', /distinct/);
  rejects({ version: 1, models: ['gpt-4o'] }, '$.models[0]', /an object/, 'gpt-4o');
});

void test('unknown keys are rejected, at any depth, naming the key', () => {
  rejects({ version: 1, models: [], extra: true }, '$.extra', /no key "extra".*version, models/, true);
  rejects({ version: 1, models: [{ ...good, inputPrice: 3 }] }, '$.models[0].inputPrice', /no key "inputPrice".*provider, model/, 3);
  rejects({ version: 1, models: [{ ...good, tiers: [{ aboveInputTokens: 1, input: 1, output: 1, above: 2 }] }] }, '$.models[0].tiers[0].above', /no key "above".*aboveInputTokens/, 2);
});

void test('a model listed twice for one provider is rejected', () => {
  rejects({ version: 1, models: [good, { ...good, model: 'ACME-large' }] }, '$.models[1].model', /\$\.models\[0\]/, 'ACME-large');
});

void test('a missing file and a file that is not JSON are ConfigErrors naming the file', () => {
  const missing = join(dir, 'nope.json');
  assert.throws(() => loadPriceOverrides(missing), (err: unknown) => err instanceof ConfigError && err.source === missing && /readable/.test(err.expected));
  const broken = file('{ "version": 1, ');
  assert.throws(() => loadPriceOverrides(broken), (err: unknown) => err instanceof ConfigError && err.source === `${broken} $` && /JSON document/.test(err.expected));
  assert.throws(() => createPriceTable({ overridesPath: broken }), ConfigError);
});
