// One mode of instrumentation.bench.ts in its own process, as a service runs it: the `openai`
// SDK (openai-v6) loaded once, patched once by at most one instrumentation, with that mode's
// OTel pipeline. The parent sends `{ batch, stream }` over IPC; the worker makes that many calls
// and answers with the latency of each, its own CPU for the batch (process.cpuUsage; the export
// flush inside the window when `exportInCpu`) and the spans its provider ended. Between batches:
// a flush and a GC, outside the measured window. Not a benchmark file by itself (no `.bench.ts`).
import { createRequire } from 'node:module';
import { context, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OpenAIInstrumentation as OfficialInstrumentation } from '@opentelemetry/instrumentation-openai';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { resolveConfig } from '../src/config/index.ts';
import { OpenAIInstrumentation } from '../src/instrumentation/openai/index.ts';
import { createBudgetPolicy } from '../src/policy/index.ts';
import { computeCost, defaultPriceTable } from '../src/pricing/index.ts';
import { CostSpanProcessor } from '../src/processor/index.ts';
import { cannedFetch, cannedSse } from './canned.ts';

/** What the parent asks of this worker (JSON in BENCH_WORKER). */
export interface WorkerConfig {
  readonly mode: string;
  /** The stand-in server's base URL; absent: an in-memory `fetch` with canned answers. */
  readonly standinUrl?: string;
  /** An OTLP/HTTP sink; absent: no-op exporters. */
  readonly sinkUrl?: string;
  /** `agent`: a 6-message agent turn; else one user message. */
  readonly messages: 'single' | 'agent';
  readonly exportInCpu: boolean;
  /** Words of the canned streamed answer (in-memory only). */
  readonly words?: number;
}

/** A batch's result, as sent to the parent. */
export interface BatchResult {
  readonly samples: number[];
  readonly cpuMicros: number;
  readonly ended: number;
}

const SDK = 'openai-v6';
const config = JSON.parse(process.env['BENCH_WORKER'] ?? '{}') as WorkerConfig;
const mode = config.mode;
const require = createRequire(import.meta.url);
const gc = (globalThis as { gc?: () => void }).gc;

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const resource = resourceFromAttributes({ 'service.name': 'bench' });
const prices = defaultPriceTable();

const noopSpans: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve() };
const noopLogs: LogRecordExporter = { export: (_logs, done) => done({ code: 0 }), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
const noopMetrics: PushMetricExporter = { export: (_m, done) => done({ code: 0 }), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };

// NodeSDK-like pipelines: a MeterProvider with a periodic reader (60 s, its default), a batch span
// processor, and for `official+logs` a LoggerProvider with a batch processor.
const meterProvider = new MeterProvider({ resource, readers: [new PeriodicExportingMetricReader({ exporter: noopMetrics, exportIntervalMillis: 60_000 })] });
const meter = meterProvider.getMeter('tollgate');
const spanExporter: SpanExporter = config.sinkUrl === undefined ? noopSpans : new OTLPTraceExporter({ url: `${config.sinkUrl}/v1/traces` });
let ended = 0;
const counter: SpanProcessor = {
  onStart: () => {},
  onEnd: () => {
    ended++;
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
const processors: SpanProcessor[] = [];
let onTaskEnd: ((task: Parameters<NonNullable<ConstructorParameters<typeof CostSpanProcessor>[0]['onTaskEnd']>>[0]) => void) | undefined;
const policy = mode === 'tollgate+policy' ? await createBudgetPolicy({ config: resolveConfig({ env: {} }), prices, meter }) : undefined;
if (policy !== undefined) onTaskEnd = (task) => policy.observeCompletedTask(task);
if (mode === 'tollgate' || mode === 'tollgate+policy') processors.push(new CostSpanProcessor({ prices, meter, ...(onTaskEnd === undefined ? {} : { onTaskEnd }) }));
processors.push(new BatchSpanProcessor({ exporter: spanExporter, maxQueueSize: 1 << 16 }), counter);
const tracerProvider = new TracerProvider({ resource, spanProcessors: processors });
const loggerProvider = new LoggerProvider({
  resource,
  processors: [new BatchLogRecordProcessor({ exporter: config.sinkUrl === undefined ? noopLogs : new OTLPLogExporter({ url: `${config.sinkUrl}/v1/logs` }), maxQueueSize: 1 << 16 })],
});

interface BenchClient {
  chat: { completions: { create(body: object): Promise<unknown> } };
}
interface Sdk {
  OpenAI: (new (o: object) => BenchClient) & { Chat: { Completions: { prototype: { create: ((this: unknown, ...a: unknown[]) => unknown) & { __wrapped?: boolean } } } } };
}
const sdk = require(SDK) as Sdk;
const version = (require(`${SDK}/version`) as { VERSION: string }).VERSION;

/** Patches the SDK with an instrumentation's own module definition (its version range allows 6.x), then enables it. */
function patch(inst: { enable(): void; getModuleDefinitions(): unknown }): void {
  const defs = inst.getModuleDefinitions() as { supportedVersions: string[]; patch?: (e: unknown, v?: string) => unknown }[];
  const def = defs.find((d) => d.supportedVersions.some((r) => !r.startsWith('<4')));
  if (def?.patch === undefined) throw new Error('no module definition');
  def.patch(sdk, version);
  // The official instrumentation traces only while enabled; enabling after the SDK is loaded hooks future requires only.
  inst.enable();
}

switch (mode) {
  case 'tollgate':
  case 'tollgate instr':
  case 'tollgate+policy': {
    const inst = new OpenAIInstrumentation({ moduleNames: [SDK], prices, enabled: false, ...(policy === undefined ? {} : { gate: policy }) });
    inst.setTracerProvider(tracerProvider);
    inst.setMeterProvider(meterProvider);
    patch(inst);
    break;
  }
  case 'official':
  case 'official+logs': {
    const inst = new OfficialInstrumentation({ enabled: false });
    inst.setTracerProvider(tracerProvider);
    inst.setMeterProvider(meterProvider);
    // `official`: its per-message log events go nowhere (its cheapest case); `official+logs`: NodeSDK's default pipeline.
    inst.setLoggerProvider(mode === 'official+logs' ? loggerProvider : ({ getLogger: () => ({ emit: () => {} }) } as never));
    patch(inst);
    break;
  }
  case 'hand-made span': {
    const proto = sdk.OpenAI.Chat.Completions.prototype;
    proto.create = handMadeCreate(proto.create, tracerProvider.getTracer('hand-made'));
    break;
  }
  case 'bare A':
  case 'bare B':
  case 'bare+usage':
    break;
  default:
    throw new Error(`unknown mode ${mode}`);
}
const instrumented = mode !== 'bare A' && mode !== 'bare B' && mode !== 'bare+usage';

interface ChatResult {
  id: string;
  model: string;
  choices: { finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens?: number }; completion_tokens_details?: { reasoning_tokens?: number } };
}

const servers = new Map<string, { address: string; port: number }>();
/** Address and port of a base URL, parsed once per URL (as an instrumentation caches it per client). */
function serverOf(baseURL: string): { address: string; port: number } {
  let s = servers.get(baseURL);
  if (s === undefined) {
    const url = new URL(baseURL);
    s = { address: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
    servers.set(baseURL, s);
  }
  return s;
}

/**
 * The reference floor: the smallest wrapper that gives a priced span the way both
 * instrumentations do (active span, one `.then` that prices and sets the response, usage and
 * cost attributes tollgate's instrumentation sets, then `end`). Non-streaming calls only.
 */
function handMadeCreate(original: (this: unknown, ...a: unknown[]) => unknown, tracer: Tracer) {
  return function handMade(this: unknown, ...args: unknown[]): unknown {
    const body = args[0] as { model: string; stream?: boolean };
    const server = serverOf((this as { _client?: { baseURL?: string } })._client?.baseURL ?? 'http://localhost');
    const parent = context.active();
    const span = tracer.startSpan(
      `chat ${body.model}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'openai',
          'gen_ai.request.model': body.model,
          'gen_ai.request.stream': body.stream === true,
          'server.address': server.address,
          'server.port': server.port,
        },
      },
      parent,
    );
    const promise = context.with(trace.setSpan(parent, span), () => original.apply(this, args)) as Promise<ChatResult>;
    promise.then(
      (r) => {
        const u = r.usage;
        const lookup = prices.lookup(r.model, 'openai');
        const usage = {
          inputTokens: u.prompt_tokens,
          outputTokens: u.completion_tokens,
          cacheReadTokens: u.prompt_tokens_details?.cached_tokens ?? 0,
          reasoningTokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
        };
        const cost = computeCost(usage, lookup.price);
        span.setAttributes({
          'gen_ai.response.id': r.id,
          'gen_ai.response.model': r.model,
          'gen_ai.response.finish_reasons': r.choices.map((c) => c.finish_reason),
          'gen_ai.usage.input_tokens': usage.inputTokens,
          'gen_ai.usage.output_tokens': usage.outputTokens,
          'gen_ai.usage.cache_read.input_tokens': usage.cacheReadTokens,
          'gen_ai.usage.reasoning.output_tokens': usage.reasoningTokens,
          'tollgate.usage.estimated': false,
          'tollgate.cost.usd': cost.totalUsd,
          'gen_ai.usage.cost': cost.totalUsd,
          'tollgate.cost.input_usd': cost.inputUsd,
          'tollgate.cost.output_usd': cost.outputUsd,
          'tollgate.cost.cache_read_usd': cost.cacheReadUsd,
          'tollgate.cost.cache_write_usd': cost.cacheWriteUsd,
          'tollgate.cost.source': lookup.source,
        });
        span.end();
      },
      (error: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.recordException(error as Error);
        span.end();
      },
    );
    return promise;
  };
}

const words = config.words === undefined ? undefined : Array.from({ length: config.words }, (_, i) => ` w${i}`);
const inMemoryFetch = cannedFetch(cannedSse(words));

// In memory, the client keeps OpenAI's own base URL (the `fetch` never leaves the process): an
// unknown host would be priced by tollgate as an unknown OpenAI-compatible provider (fallback
// rates and the unpriced-calls counter, docs/coverage.md), a path the other modes do not take.
const client = new sdk.OpenAI(
  config.standinUrl === undefined
    ? { apiKey: 'sk-bench', baseURL: 'https://api.openai.com/v1', maxRetries: 0, fetch: inMemoryFetch }
    : { apiKey: 'sk-bench', baseURL: `${config.standinUrl}/v1`, maxRetries: 0 },
);

/** One user message. */
const singleMessage = [{ role: 'user', content: 'Answer in up to 3 words: Which ocean contains Bouvet Island?' }];
/** An agent turn: system prompt, the question, two tool calls and their results. */
const agentTurn = [
  { role: 'system', content: 'You are a research agent. Use the search tool, then answer briefly.' },
  { role: 'user', content: 'Answer in up to 3 words: Which ocean contains Bouvet Island?' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'search', arguments: '{"q":"Bouvet Island"}' } }] },
  { role: 'tool', tool_call_id: 'call_1', content: 'Bouvet Island is a subantarctic volcanic island in the South Atlantic Ocean.' },
  { role: 'assistant', content: 'Checking one more source.', tool_calls: [{ id: 'call_2', type: 'function', function: { name: 'search', arguments: '{"q":"Bouvet Island ocean"}' } }] },
  { role: 'tool', tool_call_id: 'call_2', content: 'South Atlantic Ocean, near the Southern Ocean.' },
];
const messages = config.messages === 'agent' ? agentTurn : singleMessage;

async function oneCall(stream: boolean): Promise<void> {
  if (!stream) {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    return;
  }
  // No stream_options, as most callers (tollgate then asks for usage and hides the usage-only
  // chunk, its costlier path); `bare+usage` asks for the usage chunk itself.
  const body =
    mode === 'bare+usage'
      ? { model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } }
      : { model: 'gpt-4o-mini', messages, stream: true };
  const s = (await client.chat.completions.create(body)) as AsyncIterable<unknown>;
  for await (const _ of s) void _;
}

const flush = () => Promise.all([tracerProvider.forceFlush(), loggerProvider.forceFlush()]);

async function batch(n: number, stream: boolean): Promise<BatchResult> {
  const endedBefore = ended;
  const samples: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await oneCall(stream);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  // As deployed, serialising and sending what the calls produced is part of their CPU.
  if (config.exportInCpu) await flush();
  const used = process.cpuUsage(cpu0);
  await flush();
  gc?.();
  const count = ended - endedBefore;
  if (instrumented && count < n) throw new Error(`bench worker: mode "${mode}" ended ${count} spans for ${n} calls: it is not tracing`);
  return { samples, cpuMicros: used.user + used.system, ended: count };
}

process.on('message', (m: { batch: number; stream: boolean }) => {
  batch(m.batch, m.stream).then(
    (result) => process.send?.({ result }),
    (error: unknown) => process.send?.({ error: error instanceof Error ? error.message : String(error) }),
  );
});
process.once('disconnect', () => {
  void Promise.all([tracerProvider.shutdown(), loggerProvider.shutdown(), meterProvider.shutdown(), policy?.close()]).finally(() => process.exit(0));
});
process.send?.({ ready: true });
