/**
 * Bedrock over the client's DEFAULT request handler: `@aws-sdk/client-bedrock-runtime` builds a
 * `NodeHttp2Handler` (HTTP/2) unless given another; the other Bedrock tests pass the SDK's HTTP/1.1
 * handler. Here the stand-in speaks HTTP/2 (h2c: an `http://` endpoint, prior knowledge, the way
 * `http2.connect` reaches it) and nothing is passed: the span, the usage read from ConverseStream's
 * event-stream frames (carried in HTTP/2 DATA frames), the early stop, a reset stream and the gate
 * (block before anything is sent, clamp inside the request) behave as over HTTP/1.1.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, beforeEach, test } from 'node:test';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { BudgetExceededError } from '../../src/errors.ts';
import { ALLOW_ALL } from '../../src/gate.ts';
import type { CallGate, GateDecision } from '../../src/gate.ts';
import { BedrockInstrumentation } from '../../src/instrumentation/bedrock/index.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { bedrockRoutes } from '../../src/standin/bedrock.ts';
import { ANSWER_WORDS, startStandinServer } from '../../src/standin/server.ts';
import type { StandinServer } from '../../src/standin/server.ts';
import { dailyRefusal } from '../support/gates.ts';

// Claude Haiku 4.5, global inference profile: $1 in / $5 out per 1M tokens (aws.amazon.com/bedrock/pricing).
const HAIKU_ID = 'global.anthropic.claude-haiku-4-5-20251001-v1:0';
const PROMPT = 'Hello there'; // stand-in: ceil(11 / 4) + 3 per message = 6 input tokens; 13 output
const ANSWER = ANSWER_WORDS.join('');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const gate: CallGate & { decision: GateDecision; admits: number } = {
  decision: { action: 'allow' },
  admits: 0,
  admit() {
    gate.admits++;
    return gate.decision.action === 'allow' ? ALLOW_ALL.admit(undefined as never) : Promise.resolve(gate.decision);
  },
  complete() {},
  abort() {},
};
const instrumentation = new BedrockInstrumentation({ prices: createPriceTable(), gate, enabled: false });
instrumentation.setTracerProvider(provider);
instrumentation.enable();
const sdk = createRequire(import.meta.url)('@aws-sdk/client-bedrock-runtime') as Loose;

let server: StandinServer;
let client: Loose;
before(async () => {
  server = await startStandinServer({ routes: bedrockRoutes(), http2: true });
  // No requestHandler: the SDK's default. Default retries too.
  client = new sdk.BedrockRuntimeClient({ region: 'us-east-1', endpoint: server.url, credentials: { accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'standin-secret' } });
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
  gate.decision = { action: 'allow' };
  gate.admits = 0;
});

/** The one span of the last call, once it has ended. */
async function onlySpan(): Promise<ReadableSpan> {
  const deadline = Date.now() + 5000;
  while (exporter.getFinishedSpans().length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
  const all = exporter.getFinishedSpans();
  assert.equal(all.length, 1, `exactly one span: ${all.map((s) => s.name).join(', ')}`);
  return all[0] as ReadableSpan;
}

const converseStream = (maxTokens?: number): Loose =>
  new sdk.ConverseStreamCommand({ modelId: HAIKU_ID, messages: [{ role: 'user', content: [{ text: PROMPT }] }], ...(maxTokens === undefined ? {} : { inferenceConfig: { maxTokens } }) });

async function textOf(stream: AsyncIterable<Record<string, Loose>>): Promise<string> {
  let text = '';
  for await (const event of stream) text += event['contentBlockDelta']?.delta?.text ?? '';
  return text;
}

test('the default handler is the SDK\'s HTTP/2 one, and the stand-in is reached over HTTP/2', async () => {
  const handler = await client.config.requestHandler;
  assert.equal(handler.constructor.name, 'NodeHttp2Handler');
  const res = await client.send(new sdk.ConverseCommand({ modelId: HAIKU_ID, messages: [{ role: 'user', content: [{ text: PROMPT }] }] }));
  assert.equal(res.output.message.content[0].text, ANSWER);
  assert.equal(server.requests[0]?.httpVersion, '2.0');
  const span = await onlySpan();
  assert.equal(span.attributes['gen_ai.usage.input_tokens'], 6);
  assert.equal(span.attributes['gen_ai.usage.output_tokens'], 13);
});

test('ConverseStream over HTTP/2: one span, priced from the metadata event, exact tokens and cost', async () => {
  const res = await client.send(converseStream());
  assert.equal(await textOf(res.stream), ANSWER);
  assert.equal(server.requests[0]?.httpVersion, '2.0');
  const span = await onlySpan();
  assert.equal(span.name, `chat ${HAIKU_ID}`);
  assert.equal(span.attributes['gen_ai.provider.name'], 'aws.bedrock');
  assert.equal(span.attributes['gen_ai.request.stream'], true);
  assert.deepEqual(span.attributes['gen_ai.response.finish_reasons'], ['end_turn']);
  assert.equal(span.attributes['gen_ai.usage.input_tokens'], 6);
  assert.equal(span.attributes['gen_ai.usage.output_tokens'], 13);
  assert.equal(span.attributes['tollgate.usage.estimated'], false);
  assert.ok(Math.abs((span.attributes['tollgate.cost.usd'] as number) - (6 * 1 + 13 * 5) / 1e6) < 1e-15);
});

test('a ConverseStream the consumer stops reading early ends its span, estimated; the session serves the next call', async () => {
  const res = await client.send(converseStream());
  for await (const event of res.stream as AsyncIterable<Record<string, Loose>>) if (event['contentBlockDelta'] !== undefined) break;
  const span = await onlySpan();
  assert.equal(span.attributes['tollgate.usage.estimated'], true);
  assert.ok(Number(span.attributes['tollgate.cost.usd']) > 0, 'estimated, never $0');
  exporter.reset();
  const next = await client.send(converseStream());
  assert.equal(await textOf(next.stream), ANSWER);
  assert.equal((await onlySpan()).attributes['tollgate.usage.estimated'], false);
});

test('an HTTP/2 stream reset mid-answer: the read rejects, the span ends in error, estimated', async () => {
  server.injectFault({ kind: 'cut-stream', afterEvents: 2 });
  const res = await client.send(converseStream());
  await assert.rejects(textOf(res.stream));
  const span = await onlySpan();
  assert.ok(span.attributes['error.type'] !== undefined, JSON.stringify(span.attributes));
  assert.equal(span.attributes['tollgate.usage.estimated'], true);
});

test('the gate blocks before anything is sent over HTTP/2', async () => {
  gate.decision = { action: 'block', error: dailyRefusal() };
  await assert.rejects(client.send(converseStream()), BudgetExceededError);
  assert.equal(server.requests.length, 0);
  assert.equal(gate.admits, 1, 'asked once: the SDK did not retry the refusal');
  assert.equal((await onlySpan()).attributes['error.type'], 'tollgate.budget_exceeded');
});

test('the gate\'s clamp lands in the HTTP/2 request\'s inferenceConfig.maxTokens', async () => {
  gate.decision = { action: 'rewrite', maxTokens: 3 };
  const res = await client.send(converseStream(50));
  assert.equal(await textOf(res.stream), ANSWER_WORDS.slice(0, 3).join(''));
  assert.deepEqual((server.requests[0]?.body as Record<string, Loose>)['inferenceConfig'], { maxTokens: 3 });
  const span = await onlySpan();
  assert.equal(span.attributes['gen_ai.usage.output_tokens'], 3);
  assert.equal(span.attributes['tollgate.policy.original_max_tokens'], 50);
});
