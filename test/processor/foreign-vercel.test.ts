/**
 * The Vercel AI SDK (`ai` 7 + `@ai-sdk/openai` 4) traced by its real OpenTelemetry
 * integration (`@ai-sdk/otel`: `OpenTelemetry`, GenAI-convention spans, and
 * `LegacyOpenTelemetry`, the `ai.*` spans of ai <= 6), with the OpenAI provider pointed
 * at the stand-in server. The CostSpanProcessor must price exactly the inference spans
 * (`chat {model}` / `ai.*.doGenerate` / `ai.*.doStream`) and never the enclosing
 * `invoke_agent` / `ai.generateText` / `ai.streamText` spans that repeat their usage.
 *
 * The stand-in's usage is deterministic: a 6000-character prompt is 1500 + 3 = 1503 input
 * tokens; sent a second time, its first 1500 tokens come from the prompt cache, reported
 * in 128-token steps: 1408 cached. Every answer is 13 output tokens.
 */
import { after, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Tracer } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { generateText, streamText, type LanguageModelUsage, type Telemetry } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { LegacyOpenTelemetry, OpenTelemetry } from '@ai-sdk/otel';
import { computeCost } from '../../src/pricing/index.ts';
import type { Usage } from '../../src/pricing/types.ts';
import type { ForeignSpend } from '../../src/processor/index.ts';
import { startStandinServer } from '../../src/standin/server.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { harness, nanos, points, PRICES, type Harness } from './harness.ts';

const server = await startStandinServer({ routes: openaiRoutes() });
after(() => server.close());
beforeEach(() => server.reset());

const MODEL = 'acme-large';
const PROMPT = 'Summarise the quarterly report. '.repeat(188).slice(0, 6000);
/** acme-large (harness.ts): $2 input, $8 output, $0.50 cache read per 1M tokens. */
const FIRST_NANOS = 1503 * 2_000 + 13 * 8_000; // 3_006_000 + 104_000
const CACHED_NANOS = (1503 - 1408) * 2_000 + 1408 * 500 + 13 * 8_000; // 190_000 + 704_000 + 104_000

/** What the AI SDK reported for the call, in the GenAI Usage shape (input includes the cache read). */
function sdkUsage(u: LanguageModelUsage): Usage {
  const cacheRead = u.inputTokenDetails.cacheReadTokens ?? 0;
  return { inputTokens: u.inputTokens ?? 0, outputTokens: u.outputTokens ?? 0, ...(cacheRead > 0 ? { cacheReadTokens: cacheRead } : {}) };
}

function expectedNanos(u: LanguageModelUsage): number {
  return nanos(computeCost(sdkUsage(u), PRICES.lookup(MODEL, 'openai').price).totalUsd);
}

interface Flavour {
  readonly name: string;
  readonly make: (tracer: Tracer) => Telemetry;
  /** Span name of one provider call, for generateText / streamText. */
  readonly call: (mode: Mode) => string;
  /** Spans around the call that repeat its usage. */
  readonly outer: (mode: Mode) => readonly string[];
}
type Mode = 'generateText' | 'streamText';

const FLAVOURS: readonly Flavour[] = [
  {
    name: 'OpenTelemetry (GenAI conventions)',
    make: (tracer) => new OpenTelemetry({ tracer }),
    call: () => `chat ${MODEL}`,
    outer: () => [`invoke_agent ${MODEL}`, 'step 1'],
  },
  {
    name: 'LegacyOpenTelemetry (ai.* spans)',
    make: (tracer) => new LegacyOpenTelemetry({ tracer }),
    call: (mode) => (mode === 'generateText' ? 'ai.generateText.doGenerate' : 'ai.streamText.doStream'),
    outer: (mode) => [`ai.${mode}`],
  },
];

async function callTwice(h: Harness, flavour: Flavour, mode: Mode): Promise<LanguageModelUsage[]> {
  const openai = createOpenAI({ apiKey: 'k', baseURL: `${server.url}/v1` });
  const usages: LanguageModelUsage[] = [];
  for (let i = 0; i < 2; i++) {
    const telemetry = { integrations: [flavour.make(h.provider.getTracer('ai'))] };
    if (mode === 'generateText') {
      const result = await generateText({ model: openai.chat(MODEL), prompt: PROMPT, maxRetries: 0, telemetry });
      usages.push(result.usage);
    } else {
      const result = streamText({ model: openai.chat(MODEL), prompt: PROMPT, maxRetries: 0, telemetry });
      let text = '';
      for await (const delta of result.textStream) text += delta;
      assert.equal(text, 'The stand-in provider answers deterministically so tests can assert exact token counts.');
      usages.push(await result.totalUsage);
    }
  }
  await h.provider.forceFlush();
  return usages;
}

function named(h: Harness, name: string): ReadableSpan[] {
  return h.spans().filter((s) => s.name === name);
}

for (const flavour of FLAVOURS) {
  for (const mode of ['generateText', 'streamText'] as const) {
    void test(`@ai-sdk/otel ${flavour.name}, ${mode}: the provider-call spans are priced exactly, the enclosing ones never`, async () => {
      const foreign: ForeignSpend[] = [];
      const h = harness({ onForeignSpend: (e) => foreign.push(e) });
      const usages = await callTwice(h, flavour, mode);

      // The stand-in's numbers reached the SDK as expected (first call uncached, second cached).
      assert.deepEqual(usages.map(sdkUsage), [
        { inputTokens: 1503, outputTokens: 13 },
        { inputTokens: 1503, outputTokens: 13, cacheReadTokens: 1408 },
      ]);
      assert.deepEqual(usages.map(expectedNanos), [FIRST_NANOS, CACHED_NANOS]);
      if (mode === 'streamText') {
        const sent = server.requests.map((r) => (r.body as Record<string, unknown>)['stream_options']);
        assert.deepEqual(sent, [{ include_usage: true }, { include_usage: true }], 'the provider asks for stream usage itself');
      }

      const calls = named(h, flavour.call(mode)).sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
      assert.equal(calls.length, 2);
      assert.deepEqual(calls.map((s) => nanos(s.attributes['tollgate.cost.usd'])), [FIRST_NANOS, CACHED_NANOS]);
      assert.deepEqual(calls.map((s) => nanos(s.attributes['gen_ai.usage.cost'])), [FIRST_NANOS, CACHED_NANOS]);
      assert.deepEqual(calls.map((s) => nanos(s.attributes['tollgate.cost.cache_read_usd'])), [0, 704_000]);
      assert.deepEqual(calls.map((s) => s.attributes['tollgate.cost.source']), ['override', 'override']);
      for (const s of calls) assert.equal(s.attributes['gen_ai.agent.name'], 'svc');

      // The enclosing spans repeat the usage (the root ones carry it) but are never priced.
      for (const name of flavour.outer(mode)) {
        const spans = named(h, name);
        assert.equal(spans.length, 2, name);
        for (const s of spans) {
          assert.equal(s.attributes['tollgate.cost.usd'], undefined, name);
          assert.equal(s.attributes['gen_ai.usage.cost'], undefined, name);
        }
      }
      const roots = h.spans().filter((s) => s.parentSpanContext === undefined);
      assert.deepEqual(roots.map((s) => s.name), [flavour.outer(mode)[0], flavour.outer(mode)[0]]);
      for (const r of roots) {
        const repeated = r.attributes['gen_ai.usage.input_tokens'] ?? r.attributes['ai.usage.inputTokens'];
        assert.equal(repeated, 1503, 'the root span repeats the call usage: pricing it would double the cost');
      }
      // Each trace is a task: its root gets the task total, one call.
      assert.deepEqual(roots.map((r) => [nanos(r.attributes['tollgate.task.cost_usd']), r.attributes['tollgate.task.calls']]).sort((a, b) => Number(b[0]) - Number(a[0])), [
        [FIRST_NANOS, 1],
        [CACHED_NANOS, 1],
      ]);

      const spend = h.processor.getSpend();
      assert.equal(spend.total.calls, 2);
      assert.equal(nanos(spend.total.costUsd), FIRST_NANOS + CACHED_NANOS);
      assert.equal(spend.total.inputTokens, 3006);
      assert.equal(spend.total.outputTokens, 26);
      assert.deepEqual(Object.keys(spend.byModel), [MODEL]);
      assert.deepEqual(foreign.map((f) => [f.agent, f.model, nanos(f.costUsd)]), [
        ['svc', MODEL, FIRST_NANOS],
        ['svc', MODEL, CACHED_NANOS],
      ]);

      const cost = await points(h.reader, 'tollgate.cost.usd');
      assert.equal(cost.length, 1);
      assert.deepEqual(cost[0]!.attributes, { 'gen_ai.agent.name': 'svc', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': MODEL, 'gen_ai.operation.name': 'chat' });
      assert.equal(nanos(cost[0]!.value), FIRST_NANOS + CACHED_NANOS);
      const saved = await points(h.reader, 'tollgate.cost.saved.usd');
      assert.equal(saved.length, 1);
      assert.equal(nanos(saved[0]!.value), 1408 * 1_500); // cache read billed at 0.5 instead of 2
    });
  }
}

void test('Vercel provider ids (also copied into gen_ai.system by the legacy spans) become GenAI provider names', async () => {
  const h = harness();
  const t = h.provider.getTracer('ai');
  for (const [id, model] of [['openai.responses', MODEL], ['google.generative-ai', 'acme-gemini'], ['azure-openai.chat', 'acme-azure'], ['anthropic.messages', 'acme-claude']] as const) {
    t.startSpan('ai.generateText.doGenerate', {
      attributes: { 'ai.operationId': 'ai.generateText.doGenerate', 'ai.model.provider': id, 'gen_ai.system': id, 'ai.model.id': model, 'ai.usage.inputTokens': 10, 'ai.usage.outputTokens': 1 },
    }).end();
  }
  const providers = (await points(h.reader, 'tollgate.cost.usd')).map((p) => [p.attributes['gen_ai.request.model'], p.attributes['gen_ai.provider.name']]);
  assert.deepEqual(providers.sort(), [
    ['acme-azure', 'azure.ai.openai'],
    ['acme-claude', 'anthropic'],
    ['acme-gemini', 'gcp.gemini'],
    [MODEL, 'openai'],
  ]);
});
