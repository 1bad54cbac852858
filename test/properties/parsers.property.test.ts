/**
 * Property-based tests (fast-check) of the parsers that read input tollgate does not control:
 * provider usage objects, price override files, config files, resource attributes, ledger
 * specs and Redis URLs. For ANY input each either returns a well-formed value or throws a
 * ConfigError naming its source; never another exception (a TypeError inside a user's call
 * or at start-up), never a negative or non-finite token count or price.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseConfigObject, parseResourceAttributesEnv, resolveConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors.ts';
import { usageFromAnthropic } from '../../src/instrumentation/anthropic/usage.ts';
import { chatUsage, responsesUsage } from '../../src/instrumentation/openai/index.ts';
import { parseLedgerSpec } from '../../src/ledger/index.ts';
import { parseRedisUrl } from '../../src/ledger/redis-url.ts';
import { computeCost } from '../../src/pricing/cost.ts';
import { parsePriceOverrides } from '../../src/pricing/overrides.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { readUsage } from '../../src/processor/dialects.ts';
import type { Usage } from '../../src/pricing/types.ts';

const RUNS = { numRuns: 500 };

/** A count as providers send them, and as broken ones do. */
const count = fc.oneof(
  fc.nat(),
  fc.integer({ min: -1e6, max: -1 }),
  fc.double(),
  fc.constantFrom(1e12, 1e308, Infinity, -Infinity, NaN, 2 ** 53 + 1),
  fc.string(),
  fc.constant(null),
  fc.constant(undefined),
);
const usageLike = fc.oneof(
  fc.record(
    {
      prompt_tokens: count,
      completion_tokens: count,
      input_tokens: count,
      output_tokens: count,
      cache_read_input_tokens: count,
      cache_creation_input_tokens: count,
      prompt_tokens_details: fc.oneof(fc.record({ cached_tokens: count }), fc.anything()),
      completion_tokens_details: fc.oneof(fc.record({ reasoning_tokens: count }), fc.anything()),
      input_tokens_details: fc.oneof(fc.record({ cached_tokens: count }), fc.anything()),
      output_tokens_details: fc.oneof(fc.record({ reasoning_tokens: count }), fc.anything()),
      cache_creation: fc.oneof(fc.record({ ephemeral_5m_input_tokens: count, ephemeral_1h_input_tokens: count }), fc.anything()),
    },
    { requiredKeys: [] },
  ),
  fc.anything(),
);

function wellFormed(u: Usage | undefined): void {
  if (u === undefined) return;
  for (const [k, v] of Object.entries(u)) {
    if (k === 'batch') continue;
    assert.ok(typeof v === 'number' && Number.isFinite(v) && v >= 0, `${k} = ${String(v)}`);
  }
}

const prices = createPriceTable();
const gpt = prices.lookup('gpt-4o', 'openai').price;
const claude = prices.lookup('claude-sonnet-4-5', 'anthropic').price;

void describe('usage parsers, any input', () => {
  it('chatUsage / responsesUsage / usageFromAnthropic: undefined or finite counts >= 0, never a throw; the cost is a number >= 0', () => {
    fc.assert(
      fc.property(usageLike, (raw) => {
        for (const u of [chatUsage(raw), responsesUsage(raw), usageFromAnthropic(raw as never)]) {
          wellFormed(u);
          if (u !== undefined) {
            for (const p of [gpt, claude]) {
              const c = computeCost(u, p).totalUsd;
              assert.ok(c >= 0, `cost ${c}`);
            }
          }
        }
      }),
      RUNS,
    );
  });

  it('readUsage of span attributes (every dialect): undefined or finite counts >= 0', () => {
    const attrs = fc.dictionary(
      fc.constantFrom(
        'gen_ai.usage.input_tokens',
        'gen_ai.usage.output_tokens',
        'gen_ai.usage.cache_read.input_tokens',
        'gen_ai.usage.cache_creation.input_tokens',
        'llm.token_count.prompt',
        'llm.token_count.completion',
        'ai.usage.promptTokens',
        'ai.usage.completionTokens',
        'gen_ai.usage.prompt_tokens',
        'gen_ai.usage.completion_tokens',
      ),
      fc.oneof(fc.integer(), fc.double(), fc.string(), fc.boolean()),
    );
    fc.assert(fc.property(attrs, (a) => wellFormed(readUsage(a))), RUNS);
  });
});

/** Runs `f`; a throw must be a ConfigError. */
function configErrorOrValue<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    assert.ok(err.source.length > 0);
    return undefined;
  }
}

void describe('price override files, any document', () => {
  const model = fc.record(
    {
      provider: fc.oneof(fc.constantFrom('openai', 'anthropic', 'acme'), fc.anything()),
      model: fc.oneof(fc.constantFrom('m1', 'gpt-4o'), fc.string(), fc.anything()),
      input: count,
      output: count,
      cacheRead: count,
      cacheWrite: count,
      maxOutputTokens: count,
    },
    { requiredKeys: [] },
  );
  const doc = fc.oneof(fc.record({ version: fc.oneof(fc.constant(1), fc.anything()), models: fc.oneof(fc.array(model), fc.anything()) }, { requiredKeys: [] }), fc.anything());
  it('parsePriceOverrides: rates finite and >= 0, or a ConfigError naming the file', () => {
    fc.assert(
      fc.property(doc, (d) => {
        const out = configErrorOrValue(() => parsePriceOverrides('prices.json', d));
        for (const p of out ?? []) {
          for (const [k, v] of Object.entries(p)) if (typeof v === 'number') assert.ok(Number.isFinite(v) && v >= 0, `${k} = ${v}`);
        }
      }),
      RUNS,
    );
  });
});

void describe('configuration, any input', () => {
  const limits = fc.record(
    { dailyUsd: count, monthlyUsd: count, taskUsd: fc.oneof(count, fc.constant('auto')), maxTokens: count, onExceed: fc.oneof(fc.constantFrom('block', 'downgrade'), fc.string()), waitMs: count },
    { requiredKeys: [] },
  );
  const file = fc.oneof(
    fc.record({ version: fc.oneof(fc.constant(1), fc.anything()), defaults: fc.oneof(limits, fc.anything()), agents: fc.dictionary(fc.string(), limits) }, { requiredKeys: [] }),
    fc.anything(),
  );
  it('parseConfigObject: a config or a ConfigError', () => {
    fc.assert(fc.property(file, (d) => void configErrorOrValue(() => parseConfigObject(d, 'file'))), RUNS);
  });

  const attrKey = fc.oneof(
    fc.constantFrom('tollgate.budget.daily_usd', 'tollgate.budget.monthly_usd', 'tollgate.budget.task_usd', 'tollgate.policy.max_tokens', 'tollgate.policy.on_exceed', 'tollgate.policy.wait_ms', 'service.name', 'gen_ai.agent.name'),
    fc.string().map((s) => `tollgate.${s}`),
    fc.string(),
  );
  const attrValue = fc.oneof(fc.string(), fc.constantFrom('5', '0.5', 'auto', 'block', '-1', '1e3', 'NaN', '%zz', ''), fc.nat().map(String));
  it('OTEL_RESOURCE_ATTRIBUTES: limits of the right types, or a ConfigError naming the attribute', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(attrKey, attrValue), { maxLength: 6 }), (pairs) => {
        const raw = pairs.map(([k, v]) => `${k}=${v}`).join(',');
        parseResourceAttributesEnv(raw);
        const c = configErrorOrValue(() => resolveConfig({ env: { OTEL_RESOURCE_ATTRIBUTES: raw } }));
        if (c === undefined) return;
        for (const k of ['dailyUsd', 'monthlyUsd', 'maxTokens', 'waitMs'] as const) {
          const v = c.limits[k];
          if (v !== undefined) assert.ok(Number.isFinite(v) && v >= 0, `${k} = ${v}`);
        }
      }),
      RUNS,
    );
  });

  it('ledger specs and Redis URLs: parsed, or a ConfigError that never shows the password', () => {
    const url = fc.oneof(
      fc.string(),
      fc.webUrl().map((u) => u.replace(/^https?/, 'redis')),
      fc.tuple(fc.constantFrom('redis', 'rediss', 'redis+cluster', 'redis+sentinel', 'sqlite', 'http'), fc.string(), fc.string()).map(([s, a, b]) => `${s}://u:hunter2@${a}/${b}`),
    );
    fc.assert(
      fc.property(url, (u) => {
        try {
          const spec = parseLedgerSpec(u);
          if (spec.kind === 'redis') parseRedisUrl(spec.url, 'TOLLGATE_LEDGER');
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
          assert.ok(!err.message.includes('hunter2'), err.message);
        }
      }),
      RUNS,
    );
  });
});
