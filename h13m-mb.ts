import { createRequire } from 'node:module';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { CostSpanProcessor } from './src/processor/index.ts';
import { defaultPriceTable } from './src/pricing/index.ts';
import { MistralInstrumentation } from './src/instrumentation/mistral/index.ts';
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const prices = defaultPriceTable();
const provider = new TracerProvider({ spanProcessors: [new CostSpanProcessor({ prices, meterProvider: new MeterProvider() }), new BatchSpanProcessor({ exporter: { export: (_s, d) => d({ code: 0 }), shutdown: () => Promise.resolve() }, maxQueueSize: 1 << 16 })] });
const on = process.env.ON === '1';
const inst = new MistralInstrumentation({ prices, enabled: false });
inst.setTracerProvider(provider);
if (on) inst.enable();
const { HTTPClient, Mistral } = createRequire(import.meta.url)('@mistralai/mistralai');
const answer = JSON.stringify({ id: 'b', object: 'chat.completion', created: 1, model: 'mistral-small-latest', choices: [{ index: 0, message: { role: 'assistant', content: 'Atlantic Ocean.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 22, completion_tokens: 3, total_tokens: 25 } });
const fetcher = () => Promise.resolve(new Response(answer, { status: 200, headers: { 'content-type': 'application/json' } }));
const sdk = new Mistral({ apiKey: 'bench', serverURL: 'http://bench.invalid', httpClient: new HTTPClient({ fetcher }) });
const messages = [{ role: 'user', content: 'Which ocean lies between Europe and America?' }];
for (let i = 0; i < 2000; i++) { await sdk.chat.complete({ model: 'mistral-small-latest', messages }); if (i % 500 === 0) await provider.forceFlush(); }
const xs: number[] = [];
for (let r = 0; r < 10; r++) { (globalThis as any).gc?.(); const b = process.cpuUsage(); for (let i = 0; i < 300; i++) await sdk.chat.complete({ model: 'mistral-small-latest', messages }); const u = process.cpuUsage(b); xs.push((u.user + u.system) / 300); await provider.forceFlush(); }
xs.sort((a, b) => a - b); console.log(on ? 'on ' : 'off', xs[5]?.toFixed(0));
