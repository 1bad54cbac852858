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
//     a no-op LoggerProvider (the cheapest case for it); `official+logs` gives them a real
//     LoggerProvider with a BatchLogRecordProcessor, as NodeSDK does by default.
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
// - Both patch the same prototypes, so each mode patches before its batch and unpatches after.
//   Modes alternate in rounds (order rotated each round). Between batches: span/log flush (inside
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
//   BENCH_SOCKET_ROUNDS / BENCH_SOCKET_BATCH (loopback, default 20 x 300). The whole file takes
//   about 2 min on 2 shared cores.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
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
import type { SpanExporter } from '@opentelemetry/sdk-trace';
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
  readonly hand: TracerProvider;
  readonly logs: LoggerProvider;
  readonly policy: BudgetPolicy;
  readonly flush: () => Promise<unknown>;
  readonly shutdown: () => Promise<unknown>;
}

/** Builds a section's providers; `sink` set: spans and logs go over OTLP/HTTP protobuf to it, else to no-op exporters. */
async function pipelines(sink: string | undefined): Promise<Pipelines> {
  const spanExporter = (): SpanExporter => (sink === undefined ? noopSpans : new OTLPTraceExporter({ url: `${sink}/v1/traces` }));
  const batchSpans = () => new BatchSpanProcessor({ exporter: spanExporter(), maxQueueSize: 1 << 16 });
  const meterProvider = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({ exporter: noopMetrics, exportIntervalMillis: 60_000 })],
  });
  const meter = meterProvider.getMeter('tollgate');
  // What `startTollgate` wires when NO limit is configured (informational `tollgate+policy`).
  const policy = await createBudgetPolicy({ config: resolveConfig({ env: {} }), prices, meter });
  const p = {
    meterProvider,
    tollgate: new TracerProvider({ resource, spanProcessors: [new CostSpanProcessor({ prices, meter }), batchSpans()] }),
    instrOnly: new TracerProvider({ resource, spanProcessors: [batchSpans()] }),
    policyProvider: new TracerProvider({
      resource,
      spanProcessors: [new CostSpanProcessor({ prices, meter, onTaskEnd: (task) => policy.observeCompletedTask(task) }), batchSpans()],
    }),
    official: new TracerProvider({ resource, spanProcessors: [batchSpans()] }),
    hand: new TracerProvider({ resource, spanProcessors: [batchSpans()] }),
    logs: new LoggerProvider({
      resource,
      processors: [new BatchLogRecordProcessor({ exporter: sink === undefined ? noopLogs : new OTLPLogExporter({ url: `${sink}/v1/logs` }), maxQueueSize: 1 << 16 })],
    }),
    policy,
  };
  const traces = [p.tollgate, p.instrOnly, p.policyProvider, p.official, p.hand];
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
  handTracer = p.hand.getTracer('hand-made');
}

const sdk = require(SDK) as { OpenAI: new (o: object) => BenchClient; version?: string };
const version = (require(`${SDK}/version`) as { VERSION: string }).VERSION;

interface BenchClient {
  chat: { completions: { create(body: object): Promise<unknown> & { then: unknown } } };
}

/** Patches the SDK module with one instrumentation's own module definition (its version range allows 6.x). */
function patcher(inst: { getModuleDefinitions(): { supportedVersions: string[]; patch?: (e: unknown, v?: string) => unknown; unpatch?: (e: unknown, v?: string) => void }[] }) {
  const def = inst.getModuleDefinitions().find((d) => d.supportedVersions.some((r) => !r.startsWith('<4')));
  if (def?.patch === undefined || def.unpatch === undefined) throw new Error('no module definition');
  return { on: () => def.patch?.(sdk, version), off: () => def.unpatch?.(sdk, version) };
}
const tollgatePatch = patcher(tollgate as never);
const tollgateInstrPatch = patcher(tollgateInstr as never);
const tollgatePolicyPatch = patcher(tollgatePolicy as never);
const officialPatch = patcher(official as never);
// enable() patches the already-loaded SDK; undo it so every mode starts from the bare SDK.
official.enable();
tollgate.enable();
tollgateInstr.enable();
tollgatePolicy.enable();
const completionsProto = (sdk.OpenAI as unknown as { Chat: { Completions: { prototype: { create: ((this: unknown, ...a: unknown[]) => unknown) & { __wrapped?: boolean } } } } }).Chat
  .Completions.prototype;
const isWrapped = () => completionsProto.create.__wrapped === true;
while (isWrapped()) {
  officialPatch.off();
  tollgatePatch.off();
  tollgateInstrPatch.off();
  tollgatePolicyPatch.off();
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
  ['Atlantic', ' Ocean', '.'].map((w) => chunk([{ index: 0, delta: { content: w }, finish_reason: null }])).join('') +
  chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]) +
  chunk([], { prompt_tokens: 22, completion_tokens: 3, total_tokens: 25 }) +
  'data: [DONE]\n\n';

const inMemoryFetch = (_url: unknown, init?: { body?: unknown }): Promise<Response> => {
  const stream = typeof init?.body === 'string' && init.body.includes('"stream":true');
  return Promise.resolve(
    new Response(stream ? sse : completion, { status: 200, headers: { 'content-type': stream ? 'text/event-stream' : 'application/json', 'x-request-id': 'req_bench' } }),
  );
};
const memoryClient = new sdk.OpenAI({ apiKey: 'sk-bench', baseURL: 'http://bench.invalid/v1', maxRetries: 0, fetch: inMemoryFetch });
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

type Mode = 'bare A' | 'tollgate' | 'bare B' | 'official' | 'official+logs' | 'tollgate instr' | 'hand-made span' | 'tollgate+policy' | 'bare+usage';
const ALL_MODES: Mode[] = ['bare A', 'tollgate', 'bare B', 'official', 'official+logs', 'tollgate instr', 'hand-made span', 'tollgate+policy', 'bare+usage'];
// BENCH_MODES=tollgate (comma list) runs only those modes, e.g. under `node --cpu-prof`.
const MODES: Mode[] = process.env['BENCH_MODES'] === undefined ? ALL_MODES : ALL_MODES.filter((m) => process.env['BENCH_MODES']?.split(',').includes(m));

interface Cpu {
  micros: number;
  calls: number;
}

/** One transport to measure over: its client, the modes it runs and how long. */
interface Section {
  readonly title: string;
  readonly client: BenchClient;
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

async function batch(section: Section, mode: Mode, stream: boolean, samples: number[], cpu: Cpu): Promise<void> {
  const p = section.pipelines;
  const bareCreate = completionsProto.create;
  if (mode === 'tollgate') tollgatePatch.on();
  if (mode === 'tollgate instr') tollgateInstrPatch.on();
  if (mode === 'tollgate+policy') tollgatePolicyPatch.on();
  if (mode === 'official' || mode === 'official+logs') officialPatch.on();
  if (mode === 'official+logs') official.setLoggerProvider(p.logs);
  if (mode === 'hand-made span') completionsProto.create = handMadeCreate(bareCreate);
  try {
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < section.batch; i++) {
      const t0 = process.hrtime.bigint();
      await oneCall(section.client, section.messages, stream, mode === 'bare+usage');
      samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    // As deployed, serialising and sending what the calls produced is part of their CPU.
    if (section.exportInCpu) await p.flush();
    const used = process.cpuUsage(cpu0);
    cpu.micros += used.user + used.system;
    cpu.calls += section.batch;
  } finally {
    if (mode === 'hand-made span') completionsProto.create = bareCreate;
    if (mode === 'tollgate') tollgatePatch.off();
    if (mode === 'tollgate instr') tollgateInstrPatch.off();
    if (mode === 'tollgate+policy') tollgatePolicyPatch.off();
    if (mode === 'official' || mode === 'official+logs') officialPatch.off();
    if (mode === 'official+logs') official.setLoggerProvider(noopLoggerProvider as never);
  }
  // Export queued spans / logs and collect garbage between batches, outside the measured window.
  await p.flush();
  gc?.();
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
  if (modes.length < expected.length) return; // a partial run (profiling) has nothing to compare
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
  const o = stat(section.officialMode);
  const ratio = (m: Mode) => {
    const x = stat(m);
    return `p50 ${((x.p50 - bare.p50) / (o.p50 - bare.p50)).toFixed(2)}x, CPU ${((x.cpu - bare.cpu) / (o.cpu - bare.cpu)).toFixed(2)}x`;
  };
  const vs = `/${section.officialMode} added (${kind})`;
  console.log(`tollgate${vs}: ${ratio('tollgate')} (target <= 0.50x)`);
  if (modes.includes('tollgate instr')) console.log(`tollgate instr${vs}: ${ratio('tollgate instr')} (span + pricing, no processor)`);
  if (modes.includes('hand-made span')) console.log(`hand-made span${vs}: ${ratio('hand-made span')} (the floor of an active priced span)`);
  if (modes.includes('bare+usage')) {
    const u = stat('bare+usage');
    console.log(`bare+usage: the bare SDK asking for the usage chunk itself adds ${(u.p50 - bare.p50).toFixed(1)} us p50, ${(u.cpu - bare.cpu).toFixed(1)} us CPU (part of tollgate's rows)`);
  }
  if (section.officialMode === 'official' && modes.includes('official+logs')) {
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
      client: memoryClient,
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
      client: memoryClient,
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
      client: new sdk.OpenAI({ apiKey: 'sk-bench', baseURL: `${standin.url}/v1`, maxRetries: 0 }),
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
