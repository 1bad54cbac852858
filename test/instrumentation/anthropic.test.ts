/**
 * AnthropicInstrumentation with the real `@anthropic-ai/sdk` 1.14 and 0.137
 * (npm alias `anthropic-v0`), required through CJS, against the stand-in
 * server: one priced span per call, the SDK's own objects returned, the SDK's
 * own OpenTelemetry spans not double-counting.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { withAgent, withTask } from '../../src/context.ts';
import { computeCost } from '../../src/pricing/index.ts';
import type { Usage } from '../../src/pricing/types.ts';
import { STANDIN_REPLY_TEXT, standinTokens } from '../../src/standin/anthropic.ts';
import { countTokens } from '../../src/tokens/index.ts';
import { SDKS, onlySpan, startHarness, userMessage, waitForSpans } from './anthropic-harness.ts';
import type { Harness } from './anthropic-harness.ts';

const MODEL = 'claude-sonnet-4-6';
const OUTPUT = standinTokens(STANDIN_REPLY_TEXT); // 34 characters -> 9

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});
beforeEach(() => h.reset());

function costOf(usage: Usage, model = MODEL) {
  return computeCost(usage, h.prices.lookup(model, 'anthropic').price);
}

function assertCost(span: ReadableSpan, usage: Usage, model = MODEL): void {
  const cost = costOf(usage, model);
  assert.equal(span.attributes['tollgate.cost.usd'], cost.totalUsd);
  assert.equal(span.attributes['gen_ai.usage.cost'], cost.totalUsd);
  assert.equal(span.attributes['tollgate.cost.input_usd'], cost.inputUsd);
  assert.equal(span.attributes['tollgate.cost.output_usd'], cost.outputUsd);
  assert.equal(span.attributes['tollgate.cost.cache_read_usd'], cost.cacheReadUsd);
  assert.equal(span.attributes['tollgate.cost.cache_write_usd'], cost.cacheWriteUsd);
  assert.equal(span.attributes['tollgate.cost.source'], 'table');
}

function near(actual: unknown, expected: number): void {
  assert.equal(typeof actual, 'number');
  assert.ok(Math.abs((actual as number) - expected) < 1e-12, `${String(actual)} != ${expected}`);
}

for (const { pkg } of SDKS) {
  void describe(`${pkg} (CJS require)`, () => {
    void it('messages.create: one CLIENT span with the exact GenAI attributes and cost', async () => {
      const client = h.client(pkg);
      const msg = await client.messages.create({ model: MODEL, max_tokens: 100, messages: [userMessage('Hello there, how are you?')] });
      assert.equal(msg.content[0].text, STANDIN_REPLY_TEXT);
      const span = await onlySpan(h);
      assert.equal(span.name, `chat ${MODEL}`);
      assert.equal(span.kind, SpanKind.CLIENT);
      assert.equal(span.status.code, SpanStatusCode.UNSET);
      const usage: Usage = { inputTokens: 7, outputTokens: OUTPUT, cacheReadTokens: 0, cacheWriteTokens: 0 };
      const cost = costOf(usage);
      assert.deepEqual(span.attributes, {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'anthropic',
        'gen_ai.request.model': MODEL,
        'gen_ai.request.stream': false,
        'gen_ai.request.max_tokens': 100,
        'server.address': '127.0.0.1',
        'server.port': h.server.port,
        'tollgate.policy.action': 'allow',
        'gen_ai.response.id': msg.id,
        'gen_ai.response.model': MODEL,
        'gen_ai.response.finish_reasons': ['end_turn'],
        'gen_ai.usage.input_tokens': 7,
        'gen_ai.usage.output_tokens': 9,
        'gen_ai.usage.cache_read.input_tokens': 0,
        'gen_ai.usage.cache_creation.input_tokens': 0,
        'tollgate.usage.estimated': false,
        'tollgate.cost.usd': cost.totalUsd,
        'gen_ai.usage.cost': cost.totalUsd,
        'tollgate.cost.input_usd': cost.inputUsd,
        'tollgate.cost.output_usd': cost.outputUsd,
        'tollgate.cost.cache_read_usd': 0,
        'tollgate.cost.cache_write_usd': 0,
        'tollgate.cost.source': 'table',
      });
      // By hand: claude-sonnet-4-6 is $3 / $15 per million: 7 x 3 + 9 x 15 = 156 micro-USD.
      near(span.attributes['tollgate.cost.usd'], 0.000156);
    });

    void it('stream: true, read to the end: one span, usage from the cumulative message_delta', async () => {
      const client = h.client(pkg);
      const stream = await client.messages.create({ model: MODEL, max_tokens: 100, stream: true, messages: [userMessage('Hello there')] });
      const types: string[] = [];
      let text = '';
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'content_block_delta') text += event.delta.text;
      }
      assert.equal(text, STANDIN_REPLY_TEXT);
      assert.equal(types[0], 'message_start');
      assert.equal(types.at(-1), 'message_stop');
      const span = await onlySpan(h);
      assert.equal(span.attributes['gen_ai.request.stream'], true);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], 3);
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], OUTPUT);
      assert.equal(span.attributes['tollgate.usage.estimated'], false);
      assert.equal(span.attributes['gen_ai.response.finish_reasons']?.toString(), 'end_turn');
      assertCost(span, { inputTokens: 3, outputTokens: OUTPUT, cacheReadTokens: 0, cacheWriteTokens: 0 });
    });

    void it('messages.stream() helper: events, finalMessage() and exactly one span (braintrust-sdk-javascript#1592)', async () => {
      const client = h.client(pkg);
      const helper = client.messages.stream({ model: MODEL, max_tokens: 100, messages: [userMessage('Hello there')] });
      let text = '';
      helper.on('text', (t: string) => {
        text += t;
      });
      const final = await helper.finalMessage();
      assert.equal(text, STANDIN_REPLY_TEXT);
      assert.equal(final.usage.output_tokens, OUTPUT);
      const span = await onlySpan(h);
      assert.equal(span.attributes['gen_ai.request.stream'], true);
      assert.equal(span.attributes['gen_ai.response.id'], final.id);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], 3);
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], OUTPUT);
      assert.equal(h.server.requests.length, 1);
      assert.equal(h.server.requests[0]?.headers['x-stainless-helper-method'], 'stream');
    });

    void it('.withResponse() and .asResponse() still work, and the span is exact', async () => {
      const client = h.client(pkg);
      const { data, response } = await client.messages
        .create({ model: MODEL, max_tokens: 100, messages: [userMessage('Hello there')] })
        .withResponse();
      assert.equal(response.status, 200);
      assert.equal(data.usage.input_tokens, 3);
      let span = await onlySpan(h);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], 3);

      h.reset();
      const raw: Response = await client.messages.create({ model: MODEL, max_tokens: 100, messages: [userMessage('Hello there, friend')] }).asResponse();
      const json = (await raw.json()) as { usage: { input_tokens: number } };
      assert.equal(json.usage.input_tokens, 5);
      span = await onlySpan(h);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], 5);
      assert.equal(span.attributes['tollgate.usage.estimated'], false);
    });

    void it('tee(): both branches see every event; one span', async () => {
      const client = h.client(pkg);
      const stream = await client.messages.create({ model: MODEL, max_tokens: 100, stream: true, messages: [userMessage('Hello there')] });
      const [left, right] = stream.tee();
      const seen: string[][] = [[], []];
      for await (const e of left) seen[0]?.push(e.type);
      for await (const e of right) seen[1]?.push(e.type);
      assert.deepEqual(seen[0], seen[1]);
      assert.equal(seen[0]?.at(-1), 'message_stop');
      const span = await onlySpan(h);
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], OUTPUT);
    });

    void it('for await … break: the span ends, input exact from message_start, output counted locally', async () => {
      const client = h.client(pkg);
      const stream = await client.messages.create({ model: MODEL, max_tokens: 100, stream: true, messages: [userMessage('Hello there')] });
      let first = '';
      for await (const event of stream) {
        if (event.type === 'content_block_delta') {
          first = event.delta.text;
          break;
        }
      }
      assert.equal(first, 'Hello from ');
      const span = await onlySpan(h);
      const output = countTokens('Hello from ', MODEL);
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], 3);
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], output);
      assert.equal(span.status.code, SpanStatusCode.UNSET);
      assertCost(span, { inputTokens: 3, outputTokens: output });
    });

    void it('prompt caching: cache_creation then cache_read, 5-minute and 1-hour writes priced apart', async () => {
      const client = h.client(pkg);
      const system5m = `${pkg} five-minute prefix `.padEnd(400, 'x'); // 100 tokens
      const system1h = `${pkg} one-hour prefix `.padEnd(800, 'y'); // 200 tokens
      const ask = (system: string, ttl?: '1h') =>
        client.messages.create({
          model: MODEL,
          max_tokens: 100,
          system: [{ type: 'text', text: system, cache_control: ttl === undefined ? { type: 'ephemeral' } : { type: 'ephemeral', ttl } }],
          messages: [userMessage('Hi')],
        });
      const first = await ask(system5m);
      assert.deepEqual(
        [first.usage.input_tokens, first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens],
        [1, 100, 0],
      );
      const second = await ask(system5m);
      assert.deepEqual([second.usage.input_tokens, second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens], [1, 0, 100]);
      const third = await ask(system1h, '1h');
      assert.equal(third.usage.cache_creation.ephemeral_1h_input_tokens, 200);
      const [s1, s2, s3] = await waitForSpans(h, 3);
      assert.ok(s1 !== undefined && s2 !== undefined && s3 !== undefined);
      // GenAI input INCLUDES the cache: 1 + 100 (written) and 1 + 100 (read).
      assert.equal(s1.attributes['gen_ai.usage.input_tokens'], 101);
      assert.equal(s1.attributes['gen_ai.usage.cache_creation.input_tokens'], 100);
      assert.equal(s1.attributes['gen_ai.usage.cache_read.input_tokens'], 0);
      assert.equal(s2.attributes['gen_ai.usage.input_tokens'], 101);
      assert.equal(s2.attributes['gen_ai.usage.cache_read.input_tokens'], 100);
      assert.equal(s2.attributes['gen_ai.usage.cache_creation.input_tokens'], 0);
      assert.equal(s3.attributes['gen_ai.usage.input_tokens'], 201);
      assertCost(s1, { inputTokens: 101, outputTokens: OUTPUT, cacheReadTokens: 0, cacheWriteTokens: 100, cacheWrite1hTokens: 0 });
      assertCost(s3, { inputTokens: 201, outputTokens: OUTPUT, cacheReadTokens: 0, cacheWriteTokens: 200, cacheWrite1hTokens: 200 });
      // By hand ($3 input, $3.75 5-minute write, $6 1-hour write, $0.30 read, $15 output per million):
      near(s1.attributes['tollgate.cost.usd'], (1 * 3 + 100 * 3.75 + 9 * 15) / 1e6); // 513 micro-USD
      near(s2.attributes['tollgate.cost.usd'], (1 * 3 + 100 * 0.3 + 9 * 15) / 1e6); // 168 micro-USD
      near(s3.attributes['tollgate.cost.usd'], (1 * 3 + 200 * 6 + 9 * 15) / 1e6); // 1338 micro-USD
    });

    void it('beta.messages.create is traced too', async () => {
      const client = h.client(pkg);
      await client.beta.messages.create({ model: MODEL, max_tokens: 100, messages: [userMessage('Hello there')] });
      const span = await onlySpan(h);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], 3);
      assert.equal(h.server.requests[0]?.path, '/v1/messages');
    });

    void it('messages.countTokens is left untraced', async () => {
      const client = h.client(pkg);
      const counted = await client.messages.countTokens({ model: MODEL, messages: [userMessage('Hello there')] });
      assert.equal(counted.input_tokens, 3);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(h.spans().length, 0);
    });

    void it('agent and task from the context land on the span', async () => {
      const client = h.client(pkg);
      await withAgent('researcher', () =>
        withTask({ id: 'task-42', type: 'summarise' }, () => client.messages.create({ model: MODEL, max_tokens: 10, messages: [userMessage('Hello there')] })),
      );
      const span = await onlySpan(h);
      assert.equal(span.attributes['gen_ai.agent.name'], 'researcher');
      assert.equal(span.attributes['tollgate.task.id'], 'task-42');
      assert.equal(span.attributes['tollgate.task.type'], 'summarise');
    });

    void it("with a tracer provider registered, the SDK's own call span is switched off: one priced GenAI span per call", async () => {
      const client = h.client(pkg);
      await client.messages.create({ model: MODEL, max_tokens: 100, messages: [userMessage('Hello there')] });
      const stream = await client.messages.create({ model: MODEL, max_tokens: 100, stream: true, messages: [userMessage('Hello there')] });
      for await (const _ of stream) {
        // drain
      }
      await client.messages.stream({ model: MODEL, max_tokens: 100, messages: [userMessage('Hello there')] }).finalMessage();
      await client.messages.countTokens({ model: MODEL, messages: [userMessage('Hello there')] });
      await waitForSpans(h, 3);
      await h.provider.forceFlush();
      const all = h.allSpans();
      const inference = all.filter((s) => s.attributes['gen_ai.operation.name'] === 'chat');
      assert.equal(inference.length, 3);
      assert.ok(inference.every((s) => s.instrumentationScope.name === 'tollgate-instrumentation-anthropic'));
      assert.equal(all.filter((s) => s.attributes['gen_ai.usage.input_tokens'] !== undefined).length, 3);
      assert.deepEqual(
        all.filter((s) => s.instrumentationScope.name !== 'tollgate-instrumentation-anthropic').map((s) => s.name),
        ['anthropic.messages.count_tokens'],
      );
    });
  });
}

void describe('control: the SDK emits its own span when tollgate is off', () => {
  void it('a call made with the instrumentation disabled yields the SDK span (so the test above can fail)', async () => {
    h.instrumentation.disable();
    try {
      const client = h.client('@anthropic-ai/sdk');
      await client.messages.create({ model: MODEL, max_tokens: 100, messages: [userMessage('Hello there')] });
      await h.provider.forceFlush();
      const names = h.allSpans().map((s) => `${s.instrumentationScope.name} ${s.name}`);
      assert.deepEqual(names, ['com.anthropic.sdk.typescript anthropic.messages.create']);
      assert.equal(h.allSpans()[0]?.attributes['gen_ai.usage.input_tokens'], 3);
    } finally {
      h.instrumentation.enable();
    }
  });
});
