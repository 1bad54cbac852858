/**
 * The Bedrock instrumentation against the real `@aws-sdk/client-bedrock-runtime` (required through
 * CJS, fake credentials, endpoint overridden to the stand-in, which speaks Bedrock's JSON and the
 * AWS event-stream binary framing): Converse, ConverseStream, InvokeModel and
 * InvokeModelWithResponseStream with Anthropic bodies; inference-profile ids and ARNs; cache
 * tokens summed into the input as the GenAI convention counts them; the gate (block, clamp,
 * model switch) before anything is signed or sent; bad input (4xx/5xx, corrupt and cut
 * event streams, no usage).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, beforeEach, describe, test } from 'node:test';
import { context, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { BudgetExceededError } from '../../src/errors.ts';
import { ALLOW_ALL } from '../../src/gate.ts';
import type { CallGate, GateDecision } from '../../src/gate.ts';
import { BedrockInstrumentation } from '../../src/instrumentation/bedrock/index.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { bedrockError, bedrockRoutes } from '../../src/standin/bedrock.ts';
import { startStandinServer } from '../../src/standin/server.ts';
import type { StandinServer } from '../../src/standin/server.ts';
import { countTokens } from '../../src/tokens/index.ts';

// Bedrock list prices per 1M tokens (aws.amazon.com/bedrock/pricing): Claude Sonnet 4.6 in a
// regional (us.) profile $3.30 in / $16.50 out / $0.33 cache read / $4.125 cache write (5 min);
// Claude Haiku 4.5 global profile $1 / $5; Amazon Nova Lite $0.06 / $0.24.
const SONNET_US = { input: 3.3, output: 16.5, cacheRead: 0.33, cacheWrite: 4.125 };
const HAIKU_GLOBAL = { input: 1, output: 5 };
const SONNET_ID = 'us.anthropic.claude-sonnet-4-6';
const HAIKU_ID = 'global.anthropic.claude-haiku-4-5-20251001-v1:0';
const ANSWER = 'The stand-in provider answers deterministically so tests can assert exact token counts.';
const PROMPT = 'Hello there'; // stand-in: ceil(11 / 4) + 3 per message = 6 input tokens; 13 output

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

function usd(tokens: number, perMillion: number): number {
  return (tokens * perMillion) / 1e6;
}

function assertUsd(actual: unknown, expected: number, what: string): void {
  assert.equal(typeof actual, 'number', `${what} is a number`);
  assert.ok(Math.abs((actual as number) - expected) < 1e-15, `${what}: ${String(actual)} != ${expected}`);
}

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const switchable: CallGate & { current: CallGate } = {
  current: ALLOW_ALL,
  admit(call) {
    return this.current.admit(call);
  },
  complete(ticket, outcome) {
    this.current.complete(ticket, outcome);
  },
  abort(ticket) {
    this.current.abort(ticket);
  },
};
const instrumentation = new BedrockInstrumentation({ prices: createPriceTable(), gate: switchable, enabled: false });
instrumentation.setTracerProvider(provider);
instrumentation.enable();
const sdk = createRequire(import.meta.url)('@aws-sdk/client-bedrock-runtime') as Loose;
/**
 * The client's default handler speaks HTTP/2 (h2 over TLS to AWS); the stand-in is an HTTP/1.1
 * server, which Bedrock Runtime also accepts: the SDK's own HTTP/1.1 handler.
 */
const http1 = (): Loose => new NodeHttpHandler();
const clientOptions = (extra: Record<string, unknown> = {}) => ({
  region: 'us-east-1',
  endpoint: server.url,
  credentials: { accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'standin-secret' },
  requestHandler: http1(),
  ...extra,
});

let server: StandinServer;
let client: Loose;
before(async () => {
  server = await startStandinServer({ routes: bedrockRoutes() });
  client = new sdk.BedrockRuntimeClient(clientOptions({ maxAttempts: 1 }));
});
after(async () => {
  instrumentation.disable();
  client.destroy();
  await server.close();
  await provider.shutdown();
});
beforeEach(() => {
  exporter.reset();
  server.reset();
  switchable.current = ALLOW_ALL;
});

async function spans(n: number): Promise<ReadableSpan[]> {
  const deadline = Date.now() + 5000;
  while (exporter.getFinishedSpans().length < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} spans, got ${exporter.getFinishedSpans().length}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await new Promise((resolve) => setImmediate(resolve));
  const all = exporter.getFinishedSpans();
  assert.equal(all.length, n, `exactly ${n} spans`);
  return all;
}

const userMessage = (text: string) => ({ role: 'user', content: [{ text }] });

function scriptedGate(decision: GateDecision): CallGate & { admits: number } {
  const gate = {
    admits: 0,
    admit() {
      gate.admits++;
      return Promise.resolve(decision);
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

async function readStream(iterable: AsyncIterable<Record<string, Loose>>): Promise<string> {
  let text = '';
  for await (const event of iterable) {
    const delta = event['contentBlockDelta']?.delta?.text;
    if (typeof delta === 'string') text += delta;
    const bytes = event['chunk']?.bytes;
    if (bytes !== undefined) {
      const part = JSON.parse(Buffer.from(bytes).toString('utf8'));
      if (part.type === 'content_block_delta') text += part.delta.text;
    }
  }
  return text;
}

void describe('Converse', () => {
  void test('ConverseCommand: one CLIENT span, provider aws.bedrock, exact tokens and cost', async () => {
    const res = await client.send(new sdk.ConverseCommand({ modelId: SONNET_ID, messages: [userMessage(PROMPT)], inferenceConfig: { maxTokens: 50 } }));
    assert.equal(res.output.message.content[0].text, ANSWER);
    const [span] = await spans(1);
    assert.equal(span?.name, `chat ${SONNET_ID}`);
    assert.deepEqual(
      { ...span?.attributes },
      {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'aws.bedrock',
        'gen_ai.request.model': SONNET_ID,
        'gen_ai.request.stream': false,
        'gen_ai.request.max_tokens': 50,
        'tollgate.policy.action': 'allow',
        'gen_ai.response.finish_reasons': ['end_turn'],
        'gen_ai.usage.input_tokens': 6,
        'gen_ai.usage.output_tokens': 13,
        'tollgate.usage.estimated': false,
        'tollgate.cost.usd': span?.attributes['tollgate.cost.usd'],
        'gen_ai.usage.cost': span?.attributes['tollgate.cost.usd'],
        'tollgate.cost.input_usd': span?.attributes['tollgate.cost.input_usd'],
        'tollgate.cost.output_usd': span?.attributes['tollgate.cost.output_usd'],
        'tollgate.cost.cache_read_usd': 0,
        'tollgate.cost.cache_write_usd': 0,
        'tollgate.cost.source': 'table',
      },
    );
    assertUsd(span?.attributes['tollgate.cost.usd'], usd(6, SONNET_US.input) + usd(13, SONNET_US.output), 'cost');
    assert.equal(server.requests[0]?.path, `/model/${encodeURIComponent(SONNET_ID)}/converse`);
  });

  void test('cache points: Bedrock\'s inputTokens excludes the cache; the span\'s input includes it, each part priced at its rate', async () => {
    const system = [{ text: 'You are a careful assistant. '.repeat(40) }, { cachePoint: { type: 'default' } }];
    await client.send(new sdk.ConverseCommand({ modelId: SONNET_ID, system, messages: [userMessage(PROMPT)] }));
    const second = await client.send(new sdk.ConverseCommand({ modelId: SONNET_ID, system, messages: [userMessage(PROMPT)] }));
    // 40 x 29 = 1160 characters -> 290 cached tokens; the whole prompt is 1160 + 1 + 11 chars -> 293 + 3 = 296.
    assert.deepEqual(second.usage, { inputTokens: 6, outputTokens: 13, totalTokens: 309, cacheReadInputTokens: 290, cacheWriteInputTokens: 0 });
    const [write, read] = await spans(2);
    assert.equal(write?.attributes['gen_ai.usage.input_tokens'], 296);
    assert.equal(write?.attributes['gen_ai.usage.cache_creation.input_tokens'], 290);
    assert.equal(read?.attributes['gen_ai.usage.input_tokens'], 296);
    assert.equal(read?.attributes['gen_ai.usage.cache_read.input_tokens'], 290);
    assertUsd(write?.attributes['tollgate.cost.usd'], usd(6, SONNET_US.input) + usd(290, SONNET_US.cacheWrite) + usd(13, SONNET_US.output), 'write cost');
    assertUsd(read?.attributes['tollgate.cost.usd'], usd(6, SONNET_US.input) + usd(290, SONNET_US.cacheRead) + usd(13, SONNET_US.output), 'read cost');
  });

  void test('ConverseStreamCommand: events decoded from the event-stream frames, priced from the metadata event', async () => {
    const res = await client.send(new sdk.ConverseStreamCommand({ modelId: HAIKU_ID, messages: [userMessage(PROMPT)] }));
    assert.equal(await readStream(res.stream), ANSWER);
    const [span] = await spans(1);
    assert.equal(span?.attributes['gen_ai.request.stream'], true);
    assert.deepEqual(span?.attributes['gen_ai.response.finish_reasons'], ['end_turn']);
    assert.equal(span?.attributes['gen_ai.usage.input_tokens'], 6);
    assert.equal(span?.attributes['gen_ai.usage.output_tokens'], 13);
    assertUsd(span?.attributes['tollgate.cost.usd'], usd(6, HAIKU_GLOBAL.input) + usd(13, HAIKU_GLOBAL.output), 'cost');
  });

  void test('an inference-profile ARN: the request goes to the ARN, the span names and prices the profile\'s model', async () => {
    const arn = `arn:aws:bedrock:us-east-1:123456789012:inference-profile/${SONNET_ID}`;
    await client.send(new sdk.ConverseCommand({ modelId: arn, messages: [userMessage(PROMPT)] }));
    const [span] = await spans(1);
    assert.equal(server.requests[0]?.path, `/model/${encodeURIComponent(arn)}/converse`);
    assert.equal(span?.attributes['gen_ai.request.model'], SONNET_ID);
    assertUsd(span?.attributes['tollgate.cost.usd'], usd(6, SONNET_US.input) + usd(13, SONNET_US.output), 'cost');
  });

  void test('the aggregated BedrockRuntime client goes through the same send', async () => {
    const aggregated = new sdk.BedrockRuntime(clientOptions({ maxAttempts: 1 }));
    await aggregated.converse({ modelId: SONNET_ID, messages: [userMessage(PROMPT)] });
    aggregated.destroy();
    const [span] = await spans(1);
    assert.equal(span?.attributes['gen_ai.usage.output_tokens'], 13);
  });
});

void describe('InvokeModel with Anthropic bodies', () => {
  const body = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 100, messages: [{ role: 'user', content: [{ type: 'text', text: PROMPT }] }], ...extra });

  void test('InvokeModelCommand: priced from the body\'s usage', async () => {
    const res = await client.send(new sdk.InvokeModelCommand({ modelId: SONNET_ID, body: body(), contentType: 'application/json' }));
    const answer = JSON.parse(Buffer.from(res.body).toString('utf8'));
    assert.equal(answer.content[0].text, ANSWER);
    const [span] = await spans(1);
    assert.equal(span?.attributes['gen_ai.response.id'], answer.id);
    assert.deepEqual(span?.attributes['gen_ai.response.finish_reasons'], ['end_turn']);
    assert.equal(span?.attributes['gen_ai.request.max_tokens'], 100);
    assertUsd(span?.attributes['tollgate.cost.usd'], usd(6, SONNET_US.input) + usd(13, SONNET_US.output), 'cost');
  });

  void test('InvokeModelWithResponseStreamCommand: chunks decoded, priced from message_start + message_delta', async () => {
    const res = await client.send(new sdk.InvokeModelWithResponseStreamCommand({ modelId: SONNET_ID, body: new TextEncoder().encode(body()), contentType: 'application/json' }));
    assert.equal(await readStream(res.body), ANSWER);
    const [span] = await spans(1);
    assert.equal(span?.attributes['gen_ai.request.stream'], true);
    assert.equal(span?.attributes['gen_ai.usage.input_tokens'], 6);
    assert.equal(span?.attributes['gen_ai.usage.output_tokens'], 13);
    assert.equal(span?.attributes['tollgate.usage.estimated'], false);
  });

  void test('the gate clamps max_tokens inside the body the provider receives', async () => {
    switchable.current = scriptedGate({ action: 'rewrite', maxTokens: 4 });
    const original = body();
    const command = new sdk.InvokeModelCommand({ modelId: SONNET_ID, body: original });
    await client.send(command);
    assert.equal(command.input.body, original, 'the caller\'s command is untouched');
    assert.equal((server.requests[0]?.body as Record<string, unknown>)['max_tokens'], 4);
    const [span] = await spans(1);
    assert.equal(span?.attributes['gen_ai.usage.output_tokens'], 4);
    assert.equal(span?.attributes['tollgate.policy.original_max_tokens'], 100);
  });
});

void describe('the gate', () => {
  for (const kind of ['ConverseCommand', 'ConverseStreamCommand', 'InvokeModelCommand'] as const) {
    void test(`${kind}: a refusal rejects with BudgetExceededError, nothing is signed or sent`, async () => {
      const error = new BudgetExceededError({ scope: 'agent.daily', agent: 'a', taskId: null, limitUsd: 1, spentUsd: 1, reservedUsd: 0, estimatedUsd: 0.01, resetAt: null });
      const gate = scriptedGate({ action: 'block', error });
      switchable.current = gate;
      const input =
        kind === 'InvokeModelCommand'
          ? { modelId: SONNET_ID, body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 10, messages: [{ role: 'user', content: PROMPT }] }) }
          : { modelId: SONNET_ID, messages: [userMessage(PROMPT)] };
      // Default retry settings (3 attempts).
      const retrying = new sdk.BedrockRuntimeClient(clientOptions());
      const caught = await rejection(retrying.send(new sdk[kind](input)));
      retrying.destroy();
      assert.equal(caught, error);
      assert.equal(gate.admits, 1);
      assert.equal(server.requests.length, 0);
      const [span] = await spans(1);
      assert.equal(span?.attributes['error.type'], 'tollgate.budget_exceeded');
    });
  }

  void test('Converse: the clamp lands in inferenceConfig.maxTokens, the model switch in the path', async () => {
    switchable.current = scriptedGate({ action: 'rewrite', maxTokens: 3, model: HAIKU_ID });
    const res = await client.send(new sdk.ConverseCommand({ modelId: SONNET_ID, messages: [userMessage(PROMPT)], inferenceConfig: { maxTokens: 200, temperature: 0.2 } }));
    assert.equal(res.usage.outputTokens, 3);
    assert.equal(server.requests[0]?.path, `/model/${encodeURIComponent(HAIKU_ID)}/converse`);
    assert.deepEqual((server.requests[0]?.body as Record<string, unknown>)['inferenceConfig'], { maxTokens: 3, temperature: 0.2 });
    const [span] = await spans(1);
    assert.equal(span?.attributes['gen_ai.request.model'], HAIKU_ID);
    assert.equal(span?.attributes['tollgate.policy.original_model'], SONNET_ID);
    assertUsd(span?.attributes['tollgate.cost.usd'], usd(6, HAIKU_GLOBAL.input) + usd(3, HAIKU_GLOBAL.output), 'cost at the new model');
  });
});

void describe('bad input', () => {
  for (const [status, type] of [
    [400, 'ValidationException'],
    [500, 'InternalServerException'],
  ] as const) {
    void test(`HTTP ${status}: the SDK's ${type}, the span failed and unpriced`, async () => {
      server.setNextResponse(bedrockError(status));
      const caught = await rejection(client.send(new sdk.ConverseCommand({ modelId: SONNET_ID, messages: [userMessage(PROMPT)] })));
      assert.equal((caught as Error).name, type);
      const [span] = await spans(1);
      assert.equal(span?.status.code, SpanStatusCode.ERROR);
      assert.equal(span?.attributes['error.type'], type);
      assert.equal(span?.attributes['tollgate.cost.usd'], undefined);
    });
  }

  void test('a corrupt event-stream frame: the stream throws, the span is estimated and failed, never $0', async () => {
    server.injectFault({ kind: 'malformed-sse', afterEvents: 3 });
    const res = await client.send(new sdk.ConverseStreamCommand({ modelId: SONNET_ID, messages: [userMessage(PROMPT)] }));
    const caught = await rejection(readStream(res.stream));
    assert.match(String(caught), /checksum|crc/i);
    const [span] = await spans(1);
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
    assert.equal(span?.attributes['tollgate.usage.estimated'], true);
    assert.equal(span?.attributes['gen_ai.usage.input_tokens'], countTokens(PROMPT, SONNET_ID));
    // Two words arrived before the bad frame (messageStart, then two deltas).
    assert.equal(span?.attributes['gen_ai.usage.output_tokens'], countTokens('The stand-in', SONNET_ID));
    assert.ok((span?.attributes['tollgate.cost.usd'] as number) > 0);
  });

  void test('a cut event stream: estimated and failed', async () => {
    server.injectFault({ kind: 'cut-stream', afterEvents: 4 });
    const res = await client.send(new sdk.InvokeModelWithResponseStreamCommand({ modelId: SONNET_ID, body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 50, messages: [{ role: 'user', content: PROMPT }] }) }));
    await rejection(readStream(res.body));
    const [span] = await spans(1);
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
    assert.equal(span?.attributes['tollgate.usage.estimated'], true);
    assert.ok((span?.attributes['tollgate.cost.usd'] as number) > 0);
  });

  void test('no usage (Converse and ConverseStream): estimated and flagged, never $0', async () => {
    server.injectFault({ kind: 'no-usage' }, { times: 2 });
    await client.send(new sdk.ConverseCommand({ modelId: SONNET_ID, messages: [userMessage(PROMPT)] }));
    const res = await client.send(new sdk.ConverseStreamCommand({ modelId: SONNET_ID, messages: [userMessage(PROMPT)] }));
    await readStream(res.stream);
    for (const span of await spans(2)) {
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], countTokens(PROMPT, SONNET_ID));
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], countTokens(ANSWER, SONNET_ID));
      assert.ok((span.attributes['tollgate.cost.usd'] as number) > 0);
    }
  });

  void test('a consumer that breaks out of the stream ends the span', async () => {
    const res = await client.send(new sdk.ConverseStreamCommand({ modelId: SONNET_ID, messages: [userMessage(PROMPT)] }));
    for await (const event of res.stream) {
      if (event.contentBlockDelta !== undefined) break;
    }
    const [span] = await spans(1);
    assert.equal(span?.attributes['tollgate.usage.estimated'], true);
  });
});
