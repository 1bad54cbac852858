/**
 * `@mistralai/mistralai`'s own OpenTelemetry spans (its TracingHook, on once the app registers a
 * tracer provider with the SDK): each starts with no attributes and gets its GenAI attributes
 * (operation, provider, model, usage) only as the request and the answer come. The CostSpanProcessor
 * must price them, as a task root too, and, with tollgate's Mistral instrumentation also on (its span
 * is the parent of Mistral's), count each call exactly once.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { computeCost } from '../../src/pricing/index.ts';
import { MistralInstrumentation } from '../../src/instrumentation/mistral/index.ts';
import { mistralRoutes } from '../../src/standin/mistral.ts';
import { ANSWER_WORDS, promptTokens, startStandinServer } from '../../src/standin/server.ts';
import { harness, nanos, PRICES } from './harness.ts';

const h = harness();
// Created before the SDK is loaded (its hook patches the module on load), then off until the second part.
const instrumentation = new MistralInstrumentation({ prices: PRICES });
instrumentation.setTracerProvider(h.provider);
instrumentation.enable();
const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const { Mistral } = require('@mistralai/mistralai') as { Mistral: new (o: object) => any };
const { registerTracerProvider } = require('@mistralai/mistralai/extra/observability') as { registerTracerProvider(p?: unknown): void };

instrumentation.disable();
const server = await startStandinServer({ routes: mistralRoutes() });
const MODEL = 'mistral-small-latest';
const PROMPT = 'Why is the sky blue?';
const MESSAGES = [{ role: 'user', content: PROMPT }];
/** What one call costs at the table's rates, in nano-USD. */
const CALL_NANOS = nanos(computeCost({ inputTokens: promptTokens(PROMPT, 1), outputTokens: ANSWER_WORDS.length }, PRICES.lookup(MODEL, 'mistral_ai').price).totalUsd);

before(() => registerTracerProvider(h.provider));
after(async () => {
  registerTracerProvider(undefined);
  await server.close();
});
beforeEach(() => {
  h.exporter.reset();
  server.reset();
});

function client(): { chat: { complete(r: object): Promise<unknown>; stream(r: object): Promise<AsyncIterable<unknown>> } } {
  return new Mistral({ apiKey: 'k', serverURL: server.url });
}
function mistralSpans(): ReturnType<typeof h.spans> {
  return h.spans().filter((s) => s.instrumentationScope.name === 'mistralai_sdk_tracer');
}
async function settle(): Promise<void> {
  // The SDK ends its span in an async response hook.
  for (let i = 0; i < 100 && mistralSpans().length === 0; i++) await new Promise((r) => setTimeout(r, 5));
}

void describe("Mistral's own spans, no tollgate instrumentation", () => {
  void it('a root span whose usage came after its start is priced', async () => {
    const before = h.processor.getSpend().total.costUsd;
    await client().chat.complete({ model: MODEL, messages: MESSAGES });
    await settle();
    const [span] = mistralSpans();
    assert.ok(span !== undefined, 'the SDK made its span');
    assert.equal(span.parentSpanContext, undefined, 'a task root');
    assert.equal(span.attributes['gen_ai.provider.name'], 'mistral_ai');
    assert.equal(span.attributes['gen_ai.usage.input_tokens'], promptTokens(PROMPT, 1));
    assert.equal(nanos(span.attributes['tollgate.cost.usd']), CALL_NANOS);
    assert.equal(nanos(h.processor.getSpend().total.costUsd - before), CALL_NANOS);
  });

  void it('a stream span (usage from the accumulated chunks) is priced, nested under an app span too', async () => {
    const before = h.processor.getSpend().total.costUsd;
    const tracer = h.provider.getTracer('app');
    await tracer.startActiveSpan('handle request', async (root) => {
      const stream = await client().chat.stream({ model: MODEL, messages: MESSAGES });
      for await (const event of stream) void event;
      root.end();
    });
    await settle();
    const [span] = mistralSpans();
    assert.equal(nanos(span?.attributes['tollgate.cost.usd']), CALL_NANOS);
    assert.equal(nanos(h.processor.getSpend().total.costUsd - before), CALL_NANOS);
  });
});

void describe("Mistral's own spans under tollgate's instrumentation", () => {
  before(() => instrumentation.enable());
  after(() => instrumentation.disable());

  for (const mode of ['complete', 'stream'] as const) {
    void it(`${mode}: tollgate's span is the parent, the call is counted once`, async () => {
      const before = h.processor.getSpend().total.costUsd;
      if (mode === 'complete') await client().chat.complete({ model: MODEL, messages: MESSAGES });
      else for await (const event of await client().chat.stream({ model: MODEL, messages: MESSAGES })) void event;
      await settle();
      const ours = h.spans().filter((s) => s.instrumentationScope.name === 'tollgate-instrumentation-mistral');
      const theirs = mistralSpans();
      assert.equal(ours.length, 1);
      assert.equal(theirs.length, 1);
      assert.equal(theirs[0]?.parentSpanContext?.spanId, ours[0]?.spanContext().spanId);
      assert.equal(theirs[0]?.attributes['gen_ai.usage.input_tokens'], promptTokens(PROMPT, 1), "Mistral's span carries usage");
      assert.equal(theirs[0]?.attributes['tollgate.cost.usd'], undefined, "Mistral's span is not priced again");
      assert.equal(nanos(ours[0]?.attributes['tollgate.cost.usd']), CALL_NANOS);
      assert.equal(nanos(h.processor.getSpend().total.costUsd - before), CALL_NANOS);
    });
  }
});
