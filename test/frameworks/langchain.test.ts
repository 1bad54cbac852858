/**
 * LangChain.js on top of the instrumented SDKs, with LangChain's DEFAULT retry settings
 * (AsyncCaller, maxRetries 6 with exponential backoff): an allowed call is priced once, and a call
 * refused by the budget rejects at once (BudgetExceededError marks itself non-retryable), with
 * nothing sent. Real `@langchain/openai`, `@langchain/anthropic`, `@langchain/google-genai`
 * against the local stand-ins.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { BudgetExceededError } from '../../src/errors.ts';
import { dailyRefusal, RefusingGate } from '../support/gates.ts';
import { AnthropicInstrumentation } from '../../src/instrumentation/anthropic/index.ts';
import { GoogleGenerativeAIInstrumentation } from '../../src/instrumentation/google-generative-ai/index.ts';
import { OpenAIInstrumentation } from '../../src/instrumentation/openai/index.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { anthropicRoutes } from '../../src/standin/anthropic.ts';
import { geminiRoutes } from '../../src/standin/gemini.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { startStandinServer } from '../../src/standin/server.ts';
import type { StandinServer } from '../../src/standin/server.ts';

const gate = new RefusingGate();

const exporter = new InMemorySpanExporter();
let server: StandinServer;
const instrumentations = [
  new OpenAIInstrumentation({ gate, prices: createPriceTable(), enabled: false }),
  new AnthropicInstrumentation({ gate, prices: createPriceTable(), enabled: false }),
  new GoogleGenerativeAIInstrumentation({ gate, prices: createPriceTable(), enabled: false }),
];
const require = createRequire(import.meta.url);

before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  trace.setGlobalTracerProvider(provider);
  for (const i of instrumentations) {
    i.setTracerProvider(provider);
    i.enable();
  }
  server = await startStandinServer({ routes: [...openaiRoutes(), ...anthropicRoutes(), ...geminiRoutes()] });
});
after(async () => {
  for (const i of instrumentations) i.disable();
  await server.close();
});
beforeEach(() => {
  exporter.reset();
  server.reset();
  gate.refuse = false;
  gate.admitted = 0;
});

function tollgateSpans(): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.instrumentationScope.name.startsWith('tollgate-'));
}

/** The chat models, built with LangChain's defaults (no maxRetries given). */
const models: { name: string; scope: string; make: () => { invoke(input: string): Promise<unknown> } }[] = [
  {
    name: '@langchain/openai ChatOpenAI',
    scope: 'tollgate-instrumentation-openai',
    make: () => {
      const { ChatOpenAI } = require('@langchain/openai') as { ChatOpenAI: new (o: object) => { invoke(input: string): Promise<unknown> } };
      return new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'sk-test', configuration: { baseURL: `${server.url}/v1` } });
    },
  },
  {
    name: '@langchain/anthropic ChatAnthropic',
    scope: 'tollgate-instrumentation-anthropic',
    make: () => {
      const { ChatAnthropic } = require('@langchain/anthropic') as { ChatAnthropic: new (o: object) => { invoke(input: string): Promise<unknown> } };
      return new ChatAnthropic({ model: 'claude-sonnet-4-5', apiKey: 'sk-ant-test', anthropicApiUrl: server.url, maxTokens: 64 });
    },
  },
  {
    name: '@langchain/google-genai ChatGoogleGenerativeAI',
    scope: 'tollgate-instrumentation-google-generative-ai',
    make: () => {
      const { ChatGoogleGenerativeAI } = require('@langchain/google-genai') as {
        ChatGoogleGenerativeAI: new (o: object) => { invoke(input: string): Promise<unknown> };
      };
      return new ChatGoogleGenerativeAI({ model: 'gemini-2.5-flash', apiKey: 'test-key', baseUrl: server.url });
    },
  },
];

void describe('BudgetExceededError is marked non-retryable', () => {
  void it('in the ways LangChain, @openai/agents, the AI SDK and Mastra read', () => {
    const error = dailyRefusal();
    const descriptor = Object.getOwnPropertyDescriptor(error, Symbol.for('langchain.errors.retryable'));
    assert.equal(descriptor?.value, false);
    assert.equal(error.status, 402);
    assert.equal(error.isRetryable, false);
    assert.equal(error.retryable, false);
    // Mastra's model-call retry reads isRetryable only from an AI SDK APICallError (by this brand).
    assert.equal((error as unknown as Record<symbol, unknown>)[Symbol.for('vercel.ai.error.AI_APICallError')], true);
    // Hidden: the error's JSON and keys are its budget fields only.
    assert.deepEqual(Object.keys(error).sort(), ['agent', 'code', 'estimatedUsd', 'limitUsd', 'name', 'reservedUsd', 'resetAt', 'scope', 'spentUsd', 'taskId']);
  });
});

for (const m of models) {
  void describe(m.name, () => {
    void it('an allowed call is priced once', async () => {
      await m.make().invoke('Say hello.');
      const spans = tollgateSpans();
      assert.equal(spans.length, 1, spans.map((s) => s.name).join(', '));
      const span = spans[0] as ReadableSpan;
      assert.equal(span.instrumentationScope.name, m.scope);
      assert.ok(Number(span.attributes['tollgate.cost.usd']) > 0);
      assert.equal(gate.admitted, 1);
    });

    void it('a refused call rejects in well under a second with default retries, nothing sent, asked once', async () => {
      gate.refuse = true;
      const started = performance.now();
      await assert.rejects(m.make().invoke('Say hello.'), BudgetExceededError);
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 500, `rejected after ${elapsed.toFixed(0)} ms`);
      assert.equal(server.requests.length, 0);
      assert.equal(gate.admitted, 1, 'LangChain did not retry the refusal');
      const spans = tollgateSpans();
      assert.equal(spans.length, 1);
      assert.equal(spans[0]?.attributes['error.type'], 'tollgate.budget_exceeded');
    });
  });
}
