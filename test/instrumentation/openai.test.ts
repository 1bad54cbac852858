// The OpenAI instrumentation against the real SDK (current major 7 and the older 6 and 4, via npm
// aliases, required through CJS) and the stand-in provider: one span per call, exact attributes.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { onlySpan, SDKS, startHarness, waitForSpans } from '../standin/harness.ts';
import type { Harness } from '../standin/harness.ts';
import { countTokens } from '../../src/tokens/index.ts';

// gpt-4o-mini list prices (https://platform.openai.com/docs/pricing): $0.15 / $0.60 / cached $0.075 per 1M tokens.
const MINI = { input: 0.15, output: 0.6, cacheRead: 0.075 };
// o4-mini: $1.10 / $4.40 per 1M tokens; embeddings text-embedding-3-small: $0.02 per 1M.
const O4_MINI = { input: 1.1, output: 4.4 };

const PROMPT = 'Hello there'; // stand-in: ceil(11 / 4) + 3 per message = 6 input tokens
const ANSWER = 'The stand-in provider answers deterministically so tests can assert exact token counts.';

function usd(tokens: number, perMillion: number): number {
  return (tokens * perMillion) / 1e6;
}

function assertUsd(actual: unknown, expected: number, what: string): void {
  assert.equal(typeof actual, 'number', `${what} is a number`);
  assert.ok(Math.abs((actual as number) - expected) < 1e-15, `${what}: ${String(actual)} != ${expected}`);
}

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});
beforeEach(() => h.reset());

function chatBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }], ...extra };
}

function assertMiniCost(span: ReadableSpan, input: number, output: number): void {
  const a = span.attributes;
  assert.equal(a['gen_ai.usage.input_tokens'], input);
  assert.equal(a['gen_ai.usage.output_tokens'], output);
  assertUsd(a['tollgate.cost.input_usd'], usd(input, MINI.input), 'input_usd');
  assertUsd(a['tollgate.cost.output_usd'], usd(output, MINI.output), 'output_usd');
  assertUsd(a['tollgate.cost.usd'], usd(input, MINI.input) + usd(output, MINI.output), 'cost');
  assert.equal(a['gen_ai.usage.cost'], a['tollgate.cost.usd']);
  assert.equal(a['tollgate.cost.source'], 'table');
}

for (const { pkg, major } of SDKS) {
  void describe(`openai ${major} (${pkg}, CJS)`, () => {
    void test('chat.completions.create: one CLIENT span with the GenAI and cost attributes', async () => {
      const client = h.client(pkg);
      const completion = await client.chat.completions.create(chatBody({ max_tokens: 50 }));
      assert.equal(completion.choices[0].message.content, ANSWER);
      const span = await onlySpan(h);
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
          'gen_ai.response.id': completion.id,
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
      assertMiniCost(span, 6, 13);
      // Content is off by default.
      assert.equal(span.attributes['gen_ai.input.messages'], undefined);
    });

    void test('chat stream: usage requested, the usage-only chunk hidden from the caller', async () => {
      const client = h.client(pkg);
      const stream = await client.chat.completions.create(chatBody({ stream: true }));
      const chunks: { choices: unknown[]; usage?: unknown }[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      assert.equal(chunks.length, 15, 'role chunk + 13 words + finish chunk, no usage chunk');
      assert.ok(chunks.every((c) => c.choices.length === 1), 'every chunk the caller sees has choices[0]');
      const sent = h.server.requests[0]?.body as Record<string, unknown>;
      assert.deepEqual(sent['stream_options'], { include_usage: true });
      const span = await onlySpan(h);
      assert.equal(span.attributes['gen_ai.request.stream'], true);
      assert.deepEqual(span.attributes['gen_ai.response.finish_reasons'], ['stop']);
      assert.equal(span.attributes['tollgate.usage.estimated'], false);
      assertMiniCost(span, 6, 13);
    });

    void test('chat stream with caller-set stream_options: body untouched, usage chunk visible', async () => {
      const client = h.client(pkg);
      const stream = await client.chat.completions.create(chatBody({ stream: true, stream_options: { include_usage: true } }));
      const chunks: { choices: unknown[]; usage?: { prompt_tokens: number } | null }[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      assert.equal(chunks.length, 16);
      assert.equal(chunks.at(-1)?.choices.length, 0);
      assert.equal(chunks.at(-1)?.usage?.prompt_tokens, 6);
      assertMiniCost(await onlySpan(h), 6, 13);
    });

    void test('chat stream with stream_options but no include_usage: not overridden, usage estimated', async () => {
      const client = h.client(pkg);
      const stream = await client.chat.completions.create(chatBody({ stream: true, stream_options: { include_usage: false } }));
      for await (const _ of stream) void _;
      assert.deepEqual((h.server.requests[0]?.body as Record<string, unknown>)['stream_options'], { include_usage: false });
      const span = await onlySpan(h);
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], countTokens(PROMPT, 'gpt-4o-mini'));
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], countTokens(ANSWER, 'gpt-4o-mini'));
    });

    void test('for await ... break: the span ends, the request is aborted, usage is estimated', async () => {
      const client = h.client(pkg);
      const stream = await client.chat.completions.create(chatBody({ stream: true }));
      let seen = 0;
      for await (const _ of stream) {
        if (++seen === 3) break;
      }
      const span = await onlySpan(h);
      assert.equal(span.status.code, SpanStatusCode.UNSET);
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], countTokens(PROMPT, 'gpt-4o-mini'));
      // Chunks seen: role (''), 'The', ' stand-in'.
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], countTokens('The stand-in', 'gpt-4o-mini'));
      assert.equal(typeof span.attributes['tollgate.cost.usd'], 'number');
    });

    void test('a stream given up before it was read (return() first): the span still ends, usage estimated', async () => {
      const client = h.client(pkg);
      const stream = await client.chat.completions.create(chatBody({ stream: true }));
      const iterator = stream[Symbol.asyncIterator]();
      const result = await iterator.return?.();
      assert.equal(result?.done, true);
      const span = await onlySpan(h);
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], countTokens(PROMPT, 'gpt-4o-mini'));
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], 0);
      assert.equal(typeof span.attributes['tollgate.cost.usd'], 'number');
    });

    void test('tee(): both branches see every chunk, one span with the real usage', async () => {
      const client = h.client(pkg);
      const stream = await client.chat.completions.create(chatBody({ stream: true }));
      const [a, b] = stream.tee();
      const collect = async (s: AsyncIterable<unknown>): Promise<number> => {
        let n = 0;
        for await (const _ of s) n++;
        return n;
      };
      assert.deepEqual(await Promise.all([collect(a), collect(b)]), [15, 15]);
      assertMiniCost(await onlySpan(h), 6, 13);
    });

    void test('.withResponse() and .asResponse() keep working', async () => {
      const client = h.client(pkg);
      const { data, response } = await client.chat.completions.create(chatBody()).withResponse();
      assert.equal(data.usage.prompt_tokens, 6);
      assert.equal(response.status, 200);
      assertMiniCost(await onlySpan(h), 6, 13);

      h.reset();
      const raw: Response = await client.chat.completions.create(chatBody()).asResponse();
      const json = (await raw.json()) as { usage: { completion_tokens: number } };
      assert.equal(json.usage.completion_tokens, 13, 'the caller still reads the body');
      const span = await onlySpan(h);
      assertMiniCost(span, 6, 13);
      assert.equal(span.attributes['tollgate.usage.estimated'], false);
    });

    void test('parse helper: one span', async () => {
      const client = h.client(pkg);
      const completions = major === 4 ? client.beta.chat.completions : client.chat.completions;
      const parsed = await completions.parse(chatBody());
      assert.equal(parsed.choices[0].message.content, ANSWER);
      assertMiniCost(await onlySpan(h), 6, 13);
    });

    void test('.stream() helper: one span, the helper gets its final completion', async () => {
      const client = h.client(pkg);
      const completions = major === 4 ? client.beta.chat.completions : client.chat.completions;
      const runner = completions.stream(chatBody());
      const final = await runner.finalChatCompletion();
      assert.equal(final.choices[0].message.content, ANSWER);
      assertMiniCost(await onlySpan(h), 6, 13);
    });

    void test('runTools helper: one span per model call', async () => {
      const client = h.client(pkg);
      const completions = major === 4 ? client.beta.chat.completions : client.chat.completions;
      const runner = completions.runTools(
        chatBody({
          tools: [{ type: 'function', function: { name: 'noop', parameters: { type: 'object', properties: {} }, function: () => 'ok' } }],
        }),
      );
      const content = await runner.finalContent();
      assert.equal(content, ANSWER);
      assert.equal(h.server.requests.length, 1);
      assertMiniCost(await onlySpan(h), 6, 13);
    });

    void test('responses.create: usage with reasoning tokens', async () => {
      const client = h.client(pkg);
      const response = await client.responses.create({ model: 'o4-mini', input: PROMPT, max_output_tokens: 100 });
      assert.equal(response.output_text, ANSWER);
      const span = await onlySpan(h);
      assert.equal(span.name, 'chat o4-mini');
      const a = span.attributes;
      assert.equal(a['gen_ai.operation.name'], 'chat');
      assert.equal(a['gen_ai.request.max_tokens'], 100);
      assert.equal(a['gen_ai.response.id'], response.id);
      assert.deepEqual(a['gen_ai.response.finish_reasons'], ['stop']);
      assert.equal(a['gen_ai.usage.input_tokens'], 6); // 3 + 3 for the one input item
      assert.equal(a['gen_ai.usage.output_tokens'], 21); // 13 visible + 8 reasoning
      assert.equal(a['gen_ai.usage.reasoning.output_tokens'], 8);
      assertUsd(a['tollgate.cost.usd'], usd(6, O4_MINI.input) + usd(21, O4_MINI.output), 'cost');
    });

    void test('responses stream: usage from response.completed', async () => {
      const client = h.client(pkg);
      const stream = await client.responses.create({ model: 'gpt-4o-mini', input: PROMPT, stream: true });
      const types: string[] = [];
      for await (const event of stream) types.push(event.type);
      assert.equal(types.at(-1), 'response.completed');
      const span = await onlySpan(h);
      assert.equal(span.attributes['gen_ai.request.stream'], true);
      assert.match(String(span.attributes['gen_ai.response.id']), /^resp-standin-/);
      assertMiniCost(span, 6, 13);
    });

    void test('embeddings.create: input tokens only', async () => {
      const client = h.client(pkg);
      const result = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one two three four', 'five'] });
      assert.equal(result.data.length, 2);
      assert.equal(result.data[0].embedding.length, 8);
      const span = await onlySpan(h);
      assert.equal(span.name, 'embeddings text-embedding-3-small');
      assert.equal(span.attributes['gen_ai.operation.name'], 'embeddings');
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], 6); // ceil(18/4) + ceil(4/4)
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], 0);
      assertUsd(span.attributes['tollgate.cost.usd'], usd(6, 0.02), 'cost');
    });
  });
}

void describe('prompt cache', () => {
  void test('a repeated 1024+ token prefix is billed at the cache-read rate', async () => {
    const client = h.client('openai');
    const system = 'You are a careful assistant. '.repeat(200); // 5800 chars
    const body = (q: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: system }, { role: 'user', content: q }] });
    await client.chat.completions.create(body('first question'));
    await client.chat.completions.create(body('second question'));
    const [first, second] = await waitForSpans(h, 2);
    assert.equal(first?.attributes['gen_ai.usage.cache_read.input_tokens'], 0);
    const input = second?.attributes['gen_ai.usage.input_tokens'];
    assert.equal(input, Math.ceil((system.length + 1 + 'second question'.length) / 4) + 6);
    // Shared prefix: the system prompt plus '\n' and 's' ('first' vs 'second' differ after that) -> 1451 tokens -> 1408 in 128-steps.
    assert.equal(second?.attributes['gen_ai.usage.cache_read.input_tokens'], 1408);
    assertUsd(second?.attributes['tollgate.cost.cache_read_usd'], usd(1408, MINI.cacheRead), 'cache read usd');
    assertUsd(second?.attributes['tollgate.cost.input_usd'], usd((input as number) - 1408, MINI.input), 'input usd');
  });
});
