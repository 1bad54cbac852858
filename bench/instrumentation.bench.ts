// Per-call cost of instrumenting the `openai` SDK: tollgate vs the official
// @opentelemetry/instrumentation-openai, over the bare SDK, in one run, with the OTel pipelines a
// user really runs (NodeSDK-style), not the global no-ops.
//
// - SDK: openai 6 (`openai-v6`), the newest major both support (the official one declares
//   openai >=4.19 <7; it gives openai 7 no spans at all).
// - Three sections, one process, the same modes:
//   1. in-memory, no-op export: the client gets an in-memory `fetch` returning a canned Response
//      (no sockets) and every exporter is a no-op: the instrumentations' own cost on the call path.
//      One user message per call (the official instrumentation emits one log event per message).
//   2. in-memory, OTLP export (as deployed): the same, but spans and log records go through the
//      real OTLP/HTTP protobuf exporters (NodeSDK's default protocol) to a sink in a child
//      process, and each batch's flush (serialising and sending) is inside its CPU window, not its
//      latency window; the prompt is an agent turn of 6 messages (system, user, two tool calls and
//      their results). The official side runs as NodeSDK sets it up by default: with a
//      LoggerProvider exporting its per-message log events.
//   3. loopback: the real client over HTTP to the stand-in server (src/standin), which runs in a
//      child process so the CPU per call is the client's alone. What a user sees, but the A/A
//      noise of a ~0.5-1 ms socket round trip hides differences of tens of us: below the A/A
//      floor, a difference is not resolvable (rows under it are marked).
// - Modes (separate providers, so no mode sees another's spans):
//   - tollgate: OpenAIInstrumentation (default price table, no gate = ALLOW_ALL, no content
//     capture) + a TracerProvider with [CostSpanProcessor (rollups, gen_ai.client.* and
//     tollgate.cost metrics on the shared MeterProvider), BatchSpanProcessor], the span
//     processors `startTollgate` installs, without a budget.
//   - official: OpenAIInstrumentation from @opentelemetry/instrumentation-openai (defaults: no
//     content capture) + a TracerProvider with [BatchSpanProcessor] + its gen_ai.client.*
//     histograms (3 records a call) on the shared MeterProvider. Its per-message log events go to
//     a no-op LoggerProvider (the cheapest case for it); `official+logs` (a second instance) gives
//     them a real LoggerProvider with a BatchLogRecordProcessor, as NodeSDK does by default.
//   - tollgate instr (diagnostic): tollgate's instrumentation on a provider without the
//     CostSpanProcessor: the priced span alone ("span + pricing"), no rollups, no metrics.
//   - hand-made span (reference floor, non-streaming only): the smallest wrapper that gives a
//     priced span the way both instrumentations do: `startSpan` with the request attributes,
//     the SDK call run with the span active (`context.with`, so transport spans nest), one
//     `.then` that prices the usage and sets the response, usage and cost attributes tollgate's
//     instrumentation sets, then `end`. No content, no stream handling, no `.asResponse()` care,
//     no budget hook. What any instrumentation with an active span pays here at least.
//   - tollgate+policy (informational): what `startTollgate` wires with no limit configured.
//   - bare+usage (loopback streams, diagnostic): the bare SDK with `stream_options.include_usage`
//     set by the caller: what the usage chunk tollgate asks for costs by itself.
//   - shared: AsyncLocalStorageContextManager (as NodeSDK), one MeterProvider per section with a
//     PeriodicExportingMetricReader (no-op exporter, 60 s interval, NodeSDK's default), one
//     resource.
// - Each mode runs its own copy of the SDK (loaded afresh), patched once at start as in a service:
//   no mode pays for V8 re-optimising SDK code that patching and unpatching a shared copy between
//   batches invalidates (which cost tollgate, with four patch points, most). Every batch checks
//   that its mode's provider ended one span per call. Modes alternate in rounds (order rotated each round). Between batches: span/log flush (inside
//   the CPU window in section 2, outside it otherwise) and a GC (outside the measured window), so
//   no mode pays for another's garbage or queue.
// - Streams are requested without stream_options (as most callers do): tollgate then adds
//   include_usage and hides the usage-only chunk, its costlier path.
// - Loopback streams: tollgate's added include_usage makes the stand-in send one more chunk (the
//   usage chunk), which is part of what tollgate costs a user there; bare and official get none.
// - Reports p50 latency per call and CPU per call (process.cpuUsage over each batch), the added
//   cost over the mean of the two bare series, the A/A noise floor (bare A vs bare B) and the
//   ratios tollgate added / official added, tollgate instr / official and hand-made / official.
//   Target (issue #2): tollgate (span + pricing, no budget) <= 0.5x the official.
// - Env: BENCH_TRANSPORT=memory|export|socket (comma list; default all), BENCH_ONLY=plain|stream,
//   BENCH_MODES (comma list), BENCH_ROUNDS / BENCH_BATCH (in-memory sections, default 10 x 200),
//   BENCH_SOCKET_ROUNDS / BENCH_SOCKET_BATCH (loopback, default 20 x 300), BENCH_WORDS (words of the
//   canned in-memory streamed answer, default 3; the stand-in streams 13). The whole file takes
//   about 2 min on 2 shared cores.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';
import { context, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { OpenAIInstrumentation as OfficialInstrumentation } from '@opentelemetry/instrumentation-openai';
import { OpenAIInstrumentation } from '../src/instrumentation/openai/index.ts';
import { computeCost, defaultPriceTable } from '../src/pricing/index.ts';
import { CostSpanProcessor } from '../src/processor/index.ts';
import { resolveConfig } from '../src/config/index.ts';
import { createBudgetPolicy, type BudgetPolicy } from '../src/policy/index.ts';

const require = createRequire(import.meta.url);
const SDK = 'openai-v6';
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 10);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 200);
const SOCKET_ROUNDS = Number(process.env['BENCH_SOCKET_ROUNDS'] ?? 20);
const SOCKET_BATCH = Number(process.env['BENCH_SOCKET_BATCH'] ?? 300);
const ONLY = process.env['BENCH_ONLY']; // 'stream' | 'plain' | undefined (both)
const gc = (globalThis as { gc?: () => void }).gc;

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const resource = resourceFromAttributes({ 'service.name': 'bench' });

type Mode = 'bare A' | 'tollgate' | 'bare B' | 'official' | 'official+logs' | 'tollgate instr' | 'hand-made span' | 'tollgate+policy' | 'bare+usage';
const ALL_MODES: Mode[] = ['bare A', 'tollgate', 'bare B', 'official', 'official+logs', 'tollgate instr', 'hand-made span', 'tollgate+policy', 'bare+usage'];
// BENCH_MODES=tollgate (comma list) runs only those modes, e.g. under `node --cpu-prof`.
const MODES: Mode[] = process.env['BENCH_MODES'] === undefined ? ALL_MODES : ALL_MODES.filter((m) => process.env['BENCH_MODES']?.split(',').includes(m));

const noopSpans: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve() };
const noopLogs: LogRecordExporter = { export: (_logs, done) => done({ code: 0 }), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
const noopMetrics: PushMetricExporter = { export: (_m, done) => done({ code: 0 }), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
const noopLoggerProvider = { getLogger: () => ({ emit: () => {} }) };
const prices = defaultPriceTable();

/** The providers of one section: every mode gets its own TracerProvider; all share one MeterProvider. */
interface Pipelines {
  readonly meterProvider: MeterProvider;
  readonly tollgate: TracerProvider;
  readonly instrOnly: TracerProvider;
  readonly policyProvider: TracerProvider;
  readonly official: TracerProvider;
  readonly officialLogs: TracerProvider;
  readonly hand: TracerProvider;
  readonly logs: LoggerProvider;
  /** Spans ended per mode's provider, to check every instrumented mode really traced its calls. */
  readonly ended: Map<TracerProvider, number>;
  readonly policy: BudgetPolicy;
  readonly flush: () => Promise<unknown>;
  readonly shutdown: () => Promise<unknown>;
}

/** Builds a section's providers; `sink` set: spans and logs go over OTLP/HTTP protobuf to it, else to no-op exporters. */
async function pipelines(sink: string | undefined): Promise<Pipelines> {
  const spanExporter = (): SpanExporter => (sink === undefined ? noopSpans : new OTLPTraceExporter({ url: `${sink}/v1/traces` }));
  const batchSpans = () => new BatchSpanProcessor({ exporter: spanExporter(), maxQueueSize: 1 << 16 });
  const ended = new Map<TracerProvider, number>();
  // A TracerProvider with `processors` plus a count of its ended spans (one integer add a span).
  const provider = (processors: SpanProcessor[]): TracerProvider => {
    const counter: SpanProcessor = {
      onStart: () => {},
      onEnd: () => ended.set(tp, (ended.get(tp) ?? 0) + 1),
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const tp: TracerProvider = new TracerProvider({ resource, spanProcessors: [...processors, counter] });
    return tp;
  };
  const meterProvider = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({ exporter: noopMetrics, exportIntervalMillis: 60_000 })],
  });
  const meter = meterProvider.getMeter('tollgate');
  // What `startTollgate` wires when NO limit is configured (informational `tollgate+policy`).
  const policy = await createBudgetPolicy({ config: resolveConfig({ env: {} }), prices, meter });
  const p = {
    meterProvider,
    tollgate: provider([new CostSpanProcessor({ prices, meter }), batchSpans()]),
    instrOnly: provider([batchSpans()]),
    policyProvider: provider([new CostSpanProcessor({ prices, meter, onTaskEnd: (task) => policy.observeCompletedTask(task) }), batchSpans()]),
    official: provider([batchSpans()]),
    officialLogs: provider([batchSpans()]),
    hand: provider([batchSpans()]),
    ended,
    logs: new LoggerProvider({
      resource,
      processors: [new BatchLogRecordProcessor({ exporter: sink === undefined ? noopLogs : new OTLPLogExporter({ url: `${sink}/v1/logs` }), maxQueueSize: 1 << 16 })],
    }),
    policy,
  };
  const traces = [p.tollgate, p.instrOnly, p.policyProvider, p.official, p.officialLogs, p.hand];
  return {
    ...p,
    flush: () => Promise.all([...traces.map((t) => t.forceFlush()), p.logs.forceFlush()]),
    shutdown: () => Promise.all([p.policy.close(), ...traces.map((t) => t.shutdown()), p.logs.shutdown(), meterProvider.shutdown()]),
  };
}

const tollgate = new OpenAIInstrumentation({ moduleNames: [SDK], prices, enabled: false });
// Diagnostic: tollgate's instrumentation alone (spans priced, no CostSpanProcessor, so no rollups
// and no metrics): how the added cost splits between the instrumentation and the processor.
const tollgateInstr = new OpenAIInstrumentation({ moduleNames: [SDK], prices, enabled: false });
const tollgatePolicy = new OpenAIInstrumentation({ moduleNames: [SDK], prices, enabled: false });
const official = new OfficialInstrumentation({ enabled: false });
const officialLogs = new OfficialInstrumentation({ enabled: false });
let handTracer: Tracer = trace.getTracer('unused');

/** Points every mode at a section's providers. */
function use(p: Pipelines): void {
  tollgate.setTracerProvider(p.tollgate);
  tollgate.setMeterProvider(p.meterProvider);
  tollgateInstr.setTracerProvider(p.instrOnly);
  tollgatePolicy.setTracerProvider(p.policyProvider);
  tollgatePolicy.setConfig({ moduleNames: [SDK], prices, gate: p.policy, enabled: false });
  official.setTracerProvider(p.official);
  official.setMeterProvider(p.meterProvider);
  official.setLoggerProvider(noopLoggerProvider as never);
  officialLogs.setTracerProvider(p.officialLogs);
  officialLogs.setMeterProvider(p.meterProvider);
  officialLogs.setLoggerProvider(p.logs);
  handTracer = p.hand.getTracer('hand-made');
}

interface BenchClient {
  chat: { completions: { create(body: object): Promise<unknown> & { then: unknown } } };
}
interface Sdk {
  OpenAI: (new (o: object) => BenchClient) & { Chat: { Completions: { prototype: { create: (this: unknown, ...a: unknown[]) => unknown } } } };
}

const sdkRoot = dirname(require.resolve(SDK)); // the package root: openai's CJS entry is its top-level index.js
const version = (require(`${SDK}/version`) as { VERSION: string }).VERSION;

/**
 * A fresh copy of the SDK (its own classes and functions). Each mode patches its own copy once
 * and never unpatches it: patching and unpatching one shared copy between batches made V8 drop
 * the SDK's optimised code and its inline caches each time, a cost that grew with the number of
 * patch points (tollgate patches four, the official instrumentation one) and that no deployed
 * service pays (it patches once, at start).
 */
function freshSdk(): Sdk {
  for (const key of Object.keys(require.cache)) if (key.startsWith(sdkRoot + sep)) delete require.cache[key];
  return require(SDK) as Sdk;
}

/** Patches one SDK copy with an instrumentation's own module definition (its version range allows 6.x). */
function patch(inst: unknown, exports: Sdk): void {
  const defs = (inst as { getModuleDefinitions(): { supportedVersions: string[]; patch?: (e: unknown, v?: string) => unknown }[] }).getModuleDefinitions();
  const def = defs.find((d) => d.supportedVersions.some((r) => !r.startsWith('<4')));
  if (def?.patch === undefined) throw new Error('no module definition');
  def.patch(exports, version);
}

const copies = new Map<Mode, Sdk>();
for (const mode of ALL_MODES) copies.set(mode, freshSdk());
const copy = (mode: Mode): Sdk => copies.get(mode) ?? assertNever(mode);
patch(tollgate, copy('tollgate'));
patch(tollgateInstr, copy('tollgate instr'));
patch(tollgatePolicy, copy('tollgate+policy'));
patch(official, copy('official'));
patch(officialLogs, copy('official+logs'));
{
  const proto = copy('hand-made span').OpenAI.Chat.Completions.prototype;
  proto.create = handMadeCreate(proto.create);
}
// The official instrumentation traces only while enabled (its wrappers check isEnabled()).
// Enabled after every copy is loaded and patched: it hooks future requires only; the check below
// proves no copy got a second patch or lost its own.
for (const inst of [tollgate, tollgateInstr, tollgatePolicy, official, officialLogs]) inst.enable();
for (const mode of ALL_MODES) {
  const patched = (copy(mode).OpenAI.Chat.Completions.prototype.create as { __wrapped?: boolean }).__wrapped === true;
  if (patched !== (mode === 'tollgate' || mode === 'tollgate instr' || mode === 'tollgate+policy' || mode === 'official' || mode === 'official+logs')) {
    throw new Error(`bench set-up: the SDK copy of mode "${mode}" is ${patched ? '' : 'not '}patched`);
  }
}

function assertNever(mode: Mode): never {
  throw new Error(`no SDK copy for mode ${mode}`);
}

interface ChatResult {
  id: string;
  model: string;
  choices: { finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens?: number }; completion_tokens_details?: { reasoning_tokens?: number } };
}

/** The reference floor: a minimal priced span (see the header), patched over `create` for one batch. */
function handMadeCreate(original: (this: unknown, ...a: unknown[]) => unknown) {
  return function handMade(this: unknown, ...args: unknown[]): unknown {
    const body = args[0] as { model: string; stream?: boolean };
    const url = new URL((this as { _client?: { baseURL?: string } })._client?.baseURL ?? 'http://localhost');
    const parent = context.active();
    const span = handTracer.startSpan(
      `chat ${body.model}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'openai',
          'gen_ai.request.model': body.model,
          'gen_ai.request.stream': body.stream === true,
          'server.address': url.hostname,
          'server.port': Number(url.port || 80),
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

const completion = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Atlantic Ocean.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 22, completion_tokens: 3, total_tokens: 25, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
});
const chunk = (choices: unknown[], usage: unknown = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini-2024-07-18', choices, usage })}\n\n`;
const sse =
  chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]) +
  (process.env['BENCH_WORDS'] === undefined ? ['Atlantic', ' Ocean', '.'] : Array.from({ length: Number(process.env['BENCH_WORDS']) }, (_, i) => ` w${i}`)).map((w) => chunk([{ index: 0, delta: { content: w }, finish_reason: null }])).join('') +
  chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]) +
  chunk([], { prompt_tokens: 22, completion_tokens: 3, total_tokens: 25 }) +
  'data: [DONE]\n\n';

const inMemoryFetch = (_url: unknown, init?: { body?: unknown }): Promise<Response> => {
  const stream = typeof init?.body === 'string' && init.body.includes('"stream":true');
  return Promise.resolve(
    new Response(stream ? sse : completion, { status: 200, headers: { 'content-type': stream ? 'text/event-stream' : 'application/json', 'x-request-id': 'req_bench' } }),
  );
};
/** Each mode's client over its own SDK copy. */
function clients(options: object): Map<Mode, BenchClient> {
  return new Map(ALL_MODES.map((m) => [m, new (copy(m).OpenAI)({ apiKey: 'sk-bench', maxRetries: 0, ...options })]));
}
const memoryClients = clients({ baseURL: 'http://bench.invalid/v1', fetch: inMemoryFetch });
/** One user message (section 1 and loopback). */
const singleMessage = [{ role: 'user', content: 'Answer in up to 3 words: Which ocean contains Bouvet Island?' }];
/** An agent turn (section 2): system prompt, the question, two tool calls and their results. */
const agentTurn = [
  { role: 'system', content: 'You are a research agent. Use the search tool, then answer briefly.' },
  { role: 'user', content: 'Answer in up to 3 words: Which ocean contains Bouvet Island?' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'search', arguments: '{"q":"Bouvet Island"}' } }] },
  { role: 'tool', tool_call_id: 'call_1', content: 'Bouvet Island is a subantarctic volcanic island in the South Atlantic Ocean.' },
  { role: 'assistant', content: 'Checking one more source.', tool_calls: [{ id: 'call_2', type: 'function', function: { name: 'search', arguments: '{"q":"Bouvet Island ocean"}' } }] },
  { role: 'tool', tool_call_id: 'call_2', content: 'South Atlantic Ocean, near the Southern Ocean.' },
];

async function oneCall(client: BenchClient, messages: readonly object[], stream: boolean, askUsage = false): Promise<void> {
  if (!stream) {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    return;
  }
  // No stream_options, as most callers: tollgate then asks for usage and hides the usage-only
  // chunk (its costlier path); the canned SSE carries the usage chunk for both.
  const body = askUsage ? { model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } } : { model: 'gpt-4o-mini', messages, stream: true };
  const s = (await client.chat.completions.create(body)) as AsyncIterable<unknown>;
  for await (const _ of s) void _;
}

interface Cpu {
  micros: number;
  calls: number;
}

/** One transport to measure over: its client, the modes it runs and how long. */
interface Section {
  readonly title: string;
  /** Each mode's client (over the mode's own SDK copy). */
  readonly clients: ReadonlyMap<Mode, BenchClient>;
  readonly pipelines: Pipelines;
  readonly messages: readonly object[];
  readonly modes: readonly Mode[];
  /** The official instrumentation as compared: `official` (no-op logger) or `official+logs` (NodeSDK's default). */
  readonly officialMode: Mode;
  readonly rounds: number;
  readonly batch: number;
  readonly warmups: number;
  readonly socket: boolean;
  /** Span / log export is part of the CPU per call (section 2). */
  readonly exportInCpu: boolean;
}

/** The provider a mode's spans go to (undefined for the bare modes). */
function providerOf(p: Pipelines, mode: Mode): TracerProvider | undefined {
  switch (mode) {
    case 'tollgate':
      return p.tollgate;
    case 'tollgate instr':
      return p.instrOnly;
    case 'tollgate+policy':
      return p.policyProvider;
    case 'official':
      return p.official;
    case 'official+logs':
      return p.officialLogs;
    case 'hand-made span':
      return p.hand;
    default:
      return undefined;
  }
}

async function batch(section: Section, mode: Mode, stream: boolean, samples: number[], cpu: Cpu): Promise<void> {
  const p = section.pipelines;
  const client = section.clients.get(mode);
  if (client === undefined) throw new Error(`no client for mode ${mode}`);
  const provider = providerOf(p, mode);
  const endedBefore = provider === undefined ? 0 : (p.ended.get(provider) ?? 0);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < section.batch; i++) {
    const t0 = process.hrtime.bigint();
    await oneCall(client, section.messages, stream, mode === 'bare+usage');
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  // As deployed, serialising and sending what the calls produced is part of their CPU.
  if (section.exportInCpu) await p.flush();
  const used = process.cpuUsage(cpu0);
  cpu.micros += used.user + used.system;
  cpu.calls += section.batch;
  // Export queued spans / logs and collect garbage between batches, outside the measured window.
  await p.flush();
  gc?.();
  if (provider !== undefined && (p.ended.get(provider) ?? 0) - endedBefore < section.batch) {
    throw new Error(`bench: mode "${mode}" ended ${(p.ended.get(provider) ?? 0) - endedBefore} spans for ${section.batch} calls: it is not tracing`);
  }
}

function p50(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function run(section: Section, stream: boolean): Promise<void> {
  use(section.pipelines);
  // The hand-made reference has no stream handling; `bare+usage` only differs from bare on streams.
  const applies = (m: Mode) => !(stream && m === 'hand-made span') && !(!stream && m === 'bare+usage');
  const modes = section.modes.filter((m) => MODES.includes(m) && applies(m));
  const expected = section.modes.filter(applies);
  const samples = new Map<Mode, number[]>(modes.map((m) => [m, []]));
  const cpu = new Map<Mode, Cpu>(modes.map((m) => [m, { micros: 0, calls: 0 }]));
  const cpuRounds = new Map<Mode, number[]>(modes.map((m) => [m, []])); // CPU micros of each round's batch
  // Warm-up: JIT, the price table, both instrumentations' code paths (and the keep-alive socket).
  for (let w = 0; w < section.warmups; w++) for (const m of modes) await batch(section, m, stream, [], { micros: 0, calls: 0 });
  for (let r = 0; r < section.rounds; r++) {
    // Rotate the order each round so no mode always follows the same neighbour.
    for (let k = 0; k < modes.length; k++) {
      const m = modes[(k + r) % modes.length] as Mode;
      const c = cpu.get(m) ?? { micros: 0, calls: 0 };
      const before = c.micros;
      await batch(section, m, stream, samples.get(m) ?? [], c);
      cpuRounds.get(m)?.push(c.micros - before);
    }
  }
  // A partial run (BENCH_MODES, e.g. profiling) prints what it can: it needs both bare series.
  if (!modes.includes('bare A') || !modes.includes('bare B')) return;
  if (modes.length < expected.length) console.log(`\n(partial run: ${modes.join(', ')})`);
  const stat = (m: Mode) => {
    const c = cpu.get(m) ?? { micros: 0, calls: 1 };
    return { p50: p50(samples.get(m) ?? []), cpu: c.micros / c.calls };
  };
  const a = stat('bare A');
  const b = stat('bare B');
  const bare = { p50: (a.p50 + b.p50) / 2, cpu: (a.cpu + b.cpu) / 2 };
  const noise = { p50: Math.abs(a.p50 - b.p50), cpu: Math.abs(a.cpu - b.cpu) };
  // One |A - B| is a single draw of the noise; over sockets take the largest of the pooled one and
  // those of the even and the odd rounds (each half noisier by ~sqrt 2: a conservative floor).
  const half = (m: Mode, parity: number) => {
    const xs = (samples.get(m) ?? []).filter((_, i) => Math.floor(i / section.batch) % 2 === parity);
    const cs = (cpuRounds.get(m) ?? []).filter((_, r) => r % 2 === parity);
    return { p50: p50(xs), cpu: cs.reduce((x, y) => x + y, 0) / (cs.length * section.batch) };
  };
  const floor = { ...noise };
  if (section.socket && section.rounds >= 2) {
    for (const parity of [0, 1]) {
      const ha = half('bare A', parity);
      const hb = half('bare B', parity);
      floor.p50 = Math.max(floor.p50, Math.abs(ha.p50 - hb.p50));
      floor.cpu = Math.max(floor.cpu, Math.abs(ha.cpu - hb.cpu));
    }
  }
  const f = (x: number) => x.toFixed(1).padStart(8);
  // Over sockets, an added cost within the A/A floor cannot be told from noise: mark it.
  const mark = (added: number, floor: number) => (section.socket && Math.abs(added) <= floor ? '*' : ' ');
  const row = (name: string, s: { p50: number; cpu: number }) =>
    console.log(
      `${name.padEnd(15)}${f(s.p50)}  ${f(s.p50 - bare.p50)}${mark(s.p50 - bare.p50, floor.p50)} ${f(s.cpu)}  ${f(s.cpu - bare.cpu)}${mark(s.cpu - bare.cpu, floor.cpu)}`,
    );
  console.log(
    `\n${section.title}: ${stream ? 'streaming' : 'non-streaming'} chat.completions.create, ${section.messages.length} message(s), ${SDK}@${version}, ${section.rounds} rounds x ${section.batch} calls per mode`,
  );
  console.log('mode             p50 us   +p50 us    CPU us   +CPU us');
  console.log(`${'bare (A+B)/2'.padEnd(15)}${f(bare.p50)}            ${f(bare.cpu)}`);
  for (const m of modes) if (m !== 'bare A' && m !== 'bare B') row(m, stat(m));
  console.log(`A/A noise      |bare A - bare B| = ${noise.p50.toFixed(1)} us p50, ${noise.cpu.toFixed(1)} us CPU`);
  if (section.socket) console.log(`A/A floor      max(all, even, odd rounds) = ${floor.p50.toFixed(1)} us p50, ${floor.cpu.toFixed(1)} us CPU`);
  const kind = `${section.socket ? 'loopback ' : ''}${stream ? 'stream' : 'non-stream'}`;
  const hasOfficial = modes.includes(section.officialMode);
  const o = stat(section.officialMode);
  const ratio = (m: Mode) => {
    const x = stat(m);
    return `p50 ${((x.p50 - bare.p50) / (o.p50 - bare.p50)).toFixed(2)}x, CPU ${((x.cpu - bare.cpu) / (o.cpu - bare.cpu)).toFixed(2)}x`;
  };
  const vs = `/${section.officialMode} added (${kind})`;
  if (hasOfficial && modes.includes('tollgate')) console.log(`tollgate${vs}: ${ratio('tollgate')} (target <= 0.50x)`);
  if (hasOfficial && modes.includes('tollgate instr')) console.log(`tollgate instr${vs}: ${ratio('tollgate instr')} (span + pricing, no processor)`);
  if (hasOfficial && modes.includes('hand-made span')) console.log(`hand-made span${vs}: ${ratio('hand-made span')} (the floor of an active priced span)`);
  if (modes.includes('bare+usage')) {
    const u = stat('bare+usage');
    console.log(`bare+usage: the bare SDK asking for the usage chunk itself adds ${(u.p50 - bare.p50).toFixed(1)} us p50, ${(u.cpu - bare.cpu).toFixed(1)} us CPU (part of tollgate's rows)`);
  }
  if (section.officialMode === 'official' && hasOfficial && modes.includes('official+logs') && modes.includes('tollgate')) {
    const ol = stat('official+logs');
    const t = stat('tollgate');
    console.log(
      `tollgate/official+logs added (${kind}): p50 ${((t.p50 - bare.p50) / (ol.p50 - bare.p50)).toFixed(2)}x, CPU ${((t.cpu - bare.cpu) / (ol.cpu - bare.cpu)).toFixed(2)}x`,
    );
  }
  if (section.socket) {
    console.log(
      `note: over sockets, differences below the A/A floor (${floor.p50.toFixed(0)} us p50, ${floor.cpu.toFixed(0)} us CPU here; marked *) are not resolvable, ` +
        'and a ratio of two such differences is noise; the in-memory sections are the instrumentation\'s own cost.',
    );
  }
}

/** Starts a module's default export in a child process (so its CPU is not the client's); it sends back its URL. */
async function startChild(source: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--input-type=module', '--eval', source], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`bench child exited with ${String(code)}`)));
  });
  return { url, child };
}

/** The stand-in provider server, in a child process. */
function startStandinChild(): Promise<{ url: string; child: ChildProcess }> {
  const server = new URL('../src/standin/server.ts', import.meta.url).href;
  const routes = new URL('../src/standin/openai.ts', import.meta.url).href;
  return startChild(
    [
      `const { startStandinServer } = await import(${JSON.stringify(server)});`,
      `const { openaiRoutes } = await import(${JSON.stringify(routes)});`,
      // Keep one recorded request: the bench never reads them, and it keeps the server's memory flat.
      'const s = await startStandinServer({ routes: openaiRoutes(), maxRecordedRequests: 1 });',
      "process.once('disconnect', () => { void s.close().then(() => process.exit(0)); });",
      'process.send({ url: s.url });',
    ].join('\n'),
  );
}

/** An OTLP/HTTP sink in a child process: drains each export request and answers 200 with an empty (valid) protobuf body. */
function startOtlpSinkChild(): Promise<{ url: string; child: ChildProcess }> {
  return startChild(
    [
      "const { createServer } = await import('node:http');",
      "const s = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/x-protobuf' }); res.end(); }); });",
      "s.listen(0, '127.0.0.1', () => process.send({ url: `http://127.0.0.1:${s.address().port}` }));",
      "process.once('disconnect', () => { s.close(); process.exit(0); });",
    ].join('\n'),
  );
}

const sections = new Set((process.env['BENCH_TRANSPORT'] ?? 'memory,export,socket').split(','));
const children: ChildProcess[] = [];
const built: Pipelines[] = [];
try {
  if (sections.has('memory')) {
    const p = await pipelines(undefined);
    built.push(p);
    const section: Section = {
      title: 'in-memory fetch, no-op export',
      clients: memoryClients,
      pipelines: p,
      messages: singleMessage,
      modes: ALL_MODES.filter((m) => m !== 'bare+usage'), // the canned SSE carries the usage chunk either way
      officialMode: 'official',
      rounds: ROUNDS,
      batch: BATCH,
      warmups: 2,
      socket: false,
      exportInCpu: false,
    };
    if (ONLY !== 'stream') await run(section, false);
    if (ONLY !== 'plain') await run(section, true);
  }
  if (sections.has('export')) {
    const sink = await startOtlpSinkChild();
    children.push(sink.child);
    const p = await pipelines(sink.url);
    built.push(p);
    const section: Section = {
      title: 'in-memory fetch, OTLP export (as deployed)',
      clients: memoryClients,
      pipelines: p,
      messages: agentTurn,
      modes: ['bare A', 'tollgate', 'bare B', 'official+logs', 'tollgate instr', 'hand-made span', 'tollgate+policy'],
      officialMode: 'official+logs',
      rounds: ROUNDS,
      batch: BATCH,
      warmups: 2,
      socket: false,
      exportInCpu: true,
    };
    if (ONLY !== 'stream') await run(section, false);
    if (ONLY !== 'plain') await run(section, true);
  }
  if (sections.has('socket')) {
    const standin = await startStandinChild();
    children.push(standin.child);
    const p = await pipelines(undefined);
    built.push(p);
    const section: Section = {
      title: 'loopback HTTP to the stand-in server, no-op export',
      clients: clients({ baseURL: `${standin.url}/v1` }),
      pipelines: p,
      messages: singleMessage,
      modes: ['bare A', 'tollgate', 'bare B', 'official', 'tollgate instr', 'hand-made span', 'bare+usage'],
      officialMode: 'official',
      rounds: SOCKET_ROUNDS,
      batch: SOCKET_BATCH,
      warmups: 1,
      socket: true,
      exportInCpu: false,
    };
    if (ONLY !== 'stream') await run(section, false);
    if (ONLY !== 'plain') await run(section, true);
  }
} finally {
  for (const c of children) c.disconnect();
  await Promise.all(built.map((p) => p.shutdown()));
}
