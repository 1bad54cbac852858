// Per-call cost of instrumenting the `openai` SDK: tollgate vs the official
// @opentelemetry/instrumentation-openai, over the bare SDK, in one run, with the OTel pipelines a
// user really runs (NodeSDK-style), not the global no-ops.
//
// - SDK: openai 6 (`openai-v6`), the newest major both support (the official one declares
//   openai >=4.19 <7; it gives openai 7 no spans at all).
// - The client gets an in-memory `fetch` returning a canned Response: no sockets, so the numbers
//   are the instrumentation's own cost (over loopback the A/A noise hides differences < ~80 us).
// - What each side includes (both get the same kind of pipeline; separate providers so neither
//   sees the other's spans):
//   - tollgate: OpenAIInstrumentation (default price table, no gate = ALLOW_ALL, no content
//     capture) + a TracerProvider with [CostSpanProcessor (rollups, gen_ai.client.* and
//     tollgate.cost metrics on the shared MeterProvider), BatchSpanProcessor(no-op exporter)],
//     the span processors `startTollgate` installs, without its budget policy.
//   - official: OpenAIInstrumentation from @opentelemetry/instrumentation-openai (defaults: no
//     content capture) + a TracerProvider with [BatchSpanProcessor(no-op exporter)] + its
//     gen_ai.client.* histograms (3 records a call) on the shared MeterProvider. Its per-message log events go to
//     the global no-op LoggerProvider (conservative: NodeSDK's default sets up an OTLP log
//     pipeline; the extra `official+logs` row shows that case, with a real LoggerProvider and a
//     BatchLogRecordProcessor(no-op exporter)).
//   - shared: AsyncLocalStorageContextManager (as NodeSDK), one MeterProvider with a
//     PeriodicExportingMetricReader (no-op exporter, 60 s interval, NodeSDK's default), one
//     resource.
// - Both patch the same prototypes, so each mode patches before its batch and unpatches after.
//   Modes alternate in rounds (order rotated each round): bare A, tollgate, bare B, official,
//   official+logs, tollgate instr (diagnostic: tollgate's instrumentation on a provider without
//   the CostSpanProcessor), tollgate+policy (informational: what startTollgate runs today with no
//   limit configured: the budget policy stays the gate). Between batches: span/log flush and a
//   GC (outside the measured window), so no mode pays for another's garbage or queue.
// - Streams are requested without stream_options (as most callers do): tollgate then adds
//   include_usage and hides the usage-only chunk, its costlier path.
// - Reports p50 latency per call and CPU per call (process.cpuUsage over each batch), the added
//   cost over the mean of the two bare series, the A/A noise floor (bare A vs bare B) and the
//   ratio tollgate added / official added. Target: <= 0.5.
import { createRequire } from 'node:module';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { OpenAIInstrumentation as OfficialInstrumentation } from '@opentelemetry/instrumentation-openai';
import { OpenAIInstrumentation } from '../src/instrumentation/openai/index.ts';
import { defaultPriceTable } from '../src/pricing/index.ts';
import { CostSpanProcessor } from '../src/processor/index.ts';
import { resolveConfig } from '../src/config/index.ts';
import { createBudgetPolicy } from '../src/policy/index.ts';

const require = createRequire(import.meta.url);
const SDK = 'openai-v6';
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 10);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 200);
const ONLY = process.env['BENCH_ONLY']; // 'stream' | 'plain' | undefined (both)
const gc = (globalThis as { gc?: () => void }).gc;

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const resource = resourceFromAttributes({ 'service.name': 'bench' });

const noopSpans: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve() };
const noopLogs: LogRecordExporter = { export: (_logs, done) => done({ code: 0 }), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
const noopMetrics: PushMetricExporter = { export: (_m, done) => done({ code: 0 }), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
const batchSpans = () => new BatchSpanProcessor({ exporter: noopSpans, maxQueueSize: 1 << 16 });

const meterProvider = new MeterProvider({
  resource,
  readers: [new PeriodicExportingMetricReader({ exporter: noopMetrics, exportIntervalMillis: 60_000 })],
});
const prices = defaultPriceTable();
const costProcessor = new CostSpanProcessor({ prices, meter: meterProvider.getMeter('tollgate') });
const tollgateProvider = new TracerProvider({ resource, spanProcessors: [costProcessor, batchSpans()] });
const officialProvider = new TracerProvider({ resource, spanProcessors: [batchSpans()] });
const loggerProvider = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter: noopLogs, maxQueueSize: 1 << 16 })] });
const noopLoggerProvider = { getLogger: () => ({ emit: () => {} }) };

const tollgate = new OpenAIInstrumentation({ moduleNames: [SDK], prices, enabled: false });
tollgate.setTracerProvider(tollgateProvider);
tollgate.setMeterProvider(meterProvider);
// Diagnostic: tollgate's instrumentation alone (spans priced, no CostSpanProcessor, so no rollups
// and no metrics): how the added cost splits between the instrumentation and the processor.
const instrOnlyProvider = new TracerProvider({ resource, spanProcessors: [batchSpans()] });
const tollgateInstr = new OpenAIInstrumentation({ moduleNames: [SDK], prices, enabled: false });
tollgateInstr.setTracerProvider(instrOnlyProvider);
const official = new OfficialInstrumentation({ enabled: false });
official.setTracerProvider(officialProvider);
official.setMeterProvider(meterProvider);
official.setLoggerProvider(noopLoggerProvider as never);

// Informational: what `startTollgate` wires today when NO limit is configured: the budget policy is
// still the gate (memory ledger, default config), and the processor reports task ends to it.
const policy = await createBudgetPolicy({ config: resolveConfig({ env: {} }), prices, meter: meterProvider.getMeter('tollgate') });
const policyProvider = new TracerProvider({
  resource,
  spanProcessors: [
    new CostSpanProcessor({ prices, meter: meterProvider.getMeter('tollgate'), onTaskEnd: (task) => policy.observeCompletedTask(task) }),
    batchSpans(),
  ],
});
const tollgatePolicy = new OpenAIInstrumentation({ moduleNames: [SDK], prices, gate: policy, enabled: false });
tollgatePolicy.setTracerProvider(policyProvider);

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
const isWrapped = () => (sdk.OpenAI as unknown as { Chat: { Completions: { prototype: { create: { __wrapped?: boolean } } } } }).Chat.Completions.prototype.create.__wrapped === true;
while (isWrapped()) {
  officialPatch.off();
  tollgatePatch.off();
  tollgateInstrPatch.off();
  tollgatePolicyPatch.off();
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
const client = new sdk.OpenAI({ apiKey: 'sk-bench', baseURL: 'http://bench.invalid/v1', maxRetries: 0, fetch: inMemoryFetch });
const messages = [{ role: 'user', content: 'Answer in up to 3 words: Which ocean contains Bouvet Island?' }];

async function oneCall(stream: boolean): Promise<void> {
  if (!stream) {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    return;
  }
  // No stream_options, as most callers: tollgate then asks for usage and hides the usage-only
  // chunk (its costlier path); the canned SSE carries the usage chunk for both.
  const s = (await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true })) as AsyncIterable<unknown>;
  for await (const _ of s) void _;
}

type Mode = 'bare A' | 'tollgate' | 'bare B' | 'official' | 'official+logs' | 'tollgate instr' | 'tollgate+policy';
const ALL_MODES: Mode[] = ['bare A', 'tollgate', 'bare B', 'official', 'official+logs', 'tollgate instr', 'tollgate+policy'];
// BENCH_MODES=tollgate (comma list) runs only those modes, e.g. under `node --cpu-prof`.
const MODES: Mode[] = process.env['BENCH_MODES'] === undefined ? ALL_MODES : ALL_MODES.filter((m) => process.env['BENCH_MODES']?.split(',').includes(m));

interface Cpu {
  micros: number;
  calls: number;
}

async function batch(mode: Mode, stream: boolean, samples: number[], cpu: Cpu): Promise<void> {
  if (mode === 'tollgate') tollgatePatch.on();
  if (mode === 'tollgate instr') tollgateInstrPatch.on();
  if (mode === 'tollgate+policy') tollgatePolicyPatch.on();
  if (mode === 'official' || mode === 'official+logs') officialPatch.on();
  if (mode === 'official+logs') official.setLoggerProvider(loggerProvider);
  try {
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < BATCH; i++) {
      const t0 = process.hrtime.bigint();
      await oneCall(stream);
      samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    const used = process.cpuUsage(cpu0);
    cpu.micros += used.user + used.system;
    cpu.calls += BATCH;
  } finally {
    if (mode === 'tollgate') tollgatePatch.off();
    if (mode === 'tollgate instr') tollgateInstrPatch.off();
    if (mode === 'tollgate+policy') tollgatePolicyPatch.off();
    if (mode === 'official' || mode === 'official+logs') officialPatch.off();
    if (mode === 'official+logs') official.setLoggerProvider(noopLoggerProvider as never);
  }
  // Export queued spans / logs and collect garbage between batches, outside the measured window.
  await Promise.all([tollgateProvider.forceFlush(), instrOnlyProvider.forceFlush(), policyProvider.forceFlush(), officialProvider.forceFlush(), loggerProvider.forceFlush()]);
  gc?.();
}

function p50(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function run(stream: boolean): Promise<void> {
  const samples = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  const cpu = new Map<Mode, Cpu>(MODES.map((m) => [m, { micros: 0, calls: 0 }]));
  // Warm-up: JIT, the price table, both instrumentations' code paths.
  for (let w = 0; w < 2; w++) for (const m of MODES) await batch(m, stream, [], { micros: 0, calls: 0 });
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round so no mode always follows the same neighbour.
    for (let k = 0; k < MODES.length; k++) {
      const m = MODES[(k + r) % MODES.length] as Mode;
      await batch(m, stream, samples.get(m) ?? [], cpu.get(m) ?? { micros: 0, calls: 0 });
    }
  }
  if (MODES.length < ALL_MODES.length) return; // a partial run (profiling) has nothing to compare
  const stat = (m: Mode) => {
    const c = cpu.get(m) ?? { micros: 0, calls: 1 };
    return { p50: p50(samples.get(m) ?? []), cpu: c.micros / c.calls };
  };
  const a = stat('bare A');
  const b = stat('bare B');
  const bare = { p50: (a.p50 + b.p50) / 2, cpu: (a.cpu + b.cpu) / 2 };
  const t = stat('tollgate');
  const o = stat('official');
  const ol = stat('official+logs');
  const ti = stat('tollgate instr');
  const tp = stat('tollgate+policy');
  const f = (x: number) => x.toFixed(1).padStart(8);
  const row = (name: string, s: { p50: number; cpu: number }) =>
    console.log(`${name.padEnd(14)}${f(s.p50)}  ${f(s.p50 - bare.p50)}  ${f(s.cpu)}  ${f(s.cpu - bare.cpu)}`);
  console.log(`\n${stream ? 'streaming' : 'non-streaming'} chat.completions.create, ${SDK}@${version}, ${ROUNDS} rounds x ${BATCH} calls per mode`);
  console.log('mode            p50 us   +p50 us    CPU us   +CPU us');
  console.log(`${'bare (A+B)/2'.padEnd(14)}${f(bare.p50)}            ${f(bare.cpu)}`);
  row('tollgate', t);
  row('official', o);
  row('official+logs', ol);
  row('tollgate instr', ti);
  row('tollgate+policy', tp);
  console.log(`A/A noise     |bare A - bare B| = ${Math.abs(a.p50 - b.p50).toFixed(1)} us p50, ${Math.abs(a.cpu - b.cpu).toFixed(1)} us CPU`);
  const ratio = (x: number, y: number) => (x / y).toFixed(2);
  const kind = stream ? 'stream' : 'non-stream';
  console.log(`tollgate/official added (${kind}): p50 ${ratio(t.p50 - bare.p50, o.p50 - bare.p50)}x, CPU ${ratio(t.cpu - bare.cpu, o.cpu - bare.cpu)}x (target <= 0.50x)`);
  console.log(`tollgate/official+logs added (${kind}): p50 ${ratio(t.p50 - bare.p50, ol.p50 - bare.p50)}x, CPU ${ratio(t.cpu - bare.cpu, ol.cpu - bare.cpu)}x`);
}

if (ONLY !== 'stream') await run(false);
if (ONLY !== 'plain') await run(true);
await policy.close();
await Promise.all([tollgateProvider.shutdown(), instrOnlyProvider.shutdown(), policyProvider.shutdown(), officialProvider.shutdown(), loggerProvider.shutdown(), meterProvider.shutdown()]);
