/**
 * Bad input through the real AI SDK (`ai` 7 + @ai-sdk/openai / @ai-sdk/anthropic) against the
 * stand-in: provider 4xx / 5xx, a malformed or cut stream, an answer without usage (estimated,
 * flagged, never $0), a consumer that stops reading; and the AI SDK's own telemetry
 * (`@ai-sdk/otel`) turned on next to tollgate: the cost processor prices each call once.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { LegacyOpenTelemetry, OpenTelemetry } from '@ai-sdk/otel';
import { createPriceTable } from '../../src/pricing/index.ts';
import { CostSpanProcessor } from '../../src/processor/index.ts';
import type { ForeignSpend } from '../../src/processor/index.ts';
import { countTokens } from '../../src/tokens/index.ts';
import { SCOPE, startAiHarness, usd, waitForAiSpans } from './ai-sdk-harness.ts';
import type { AiHarness, Loose } from './ai-sdk-harness.ts';

const MINI = { input: 0.15, output: 0.6 };
const ANSWER = 'The stand-in provider answers deterministically so tests can assert exact token counts.';

const foreign: ForeignSpend[] = [];
const processor = new CostSpanProcessor({ prices: createPriceTable(), meterProvider: new MeterProvider(), onForeignSpend: (s) => foreign.push(s) });

let h: AiHarness;
let ai: Loose;
let openai: Loose;
let anthropic: Loose;
before(async () => {
  h = await startAiHarness([], [processor]);
  ai = await import('ai');
  const { createOpenAI } = (await import('@ai-sdk/openai')) as Loose;
  const { createAnthropic } = (await import('@ai-sdk/anthropic')) as Loose;
  openai = createOpenAI({ baseURL: `${h.server.url}/v1`, apiKey: 'sk-test' });
  anthropic = createAnthropic({ baseURL: `${h.server.url}/v1`, apiKey: 'sk-ant-test' });
});
after(async () => {
  await h.close();
});
beforeEach(() => {
  h.reset();
  foreign.length = 0;
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return assert.fail('expected a rejection');
}

void describe('provider errors', () => {
  for (const status of [400, 500] as const) {
    void test(`HTTP ${status}: the call fails, its span says why, nothing is priced`, async () => {
      h.server.injectFault({ kind: 'status', status, message: `stand-in ${status}` });
      const caught = await rejection(ai.generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Hello there', maxRetries: 0 }));
      assert.equal((caught as { statusCode?: unknown }).statusCode, status);
      const [span] = await waitForAiSpans(h, 1);
      assert.equal(span?.status.code, SpanStatusCode.ERROR);
      assert.equal(span?.attributes['error.type'], 'APICallError');
      assert.equal(span?.attributes['tollgate.cost.usd'], undefined);
    });
  }

  void test('HTTP 500 under the default retries: each attempt is its own span, the last one answers', async () => {
    h.server.injectFault({ kind: 'status', status: 500 }, { times: 1 });
    const result = await ai.generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Hello there' });
    assert.equal(result.text, ANSWER);
    const spans = await waitForAiSpans(h, 2);
    assert.deepEqual(
      spans.map((s) => [s.attributes['error.type'], s.attributes['gen_ai.usage.input_tokens']]),
      [
        ['APICallError', undefined],
        [undefined, 6],
      ],
    );
  });
});

void describe('streams', () => {
  void test('a malformed SSE event: the span is estimated, marked as an error, never $0', async () => {
    h.server.injectFault({ kind: 'malformed-sse', afterEvents: 3 });
    const errors: unknown[] = [];
    const result = ai.streamText({ model: openai.chat('gpt-4o-mini'), prompt: 'Hello there', maxRetries: 0, onError: ({ error }: { error: unknown }) => errors.push(error) });
    await result.consumeStream();
    const [span] = await waitForAiSpans(h, 1);
    assert.equal(span?.attributes['tollgate.usage.estimated'], true);
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
    // Input estimated from the prompt with the tokenizer; output from the two words seen before the bad event.
    assert.equal(span?.attributes['gen_ai.usage.input_tokens'], countTokens('Hello there', 'gpt-4o-mini'));
    assert.equal(span?.attributes['gen_ai.usage.output_tokens'], countTokens('The stand-in', 'gpt-4o-mini'));
    assert.ok((span?.attributes['tollgate.cost.usd'] as number) > 0);
  });

  void test('a stream cut before its end: estimated, the error recorded', async () => {
    h.server.injectFault({ kind: 'cut-stream', afterEvents: 4 });
    const result = ai.streamText({ model: anthropic('claude-sonnet-4-6'), prompt: 'Hello there', maxRetries: 0, onError: () => undefined });
    await result.consumeStream();
    const [span] = await waitForAiSpans(h, 1);
    assert.equal(span?.attributes['tollgate.usage.estimated'], true);
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
    assert.ok((span?.attributes['gen_ai.usage.input_tokens'] as number) > 0);
    assert.ok((span?.attributes['tollgate.cost.usd'] as number) > 0);
  });

  void test('the caller aborts mid-stream (abortSignal): the span ends estimated from what was read', async () => {
    // Cancelling one of streamText's tee'd views does not stop the SDK's own read; an abort does.
    const controller = new AbortController();
    const result = ai.streamText({ model: openai.chat('gpt-4o-mini'), prompt: 'Hello there', abortSignal: controller.signal, onError: () => undefined });
    const reader = result.textStream.getReader();
    const first = await reader.read();
    assert.equal(first.done, false);
    controller.abort();
    await reader.cancel().catch(() => undefined);
    const [span] = await waitForAiSpans(h, 1);
    assert.equal(span?.attributes['tollgate.usage.estimated'], true);
    // The SDK cancels the model's stream on abort: a stop, like a consumer's break, not a provider error.
    assert.equal(span?.status.code, SpanStatusCode.UNSET);
    assert.equal(span?.attributes['gen_ai.usage.input_tokens'], countTokens('Hello there', 'gpt-4o-mini'));
    assert.ok((span?.attributes['tollgate.cost.usd'] as number) > 0);
  });
});

void describe('no usage in the answer', () => {
  void test('generateText: estimated, flagged tollgate.usage.estimated, priced from local counts', async () => {
    h.server.injectFault({ kind: 'no-usage' });
    const result = await ai.generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Hello there' });
    assert.equal(result.text, ANSWER);
    const [span] = await waitForAiSpans(h, 1);
    const input = countTokens('Hello there', 'gpt-4o-mini');
    const output = countTokens(ANSWER, 'gpt-4o-mini');
    assert.equal(span?.attributes['tollgate.usage.estimated'], true);
    assert.equal(span?.attributes['gen_ai.usage.input_tokens'], input);
    assert.equal(span?.attributes['gen_ai.usage.output_tokens'], output);
    assert.ok(Math.abs((span?.attributes['tollgate.cost.usd'] as number) - (usd(input, MINI.input) + usd(output, MINI.output))) < 1e-15);
  });

  void test('streamText: a stream without a usage chunk is estimated, not $0', async () => {
    h.server.injectFault({ kind: 'no-usage' });
    const result = ai.streamText({ model: openai.chat('gpt-4o-mini'), prompt: 'Hello there' });
    assert.equal(await result.text, ANSWER);
    const [span] = await waitForAiSpans(h, 1);
    assert.equal(span?.attributes['tollgate.usage.estimated'], true);
    assert.equal(span?.attributes['gen_ai.usage.output_tokens'], countTokens(ANSWER, 'gpt-4o-mini'));
    assert.ok((span?.attributes['tollgate.cost.usd'] as number) > 0);
  });

  void test('embed: no usage -> estimated from the values', async () => {
    h.server.injectFault({ kind: 'no-usage' });
    await ai.embed({ model: openai.embedding('text-embedding-3-small'), value: 'Hello there' });
    const [span] = await waitForAiSpans(h, 1);
    assert.equal(span?.attributes['tollgate.usage.estimated'], true);
    assert.equal(span?.attributes['gen_ai.usage.input_tokens'], countTokens('Hello there', 'text-embedding-3-small'));
  });
});

void describe('the AI SDK telemetry on as well (@ai-sdk/otel)', () => {
  for (const flavour of [
    { name: 'OpenTelemetry', make: () => new OpenTelemetry({ tracer: h.provider.getTracer('ai') }), call: 'chat gpt-4o-mini' },
    { name: 'LegacyOpenTelemetry', make: () => new LegacyOpenTelemetry({ tracer: h.provider.getTracer('ai') }), call: 'ai.generateText.doGenerate' },
  ]) {
    void test(`${flavour.name}: one call, priced once (tollgate's span, nested in the SDK's call span)`, async () => {
      await ai.generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Hello there', telemetry: { integrations: [flavour.make()] } });
      await waitForAiSpans(h, 1);
      const all = h.allSpans();
      const ours = all.filter((s) => s.instrumentationScope.name === SCOPE);
      assert.equal(ours.length, 1);
      const sdkCall = all.find((s) => s.name === flavour.call && s.instrumentationScope.name !== SCOPE);
      assert.ok(sdkCall !== undefined, `the SDK's own ${flavour.call} span: ${all.map((s) => s.name).join(', ')}`);
      assert.equal(ours[0]?.parentSpanContext?.spanId, sdkCall.spanContext().spanId, 'tollgate span is a child of the SDK call span');
      // The SDK's spans carry the usage too, but only tollgate's span is priced.
      const priced = all.filter((s) => s.attributes['tollgate.cost.usd'] !== undefined);
      assert.deepEqual(priced.map((s) => s.instrumentationScope.name), [SCOPE]);
      assert.deepEqual(foreign, [], 'no foreign spend recorded for the same call');
      assert.ok(Math.abs((priced[0]?.attributes['tollgate.cost.usd'] as number) - (usd(6, MINI.input) + usd(13, MINI.output))) < 1e-15);
    });
  }
});
