/**
 * Mastra (`@mastra/core` 0.24, real package) on top of the AI SDK: its Agent runs its own loop and
 * calls the AI SDK 5 model object (`doGenerate` / `doStream`) itself, with its DEFAULT retry policy
 * (p-retry, 2 retries from 1 s, skipping only an `APICallError` whose `isRetryable` is false).
 *
 * - As a user runs it (`node --import tollgate/register`, ESM, a daily cap in
 *   OTEL_RESOURCE_ATTRIBUTES): the first `agent.generate` is priced once, with the stand-in's exact
 *   tokens; the `generate` and `stream` after the cap are refused at once, nothing is sent, each
 *   refusal is one span (not retried), and the app exits by itself.
 * - In process (CommonJS `require('@mastra/core/agent')`, a counting gate): a refusal is asked of the
 *   gate once; the same refusal thrown as a plain Error is retried by Mastra, which is what the
 *   BudgetExceededError brand prevents.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { BudgetExceededError } from '../../src/errors.ts';
import type { GateDecision } from '../../src/gate.ts';
import { AiSdkInstrumentation } from '../../src/instrumentation/ai-sdk/index.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { ANSWER_WORDS, startStandinServer } from '../../src/standin/server.ts';
import type { StandinServer } from '../../src/standin/server.ts';
import { RefusingGate } from '../support/gates.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.ts';
import { lastJsonLine, runRegisteredApp } from '../support/registered-app.ts';

const SCOPE = 'tollgate-instrumentation-ai-sdk';

/** A RefusingGate that can also refuse with an error carrying none of BudgetExceededError's marks. */
class SwitchGate extends RefusingGate {
  plainError = false;
  override admit(): Promise<GateDecision> {
    if (!this.plainError) return super.admit();
    this.admitted++;
    return Promise.resolve({ action: 'block', error: new Error('refused without the non-retryable marks') });
  }
}

const gate = new SwitchGate();
const exporter = new InMemorySpanExporter();
const instrumentation = new AiSdkInstrumentation({ gate, prices: createPriceTable(), enabled: false });
let server: StandinServer;
let receiver: OtlpReceiver;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let makeAgent: (options?: object) => any;

before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  trace.setGlobalTracerProvider(provider);
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  server = await startStandinServer({ routes: openaiRoutes() });
  receiver = await startOtlpReceiver();
  const require = createRequire(import.meta.url);
  const { Agent } = require('@mastra/core/agent') as { Agent: new (o: object) => unknown };
  const { createOpenAI } = require('ai-sdk-openai-v2') as { createOpenAI: (o: object) => { chat(id: string): unknown } };
  const openai = createOpenAI({ apiKey: 'sk-test', baseURL: `${server.url}/v1` });
  makeAgent = (options = {}) => new Agent({ name: 'writer', instructions: 'Be brief.', model: openai.chat('gpt-4o-mini'), ...options });
});
after(async () => {
  instrumentation.disable();
  await server.close();
  await receiver.close();
});
beforeEach(() => {
  exporter.reset();
  server.reset();
  gate.refuse = false;
  gate.plainError = false;
  gate.admitted = 0;
});

function tollgateSpans(): ReturnType<InMemorySpanExporter['getFinishedSpans']> {
  return exporter.getFinishedSpans().filter((s) => s.instrumentationScope.name === SCOPE);
}

interface Outcome {
  readonly ok: boolean;
  readonly error?: string;
  readonly text?: string;
  readonly ms: number;
}

void describe('Mastra Agent under node --import tollgate/register (ESM, daily cap)', () => {
  void it('prices the first call once, refuses the next generate and stream at once (not retried), sends nothing after, exits by itself', async () => {
    const run = await runRegisteredApp('test/frameworks/app-mastra.mjs', {
      STANDIN_URL: server.url,
      OTEL_SERVICE_NAME: 'mastra-app',
      // gpt-4o-mini ($0.15 / $0.60 per 1M): the first call fits a $0.00002 cap with its 20-token
      // ceiling reserved; after it, no 20-token call fits.
      OTEL_RESOURCE_ATTRIBUTES: 'gen_ai.agent.name=writer,tollgate.budget.daily_usd=0.00002',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '600000',
    });
    assert.equal(run.signal, null, `the app did not exit by itself: ${run.stderr}`);
    assert.equal(run.code, 0, run.stderr);
    const out = lastJsonLine<Record<string, Outcome>>(run);
    assert.equal(out['first']?.ok, true, JSON.stringify(out));
    for (const name of ['second', 'streamed']) {
      assert.equal(out[name]?.error, 'BudgetExceededError', `${name}: ${JSON.stringify(out[name])}`);
      // Mastra's retry would wait 1 s, then 2 s, before rejecting.
      assert.ok((out[name]?.ms ?? Infinity) < 500, `${name} refused in ${out[name]?.ms} ms`);
    }
    assert.equal(server.requests.length, 1, 'nothing reached the provider after the refusal');
    const spans = receiver.spans.filter((s) => s.resource['service.name'] === 'mastra-app' && s.attributes['gen_ai.operation.name'] === 'chat');
    assert.deepEqual(
      spans.map((s) => [s.scope, s.attributes['gen_ai.provider.name'], s.attributes['tollgate.policy.action']]),
      [
        [SCOPE, 'openai', 'allow'],
        [SCOPE, 'openai', 'block'],
        [SCOPE, 'openai', 'block'],
      ],
    );
    const first = spans[0]?.attributes ?? {};
    const input = first['gen_ai.usage.input_tokens'] as number;
    assert.ok(input > 0);
    assert.equal(first['gen_ai.usage.output_tokens'], ANSWER_WORDS.length);
    assert.equal(first['tollgate.usage.estimated'], false);
    assert.ok(Math.abs((first['tollgate.cost.usd'] as number) - (input * 0.15 + ANSWER_WORDS.length * 0.6) / 1e6) < 1e-15);
    // Priced once: no other exported span (Mastra's own agent spans included) carries a cost.
    const priced = receiver.spans.filter((s) => s.resource['service.name'] === 'mastra-app' && s.attributes['tollgate.cost.usd'] !== undefined);
    assert.equal(priced.length, 1, priced.map((s) => `${s.scope} ${s.name}`).join(', '));
  });
});

void describe('Mastra Agent in process (CommonJS)', () => {
  void it('agent.generate and agent.stream are each one priced span', async () => {
    const agent = makeAgent();
    const generated = await agent.generate('Say hello.');
    assert.ok(String(generated.text).length > 0);
    const streamed = await agent.stream('Stream please.');
    assert.ok(String(await streamed.text).length > 0);
    const spans = tollgateSpans();
    assert.equal(spans.length, 2);
    for (const span of spans) {
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], ANSWER_WORDS.length);
      assert.ok(Number(span.attributes['tollgate.cost.usd']) > 0);
    }
    assert.equal(server.requests.length, 2);
    assert.equal(gate.admitted, 2);
  });

  void it('a refusal rejects at once with default retries: the gate is asked once, nothing sent', async () => {
    gate.refuse = true;
    const started = performance.now();
    await assert.rejects(makeAgent().generate('Say hello.'), BudgetExceededError);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 500, `rejected after ${elapsed.toFixed(0)} ms`);
    assert.equal(gate.admitted, 1, 'Mastra did not retry the refusal');
    assert.equal(server.requests.length, 0);
    assert.equal(tollgateSpans()[0]?.attributes['error.type'], 'tollgate.budget_exceeded');
  });

  void it('control: an error without those marks is retried by Mastra (maxRetries 1 here, to keep the wait at 1 s)', async () => {
    gate.plainError = true;
    await assert.rejects(makeAgent({ maxRetries: 0 }).generate('Say hello.', { modelSettings: { maxRetries: 1 } }), /without the non-retryable marks/);
    assert.equal(gate.admitted, 2);
    assert.equal(server.requests.length, 0);
  });
});
