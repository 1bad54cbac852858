// Retained heap per pending span: N calls, gc, heapUsed delta / N (tollgate vs bare), per client.
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { CostSpanProcessor } from '../src/processor/index.ts';
import { defaultPriceTable } from '../src/pricing/index.ts';
import { cannedFetch } from './canned.ts';
const [client, mode] = process.argv.slice(2);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const prices = defaultPriceTable();
const provider = new TracerProvider({ spanProcessors: [new CostSpanProcessor({ prices, meterProvider: new MeterProvider() }), new BatchSpanProcessor({ exporter: { export: (_s, done) => done({ code: 0 }), shutdown: () => Promise.resolve() }, maxQueueSize: 1 << 16, maxExportBatchSize: 1 << 16, scheduledDelayMillis: 1e9 })] });
if (mode === 'tollgate') {
  const i = client === 'openai' ? new (await import('../src/instrumentation/openai/index.ts')).OpenAIInstrumentation({ prices, enabled: false, moduleNames: ['openai-v6'] }) : new (await import('../src/instrumentation/bedrock/index.ts')).BedrockInstrumentation({ prices, enabled: false });
  i.setTracerProvider(provider); i.enable();
}
const require = createRequire(import.meta.url);
let call: () => Promise<unknown>;
if (client === 'openai') {
  const { OpenAI } = require('openai-v6');
  const sdk = new OpenAI({ apiKey: 'sk', baseURL: 'http://bench.invalid/v1', fetch: cannedFetch(), maxRetries: 0 });
  call = () => sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Which ocean lies between Europe and America?' }] });
} else {
  const { BedrockRuntimeClient, ConverseCommand } = require('@aws-sdk/client-bedrock-runtime');
  const answer = Buffer.from(JSON.stringify({ output: { message: { role: 'assistant', content: [{ text: 'Atlantic Ocean.' }] } }, stopReason: 'end_turn', usage: { inputTokens: 22, outputTokens: 3, totalTokens: 25 }, metrics: { latencyMs: 1 } }));
  const requestHandler = { handle: () => Promise.resolve({ response: { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Readable.from([answer]) } }), updateHttpClientConfig() {}, httpHandlerConfigs: () => ({}), destroy() {} };
  const sdk = new BedrockRuntimeClient({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' }, requestHandler, maxAttempts: 1 });
  call = () => sdk.send(new ConverseCommand({ modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', messages: [{ role: 'user', content: [{ text: 'Which ocean lies between Europe and America?' }] }] }));
}
for (let i = 0; i < 300; i++) await call();
await provider.forceFlush();
const gc = (globalThis as { gc: () => void }).gc;
gc(); gc();
const before = process.memoryUsage().heapUsed;
const N = 2000;
for (let i = 0; i < N; i++) await call();
await new Promise((r) => setTimeout(r, 50));
gc(); gc();
console.log(client, mode, 'retained bytes per call before flush:', ((process.memoryUsage().heapUsed - before) / N).toFixed(0));
await provider.forceFlush(); gc(); gc();
console.log(client, mode, 'after flush:', ((process.memoryUsage().heapUsed - before) / N).toFixed(0));
process.exit(0);
