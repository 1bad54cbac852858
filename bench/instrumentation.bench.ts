// Per-call cost of instrumenting the `openai` SDK: tollgate vs the official
// @opentelemetry/instrumentation-openai, over the bare SDK, in one run.
//
// - SDK: openai 6 (`openai-v6`), the newest major both support (the official one declares
//   openai >=4.19 <7).
// - The client gets an in-memory `fetch` returning a canned Response: no sockets, so the numbers
//   are the instrumentation's own cost (over loopback the A/A noise hides differences < ~80 us).
// - Same tracer provider for both (BatchSpanProcessor, no-op exporter); tollgate prices every
//   call (default table), no budget gate. Both patch the same prototypes, so each mode patches
//   before its batch and unpatches after; modes alternate in rounds: bare, tollgate, bare, official.
// - Reports p50 latency per call and CPU per call, the added cost over the mean of the two bare
//   series, and the A/A noise floor (the difference between the two bare series).
import { createRequire } from 'node:module';
import { context, metrics } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { OpenAIInstrumentation as OfficialInstrumentation } from '@opentelemetry/instrumentation-openai';
import { OpenAIInstrumentation } from '../src/instrumentation/openai/index.ts';
import { defaultPriceTable } from '../src/pricing/index.ts';

const require = createRequire(import.meta.url);
const SDK = 'openai-v6';
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 12);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 250);

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const noop: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve() };
const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter: noop, maxQueueSize: 1 << 16 })] });

const tollgate = new OpenAIInstrumentation({ moduleNames: [SDK], prices: defaultPriceTable(), enabled: false });
tollgate.setTracerProvider(provider);
const official = new OfficialInstrumentation({ enabled: false });
official.setTracerProvider(provider);
// Its metric instruments are created on setMeterProvider (the global no-op one here, as for tollgate).
official.setMeterProvider(metrics.getMeterProvider());

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
const officialPatch = patcher(official as never);
// The official instrumentation's patch uses its enabled state for metrics instruments only.
official.enable();
tollgate.enable();
officialPatch.off();
tollgatePatch.off();

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
  const s = (await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true })) as AsyncIterable<unknown>;
  for await (const _ of s) void _;
}

type Mode = 'bare A' | 'tollgate' | 'bare B' | 'official';
const MODES: Mode[] = ['bare A', 'tollgate', 'bare B', 'official'];

async function batch(mode: Mode, stream: boolean, samples: number[], cpu: { micros: number; calls: number }): Promise<void> {
  if (mode === 'tollgate') tollgatePatch.on();
  if (mode === 'official') officialPatch.on();
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
    if (mode === 'official') officialPatch.off();
  }
  // Let the batch processor export between batches so queued spans do not pile up into one mode.
  await provider.forceFlush();
}

function p50(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function run(stream: boolean): Promise<void> {
  const samples = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  const cpu = new Map<Mode, { micros: number; calls: number }>(MODES.map((m) => [m, { micros: 0, calls: 0 }]));
  // Warm-up: JIT, the price table, both instrumentations' code paths.
  for (const m of MODES) await batch(m, stream, [], { micros: 0, calls: 0 });
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round so no mode always follows the same neighbour.
    for (let k = 0; k < MODES.length; k++) {
      const m = MODES[(k + r) % MODES.length] as Mode;
      await batch(m, stream, samples.get(m) ?? [], cpu.get(m) ?? { micros: 0, calls: 0 });
    }
  }
  const stat = (m: Mode) => {
    const c = cpu.get(m) ?? { micros: 0, calls: 1 };
    return { p50: p50(samples.get(m) ?? []), cpu: c.micros / c.calls };
  };
  const a = stat('bare A');
  const b = stat('bare B');
  const bare = { p50: (a.p50 + b.p50) / 2, cpu: (a.cpu + b.cpu) / 2 };
  const t = stat('tollgate');
  const o = stat('official');
  const f = (x: number) => x.toFixed(1).padStart(8);
  console.log(`\n${stream ? 'streaming' : 'non-streaming'} chat.completions.create, ${SDK}@${version}, ${ROUNDS} rounds x ${BATCH} calls per mode`);
  console.log('mode          p50 us   +p50 us    CPU us   +CPU us');
  console.log(`bare (A+B)/2 ${f(bare.p50)}          ${f(bare.cpu)}`);
  console.log(`tollgate     ${f(t.p50)}  ${f(t.p50 - bare.p50)}  ${f(t.cpu)}  ${f(t.cpu - bare.cpu)}`);
  console.log(`official     ${f(o.p50)}  ${f(o.p50 - bare.p50)}  ${f(o.cpu)}  ${f(o.cpu - bare.cpu)}`);
  console.log(`A/A noise    |bare A - bare B| = ${Math.abs(a.p50 - b.p50).toFixed(1)} us p50, ${Math.abs(a.cpu - b.cpu).toFixed(1)} us CPU`);
  const ratioP50 = (t.p50 - bare.p50) / (o.p50 - bare.p50);
  const ratioCpu = (t.cpu - bare.cpu) / (o.cpu - bare.cpu);
  console.log(`tollgate added / official added: p50 ${ratioP50.toFixed(2)}x, CPU ${ratioCpu.toFixed(2)}x (target <= 0.5x)`);
}

await run(false);
await run(true);
await provider.shutdown();
