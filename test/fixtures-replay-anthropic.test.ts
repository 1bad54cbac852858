/**
 * Real recorded Anthropic streams (test/fixtures/recorded, see SOURCES.md there)
 * replayed by the stand-in server to the real SDK clients (1.14 and 0.137),
 * through `messages.create({ stream: true })` and the `messages.stream()`
 * helper: the spans carry the exact token counts and costs.
 *
 * - 04: claude-sonnet-4-6 with extended thinking; new shape (message_delta
 *   repeats input/cache counts) and `output_tokens_details.thinking_tokens`.
 * - 05: server-side code execution + prompt caching; the final message_delta
 *   usage differs from message_start's and must win, field by field.
 * - 07: claude-3-opus, older shape (message_delta has only output_tokens).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { computeCost } from '../src/pricing/index.ts';
import type { Usage } from '../src/pricing/types.ts';
import { replaySse } from '../src/standin/anthropic.ts';
import { SDKS, onlySpan, startHarness } from './instrumentation/anthropic-harness.ts';
import type { AnthropicClient, Harness } from './instrumentation/anthropic-harness.ts';

const FIXTURES = new URL('./fixtures/recorded/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');

interface Case {
  readonly name: string;
  readonly sse: string;
  readonly request: Record<string, unknown>;
  readonly id: string;
  readonly model: string;
  readonly usage: Usage;
  /** The cost worked out by hand from the model's published rates, in USD. */
  readonly handUsd: number;
  readonly reasoning: number | undefined;
}

function cases(): Case[] {
  const cassette = JSON.parse(read('04-anthropic-messages-stream-thinking.cassette.json')) as { body: string };
  const har = JSON.parse(read('07-anthropic-messages-stream.polly.har')) as {
    log: { entries: { request: { postData: { text: string } }; response: { content: { text: string } } }[] };
  };
  const entry = har.log.entries[0];
  if (entry === undefined) throw new Error('fixture 07 has no entry');
  const ask = (model: string) => ({ model, max_tokens: 1024, stream: true, messages: [{ role: 'user', content: 'replay' }] });
  return [
    {
      name: '04 thinking, new shape',
      sse: cassette.body,
      request: ask('claude-sonnet-4-6'),
      id: 'msg_01Rg6AMdcuaQkn3YPvgQvffV',
      model: 'claude-sonnet-4-6',
      // message_delta: input 52, cache 0 / 0, output 204 of which 54 thinking.
      usage: { inputTokens: 52, outputTokens: 204, cacheReadTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0, reasoningTokens: 54 },
      // $3 / $15 per million; thinking is billed as output: 52 x 3 + 204 x 15 = 3216 micro-USD.
      handUsd: 0.003216,
      reasoning: 54,
    },
    {
      name: '05 prompt cache, cumulative delta differs from start',
      sse: read('05-anthropic-stream-prompt-cache-cumulative-delta.chunks.jsonl'),
      request: ask('claude-sonnet-5'),
      id: 'msg_011CdYfpjpVtBoXyXCQD1tQP',
      model: 'claude-sonnet-5',
      // The LAST usage: input 6 + cache read 6289 + cache write 3337 = 9632; output 198 (never 69 + 198).
      usage: { inputTokens: 9632, outputTokens: 198, cacheReadTokens: 6289, cacheWriteTokens: 3337, cacheWrite1hTokens: 0, reasoningTokens: 0 },
      // $2 input, $0.20 cache read, $2.50 5-minute write, $10 output per million:
      // 6 x 2 + 6289 x 0.2 + 3337 x 2.5 + 198 x 10 = 11592.3 micro-USD.
      handUsd: 0.0115923,
      reasoning: 0,
    },
    {
      name: '07 claude-3-opus, old shape',
      sse: entry.response.content.text,
      request: JSON.parse(entry.request.postData.text) as Record<string, unknown>,
      id: 'msg_0178nRhNdfNKxFcZRFqApVgL',
      model: 'claude-3-opus-20240229',
      usage: { inputTokens: 17, outputTokens: 158, cacheReadTokens: 0, cacheWriteTokens: 0 },
      // $15 / $75 per million: 17 x 15 + 158 x 75 = 12105 micro-USD.
      handUsd: 0.012105,
      reasoning: undefined,
    },
  ];
}

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});
beforeEach(() => h.reset());

for (const { pkg } of SDKS) {
  for (const c of cases()) {
    void describe(`${pkg}: fixture ${c.name}`, () => {
      for (const via of ['create', 'stream() helper'] as const) {
        void it(`via ${via}: exact tokens and cost on one span`, async () => {
          h.server.setNextResponse(replaySse(c.sse));
          const client: AnthropicClient = h.client(pkg);
          if (via === 'create') {
            const stream = await client.messages.create(c.request);
            let last = '';
            for await (const event of stream) last = event.type;
            assert.equal(last, 'message_stop');
          } else {
            const { stream: _stream, ...params } = c.request;
            const final = await client.messages.stream(params).finalMessage();
            assert.equal(final.id, c.id);
          }
          const span = await onlySpan(h);
          assert.equal(span.status.code, SpanStatusCode.UNSET);
          assert.equal(span.attributes['gen_ai.response.id'], c.id);
          assert.equal(span.attributes['gen_ai.response.model'], c.model);
          assert.deepEqual(span.attributes['gen_ai.response.finish_reasons'], ['end_turn']);
          assert.equal(span.attributes['gen_ai.usage.input_tokens'], c.usage.inputTokens);
          assert.equal(span.attributes['gen_ai.usage.output_tokens'], c.usage.outputTokens);
          assert.equal(span.attributes['gen_ai.usage.cache_read.input_tokens'], c.usage.cacheReadTokens);
          assert.equal(span.attributes['gen_ai.usage.cache_creation.input_tokens'], c.usage.cacheWriteTokens);
          assert.equal(span.attributes['gen_ai.usage.reasoning.output_tokens'], c.reasoning);
          assert.equal(span.attributes['tollgate.usage.estimated'], false);
          const lookup = h.prices.lookup(c.model, 'anthropic');
          assert.equal(lookup.source, 'table');
          const cost = computeCost(c.usage, lookup.price);
          assert.equal(span.attributes['tollgate.cost.usd'], cost.totalUsd);
          assert.equal(span.attributes['tollgate.cost.cache_read_usd'], cost.cacheReadUsd);
          assert.equal(span.attributes['tollgate.cost.cache_write_usd'], cost.cacheWriteUsd);
          assert.ok(Math.abs(cost.totalUsd - c.handUsd) < 1e-12, `${cost.totalUsd} != ${c.handUsd}`);
        });
      }
    });
  }
}
