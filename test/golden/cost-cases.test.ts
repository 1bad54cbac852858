/**
 * The golden cost corpus shared with the Go collector processor: it must be exactly what
 * tollgate's TypeScript processor writes today (scripts/build-golden.ts regenerates it), and
 * the processor's embedded price table must be the repository's. The Go side replays the
 * same file (collector/tollgateprocessor, run by test/collector/go.test.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GOLDEN_FILE, staleFiles } from '../../scripts/build-golden.ts';

interface Golden {
  spans: { note: string; attributes: Record<string, unknown>; expected: Record<string, unknown> | null }[];
  names: [string, string, string | null, ...number[]][];
}

void test('test/golden/cost-cases.json and the Go processor\'s embedded prices.json are up to date (node scripts/build-golden.ts)', () => {
  assert.deepEqual(staleFiles(), []);
});

void test('the corpus covers every dialect, spans left alone, fallbacks, and every built-in id including Fireworks', () => {
  const g = JSON.parse(readFileSync(GOLDEN_FILE, 'utf8')) as Golden;
  const keys = new Set(g.spans.flatMap((s) => Object.keys(s.attributes)));
  for (const k of ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens', 'llm.request.type', 'gen_ai.usage.cache_read_input_tokens', 'openinference.span.kind', 'llm.token_count.prompt', 'ai.operationId', 'ai.usage.inputTokens', 'ai.usage.promptTokens', 'ai.usage.tokens', 'anthropic.usage.cache_creation.ephemeral_1h_input_tokens', 'openai.response.service_tier']) {
    assert.ok(keys.has(k), `no span carries ${k}`);
  }
  const notPriced = g.spans.filter((s) => s.expected === null).length;
  const fallback = g.spans.filter((s) => s.expected?.['tollgate.cost.source'] === 'fallback').length;
  assert.ok(notPriced >= 6 && fallback >= 5, `${String(notPriced)} spans left alone, ${String(fallback)} fallbacks`);
  for (const s of g.spans) if (s.expected !== null) assert.ok((s.expected['tollgate.cost.usd'] as number) > 0, `${s.note}: priced at $0`);
  const fireworks = g.names.filter((n) => n[0] === 'fireworks');
  assert.ok(g.names.length > 900 && fireworks.length > 20, `${String(g.names.length)} names, ${String(fireworks.length)} Fireworks`);
  assert.ok(g.names.every((n) => n[2] !== null && (n[3] ?? 0) > 0), 'every name priced above $0');
});
