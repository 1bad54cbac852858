/**
 * The provider-neutral core (src/instrumentation/core/) used the way a new, non-Stainless client
 * instrumentation uses it (the steps at the top of core/index.ts): describe the call, start a
 * TrackedCall, admit it through the gate with `admitBody`, send it with the span active, and end
 * it with the provider's usage. The "client" is a plain `fetch` to the stand-in's Chat
 * Completions route; the gate is a real BudgetPolicy over a memory ledger.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { resolveConfig } from '../../src/config/index.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import { CallTracker, type CallSpec } from '../../src/instrumentation/core/index.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { createBudgetPolicy, type BudgetPolicy } from '../../src/policy/index.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { startStandinServer } from '../../src/standin/server.ts';
import { installContextManager } from '../processor/harness.ts';

const server = await startStandinServer({ routes: openaiRoutes() });
after(() => server.close());
installContextManager();

/** $1,000 / $1,000 per 1M tokens: the stand-in's 6 + 13 tokens cost $0.019. */
const prices = createPriceTable({ overrides: [{ provider: 'openai', model: 'acme-large', input: 1000, output: 1000, maxOutputTokens: 1000 }] });

async function setUp(limits: Record<string, unknown>): Promise<{ tracker: CallTracker; exporter: InMemorySpanExporter; policy: BudgetPolicy }> {
  const policy = await createBudgetPolicy({ config: resolveConfig({ env: {}, overrides: { agent: 'svc', limits } }), ledger: new MemoryLedger(), prices });
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  return { tracker: new CallTracker(() => provider.getTracer('a-new-client'), { prices, gate: policy }), exporter, policy };
}

/** A minimal client instrumentation over the core: what a Gemini or Bedrock sibling would do. */
async function instrumentedChat(tracker: CallTracker, body: Record<string, unknown>): Promise<unknown> {
  const spec: CallSpec = {
    provider: 'openai',
    operation: 'chat',
    model: String(body['model']),
    maxTokens: typeof body['max_tokens'] === 'number' ? body['max_tokens'] : undefined,
    maxTokensField: 'max_tokens',
    stream: false,
    body,
  };
  const call = tracker.start(spec);
  // A refusal ends the call (failed) and throws or rejects: nothing is sent.
  const send = await call.admitBody(body);
  try {
    const response = await call.run(() =>
      fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(send) }),
    );
    const json = (await response.json()) as { id: string; model: string; usage: { prompt_tokens: number; completion_tokens: number } };
    call.setResponse({ id: json.id, model: json.model, finishReasons: ['stop'] });
    call.end({ inputTokens: json.usage.prompt_tokens, outputTokens: json.usage.completion_tokens });
    return json;
  } catch (error) {
    call.fail(error);
    throw error;
  }
}

const body = { model: 'acme-large', max_tokens: 100, messages: [{ role: 'user', content: 'Hello there' }] };

test('a non-Stainless client over the core: admitted, sent with the body the gate returned, priced once and settled', async () => {
  const { tracker, exporter, policy } = await setUp({ dailyUsd: 1, maxTokens: 50 });
  const sentBefore = server.requests.length;
  await instrumentedChat(tracker, body);
  assert.equal(server.requests.length, sentBefore + 1);
  // The policy's ceiling (50) rewrote max_tokens in the body that was sent; the caller's body is untouched.
  assert.equal((server.requests.at(-1)?.body as { max_tokens?: number }).max_tokens, 50);
  assert.equal(body.max_tokens, 100);
  const [span] = exporter.getFinishedSpans();
  assert.ok(span !== undefined);
  assert.equal(span.name, 'chat acme-large');
  assert.equal(span.kind, SpanKind.CLIENT);
  assert.equal(span.instrumentationScope.name, 'a-new-client');
  assert.equal(span.attributes['gen_ai.request.max_tokens'], 50);
  assert.equal(span.attributes['tollgate.policy.original_max_tokens'], 100);
  assert.equal(span.attributes['gen_ai.usage.input_tokens'], 6);
  assert.equal(span.attributes['gen_ai.usage.output_tokens'], 13);
  assert.equal(span.attributes['tollgate.cost.usd'], 0.019);
  assert.equal(span.attributes['gen_ai.usage.cost'], 0.019);
  assert.equal(span.attributes['tollgate.cost.source'], 'override');
  // Settled with the real cost: the reservation is gone and the day's spend is the call's cost.
  const daily = (await policy.getAgentStatus('svc')).budgets.find((b) => b.scope === 'agent.daily');
  assert.deepEqual({ spent: daily?.spentUsd, reserved: daily?.reservedUsd }, { spent: 0.019, reserved: 0 });
});

test('a non-Stainless client over the core: a refused call rejects with BudgetExceededError, sends nothing, and its span says why', async () => {
  const { tracker, exporter } = await setUp({ dailyUsd: 0.01 });
  const sentBefore = server.requests.length;
  await assert.rejects(instrumentedChat(tracker, body), BudgetExceededError);
  assert.equal(server.requests.length, sentBefore, 'nothing was sent');
  const [span] = exporter.getFinishedSpans();
  assert.ok(span !== undefined);
  assert.equal(span.status.code, SpanStatusCode.ERROR);
  assert.equal(span.attributes['error.type'], 'tollgate.budget_exceeded');
  assert.equal(span.attributes['tollgate.policy.action'], 'block');
  assert.equal(span.attributes['tollgate.cost.usd'], undefined);
});
