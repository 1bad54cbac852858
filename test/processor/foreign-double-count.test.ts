/**
 * tollgate's own OpenAI instrumentation and the official `@opentelemetry/instrumentation-openai`
 * both active on the same openai 6 client (`openai-v6` alias), against the stand-in server:
 * one call is counted once, in getSpend and in the `tollgate.cost.usd` metric.
 *
 * What really happens: both patch `Chat.Completions.prototype.create` through the OTel
 * `InstrumentationBase._wrap`, which first UNWRAPS whatever wrapper is already there
 * (opentelemetry-js `platform/node/instrumentation.ts`). So the two never nest: the one
 * enabled last replaces the other's wrapper, and each call gets exactly one inference span.
 * Both orders are tested, because they differ in whose span survives:
 * - official first, tollgate last: tollgate's span (priced by the instrumentation) is counted;
 * - tollgate first, official last: only the official span exists; the processor prices it.
 * (Nested spans of one call, as wrappers that do layer would make, are covered by the
 * processor's call-group rule in attribution.test.ts.)
 *
 * Each instrumentation is applied by calling its module definition's `patch` on the module,
 * the function its require hook calls: the official one only hooks the package name `openai`.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { OpenAIInstrumentation as OfficialOpenAIInstrumentation } from '@opentelemetry/instrumentation-openai';
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import type * as OpenAIv6 from 'openai-v6';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { CallDescription, CallGate, GateDecision } from '../../src/gate.ts';
import { OpenAIInstrumentation } from '../../src/instrumentation/openai/index.ts';
import { computeCost } from '../../src/pricing/index.ts';
import type { ForeignSpend } from '../../src/processor/index.ts';
import { startStandinServer } from '../../src/standin/server.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { harness, nanos, PRICES, type Harness, type TestReader } from './harness.ts';

const server = await startStandinServer({ routes: openaiRoutes() });
after(() => server.close());

const require = createRequire(import.meta.url);
/** The CJS build, as an app that requires openai 6 gets it. */
const openaiV6 = require('openai-v6') as typeof OpenAIv6;
const VERSION = '6.49.0';

const OFFICIAL_SCOPE = '@opentelemetry/instrumentation-openai';
const TOLLGATE_SCOPE = 'tollgate-instrumentation-openai';
const MODEL = 'gpt-4o-mini';
const BODY = { model: MODEL, messages: [{ role: 'user' as const, content: 'Hello there' }] };
/** stand-in: ceil(11 / 4) + 3 = 6 input tokens, 13 output; gpt-4o-mini $0.15 / $0.60 per 1M. */
const CALL_NANOS = 6 * 150 + 13 * 600;

/** A gate that admits everything and records what it saw. */
function recordingGate(): CallGate & { admitted: CallDescription[]; completed: number[] } {
  const admitted: CallDescription[] = [];
  const completed: number[] = [];
  return {
    admitted,
    completed,
    admit(call): Promise<GateDecision> {
      admitted.push(call);
      return Promise.resolve({ action: 'allow', ticket: admitted.length });
    },
    complete(_ticket, outcome) {
      completed.push(outcome.costUsd);
    },
    abort() {},
  };
}

interface Both {
  readonly h: Harness;
  readonly gate: ReturnType<typeof recordingGate>;
  readonly foreign: ForeignSpend[];
  readonly client: InstanceType<typeof openaiV6.OpenAI>;
  /** Restores the SDK (unwraps the surviving wrappers). */
  readonly restore: () => void;
}

function enableBoth(order: 'official-then-tollgate' | 'tollgate-then-official'): Both {
  const foreign: ForeignSpend[] = [];
  const h = harness({ onForeignSpend: (e) => foreign.push(e) });
  const gate = recordingGate();

  const official = new OfficialOpenAIInstrumentation();
  official.setTracerProvider(h.provider);
  official.setMeterProvider(h.meterProvider);
  const officialDef = official.getModuleDefinitions()[0]!;

  const tollgate = new OpenAIInstrumentation({ enabled: false, moduleNames: ['openai-v6'], prices: PRICES, gate });
  tollgate.setTracerProvider(h.provider);
  const tollgateDef = tollgate.getModuleDefinitions().find((d) => d.name === 'openai-v6' && d.patch !== undefined && d.supportedVersions.some((r) => r.includes('>=4')))!;

  const steps = order === 'official-then-tollgate' ? [officialDef, tollgateDef] : [tollgateDef, officialDef];
  for (const def of steps) def.patch!(openaiV6, VERSION);
  const last = steps[1]!;
  return {
    h,
    gate,
    foreign,
    client: new openaiV6.OpenAI({ apiKey: 'k', baseURL: `${server.url}/v1`, maxRetries: 0 }),
    restore() {
      last.unpatch!(openaiV6, VERSION);
      official.disable();
    },
  };
}

/** Data points of `name`, per instrumentation scope. */
async function pointsByScope(reader: TestReader, name: string): Promise<Record<string, DataPoint<number | Histogram>[]>> {
  const { resourceMetrics } = await reader.collect();
  const out: Record<string, DataPoint<number | Histogram>[]> = {};
  for (const sm of resourceMetrics.scopeMetrics) {
    for (const m of sm.metrics) {
      if (m.descriptor.name === name) (out[sm.scope.name] ??= []).push(...(m.dataPoints as DataPoint<number | Histogram>[]));
    }
  }
  return out;
}

function inferenceSpans(h: Harness): ReadableSpan[] {
  return h.spans().filter((s) => s.attributes['gen_ai.operation.name'] === 'chat');
}

async function assertCountedOnce(both: Both, calls: number, costNanos: number): Promise<void> {
  const spend = both.h.processor.getSpend();
  assert.equal(spend.total.calls, calls);
  assert.equal(spend.total.attempts, calls);
  assert.equal(nanos(spend.total.costUsd), costNanos);
  assert.equal(spend.total.inputTokens, 6 * calls);
  assert.equal(spend.total.outputTokens, 13 * calls);

  const cost = await pointsByScope(both.h.reader, 'tollgate.cost.usd');
  assert.deepEqual(Object.keys(cost), ['tollgate']);
  assert.equal(cost['tollgate']!.length, 1);
  assert.deepEqual(cost['tollgate']![0]!.attributes, { 'gen_ai.agent.name': 'svc', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': MODEL, 'gen_ai.operation.name': 'chat' });
  assert.equal(nanos(cost['tollgate']![0]!.value), costNanos);

  // The GenAI token histogram: one recording per call and token type, over every scope.
  const tokens = await pointsByScope(both.h.reader, 'gen_ai.client.token.usage');
  const inputs = Object.values(tokens).flat().filter((p) => p.attributes['gen_ai.token.type'] === 'input');
  assert.equal(inputs.reduce((n, p) => n + (p.value as Histogram).count, 0), calls);
  assert.equal(inputs.reduce((n, p) => n + ((p.value as Histogram).sum ?? 0), 0), 6 * calls);
}

void test('official enabled first, tollgate last: one tollgate span per call, counted once at its own cost', async () => {
  const both = enableBoth('official-then-tollgate');
  try {
    const answer = await both.client.chat.completions.create(BODY);
    assert.equal(answer.usage?.prompt_tokens, 6);
    await both.h.provider.forceFlush();
    const spans = inferenceSpans(both.h);
    assert.deepEqual(spans.map((s) => s.instrumentationScope.name), [TOLLGATE_SCOPE]);
    const tg = spans[0]!;
    assert.equal(tg.name, `chat ${MODEL}`);
    assert.equal(nanos(tg.attributes['tollgate.cost.usd']), CALL_NANOS);
    assert.equal(tg.attributes['tollgate.policy.action'], 'allow');
    assert.equal(both.gate.admitted.length, 1, 'the budget gate ran once');
    assert.deepEqual(both.gate.completed.map(nanos), [CALL_NANOS]);
    assert.deepEqual(both.foreign, [], 'tollgate spend is settled by the policy, not reported as foreign');
    await assertCountedOnce(both, 1, nanos(tg.attributes['tollgate.cost.usd']));

    // A stream (tollgate asks for usage itself and hides the usage chunk).
    const stream = await both.client.chat.completions.create({ ...BODY, stream: true });
    let chunks = 0;
    for await (const chunk of stream) chunks += chunk.choices.length;
    assert.equal(chunks, 15);
    await both.h.provider.forceFlush();
    assert.deepEqual(inferenceSpans(both.h).map((s) => s.instrumentationScope.name), [TOLLGATE_SCOPE, TOLLGATE_SCOPE]);
    assert.equal(both.gate.admitted.length, 2);
    await assertCountedOnce(both, 2, 2 * CALL_NANOS);
  } finally {
    both.restore();
  }
});

void test('tollgate enabled first, official last: the official wrapper displaces tollgate\'s create, yet the gate runs and the call is counted once', async () => {
  const both = enableBoth('tollgate-then-official');
  try {
    await both.client.chat.completions.create(BODY);
    await both.h.provider.forceFlush();
    // tollgate's request hook still sees the call: its span nests in the official one.
    const spans = inferenceSpans(both.h);
    assert.deepEqual(spans.map((s) => s.instrumentationScope.name), [TOLLGATE_SCOPE, OFFICIAL_SCOPE]);
    const [tg, off] = [spans[0]!, spans[1]!];
    assert.equal(tg.parentSpanContext?.spanId, off.spanContext().spanId);
    const expected = computeCost({ inputTokens: 6, outputTokens: 13 }, PRICES.lookup(MODEL, 'openai').price).totalUsd;
    assert.equal(nanos(expected), CALL_NANOS);
    assert.equal(nanos(tg.attributes['tollgate.cost.usd']), CALL_NANOS);
    assert.equal(both.gate.admitted.length, 1, 'the budget gate ran although tollgate\'s create wrapper was displaced');
    assert.deepEqual(both.gate.completed.map(nanos), [CALL_NANOS]);
    assert.deepEqual(both.foreign, [], 'the call is tollgate\'s: settled by the gate, not reported as foreign spend');
    await assertCountedOnce(both, 1, CALL_NANOS);

    const stream = await both.client.chat.completions.create({ ...BODY, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) void chunk;
    await both.h.provider.forceFlush();
    assert.equal(inferenceSpans(both.h).filter((s) => s.instrumentationScope.name === TOLLGATE_SCOPE).length, 2);
    assert.equal(both.gate.admitted.length, 2);
    assert.deepEqual(both.foreign, []);
    await assertCountedOnce(both, 2, 2 * CALL_NANOS);
  } finally {
    both.restore();
  }
});
