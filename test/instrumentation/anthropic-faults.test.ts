/**
 * Bad input from the provider, through the real SDK clients: HTTP 500 / 429 /
 * 529, malformed SSE, an SSE error event, a stream cut short (cleanly and by a
 * dropped connection), responses without usage, the older stream shape, and a
 * retried call. The user always gets the SDK's own error; the span says what
 * happened, and carries a cost only when tokens were spent.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { computeCost } from '../../src/pricing/index.ts';
import type { Usage } from '../../src/pricing/types.ts';
import { STANDIN_REPLY_TEXT, standinTokens } from '../../src/standin/anthropic.ts';
import { countTokens } from '../../src/tokens/index.ts';
import { SDKS, onlySpan, startHarness, userMessage } from './anthropic-harness.ts';
import type { AnthropicClient, Harness } from './anthropic-harness.ts';

const MODEL = 'claude-haiku-4-5';
const OUTPUT = standinTokens(STANDIN_REPLY_TEXT);

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});
beforeEach(() => h.reset());

const body = (extra: Record<string, unknown> = {}) => ({ model: MODEL, max_tokens: 50, messages: [userMessage('Hello there')], ...extra });
/** The SDK logs the unparsable line itself; keep the test output clean. */
const QUIET = { logLevel: 'off' };
const fault = (name: string) => ({ headers: { 'x-standin-fault': name } });

function assertNoCost(span: ReadableSpan): void {
  for (const key of Object.keys(span.attributes)) {
    assert.ok(!key.startsWith('tollgate.cost.') && !key.startsWith('gen_ai.usage.'), `unexpected ${key} on a call that spent nothing`);
  }
}

function assertCost(span: ReadableSpan, usage: Usage): void {
  const cost = computeCost(usage, h.prices.lookup(MODEL, 'anthropic').price);
  assert.equal(span.attributes['gen_ai.usage.input_tokens'], usage.inputTokens);
  assert.equal(span.attributes['gen_ai.usage.output_tokens'], usage.outputTokens);
  assert.equal(span.attributes['tollgate.cost.usd'], cost.totalUsd);
  assert.ok(cost.totalUsd > 0);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail('expected a rejection');
}

async function drain(stream: AsyncIterable<unknown>): Promise<unknown[]> {
  const events: unknown[] = [];
  for await (const e of stream) events.push(e);
  return events;
}

for (const { pkg } of SDKS) {
  void describe(`${pkg}: HTTP errors`, () => {
    const cases: { fault: string; status: number; type: string }[] = [
      { fault: '500', status: 500, type: 'InternalServerError' },
      { fault: '429', status: 429, type: 'RateLimitError' },
      // 1.x has a class for 529; 0.x maps it to InternalServerError like any 5xx.
      { fault: '529', status: 529, type: pkg === 'anthropic-v0' ? 'InternalServerError' : 'OverloadedError' },
    ];
    for (const c of cases) {
      void it(`${c.status}: the SDK error reaches the caller; span ERROR, error.type ${c.type}, no usage, no cost`, async () => {
        const client: AnthropicClient = h.client(pkg);
        const error = await rejection(client.messages.create(body(), fault(c.fault)));
        assert.equal((error as { status?: number }).status, c.status);
        assert.equal(error.constructor.name, c.type);
        const span = await onlySpan(h);
        assert.equal(span.status.code, SpanStatusCode.ERROR);
        assert.equal(span.attributes['error.type'], c.type);
        assertNoCost(span);
      });
    }

    void it('a status fault injected on the server fails a stream the same way', async () => {
      h.server.injectFault({ kind: 'status', status: 500 });
      const client: AnthropicClient = h.client(pkg);
      const error = await rejection(client.messages.create(body({ stream: true })));
      assert.equal(error.constructor.name, 'InternalServerError');
      const span = await onlySpan(h);
      assert.equal(span.attributes['error.type'], 'InternalServerError');
      assertNoCost(span);
    });

    void it('a 429 retried by the SDK: one span, two attempts, priced once', async () => {
      h.server.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 0 }, { times: 1 });
      const client: AnthropicClient = h.client(pkg, { maxRetries: 1 });
      const msg = await client.messages.create(body());
      assert.equal(msg.usage.output_tokens, OUTPUT);
      assert.equal(h.server.requests.length, 2);
      const span = await onlySpan(h);
      assert.equal(span.status.code, SpanStatusCode.UNSET);
      assert.equal(span.attributes['tollgate.attempts'], 2);
      assertCost(span, { inputTokens: 3, outputTokens: OUTPUT, cacheReadTokens: 0, cacheWriteTokens: 0 });
    });
  });

  void describe(`${pkg}: broken streams`, () => {
    void it('malformed SSE after message_start: the SDK throws; span ERROR, input exact, output estimated', async () => {
      const client: AnthropicClient = h.client(pkg, QUIET);
      const stream = await client.messages.create(body({ stream: true }), fault('malformed-sse'));
      const error = await rejection(drain(stream));
      assert.equal(error.constructor.name, 'SyntaxError');
      const span = await onlySpan(h);
      assert.equal(span.status.code, SpanStatusCode.ERROR);
      assert.equal(span.attributes['error.type'], 'SyntaxError');
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assertCost(span, { inputTokens: 3, outputTokens: countTokens('Hello from ', MODEL) });
    });

    void it('malformed SSE injected on the server (right after message_start)', async () => {
      h.server.injectFault({ kind: 'malformed-sse', afterEvents: 1 });
      const client: AnthropicClient = h.client(pkg, QUIET);
      const stream = await client.messages.create(body({ stream: true }));
      await rejection(drain(stream));
      const span = await onlySpan(h);
      assert.equal(span.attributes['error.type'], 'SyntaxError');
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assertCost(span, { inputTokens: 3, outputTokens: 0 });
    });

    void it('an SSE error event mid-stream: the SDK error reaches the caller; span ERROR', async () => {
      const client: AnthropicClient = h.client(pkg);
      const stream = await client.messages.create(body({ stream: true }), fault('stream-error'));
      const error = await rejection(drain(stream));
      const span = await onlySpan(h);
      assert.equal(span.status.code, SpanStatusCode.ERROR);
      assert.equal(span.attributes['error.type'], error.constructor.name);
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
    });

    void it('a stream that ends before message_delta: no error, usage estimated', async () => {
      const client: AnthropicClient = h.client(pkg);
      const stream = await client.messages.create(body({ stream: true }), fault('cut'));
      const events = (await drain(stream)) as { type: string }[];
      assert.equal(events.at(-1)?.type, 'content_block_delta');
      const span = await onlySpan(h);
      assert.equal(span.status.code, SpanStatusCode.UNSET);
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assertCost(span, { inputTokens: 3, outputTokens: countTokens('Hello from ', MODEL) });
    });

    void it('a dropped connection mid-stream: the SDK error reaches the caller; span ERROR, estimated', async () => {
      const client: AnthropicClient = h.client(pkg);
      const stream = await client.messages.create(body({ stream: true }), fault('reset'));
      const error = await rejection(drain(stream));
      const span = await onlySpan(h);
      assert.equal(span.status.code, SpanStatusCode.ERROR);
      assert.equal(span.attributes['error.type'], error.constructor.name);
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assertCost(span, { inputTokens: 3, outputTokens: countTokens('Hello from ', MODEL) });
    });

    void it('a malformed JSON body: the parse error reaches the caller; span ERROR, no cost', async () => {
      const client: AnthropicClient = h.client(pkg);
      const error = await rejection(client.messages.create(body(), fault('malformed-sse')));
      const span = await onlySpan(h);
      assert.equal(span.status.code, SpanStatusCode.ERROR);
      assert.equal(span.attributes['error.type'], error.constructor.name);
      assertNoCost(span);
    });
  });

  void describe(`${pkg}: usage missing or in the old shape`, () => {
    void it('a Message without usage: counted locally from the request and the reply, flagged estimated', async () => {
      const client: AnthropicClient = h.client(pkg);
      const msg = await client.messages.create(body(), fault('no-usage'));
      assert.equal(msg.usage, undefined);
      const span = await onlySpan(h);
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assertCost(span, { inputTokens: countTokens('Hello there', MODEL), outputTokens: countTokens(STANDIN_REPLY_TEXT, MODEL) });
    });

    void it('a stream without usage: counted locally, flagged estimated', async () => {
      h.server.injectFault({ kind: 'no-usage' });
      const client: AnthropicClient = h.client(pkg);
      await drain(await client.messages.create(body({ stream: true })));
      const span = await onlySpan(h);
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assertCost(span, { inputTokens: countTokens('Hello there', MODEL), outputTokens: countTokens(STANDIN_REPLY_TEXT, MODEL) });
    });

    void it('the older stream shape (message_delta has only output_tokens): exact, input from message_start', async () => {
      const client: AnthropicClient = h.client(pkg);
      await drain(await client.messages.create(body({ stream: true }), { headers: { 'x-standin-shape': 'old' } }));
      const span = await onlySpan(h);
      assert.equal(span.attributes['tollgate.usage.estimated'], false);
      assertCost(span, { inputTokens: 3, outputTokens: OUTPUT, cacheReadTokens: 0, cacheWriteTokens: 0 });
    });
  });
}
