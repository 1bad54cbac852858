// Per-call cost of instrumenting the `openai` SDK: tollgate vs the official
// @opentelemetry/instrumentation-openai, over the bare SDK, in one run, with the OTel pipelines a
// user really runs (NodeSDK-style), not the global no-ops.
//
// - SDK: openai 6 (`openai-v6`), the newest major both support (the official one declares
//   openai >=4.19 <7; it gives openai 7 no spans at all).
// - Two sections, one process, the same pipelines and modes:
//   1. in-memory: the client gets an in-memory `fetch` returning a canned Response: no sockets,
//      so the numbers are the instrumentation's own cost.
//   2. loopback: the real client over HTTP to the stand-in server (src/standin), which runs in a
//      child process so the CPU per call is the client's alone. What a user sees, but the A/A
//      noise of a ~0.5-1 ms socket round trip hides differences of tens of us: below the A/A
//      floor, a difference is not resolvable (rows under it are marked).
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
// - Loopback streams: tollgate's added include_usage makes the stand-in send one more chunk (the
//   usage chunk), which is part of what tollgate costs a user there; bare and official get none.
// - Reports p50 latency per call and CPU per call (process.cpuUsage over each batch), the added
//   cost over the mean of the two bare series, the A/A noise floor (bare A vs bare B) and the
//   ratio tollgate added / official added. Target: <= 0.5.
// - Env: BENCH_TRANSPORT=memory|socket (default both), BENCH_ONLY=plain|stream, BENCH_MODES (comma
//   list), BENCH_ROUNDS / BENCH_BATCH (in-memory, default 10 x 200), BENCH_SOCKET_ROUNDS /
//   BENCH_SOCKET_BATCH (loopback, default 20 x 300). The whole file takes ~75 s on 2 shared cores.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
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
const SOCKET_ROUNDS = Number(process.env['BENCH_SOCKET_ROUNDS'] ?? 20);
const SOCKET_BATCH = Number(process.env['BENCH_SOCKET_BATCH'] ?? 300);
const ONLY = process.env['BENCH_ONLY']; // 'stream' | 'plain' | undefined (both)
const TRANSPORT = process.env['BENCH_TRANSPORT']; // 'memory' | 'socket' | undefined (both)
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
const memoryClient = new sdk.OpenAI({ apiKey: 'sk-bench', baseURL: 'http://bench.invalid/v1', maxRetries: 0, fetch: inMemoryFetch });
const messages = [{ role: 'user', content: 'Answer in up to 3 words: Which ocean contains Bouvet Island?' }];

async function oneCall(client: BenchClient, stream: boolean): Promise<void> {
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

/** One transport to measure over: its client, the modes it runs and how long. */
interface Section {
  readonly title: string;
  readonly client: BenchClient;
  readonly modes: readonly Mode[];
  readonly rounds: number;
  readonly batch: number;
  readonly warmups: number;
  readonly socket: boolean;
}

async function batch(section: Section, mode: Mode, stream: boolean, samples: number[], cpu: Cpu): Promise<void> {
  if (mode === 'tollgate') tollgatePatch.on();
  if (mode === 'tollgate instr') tollgateInstrPatch.on();
  if (mode === 'tollgate+policy') tollgatePolicyPatch.on();
  if (mode === 'official' || mode === 'official+logs') officialPatch.on();
  if (mode === 'official+logs') official.setLoggerProvider(loggerProvider);
  try {
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < section.batch; i++) {
      const t0 = process.hrtime.bigint();
      await oneCall(section.client, stream);
      samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    const used = process.cpuUsage(cpu0);
    cpu.micros += used.user + used.system;
    cpu.calls += section.batch;
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

async function run(section: Section, stream: boolean): Promise<void> {
  const modes = section.modes.filter((m) => MODES.includes(m));
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
  if (modes.length < section.modes.length) return; // a partial run (profiling) has nothing to compare
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
      `${name.padEnd(14)}${f(s.p50)}  ${f(s.p50 - bare.p50)}${mark(s.p50 - bare.p50, floor.p50)} ${f(s.cpu)}  ${f(s.cpu - bare.cpu)}${mark(s.cpu - bare.cpu, floor.cpu)}`,
    );
  console.log(`\n${section.title}: ${stream ? 'streaming' : 'non-streaming'} chat.completions.create, ${SDK}@${version}, ${section.rounds} rounds x ${section.batch} calls per mode`);
  console.log('mode            p50 us   +p50 us    CPU us   +CPU us');
  console.log(`${'bare (A+B)/2'.padEnd(14)}${f(bare.p50)}            ${f(bare.cpu)}`);
  for (const m of modes) if (m !== 'bare A' && m !== 'bare B') row(m, stat(m));
  console.log(`A/A noise     |bare A - bare B| = ${noise.p50.toFixed(1)} us p50, ${noise.cpu.toFixed(1)} us CPU`);
  if (section.socket) console.log(`A/A floor     max(all, even, odd rounds) = ${floor.p50.toFixed(1)} us p50, ${floor.cpu.toFixed(1)} us CPU`);
  const ratio = (x: number, y: number) => (x / y).toFixed(2);
  const kind = `${section.socket ? 'loopback ' : ''}${stream ? 'stream' : 'non-stream'}`;
  const t = stat('tollgate');
  const o = stat('official');
  console.log(`tollgate/official added (${kind}): p50 ${ratio(t.p50 - bare.p50, o.p50 - bare.p50)}x, CPU ${ratio(t.cpu - bare.cpu, o.cpu - bare.cpu)}x (target <= 0.50x)`);
  if (modes.includes('official+logs')) {
    const ol = stat('official+logs');
    console.log(`tollgate/official+logs added (${kind}): p50 ${ratio(t.p50 - bare.p50, ol.p50 - bare.p50)}x, CPU ${ratio(t.cpu - bare.cpu, ol.cpu - bare.cpu)}x`);
  }
  if (section.socket) {
    console.log(
      `note: over sockets, differences below the A/A floor (${floor.p50.toFixed(0)} us p50, ${floor.cpu.toFixed(0)} us CPU here; marked *) are not resolvable, ` +
        'and a ratio of two such differences is noise; the in-memory section is the instrumentation\'s own cost.',
    );
  }
}

/** Starts the stand-in server in a child process (so its CPU is not the client's) and returns its URL. */
async function startStandinChild(): Promise<{ url: string; child: ChildProcess }> {
  const server = new URL('../src/standin/server.ts', import.meta.url).href;
  const routes = new URL('../src/standin/openai.ts', import.meta.url).href;
  const source = [
    `const { startStandinServer } = await import(${JSON.stringify(server)});`,
    `const { openaiRoutes } = await import(${JSON.stringify(routes)});`,
    // Keep one recorded request: the bench never reads them, and it keeps the server's memory flat.
    'const s = await startStandinServer({ routes: openaiRoutes(), maxRecordedRequests: 1 });',
    "process.once('disconnect', () => { void s.close().then(() => process.exit(0)); });",
    'process.send({ url: s.url });',
  ].join('\n');
  const child = spawn(process.execPath, ['--input-type=module', '--eval', source], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`stand-in server exited with ${String(code)}`)));
  });
  return { url, child };
}

const memorySection: Section = {
  title: 'in-memory fetch',
  client: memoryClient,
  modes: ALL_MODES,
  rounds: ROUNDS,
  batch: BATCH,
  warmups: 2,
  socket: false,
};
if (TRANSPORT !== 'socket') {
  if (ONLY !== 'stream') await run(memorySection, false);
  if (ONLY !== 'plain') await run(memorySection, true);
}
if (TRANSPORT !== 'memory') {
  const standin = await startStandinChild();
  try {
    const socketSection: Section = {
      title: 'loopback HTTP to the stand-in server',
      client: new sdk.OpenAI({ apiKey: 'sk-bench', baseURL: `${standin.url}/v1`, maxRetries: 0 }),
      modes: ['bare A', 'tollgate', 'bare B', 'official', 'tollgate instr'],
      rounds: SOCKET_ROUNDS,
      batch: SOCKET_BATCH,
      warmups: 1,
      socket: true,
    };
    if (ONLY !== 'stream') await run(socketSection, false);
    if (ONLY !== 'plain') await run(socketSection, true);
  } finally {
    standin.child.disconnect();
  }
}
await policy.close();
await Promise.all([tollgateProvider.shutdown(), instrOnlyProvider.shutdown(), policyProvider.shutdown(), officialProvider.shutdown(), loggerProvider.shutdown(), meterProvider.shutdown()]);
