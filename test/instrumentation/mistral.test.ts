/**
 * `@mistralai/mistralai` (the real npm package, ESM only, loaded through `require(esm)` here; the
 * `--import tollgate/register` path is test/blackbox/mistral.test.ts) against the Mistral stand-in
 * (JSON, and SSE `data:` chunks ending with `[DONE]`): exact tokens and cost on the span for chat,
 * streams, prompt-cache reads, FIM, agents and embeddings; the gate before sending (block, clamp
 * `maxTokens`, switch model), not retried by the SDK's retry policy; and bad input (HTTP errors, a
 * malformed and a cut stream, an answer without usage).
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { resolveConfig } from '../../src/config/index.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import { MistralInstrumentation } from '../../src/instrumentation/mistral/index.ts';
import { mistralUsage } from '../../src/instrumentation/mistral/wire.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { BudgetPolicy } from '../../src/policy/index.ts';
import { computeCost, createPriceTable } from '../../src/pricing/index.ts';
import type { Usage } from '../../src/pricing/types.ts';
import { MISTRAL_CACHE_BLOCK_TOKENS, MISTRAL_STANDIN_AGENT_MODEL, mistralRoutes } from '../../src/standin/mistral.ts';
import { ANSWER_WORDS, promptTokens, startStandinServer } from '../../src/standin/server.ts';
import type { StandinServer } from '../../src/standin/server.ts';
import { createInputEstimator } from '../../src/tokens/index.ts';
import { PolicySwitchGate } from '../support/gates.ts';

const prices = createPriceTable();
const estimator = createInputEstimator();
const gate = new PolicySwitchGate();
const exporter = new InMemorySpanExporter();
let server: StandinServer;
let instrumentation: MistralInstrumentation;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let sdk: any;

before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  trace.setGlobalTracerProvider(provider);
  instrumentation = new MistralInstrumentation({ gate, prices });
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  sdk = createRequire(import.meta.url)('@mistralai/mistralai');
  server = await startStandinServer({ routes: mistralRoutes() });
});
after(async () => {
  instrumentation.disable();
  await server.close();
});
beforeEach(() => {
  exporter.reset();
  server.reset();
  gate.policy = undefined;
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function mistral(options: Record<string, unknown> = {}): any {
  return new sdk.Mistral({ apiKey: 'test-key', serverURL: server.url, ...options });
}

function spans(): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.instrumentationScope.name === 'tollgate-instrumentation-mistral');
}
function only(): ReadableSpan {
  const all = spans();
  assert.equal(all.length, 1, `expected one tollgate span, got ${all.length}`);
  return all[0] as ReadableSpan;
}
async function waitForSpans(n: number): Promise<void> {
  for (let i = 0; i < 200 && spans().length < n; i++) await new Promise((r) => setTimeout(r, 10));
}

/** The cost the table gives for these counts, computed independently of the instrumentation. */
function expectedCost(model: string, usage: Usage): number {
  return computeCost(usage, prices.lookup(model, 'mistral_ai').price).totalUsd;
}

const PROMPT = 'Why is the sky blue?';
const MESSAGES = [{ role: 'user', content: PROMPT }];
const promptCount = promptTokens(PROMPT, 1);
const ANSWER = ANSWER_WORDS.join('');

function usePolicy(file: Record<string, unknown>, limits: Record<string, unknown>): BudgetPolicy {
  const config = resolveConfig({ env: {}, overrides: { agent: 'svc', configFile: { version: 1, ...file }, limits } });
  const policy = new BudgetPolicy({ config, ledger: new MemoryLedger(), prices, estimator });
  gate.policy = policy;
  return policy;
}

void describe('usage mapping', () => {
  void it('SDK (camelCase) and wire (snake_case) names; cache reads inside input, reasoning inside output; all-zero is no usage', () => {
    assert.deepEqual(mistralUsage({ promptTokens: 100, completionTokens: 20, prompt_tokens_details: { cached_tokens: 64 } }), {
      inputTokens: 100,
      outputTokens: 20,
      cacheReadTokens: 64,
    });
    assert.deepEqual(mistralUsage({ prompt_tokens: 10, completion_tokens: 30, completion_tokens_details: { reasoning_tokens: 12 } }), {
      inputTokens: 10,
      outputTokens: 30,
      reasoningTokens: 12,
    });
    assert.equal(mistralUsage({ promptTokens: 0, completionTokens: 0, totalTokens: 0 }), undefined);
    assert.equal(mistralUsage(undefined), undefined);
    assert.equal(mistralUsage({ promptTokens: -1, completionTokens: 'x' }), undefined);
  });
});

void describe('chat.complete', () => {
  void it('one span, mistral_ai, exact tokens and cost, finish reason, response id, server', async () => {
    const res = await mistral().chat.complete({ model: 'mistral-small-latest', messages: MESSAGES });
    assert.equal(res.choices[0].message.content, ANSWER);
    const s = only();
    const a = s.attributes;
    assert.equal(s.name, 'chat mistral-small-latest');
    assert.equal(s.kind, 2); // CLIENT
    assert.equal(a['gen_ai.provider.name'], 'mistral_ai');
    assert.equal(a['gen_ai.operation.name'], 'chat');
    assert.equal(a['gen_ai.request.stream'], false);
    assert.equal(a['gen_ai.usage.input_tokens'], promptCount);
    assert.equal(a['gen_ai.usage.output_tokens'], ANSWER_WORDS.length);
    assert.equal(a['gen_ai.response.model'], 'mistral-small-latest');
    assert.deepEqual(a['gen_ai.response.finish_reasons'], ['stop']);
    assert.match(String(a['gen_ai.response.id']), /^mistral-standin-/);
    assert.equal(a['server.address'], '127.0.0.1');
    assert.equal(a['server.port'], server.port);
    assert.equal(a['tollgate.usage.estimated'], false);
    assert.equal(a['tollgate.cost.source'], 'table');
    const cost = expectedCost('mistral-small-latest', { inputTokens: promptCount, outputTokens: ANSWER_WORDS.length });
    assert.ok(cost > 0);
    assert.equal(a['tollgate.cost.usd'], cost);
  });

  void it('prompt-cache reads (prompt_tokens_details.cached_tokens) are counted inside input and priced at the cache rate', async () => {
    const long = 'Summarise the quarterly report for the board. '.repeat(40);
    const request = { model: 'mistral-large-2512', messages: [{ role: 'user', content: long }], promptCacheKey: 'session-42' };
    const client = mistral();
    await client.chat.complete(request);
    await client.chat.complete(request);
    const [first, second] = spans();
    const input = promptTokens(long, 1);
    const cached = Math.floor(input / MISTRAL_CACHE_BLOCK_TOKENS) * MISTRAL_CACHE_BLOCK_TOKENS;
    assert.ok(cached > 0);
    assert.equal(first?.attributes['gen_ai.usage.cache_read.input_tokens'], undefined);
    const a = second?.attributes ?? {};
    assert.equal(a['gen_ai.usage.input_tokens'], input);
    assert.equal(a['gen_ai.usage.cache_read.input_tokens'], cached);
    const usage = { inputTokens: input, outputTokens: ANSWER_WORDS.length, cacheReadTokens: cached };
    assert.ok(prices.lookup('mistral-large-2512', 'mistral_ai').price.cacheRead !== undefined, 'the table has a cache-read rate for mistral-large-2512');
    assert.equal(a['tollgate.cost.usd'], expectedCost('mistral-large-2512', usage));
    assert.ok(Number(a['tollgate.cost.usd']) < Number(first?.attributes['tollgate.cost.usd']));
  });

  void it('chat.parse (structured output) is one priced span', async () => {
    const { z } = await import('zod');
    // The stand-in answers prose, not JSON: parse rejects after the call was served, and the call is still priced.
    await mistral()
      .chat.parse({ model: 'mistral-small-latest', messages: MESSAGES, responseFormat: z.object({ answer: z.string() }) })
      .catch(() => undefined);
    const a = only().attributes;
    assert.equal(a['gen_ai.usage.input_tokens'], promptCount);
    assert.ok(Number(a['tollgate.cost.usd']) > 0);
  });
});

void describe('chat.stream', () => {
  void it('priced from the usage on the final chunk', async () => {
    const stream = await mistral().chat.stream({ model: 'mistral-small-latest', messages: MESSAGES });
    let text = '';
    for await (const event of stream) text += event.data.choices[0]?.delta.content ?? '';
    assert.equal(text, ANSWER);
    assert.equal((server.requests[0]?.body as { stream?: boolean }).stream, true);
    const a = only().attributes;
    assert.equal(a['gen_ai.request.stream'], true);
    assert.equal(a['gen_ai.usage.input_tokens'], promptCount);
    assert.equal(a['gen_ai.usage.output_tokens'], ANSWER_WORDS.length);
    assert.deepEqual(a['gen_ai.response.finish_reasons'], ['stop']);
    assert.equal(a['tollgate.usage.estimated'], false);
    assert.equal(a['tollgate.cost.usd'], expectedCost('mistral-small-latest', { inputTokens: promptCount, outputTokens: ANSWER_WORDS.length }));
  });

  void it('read with getReader() is priced the same', async () => {
    const stream = await mistral().chat.stream({ model: 'mistral-small-latest', messages: MESSAGES });
    const reader = stream.getReader();
    while (!(await reader.read()).done);
    assert.equal(only().attributes['gen_ai.usage.output_tokens'], ANSWER_WORDS.length);
  });

  void it('a consumer that breaks early ends the span, estimated and flagged, and the reservation is released', async () => {
    const policy = usePolicy({}, { dailyUsd: 5 });
    const stream = await mistral().chat.stream({ model: 'mistral-small-latest', messages: MESSAGES, maxTokens: 50 });
    for await (const event of stream) {
      void event;
      break;
    }
    await waitForSpans(1);
    const a = only().attributes;
    assert.equal(a['tollgate.usage.estimated'], true);
    assert.ok(Number(a['gen_ai.usage.input_tokens']) > 0);
    assert.ok(Number(a['tollgate.cost.usd']) > 0);
    const status = await policy.getAgentStatus('svc');
    const daily = status.budgets.find((b) => b.scope === 'agent.daily');
    assert.equal(daily?.reservedUsd, 0, 'nothing stays reserved');
    assert.ok(Math.abs((daily?.spentUsd ?? 0) - Number(a['tollgate.cost.usd'])) < 1e-12);
  });
});

void describe('fim, agents, embeddings', () => {
  void it('fim.complete: text_completion, codestral priced', async () => {
    await mistral().fim.complete({ model: 'codestral-latest', prompt: 'def add(a, b):', suffix: 'return c' });
    const a = only().attributes;
    assert.equal(a['gen_ai.operation.name'], 'text_completion');
    const input = promptTokens('def add(a, b):\nreturn c', 1);
    assert.equal(a['gen_ai.usage.input_tokens'], input);
    assert.equal(a['tollgate.cost.usd'], expectedCost('codestral-latest', { inputTokens: input, outputTokens: ANSWER_WORDS.length }));
  });

  void it('fim.stream is priced from its final chunk', async () => {
    const stream = await mistral().fim.stream({ model: 'codestral-latest', prompt: 'def add(a, b):' });
    for await (const event of stream) void event;
    const a = only().attributes;
    assert.equal(a['gen_ai.request.stream'], true);
    assert.equal(a['tollgate.usage.estimated'], false);
    assert.equal(a['gen_ai.usage.output_tokens'], ANSWER_WORDS.length);
  });

  void it('agents.complete: priced at the model the agent answered with', async () => {
    await mistral().agents.complete({ agentId: 'ag_123', messages: MESSAGES });
    const s = only();
    assert.equal(s.attributes['gen_ai.response.model'], MISTRAL_STANDIN_AGENT_MODEL);
    assert.ok(Number(s.attributes['tollgate.cost.usd']) > 0);
    assert.equal(s.attributes['tollgate.cost.source'], 'table');
  });

  void it('embeddings.create: mistral-embed, input tokens from the answer', async () => {
    const res = await mistral().embeddings.create({ model: 'mistral-embed', inputs: ['hello world', 'second text'] });
    assert.equal(res.data.length, 2);
    const a = only().attributes;
    assert.equal(a['gen_ai.operation.name'], 'embeddings');
    const input = promptTokens('hello world', 0) + promptTokens('second text', 0);
    assert.equal(a['gen_ai.usage.input_tokens'], input);
    assert.equal(a['tollgate.usage.estimated'], false);
    assert.equal(a['tollgate.cost.usd'], expectedCost('mistral-embed', { inputTokens: input, outputTokens: 0 }));
    assert.ok(Number(a['tollgate.cost.usd']) > 0);
  });
});

void describe('under a budget', () => {
  void it('a blocked call rejects with BudgetExceededError and the stand-in receives nothing', async () => {
    usePolicy({}, { dailyUsd: 0.0000001 });
    const client = mistral();
    await assert.rejects(client.chat.complete({ model: 'mistral-large-latest', messages: MESSAGES }), BudgetExceededError);
    await assert.rejects(client.chat.stream({ model: 'mistral-large-latest', messages: MESSAGES }), BudgetExceededError);
    await assert.rejects(client.fim.complete({ model: 'codestral-latest', prompt: 'def f():' }), BudgetExceededError);
    assert.equal(server.requests.length, 0);
    const all = spans();
    assert.equal(all.length, 3);
    for (const s of all) {
      assert.equal(s.attributes['error.type'], 'tollgate.budget_exceeded');
      assert.equal(s.attributes['tollgate.policy.action'], 'block');
    }
  });

  void it('the SDK retry policy (backoff, connection errors too) does not retry a refusal: it rejects at once', async () => {
    usePolicy({}, { dailyUsd: 0.0000001 });
    const retryConfig = { strategy: 'backoff', backoff: { initialInterval: 500, maxInterval: 5000, exponent: 2, maxElapsedTime: 30_000 }, retryConnectionErrors: true };
    const client = mistral({ retryConfig });
    const started = performance.now();
    await assert.rejects(client.chat.complete({ model: 'mistral-large-latest', messages: MESSAGES }), BudgetExceededError);
    await assert.rejects(client.chat.complete({ model: 'mistral-large-latest', messages: MESSAGES }, { retries: retryConfig }), BudgetExceededError);
    const ms = performance.now() - started;
    assert.ok(ms < 1000, `refused in ${ms} ms`);
    assert.equal(server.requests.length, 0);
  });

  void it('clamps maxTokens on the wire; the caller object is untouched', async () => {
    usePolicy({ maxTokensFloor: 4 }, { maxTokens: 5 });
    const request = { model: 'mistral-small-latest', messages: MESSAGES, maxTokens: 400 };
    const res = await mistral().chat.complete(request);
    assert.equal((server.requests[0]?.body as { max_tokens?: number }).max_tokens, 5);
    assert.equal(request.maxTokens, 400);
    assert.equal(res.choices[0].finishReason, 'length');
    const a = only().attributes;
    assert.equal(a['gen_ai.request.max_tokens'], 5);
    assert.equal(a['tollgate.policy.original_max_tokens'], 400);
    assert.equal(a['gen_ai.usage.output_tokens'], 5);
  });

  void it('switches model along the ladder', async () => {
    // 1024 output tokens of mistral-large ($6 per M) do not fit $0.003, nor does the 512-token floor: the ladder's next model does.
    usePolicy({ ladders: { mistral_ai: ['mistral-large-latest', 'mistral-small-latest'] }, maxTokensFloor: 512 }, { dailyUsd: 0.003, onExceed: 'downgrade' });
    const request = { model: 'mistral-large-latest', messages: MESSAGES, maxTokens: 1024 };
    await mistral().chat.complete(request);
    assert.equal((server.requests[0]?.body as { model?: string }).model, 'mistral-small-latest');
    assert.equal(request.model, 'mistral-large-latest');
    const a = only().attributes;
    assert.equal(a['tollgate.policy.action'], 'rewrite');
    assert.equal(a['tollgate.policy.original_model'], 'mistral-large-latest');
    assert.equal(a['gen_ai.request.model'], 'mistral-small-latest');
    assert.equal(a['tollgate.cost.usd'], expectedCost('mistral-small-latest', { inputTokens: promptCount, outputTokens: ANSWER_WORDS.length }));
  });

  void it('an agent request is clamped but never given a model', async () => {
    usePolicy({ maxTokensFloor: 4 }, { maxTokens: 5 });
    await mistral().agents.complete({ agentId: 'ag_123', messages: MESSAGES, maxTokens: 100 });
    const body = server.requests[0]?.body as Record<string, unknown>;
    assert.equal(body['max_tokens'], 5);
    assert.equal('model' in body, false);
  });
});

void describe('bad input', () => {
  for (const status of [400, 401, 429, 500, 503]) {
    void it(`HTTP ${status}: the call rejects, the span fails with the SDK error, no cost`, async () => {
      server.injectFault({ kind: 'status', status }, { times: 10 });
      await assert.rejects(mistral().chat.complete({ model: 'mistral-small-latest', messages: MESSAGES }));
      const s = only();
      assert.equal(s.status.code, 2);
      assert.ok(typeof s.attributes['error.type'] === 'string' && s.attributes['error.type'] !== '');
      assert.equal(s.attributes['tollgate.cost.usd'], undefined);
    });
  }

  void it('an answer without usage (rejected by the SDK schema after the provider served it) is estimated and flagged, never $0', async () => {
    server.injectFault({ kind: 'no-usage' });
    await assert.rejects(mistral().chat.complete({ model: 'mistral-small-latest', messages: MESSAGES }), { name: 'ResponseValidationError' });
    await waitForSpans(1);
    const s = only();
    assert.equal(s.status.code, 2);
    assert.equal(s.attributes['tollgate.usage.estimated'], true);
    assert.ok(Number(s.attributes['gen_ai.usage.input_tokens']) > 0);
    assert.ok(Number(s.attributes['gen_ai.usage.output_tokens']) > 0);
    assert.ok(Number(s.attributes['tollgate.cost.usd']) > 0);
  });

  void it('a stream without usage is estimated and flagged, never $0', async () => {
    server.injectFault({ kind: 'no-usage' });
    const stream = await mistral().chat.stream({ model: 'mistral-small-latest', messages: MESSAGES });
    for await (const event of stream) void event;
    await waitForSpans(1);
    const a = only().attributes;
    assert.equal(a['tollgate.usage.estimated'], true);
    assert.ok(Number(a['gen_ai.usage.output_tokens']) > 0);
    assert.ok(Number(a['tollgate.cost.usd']) > 0);
  });

  for (const kind of ['malformed-sse', 'cut-stream'] as const) {
    void it(`${kind}: the stream rejects, the span ends with an error, estimated cost`, async () => {
      server.injectFault({ kind, afterEvents: 3 });
      const stream = await mistral().chat.stream({ model: 'mistral-small-latest', messages: MESSAGES });
      await assert.rejects(async () => {
        for await (const event of stream) void event;
      });
      await waitForSpans(1);
      const s = only();
      assert.equal(s.status.code, 2);
      assert.equal(s.attributes['tollgate.usage.estimated'], true);
      assert.ok(Number(s.attributes['gen_ai.usage.input_tokens']) > 0);
      assert.ok(Number(s.attributes['tollgate.cost.usd']) > 0);
    });
  }

  void it('a request the SDK rejects before sending (invalid input) fails the span, nothing is sent', async () => {
    await assert.rejects(mistral().chat.complete({ model: 'mistral-small-latest', messages: 'not a list' }));
    assert.equal(server.requests.length, 0);
    const s = only();
    assert.equal(s.status.code, 2);
    assert.equal(s.attributes['tollgate.cost.usd'], undefined);
  });
});

void describe('message content', () => {
  void it('recorded on the span when capture is on (plain and streamed), never otherwise', async () => {
    instrumentation.setConfig({ gate, prices, captureMessageContent: true });
    try {
      await mistral().chat.complete({ model: 'mistral-small-latest', messages: MESSAGES });
      for await (const event of await mistral().chat.stream({ model: 'mistral-small-latest', messages: MESSAGES })) void event;
    } finally {
      instrumentation.setConfig({ gate, prices });
    }
    const all = spans();
    assert.equal(all.length, 2);
    for (const s of all) {
      assert.deepEqual(JSON.parse(String(s.attributes['gen_ai.input.messages'])), [{ role: 'user', parts: [{ type: 'text', content: PROMPT }] }]);
      assert.deepEqual(JSON.parse(String(s.attributes['gen_ai.output.messages'])), [{ role: 'assistant', parts: [{ type: 'text', content: ANSWER }] }]);
    }
    exporter.reset();
    await mistral().chat.complete({ model: 'mistral-small-latest', messages: MESSAGES });
    assert.equal(only().attributes['gen_ai.input.messages'], undefined);
  });
});

void describe('disable', () => {
  void it('restores the client: no spans after disable, spans again after enable', async () => {
    instrumentation.disable();
    try {
      await mistral().chat.complete({ model: 'mistral-small-latest', messages: MESSAGES });
      assert.equal(spans().length, 0);
    } finally {
      instrumentation.enable();
    }
    await mistral().chat.complete({ model: 'mistral-small-latest', messages: MESSAGES });
    assert.equal(spans().length, 1);
  });
});
