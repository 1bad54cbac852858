/**
 * `@google/genai` (the real npm package) against the Gemini stand-in (REST JSON and SSE
 * `alt=sse`), in Gemini API and Vertex AI (express) mode: exact tokens and cost on the span,
 * the gate before sending (block, clamp `maxOutputTokens`, switch model), chats, embeddings,
 * and bad input (HTTP errors, a malformed and a cut stream, an answer without usage).
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { resolveConfig } from '../../src/config/index.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import { PolicySwitchGate } from '../support/gates.ts';
import { GoogleGenAIInstrumentation } from '../../src/instrumentation/google-genai/index.ts';
import { geminiUsage } from '../../src/instrumentation/google-genai/wire.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { BudgetPolicy } from '../../src/policy/index.ts';
import { computeCost, createPriceTable } from '../../src/pricing/index.ts';
import { GEMINI_STANDIN_THOUGHTS_TOKENS, GEMINI_STANDIN_TOOL_USE_TOKENS, geminiRoutes } from '../../src/standin/gemini.ts';
import { ANSWER_WORDS, promptTokens, startStandinServer } from '../../src/standin/server.ts';
import type { StandinServer } from '../../src/standin/server.ts';
import { createInputEstimator } from '../../src/tokens/index.ts';

const prices = createPriceTable();
const estimator = createInputEstimator();


const gate = new PolicySwitchGate();
const exporter = new InMemorySpanExporter();
let server: StandinServer;
let instrumentation: GoogleGenAIInstrumentation;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let genai: any;

before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  trace.setGlobalTracerProvider(provider);
  instrumentation = new GoogleGenAIInstrumentation({ gate, prices });
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  genai = createRequire(import.meta.url)('@google/genai');
  server = await startStandinServer({ routes: geminiRoutes() });
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
function gemini(): any {
  return new genai.GoogleGenAI({ apiKey: 'test-key', httpOptions: { baseUrl: server.url } });
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function vertex(): any {
  return new genai.GoogleGenAI({ vertexai: true, apiKey: 'test-key', httpOptions: { baseUrl: server.url } });
}

function spans(): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.instrumentationScope.name === 'tollgate-instrumentation-google-genai');
}
function only(): ReadableSpan {
  const all = spans();
  assert.equal(all.length, 1, `expected one tollgate span, got ${all.length}`);
  return all[0] as ReadableSpan;
}

/** The cost the table gives for these counts, computed independently of the instrumentation. */
function expectedCost(model: string, usage: Parameters<typeof computeCost>[0]): number {
  return computeCost(usage, prices.lookup(model, 'google').price).totalUsd;
}

const PROMPT = 'Why is the sky blue?';
const promptCount = promptTokens(PROMPT, 1);

function usePolicy(file: Record<string, unknown>, limits: Record<string, unknown>): BudgetPolicy {
  const config = resolveConfig({ env: {}, overrides: { agent: 'svc', configFile: { version: 1, ...file }, limits } });
  const policy = new BudgetPolicy({ config, ledger: new MemoryLedger(), prices, estimator });
  gate.policy = policy;
  return policy;
}

void describe('usage mapping', () => {
  void it('input includes cache reads and tool-use prompt tokens; output includes thoughts', () => {
    assert.deepEqual(
      geminiUsage({ promptTokenCount: 100, cachedContentTokenCount: 40, toolUsePromptTokenCount: 7, candidatesTokenCount: 20, thoughtsTokenCount: 30 }),
      { inputTokens: 107, outputTokens: 50, cacheReadTokens: 40, reasoningTokens: 30 },
    );
    assert.equal(geminiUsage({}), undefined);
    assert.equal(geminiUsage({ promptTokenCount: -1, candidatesTokenCount: 'x' }), undefined);
  });
});

void describe('@google/genai generateContent', () => {
  void it('Gemini API: one span, gcp.gemini, exact tokens and cost, finish reason, response id', async () => {
    const res = await gemini().models.generateContent({ model: 'gemini-2.5-flash', contents: PROMPT });
    assert.equal(res.text, ANSWER_WORDS.join(''));
    const s = only();
    const a = s.attributes;
    assert.equal(s.name, 'chat gemini-2.5-flash');
    assert.equal(a['gen_ai.provider.name'], 'gcp.gemini');
    assert.equal(a['gen_ai.operation.name'], 'chat');
    assert.equal(a['gen_ai.usage.input_tokens'], promptCount);
    assert.equal(a['gen_ai.usage.output_tokens'], ANSWER_WORDS.length);
    assert.equal(a['gen_ai.response.model'], 'gemini-2.5-flash');
    assert.deepEqual(a['gen_ai.response.finish_reasons'], ['stop']);
    assert.match(String(a['gen_ai.response.id']), /^gemini-standin-/);
    assert.equal(a['server.address'], '127.0.0.1');
    assert.equal(a['tollgate.usage.estimated'], false);
    assert.equal(a['tollgate.cost.source'], 'table');
    const cost = expectedCost('gemini-2.5-flash', { inputTokens: promptCount, outputTokens: ANSWER_WORDS.length });
    assert.ok(cost > 0);
    assert.equal(a['tollgate.cost.usd'], cost);
  });

  void it('thoughts, cached content and built-in tool prompts are counted as the convention says', async () => {
    await gemini().models.generateContent({
      model: 'gemini-2.5-pro',
      contents: PROMPT,
      config: { thinkingConfig: { thinkingBudget: 64 }, cachedContent: 'cachedContents/abc', tools: [{ googleSearch: {} }] },
    });
    const a = only().attributes;
    const cached = Math.floor(promptCount / 2);
    const usage = {
      inputTokens: promptCount + GEMINI_STANDIN_TOOL_USE_TOKENS,
      outputTokens: ANSWER_WORDS.length + GEMINI_STANDIN_THOUGHTS_TOKENS,
      cacheReadTokens: cached,
      reasoningTokens: GEMINI_STANDIN_THOUGHTS_TOKENS,
    };
    assert.equal(a['gen_ai.usage.input_tokens'], usage.inputTokens);
    assert.equal(a['gen_ai.usage.output_tokens'], usage.outputTokens);
    assert.equal(a['gen_ai.usage.cache_read.input_tokens'], cached);
    assert.equal(a['gen_ai.usage.reasoning.output_tokens'], GEMINI_STANDIN_THOUGHTS_TOKENS);
    assert.equal(a['tollgate.cost.usd'], expectedCost('gemini-2.5-pro', usage));
  });

  void it('a prompt above 200k tokens is priced at gemini-2.5-pro long-context rates', async () => {
    const long = 'x'.repeat(4 * 210_000);
    await gemini().models.generateContent({ model: 'gemini-2.5-pro', contents: long });
    const a = only().attributes;
    const input = promptTokens(long, 1);
    assert.ok(input > 200_000);
    const price = prices.lookup('gemini-2.5-pro', 'google').price;
    const tier = price.tiers?.find((t) => t.aboveInputTokens === 200_000);
    assert.ok(tier !== undefined, 'the table has a 200k tier for gemini-2.5-pro');
    const expected = (input * tier.input + ANSWER_WORDS.length * tier.output) / 1e6;
    assert.ok(Math.abs(Number(a['tollgate.cost.usd']) - expected) < 1e-12);
  });

  void it('Vertex AI mode: gcp.vertex_ai, same usage', async () => {
    await vertex().models.generateContent({ model: 'gemini-2.5-flash', contents: PROMPT });
    const a = only().attributes;
    assert.equal(a['gen_ai.provider.name'], 'gcp.vertex_ai');
    assert.equal(a['gen_ai.usage.input_tokens'], promptCount);
    assert.equal(a['tollgate.cost.usd'], expectedCost('gemini-2.5-flash', { inputTokens: promptCount, outputTokens: ANSWER_WORDS.length }));
    assert.match(server.requests[0]?.path ?? '', /publishers\/google\/models\/gemini-2\.5-flash:generateContent$/);
  });

  void it('chats: each sendMessage is one priced span', async () => {
    const chat = gemini().chats.create({ model: 'gemini-2.5-flash' });
    await chat.sendMessage({ message: PROMPT });
    await chat.sendMessage({ message: 'And at sunset?' });
    const all = spans();
    assert.equal(all.length, 2);
    for (const s of all) assert.ok(Number(s.attributes['tollgate.cost.usd']) > 0);
    // The second turn carries the history: more input tokens.
    assert.ok(Number(all[1]?.attributes['gen_ai.usage.input_tokens']) > Number(all[0]?.attributes['gen_ai.usage.input_tokens']));
  });
});

void describe('@google/genai generateContentStream', () => {
  void it('priced from the final usage on the last chunk', async () => {
    const stream = await gemini().models.generateContentStream({ model: 'gemini-2.5-flash', contents: PROMPT });
    let text = '';
    for await (const chunk of stream) text += chunk.text ?? '';
    assert.equal(text, ANSWER_WORDS.join(''));
    assert.match(server.requests[0]?.query ?? '', /alt=sse/);
    const a = only().attributes;
    assert.equal(a['gen_ai.request.stream'], true);
    assert.equal(a['gen_ai.usage.input_tokens'], promptCount);
    assert.equal(a['gen_ai.usage.output_tokens'], ANSWER_WORDS.length);
    assert.equal(a['tollgate.usage.estimated'], false);
    assert.equal(a['tollgate.cost.usd'], expectedCost('gemini-2.5-flash', { inputTokens: promptCount, outputTokens: ANSWER_WORDS.length }));
  });

  void it('chat sendMessageStream is priced', async () => {
    const chat = gemini().chats.create({ model: 'gemini-2.5-flash' });
    const stream = await chat.sendMessageStream({ message: PROMPT });
    for await (const chunk of stream) void chunk;
    assert.equal(only().attributes['gen_ai.usage.output_tokens'], ANSWER_WORDS.length);
  });

  void it('a consumer that breaks early ends the span, priced from what arrived and flagged estimated', async () => {
    const stream = await gemini().models.generateContentStream({ model: 'gemini-2.5-flash', contents: PROMPT });
    for await (const chunk of stream) {
      void chunk;
      break;
    }
    await waitForSpans(1);
    const a = only().attributes;
    assert.equal(a['tollgate.usage.estimated'], true);
    assert.equal(a['gen_ai.usage.input_tokens'], promptCount);
    assert.ok(Number(a['tollgate.cost.usd']) > 0);
  });
});

void describe('@google/genai embedContent', () => {
  void it('Gemini API reports no usage: counted locally, flagged estimated, never $0', async () => {
    await gemini().models.embedContent({ model: 'gemini-embedding-001', contents: ['hello world', 'second text'] });
    await waitForSpans(1);
    const a = only().attributes;
    assert.equal(a['gen_ai.operation.name'], 'embeddings');
    assert.equal(a['tollgate.usage.estimated'], true);
    assert.ok(Number(a['gen_ai.usage.input_tokens']) > 0);
    assert.ok(Number(a['tollgate.cost.usd']) > 0);
  });

  void it('Vertex predict: token counts from the per-instance statistics', async () => {
    await vertex().models.embedContent({ model: 'text-embedding-005', contents: ['hello world', 'second text'] });
    const a = only().attributes;
    assert.equal(a['gen_ai.provider.name'], 'gcp.vertex_ai');
    assert.equal(a['gen_ai.usage.input_tokens'], promptTokens('hello world', 0) + promptTokens('second text', 0));
    assert.equal(a['tollgate.usage.estimated'], false);
  });
});

void describe('@google/genai under a budget', () => {
  void it('a blocked call rejects with BudgetExceededError and the stand-in receives nothing', async () => {
    usePolicy({}, { dailyUsd: 0.0000001 });
    const client = gemini();
    await assert.rejects(client.models.generateContent({ model: 'gemini-2.5-pro', contents: PROMPT }), BudgetExceededError);
    const stream = client.models.generateContentStream({ model: 'gemini-2.5-pro', contents: PROMPT });
    await assert.rejects(stream, BudgetExceededError);
    assert.equal(server.requests.length, 0);
    const all = spans();
    assert.equal(all.length, 2);
    for (const s of all) assert.equal(s.attributes['error.type'], 'tollgate.budget_exceeded');
  });

  void it('clamps config.maxOutputTokens on the wire; the caller object is untouched', async () => {
    usePolicy({ maxTokensFloor: 4 }, { maxTokens: 5 });
    const params = { model: 'gemini-2.5-flash', contents: PROMPT, config: { maxOutputTokens: 400 } };
    await gemini().models.generateContent(params);
    const body = server.requests[0]?.body as { generationConfig?: { maxOutputTokens?: number } };
    assert.equal(body.generationConfig?.maxOutputTokens, 5);
    assert.equal(params.config.maxOutputTokens, 400);
    const a = only().attributes;
    assert.equal(a['gen_ai.request.max_tokens'], 5);
    assert.equal(a['gen_ai.usage.output_tokens'], 5);
  });

  void it('switches model along the ladder', async () => {
    usePolicy({ ladders: { 'gcp.gemini': ['gemini-2.5-pro', 'gemini-2.5-flash'] }, maxTokensFloor: 512 }, { dailyUsd: 0.004, onExceed: 'downgrade' });
    await gemini().models.generateContent({ model: 'gemini-2.5-pro', contents: PROMPT, config: { maxOutputTokens: 1024 } });
    assert.match(server.requests[0]?.path ?? '', /models\/gemini-2\.5-flash:generateContent$/);
    const a = only().attributes;
    assert.equal(a['tollgate.policy.original_model'], 'gemini-2.5-pro');
    assert.equal(a['gen_ai.request.model'], 'gemini-2.5-flash');
  });
});

void describe('@google/genai bad input', () => {
  for (const status of [400, 500]) {
    void it(`HTTP ${status}: the span fails with the status, no cost`, async () => {
      server.injectFault({ kind: 'status', status }, { times: 10 });
      await assert.rejects(gemini().models.generateContent({ model: 'gemini-2.5-flash', contents: PROMPT }));
      const all = spans();
      assert.ok(all.length >= 1);
      for (const s of all) {
        assert.equal(s.status.code, 2);
        assert.equal(s.attributes['tollgate.cost.usd'], undefined);
      }
    });
  }

  void it('an answer without usageMetadata is estimated and flagged, never $0', async () => {
    server.injectFault({ kind: 'no-usage' });
    await gemini().models.generateContent({ model: 'gemini-2.5-flash', contents: PROMPT });
    await waitForSpans(1);
    const a = only().attributes;
    assert.equal(a['tollgate.usage.estimated'], true);
    assert.ok(Number(a['gen_ai.usage.input_tokens']) > 0);
    assert.ok(Number(a['gen_ai.usage.output_tokens']) > 0);
    assert.ok(Number(a['tollgate.cost.usd']) > 0);
  });

  for (const kind of ['malformed-sse', 'cut-stream'] as const) {
    void it(`${kind}: the stream rejects, the span ends with an error, estimated cost`, async () => {
      server.injectFault({ kind, afterEvents: 2 });
      const stream = await gemini().models.generateContentStream({ model: 'gemini-2.5-flash', contents: PROMPT });
      await assert.rejects(async () => {
        for await (const chunk of stream) void chunk;
      });
      await waitForSpans(1);
      const s = only();
      assert.equal(s.status.code, 2);
      assert.equal(s.attributes['tollgate.usage.estimated'], true);
      assert.equal(s.attributes['gen_ai.usage.input_tokens'], promptCount);
      assert.ok(Number(s.attributes['tollgate.cost.usd']) > 0);
    });
  }
});

async function waitForSpans(n: number): Promise<void> {
  for (let i = 0; i < 200 && spans().length < n; i++) await new Promise((r) => setTimeout(r, 10));
}
