/**
 * The real openai client against the stand-in, under a fake clock (node:test's Date mock,
 * which the OTel SDK reads for a span's start): each call is priced at the rate in force at
 * its start, on the service tier that served it, or at the cost the gateway reported.
 */
import { after, before, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { STANDIN_GATEWAY_RATES, STANDIN_REASONING_TOKENS } from '../../src/standin/openai.ts';
import { onlySpan, startHarness } from '../standin/harness.ts';
import type { Harness } from '../standin/harness.ts';

const PROMPT = 'Hello there'; // stand-in: 6 input tokens
const INPUT = 6;
const ANSWER_TOKENS = 13;

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});
beforeEach(() => h.reset());

function near(actual: unknown, expected: number, what: string): void {
  assert.equal(typeof actual, 'number', what);
  assert.ok(Math.abs((actual as number) - expected) < 1e-15, `${what}: ${String(actual)} != ${expected}`);
}

/** Runs one chat call with the clock at `iso` and returns its span. */
async function callAt(iso: string, body: Record<string, unknown>, stream = false): Promise<ReadableSpan> {
  mock.timers.enable({ apis: ['Date'], now: Date.parse(iso) });
  try {
    const client = h.client('openai');
    const request = { messages: [{ role: 'user', content: PROMPT }], ...body, ...(stream ? { stream: true } : {}) };
    if (stream) {
      const s = await client.chat.completions.create(request);
      for await (const chunk of s) void chunk;
    } else {
      await client.chat.completions.create(request);
    }
  } finally {
    mock.timers.reset();
  }
  return onlySpan(h);
}

function startMs(span: ReadableSpan): number {
  return span.startTime[0] * 1000 + span.startTime[1] / 1e6;
}

void describe('dated prices and time-of-day windows, priced at the span start (openai 7, stand-in)', () => {
  const cases: [string, string, number, number][] = [
    ['deepseek-chat', '2026-12-03T00:29:59Z', 0.135, 0.55],
    ['deepseek-chat', '2026-12-03T00:30:00Z', 0.27, 1.1],
    ['deepseek-chat', '2026-12-03T16:29:59Z', 0.27, 1.1],
    ['deepseek-chat', '2026-12-03T16:30:00Z', 0.135, 0.55],
    ['gemini-3.6-flash', '2026-12-31T23:59:59Z', 0.75, 3.75],
    ['gemini-3.6-flash', '2027-01-01T00:00:00Z', 1.5, 7.5],
  ];
  for (const [model, start, input, output] of cases) {
    void test(`${model} starting at ${start}: $${input} / $${output} per million`, async () => {
      const span = await callAt(start, { model });
      assert.equal(startMs(span), Date.parse(start));
      const a = span.attributes;
      assert.equal(a['gen_ai.usage.input_tokens'], INPUT);
      assert.equal(a['gen_ai.usage.output_tokens'], ANSWER_TOKENS);
      near(a['tollgate.cost.input_usd'], (INPUT * input) / 1e6, 'input_usd');
      near(a['tollgate.cost.output_usd'], (ANSWER_TOKENS * output) / 1e6, 'output_usd');
      near(a['tollgate.cost.usd'], (INPUT * input) / 1e6 + (ANSWER_TOKENS * output) / 1e6, 'cost');
      assert.equal(a['tollgate.cost.source'], 'table');
    });
  }
});

void describe('service tiers (openai 7, stand-in)', () => {
  const output = ANSWER_TOKENS + STANDIN_REASONING_TOKENS; // gpt-5 reasons: 8 tokens, billed at the output rate
  const cases: [string, boolean, string, number, number][] = [
    ['flex', false, 'flex', 0.625, 5],
    ['priority', false, 'priority', 2.5, 20],
    ['priority', true, 'priority', 2.5, 20],
    ['auto', false, 'default', 1.25, 10],
  ];
  for (const [asked, stream, served, input, out] of cases) {
    void test(`gpt-5 with service_tier ${asked}${stream ? ', streamed' : ''}: served ${served}, priced at $${input} / $${out}`, async () => {
      const span = await callAt('2026-12-03T12:00:00Z', { model: 'gpt-5', service_tier: asked }, stream);
      const a = span.attributes;
      assert.equal(a['openai.request.service_tier'], asked);
      assert.equal(a['openai.response.service_tier'], served);
      assert.equal(a['gen_ai.usage.output_tokens'], output);
      near(a['tollgate.cost.usd'], (INPUT * input) / 1e6 + (output * out) / 1e6, 'cost');
      assert.equal(a['tollgate.cost.source'], 'table');
    });
  }
});

void describe('cost reported by the provider (OpenRouter usage accounting through the openai client)', () => {
  const model = 'meta-llama/llama-3.3-70b-instruct';
  for (const stream of [false, true]) {
    void test(`usage.cost is the cost, source provider${stream ? ' (streamed)' : ''}; the breakdown is the table's scaled to it`, async () => {
      const span = await callAt('2026-12-03T12:00:00Z', { model, usage: { include: true } }, stream);
      const a = span.attributes;
      const reported = (INPUT * STANDIN_GATEWAY_RATES.input + ANSWER_TOKENS * STANDIN_GATEWAY_RATES.output) / 1e6;
      assert.equal(a['tollgate.cost.usd'], reported);
      assert.equal(a['gen_ai.usage.cost'], reported);
      assert.equal(a['tollgate.cost.source'], 'provider');
      // OpenRouter's table rates for the model: $0.05 / $0.24 per million.
      const tableIn = (INPUT * 0.05) / 1e6;
      const tableOut = (ANSWER_TOKENS * 0.24) / 1e6;
      near(a['tollgate.cost.input_usd'], (tableIn * reported) / (tableIn + tableOut), 'input_usd');
      near(a['tollgate.cost.output_usd'], (tableOut * reported) / (tableIn + tableOut), 'output_usd');
    });
  }
  void test('without usage.cost an OpenRouter id is priced from the table at its own model, not the fallback', async () => {
    const span = await callAt('2026-12-03T12:00:00Z', { model });
    const a = span.attributes;
    assert.equal(a['tollgate.cost.source'], 'table');
    near(a['tollgate.cost.usd'], (INPUT * 0.05) / 1e6 + (ANSWER_TOKENS * 0.24) / 1e6, 'cost');
  });
});
