// The AI SDK instrumentation against the real `ai` packages (7, and 6 and 5 through npm aliases,
// imported as ESM through the import-in-the-middle hook) and real provider packages
// (@ai-sdk/openai, @ai-sdk/anthropic, @ai-sdk/groq) pointed at the stand-in: one priced span per
// provider request, exact tokens and cost, one span per step of a tool loop.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, beforeEach, describe, test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { CallDescription, CallGate, CallOutcome } from '../../src/gate.ts';
import { startAiHarness, usd, waitForAiSpans } from './ai-sdk-harness.ts';
import type { AiHarness, Loose } from './ai-sdk-harness.ts';
import { textAnswer, textStream, toolCallAnswer, toolCallStream } from './ai-sdk-canned.ts';

// List prices per 1M tokens (provider pricing pages): gpt-4o-mini $0.15 / $0.60; claude-sonnet-4-6
// $3 / $15; Groq llama-3.3-70b-versatile $0.59 / $0.79; text-embedding-3-small $0.02.
const MINI = { input: 0.15, output: 0.6 };
const SONNET = { input: 3, output: 15 };
const GROQ_LLAMA = { input: 0.59, output: 0.79 };
const EMBED_SMALL = 0.02;

const ANSWER = 'The stand-in provider answers deterministically so tests can assert exact token counts.';
const PROMPT = 'Hello there'; // OpenAI stand-in: 6 input tokens, 13 output; Anthropic stand-in: 3 in, 9 out

function assertUsd(actual: unknown, expected: number, what: string): void {
  assert.equal(typeof actual, 'number', `${what} is a number`);
  assert.ok(Math.abs((actual as number) - expected) < 1e-15, `${what}: ${String(actual)} != ${expected}`);
}

function assertPriced(span: ReadableSpan, input: number, output: number, rates: { input: number; output: number }): void {
  const a = span.attributes;
  assert.equal(a['gen_ai.usage.input_tokens'], input, 'input tokens');
  assert.equal(a['gen_ai.usage.output_tokens'], output, 'output tokens');
  assert.equal(a['tollgate.usage.estimated'], false);
  assertUsd(a['tollgate.cost.input_usd'], usd(input, rates.input), 'input_usd');
  assertUsd(a['tollgate.cost.output_usd'], usd(output, rates.output), 'output_usd');
  assertUsd(a['tollgate.cost.usd'], usd(input, rates.input) + usd(output, rates.output), 'cost');
  assert.equal(a['tollgate.cost.source'], 'table');
}

/** A gate that allows everything and records what it saw. */
function recordingGate() {
  const seen = { admitted: [] as CallDescription[], completed: [] as CallOutcome[], aborted: 0 };
  const gate: CallGate = {
    admit(call) {
      seen.admitted.push(call);
      return Promise.resolve({ action: 'allow', ticket: seen.admitted.length });
    },
    complete(_ticket, outcome) {
      seen.completed.push(outcome);
    },
    abort() {
      seen.aborted++;
    },
  };
  return { gate, seen };
}

let h: AiHarness;
let ai: Loose;
let openai: Loose;
let anthropic: Loose;
let groq: Loose;
before(async () => {
  h = await startAiHarness();
  ai = await import('ai');
  const { createOpenAI } = (await import('@ai-sdk/openai')) as Loose;
  const { createAnthropic } = (await import('@ai-sdk/anthropic')) as Loose;
  const { createGroq } = (await import('@ai-sdk/groq')) as Loose;
  openai = createOpenAI({ baseURL: `${h.server.url}/v1`, apiKey: 'sk-test' });
  anthropic = createAnthropic({ baseURL: `${h.server.url}/v1`, apiKey: 'sk-ant-test' });
  groq = createGroq({ baseURL: `${h.server.url}/openai/v1`, apiKey: 'gsk-test' });
});
after(async () => {
  await h.close();
});
beforeEach(() => h.reset());

void describe('ai 7', () => {
  void test('generateText (@ai-sdk/openai chat): one CLIENT span with the GenAI and cost attributes', async () => {
    const result = await ai.generateText({ model: openai.chat('gpt-4o-mini'), prompt: PROMPT, maxOutputTokens: 50 });
    assert.equal(result.text, ANSWER);
    const [span] = await waitForAiSpans(h, 1);
    assert.ok(span !== undefined);
    assert.equal(h.spans().length, 1);
    assert.equal(span.name, 'chat gpt-4o-mini');
    assert.equal(span.kind, SpanKind.CLIENT);
    assert.equal(span.status.code, SpanStatusCode.UNSET);
    assert.deepEqual(
      { ...span.attributes },
      {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.request.stream': false,
        'gen_ai.request.max_tokens': 50,
        'server.address': '127.0.0.1',
        'server.port': h.server.port,
        'tollgate.policy.action': 'allow',
        'gen_ai.response.id': result.response.id,
        'gen_ai.response.model': 'gpt-4o-mini',
        'gen_ai.response.finish_reasons': ['stop'],
        'gen_ai.usage.input_tokens': 6,
        'gen_ai.usage.output_tokens': 13,
        'gen_ai.usage.cache_read.input_tokens': 0,
        'gen_ai.usage.reasoning.output_tokens': 0,
        'tollgate.usage.estimated': false,
        'tollgate.cost.usd': span.attributes['tollgate.cost.usd'],
        'gen_ai.usage.cost': span.attributes['tollgate.cost.usd'],
        'tollgate.cost.input_usd': span.attributes['tollgate.cost.input_usd'],
        'tollgate.cost.output_usd': span.attributes['tollgate.cost.output_usd'],
        'tollgate.cost.cache_read_usd': 0,
        'tollgate.cost.cache_write_usd': 0,
        'tollgate.cost.source': 'table',
      },
    );
    assertPriced(span, 6, 13, MINI);
    // The request the provider received carries the caller's limit.
    assert.equal((h.server.requests[0]?.body as Record<string, unknown>)['max_tokens'], 50);
  });

  void test('streamText (@ai-sdk/openai chat): priced from the final usage, parts passed through unchanged', async () => {
    const result = ai.streamText({ model: openai.chat('gpt-4o-mini'), prompt: PROMPT });
    let text = '';
    for await (const delta of result.textStream) text += delta;
    assert.equal(text, ANSWER);
    const [span] = await waitForAiSpans(h, 1);
    assert.ok(span !== undefined);
    assert.equal(span.attributes['gen_ai.request.stream'], true);
    assert.deepEqual(span.attributes['gen_ai.response.finish_reasons'], ['stop']);
    assertPriced(span, 6, 13, MINI);
    assert.equal((await result.usage).inputTokens, 6);
  });

  void test('generateText through the Responses API (openai(id))', async () => {
    await ai.generateText({ model: openai('gpt-4o-mini'), prompt: PROMPT });
    const [span] = await waitForAiSpans(h, 1);
    assert.ok(span !== undefined);
    assert.equal(h.server.requests[0]?.path, '/v1/responses');
    assertPriced(span, 6, 13, MINI);
  });

  void test('@ai-sdk/anthropic generateText and streamText: provider anthropic, Anthropic usage', async () => {
    const plain = await ai.generateText({ model: anthropic('claude-sonnet-4-6'), prompt: PROMPT });
    assert.equal(plain.text, 'Hello from the Anthropic stand-in.');
    const streamed = ai.streamText({ model: anthropic('claude-sonnet-4-6'), prompt: PROMPT });
    assert.equal(await streamed.text, 'Hello from the Anthropic stand-in.');
    const spans = await waitForAiSpans(h, 2);
    assert.deepEqual(
      spans.map((s) => [s.attributes['gen_ai.provider.name'], s.attributes['gen_ai.request.stream'], s.attributes['gen_ai.response.finish_reasons']]),
      [
        ['anthropic', false, ['end_turn']],
        ['anthropic', true, ['end_turn']],
      ],
    );
    for (const span of spans) {
      assertPriced(span, 3, 9, SONNET);
      assert.equal(span.attributes['gen_ai.usage.cache_read.input_tokens'], 0);
      assert.equal(span.attributes['gen_ai.usage.cache_creation.input_tokens'], 0);
    }
    // By hand: 3 x $3 + 9 x $15 per 1M = $0.000144.
    assertUsd(spans[0]?.attributes['tollgate.cost.usd'], 0.000144, 'sonnet cost');
  });

  void test('@ai-sdk/groq: provider groq, priced at Groq rates', async () => {
    await ai.generateText({ model: groq('llama-3.3-70b-versatile'), prompt: PROMPT });
    // Groq reports stream usage in `x_groq.usage`, which the OpenAI stand-in does not speak: canned.
    h.server.setNextResponse(textStream('groq1', 'Hi.', { input: 6, output: 2 }, 'groq', 'llama-3.3-70b-versatile'));
    const stream = ai.streamText({ model: groq('llama-3.3-70b-versatile'), prompt: PROMPT });
    assert.equal(await stream.text, 'Hi.');
    const spans = await waitForAiSpans(h, 2);
    assert.deepEqual(
      h.server.requests.map((r) => r.path),
      ['/openai/v1/chat/completions', '/openai/v1/chat/completions'],
    );
    for (const span of spans) assert.equal(span.attributes['gen_ai.provider.name'], 'groq');
    assertPriced(spans[0] as ReadableSpan, 6, 13, GROQ_LLAMA);
    assertPriced(spans[1] as ReadableSpan, 6, 2, GROQ_LLAMA);
  });

  void test('multi-step tool loop (generateText): each step is its own gated, priced span', async () => {
    const { gate, seen } = recordingGate();
    h.gate.current = gate;
    h.server.setNextResponse(toolCallAnswer('step1', 'weather', { city: 'Paris' }, { input: 40, output: 12 }));
    h.server.setNextResponse(textAnswer('step2', 'Sunny in Paris.', { input: 70, output: 5 }));
    const executed: unknown[] = [];
    const result = await ai.generateText({
      model: openai.chat('gpt-4o-mini'),
      prompt: 'Weather in Paris?',
      tools: {
        weather: ai.tool({
          description: 'The weather in a city',
          inputSchema: ai.jsonSchema({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
          execute: (input: unknown) => {
            executed.push(input);
            return Promise.resolve({ sky: 'sunny' });
          },
        }),
      },
      stopWhen: ai.stepCountIs(5),
    });
    assert.equal(result.text, 'Sunny in Paris.');
    assert.deepEqual(executed, [{ city: 'Paris' }]);
    assert.equal(h.server.requests.length, 2);
    const spans = await waitForAiSpans(h, 2);
    assert.equal(spans.length, 2);
    assert.deepEqual(
      spans.map((s) => [s.attributes['gen_ai.response.id'], s.attributes['gen_ai.response.finish_reasons']]),
      [
        ['step1', ['tool_calls']],
        ['step2', ['stop']],
      ],
    );
    assertPriced(spans[0] as ReadableSpan, 40, 12, MINI);
    assertPriced(spans[1] as ReadableSpan, 70, 5, MINI);
    // Both steps went through the gate, and each settled its own cost.
    assert.equal(seen.admitted.length, 2);
    assert.ok(seen.admitted.every((c) => c.provider === 'openai' && c.model === 'gpt-4o-mini'));
    assert.equal(seen.completed.length, 2);
    assertUsd(seen.completed[0]?.costUsd, usd(40, MINI.input) + usd(12, MINI.output), 'step 1 settled');
    assertUsd(seen.completed[1]?.costUsd, usd(70, MINI.input) + usd(5, MINI.output), 'step 2 settled');
  });

  void test('multi-step tool loop (streamText): each streamed step a priced span', async () => {
    h.server.setNextResponse(toolCallStream('s1', 'weather', { city: 'Oslo' }, { input: 41, output: 11 }));
    h.server.setNextResponse(textStream('s2', 'Snow in Oslo.', { input: 73, output: 4 }));
    const result = ai.streamText({
      model: openai.chat('gpt-4o-mini'),
      prompt: 'Weather in Oslo?',
      tools: {
        weather: ai.tool({
          inputSchema: ai.jsonSchema({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
          execute: () => Promise.resolve({ sky: 'snow' }),
        }),
      },
      stopWhen: ai.stepCountIs(5),
    });
    assert.equal(await result.text, 'Snow in Oslo.');
    const spans = await waitForAiSpans(h, 2);
    assert.deepEqual(
      spans.map((s) => s.attributes['gen_ai.response.id']),
      ['s1', 's2'],
    );
    assertPriced(spans[0] as ReadableSpan, 41, 11, MINI);
    assertPriced(spans[1] as ReadableSpan, 73, 4, MINI);
  });

  void test('generateObject and streamObject: one priced span each', async () => {
    h.server.setNextResponse(textAnswer('obj1', '{"city":"Rome"}', { input: 30, output: 7 }));
    const schema = ai.jsonSchema({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false });
    const generated = await ai.generateObject({ model: openai.chat('gpt-4o-mini'), schema, prompt: 'A city' });
    assert.deepEqual(generated.object, { city: 'Rome' });
    h.server.setNextResponse(textStream('obj2', '{"city":"Lima"}', { input: 31, output: 8 }));
    const streamed = ai.streamObject({ model: openai.chat('gpt-4o-mini'), schema, prompt: 'A city' });
    // streamObject settles its promises only once the stream is read.
    for await (const _partial of streamed.partialObjectStream);
    assert.deepEqual(await streamed.object, { city: 'Lima' });
    const spans = await waitForAiSpans(h, 2);
    assert.deepEqual(
      spans.map((s) => [s.attributes['gen_ai.response.id'], s.attributes['gen_ai.request.stream']]),
      [
        ['obj1', false],
        ['obj2', true],
      ],
    );
    assertPriced(spans[0] as ReadableSpan, 30, 7, MINI);
    assertPriced(spans[1] as ReadableSpan, 31, 8, MINI);
  });

  void test('embed and embedMany: embeddings spans priced on input tokens', async () => {
    const one = await ai.embed({ model: openai.embedding('text-embedding-3-small'), value: PROMPT });
    assert.equal(one.embedding.length, 8);
    const many = await ai.embedMany({ model: openai.embedding('text-embedding-3-small'), values: [PROMPT, 'Good morning'] });
    assert.equal(many.embeddings.length, 2);
    const spans = await waitForAiSpans(h, 2);
    // Stand-in: ceil(length / 4) tokens per input: 3, and 3 + 3.
    assert.deepEqual(
      spans.map((s) => [s.name, s.attributes['gen_ai.operation.name'], s.attributes['gen_ai.usage.input_tokens'], s.attributes['gen_ai.usage.output_tokens']]),
      [
        ['embeddings text-embedding-3-small', 'embeddings', 3, 0],
        ['embeddings text-embedding-3-small', 'embeddings', 6, 0],
      ],
    );
    assertUsd(spans[0]?.attributes['tollgate.cost.usd'], usd(3, EMBED_SMALL), 'embed cost');
    assertUsd(spans[1]?.attributes['tollgate.cost.usd'], usd(6, EMBED_SMALL), 'embedMany cost');
  });

  void test('ToolLoopAgent.generate: the agent model is tracked', async () => {
    const agent = new ai.ToolLoopAgent({ model: openai.chat('gpt-4o-mini'), instructions: 'Be brief.' });
    const result = await agent.generate({ prompt: PROMPT });
    assert.equal(result.text, ANSWER);
    const [span] = await waitForAiSpans(h, 1);
    assert.ok(span !== undefined);
    assert.equal(span.attributes['gen_ai.request.model'], 'gpt-4o-mini');
    assert.equal(span.attributes['tollgate.usage.estimated'], false);
  });

  void test('the caller\'s options object and model are not modified', async () => {
    const model = openai.chat('gpt-4o-mini');
    const options = { model, prompt: PROMPT };
    await ai.generateText(options);
    assert.equal(options.model, model);
    assert.equal(Object.keys(options).length, 2);
    await waitForAiSpans(h, 1);
  });
});

for (const { pkg, provider, major } of [
  { pkg: 'ai-v6', provider: 'ai-sdk-openai-v3', major: 6 },
  { pkg: 'ai-v5', provider: 'ai-sdk-openai-v2', major: 5 },
] as const) {
  void describe(`ai ${major} (${pkg} with ${provider})`, () => {
    let sdk: Loose;
    let oa: Loose;
    before(async () => {
      sdk = await import(pkg);
      const { createOpenAI } = (await import(provider)) as Loose;
      oa = createOpenAI({ baseURL: `${h.server.url}/v1`, apiKey: 'sk-test' });
    });

    void test('generateText and streamText: priced spans', async () => {
      const plain = await sdk.generateText({ model: oa.chat('gpt-4o-mini'), prompt: PROMPT });
      assert.equal(plain.text, ANSWER);
      const streamed = sdk.streamText({ model: oa.chat('gpt-4o-mini'), prompt: PROMPT });
      assert.equal(await streamed.text, ANSWER);
      const spans = await waitForAiSpans(h, 2);
      assert.deepEqual(
        spans.map((s) => [s.attributes['gen_ai.provider.name'], s.attributes['gen_ai.request.stream']]),
        [
          ['openai', false],
          ['openai', true],
        ],
      );
      for (const span of spans) assertPriced(span, 6, 13, MINI);
    });

    void test('tool loop: one priced span per step', async () => {
      h.server.setNextResponse(toolCallAnswer('v-step1', 'weather', { city: 'Bern' }, { input: 40, output: 12 }));
      h.server.setNextResponse(textAnswer('v-step2', 'Fog in Bern.', { input: 70, output: 5 }));
      const result = await sdk.generateText({
        model: oa.chat('gpt-4o-mini'),
        prompt: 'Weather in Bern?',
        tools: {
          weather: sdk.tool({
            inputSchema: sdk.jsonSchema({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
            execute: () => Promise.resolve({ sky: 'fog' }),
          }),
        },
        stopWhen: sdk.stepCountIs(5),
      });
      assert.equal(result.text, 'Fog in Bern.');
      const spans = await waitForAiSpans(h, 2);
      assertPriced(spans[0] as ReadableSpan, 40, 12, MINI);
      assertPriced(spans[1] as ReadableSpan, 70, 5, MINI);
    });

    void test('CommonJS require: the CJS build (exports as getters, patched through a copy) is priced too', async () => {
      const require = createRequire(import.meta.url);
      const cjs = require(pkg) as Loose;
      assert.notEqual(cjs.generateText, sdk.generateText, 'a separate CJS copy');
      const { createOpenAI } = require(provider) as Loose;
      const result = await cjs.generateText({ model: createOpenAI({ baseURL: `${h.server.url}/v1`, apiKey: 'sk-test' }).chat('gpt-4o-mini'), prompt: PROMPT });
      assert.equal(result.text, ANSWER);
      const [span] = await waitForAiSpans(h, 1);
      assertPriced(span as ReadableSpan, 6, 13, MINI);
    });

    void test('embed: priced', async () => {
      await sdk.embed({ model: oa.embedding('text-embedding-3-small'), value: PROMPT });
      const [span] = await waitForAiSpans(h, 1);
      assert.equal(span?.attributes['gen_ai.usage.input_tokens'], 3);
      assertUsd(span?.attributes['tollgate.cost.usd'], usd(3, EMBED_SMALL), 'embed cost');
    });
  });
}
