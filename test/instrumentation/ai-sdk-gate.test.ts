/**
 * The budget gate through the real AI SDK (`ai` 7, and 5/6 for the retry behaviour) and real
 * providers against the stand-in: a refused call sends nothing and rejects at once with the
 * SDK's DEFAULT retry settings (maxRetries 2); a tool loop refused at its second step sends one
 * request; the policy's clamp and model switch reach the provider's request body.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { resolveConfig } from '../../src/config/index.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import type { CallGate, GateDecision } from '../../src/gate.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { BudgetPolicy } from '../../src/policy/index.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { createInputEstimator } from '../../src/tokens/index.ts';
import { startAiHarness, waitForAiSpans } from './ai-sdk-harness.ts';
import type { AiHarness, Loose } from './ai-sdk-harness.ts';
import { textAnswer, toolCallAnswer } from './ai-sdk-canned.ts';

function budgetError(): BudgetExceededError {
  return new BudgetExceededError({
    scope: 'agent.daily',
    agent: 'researcher',
    taskId: null,
    limitUsd: 1,
    spentUsd: 0.99,
    reservedUsd: 0,
    estimatedUsd: 0.05,
    resetAt: '2026-11-26T00:00:00.000Z',
  });
}

/** A gate answering with `decisions` in turn (the last one repeats); counts admits. */
function scriptedGate(...decisions: GateDecision[]): CallGate & { admits: number } {
  const gate = {
    admits: 0,
    admit() {
      const d = decisions[Math.min(gate.admits, decisions.length - 1)] as GateDecision;
      gate.admits++;
      return Promise.resolve(d);
    },
    complete() {},
    abort() {},
  };
  return gate;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return assert.fail('expected a rejection');
}

const weatherTool = (sdk: Loose) =>
  sdk.tool({
    inputSchema: sdk.jsonSchema({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
    execute: () => Promise.resolve({ sky: 'sunny' }),
  });

let h: AiHarness;
let ai: Loose;
let openai: Loose;
let anthropic: Loose;
before(async () => {
  h = await startAiHarness();
  ai = await import('ai');
  const { createOpenAI } = (await import('@ai-sdk/openai')) as Loose;
  const { createAnthropic } = (await import('@ai-sdk/anthropic')) as Loose;
  openai = createOpenAI({ baseURL: `${h.server.url}/v1`, apiKey: 'sk-test' });
  anthropic = createAnthropic({ baseURL: `${h.server.url}/v1`, apiKey: 'sk-ant-test' });
});
after(async () => {
  await h.close();
});
beforeEach(() => h.reset());

for (const pkg of ['ai', 'ai-v6', 'ai-v5'] as const) {
  void test(`${pkg}: a refused generateText rejects with BudgetExceededError at once, default retries, nothing sent`, async () => {
    const sdk = (await import(pkg)) as Loose;
    const provider = pkg === 'ai' ? openai : ((await import(pkg === 'ai-v6' ? 'ai-sdk-openai-v3' : 'ai-sdk-openai-v2')) as Loose).createOpenAI({ baseURL: `${h.server.url}/v1`, apiKey: 'sk-test' });
    const error = budgetError();
    const gate = scriptedGate({ action: 'block', error, reason: 'daily cap reached' });
    h.gate.current = gate;
    const started = performance.now();
    // No maxRetries: the SDK's default (2) is in force.
    const caught = await rejection(sdk.generateText({ model: provider.chat('gpt-4o-mini'), prompt: 'Hello there' }));
    const elapsedMs = performance.now() - started;
    assert.equal(caught, error, 'the gate\'s own error, not a RetryError around it');
    assert.ok(elapsedMs < 500, `rejected after ${elapsedMs.toFixed(0)} ms (a retried refusal waits 2 s + 4 s of backoff)`);
    assert.equal(gate.admits, 1, 'the SDK did not retry the refusal');
    assert.equal(h.server.requests.length, 0);
    const [span] = await waitForAiSpans(h, 1);
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
    assert.equal(span?.attributes['error.type'], 'tollgate.budget_exceeded');
    assert.equal(span?.attributes['tollgate.policy.action'], 'block');
    assert.equal(span?.attributes['tollgate.cost.usd'], undefined, 'nothing was spent');
  });
}

void describe('ai 7', () => {
  void test('a refused streamText sends nothing; the stream reports the gate\'s error', async () => {
    const error = budgetError();
    h.gate.current = scriptedGate({ action: 'block', error });
    const errors: unknown[] = [];
    const result = ai.streamText({ model: anthropic('claude-sonnet-4-6'), prompt: 'Hello there', onError: ({ error: e }: { error: unknown }) => errors.push(e) });
    await result.consumeStream();
    assert.deepEqual(errors, [error]);
    assert.equal(h.server.requests.length, 0);
    const [span] = await waitForAiSpans(h, 1);
    assert.equal(span?.attributes['error.type'], 'tollgate.budget_exceeded');
  });

  void test('a tool loop refused at its second step: one request sent, the loop rejects', async () => {
    const error = budgetError();
    const gate = scriptedGate({ action: 'allow' }, { action: 'block', error });
    h.gate.current = gate;
    h.server.setNextResponse(toolCallAnswer('cap1', 'weather', { city: 'Paris' }, { input: 40, output: 12 }));
    h.server.setNextResponse(textAnswer('cap2', 'never sent', { input: 1, output: 1 }));
    const caught = await rejection(
      ai.generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Weather?', tools: { weather: weatherTool(ai) }, stopWhen: ai.stepCountIs(5) }),
    );
    assert.equal(caught, error);
    assert.equal(h.server.requests.length, 1, 'the stand-in received nothing after the refusal');
    assert.equal(gate.admits, 2);
    const spans = await waitForAiSpans(h, 2);
    assert.deepEqual(
      spans.map((s) => [s.attributes['tollgate.policy.action'], s.attributes['gen_ai.usage.input_tokens'], s.attributes['error.type']]),
      [
        ['allow', 40, undefined],
        ['block', undefined, 'tollgate.budget_exceeded'],
      ],
    );
  });

  void test('a clamp reaches the provider as its max_tokens; the caller\'s options are untouched', async () => {
    h.gate.current = scriptedGate({ action: 'rewrite', maxTokens: 5, reason: 'clamped' });
    const options = { model: openai.chat('gpt-4o-mini'), prompt: 'Hello there', maxOutputTokens: 400 };
    const result = await ai.generateText(options);
    assert.equal(options.maxOutputTokens, 400);
    assert.equal((h.server.requests[0]?.body as Record<string, unknown>)['max_tokens'], 5);
    assert.equal(result.usage.outputTokens, 5, 'the stand-in honoured the clamp');
    const [span] = await waitForAiSpans(h, 1);
    assert.equal(span?.attributes['gen_ai.request.max_tokens'], 5);
    assert.equal(span?.attributes['tollgate.policy.original_max_tokens'], 400);
    assert.equal(span?.attributes['gen_ai.usage.output_tokens'], 5);
  });

  void test('a model switch reaches the provider (same provider, new model id), plain and streamed', async () => {
    h.gate.current = scriptedGate({ action: 'rewrite', model: 'claude-haiku-4-5' });
    const plain = await ai.generateText({ model: anthropic('claude-sonnet-4-6'), prompt: 'Hello there' });
    assert.equal(plain.response.modelId, 'claude-haiku-4-5');
    const streamed = ai.streamText({ model: anthropic('claude-sonnet-4-6'), prompt: 'Hello there' });
    await streamed.consumeStream();
    assert.deepEqual(
      h.server.requests.map((r) => (r.body as Record<string, unknown>)['model']),
      ['claude-haiku-4-5', 'claude-haiku-4-5'],
    );
    const spans = await waitForAiSpans(h, 2);
    for (const span of spans) {
      assert.equal(span.attributes['gen_ai.request.model'], 'claude-haiku-4-5');
      assert.equal(span.attributes['tollgate.policy.original_model'], 'claude-sonnet-4-6');
      // claude-haiku-4-5: $1 / $5 per 1M; 3 in, 9 out.
      assert.ok(Math.abs((span.attributes['tollgate.cost.usd'] as number) - (3 * 1 + 9 * 5) / 1e6) < 1e-15);
    }
  });

  void test('the real BudgetPolicy: a daily cap refuses before sending, its ladder downgrades', async () => {
    const prices = createPriceTable();
    const policyOf = (file: Record<string, unknown>, limits: Record<string, unknown>): BudgetPolicy =>
      new BudgetPolicy({ config: resolveConfig({ env: {}, overrides: { agent: 'svc', configFile: { version: 1, ...file }, limits } }), ledger: new MemoryLedger(), prices, estimator: createInputEstimator() });
    h.gate.current = policyOf({}, { dailyUsd: 0.00001 });
    const caught = await rejection(ai.generateText({ model: openai.chat('gpt-4o'), prompt: 'Say hello.', maxOutputTokens: 1000 }));
    assert.ok(caught instanceof BudgetExceededError && caught.scope === 'agent.daily', String(caught));
    assert.equal(h.server.requests.length, 0);

    h.gate.current = policyOf({ ladders: { openai: ['gpt-4o', 'gpt-4o-mini'] }, maxTokensFloor: 512 }, { dailyUsd: 0.001, onExceed: 'downgrade' });
    await ai.generateText({ model: openai.chat('gpt-4o'), prompt: 'Say hello.', maxOutputTokens: 1000 });
    const sent = h.server.requests.at(-1)?.body as { model: string; max_tokens: number };
    assert.equal(sent.model, 'gpt-4o-mini');
    assert.equal(sent.max_tokens, 1000);
  });
});
