// Per-call overhead of tollgate's `@google/genai` instrumentation over the bare client, beside
// tollgate's own `openai` instrumentation over the bare `openai` client, measured the same way in
// the same process: in-memory fetch (no sockets), a tracer provider with a no-op exporter.
// - Modes per client: `bare A`, `bare B` (instrumentation disabled: the A/A noise floor) and
//   `tollgate` (enabled), alternated round by round in rotating order so drift hits every mode.
//   Enable/disable patches and unpatches the prototypes, so one process serves all three.
// - CPU per call (process.cpuUsage over the batch) and p50 wall time per call.
// - `@google/genai` reads global fetch (it has no fetch option): it is replaced with a canned one
//   for the run. `openai` gets the canned fetch through its own `fetch` option.
// BENCH_ROUNDS / BENCH_BATCH (default 16 x 200).
import { createRequire } from 'node:module';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { GoogleGenAIInstrumentation } from '../src/instrumentation/google-genai/index.ts';
import { OpenAIInstrumentation } from '../src/instrumentation/openai/index.ts';
import { createPriceTable } from '../src/pricing/index.ts';
import { cannedFetch } from './canned.ts';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 16);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 200);

const noop: SpanExporter = {
  export(_spans: ReadableSpan[], done: (r: { code: number }) => void) {
    done({ code: 0 });
  },
  shutdown: () => Promise.resolve(),
};
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: noop })] });
trace.setGlobalTracerProvider(provider);
const prices = createPriceTable();
const gemini = new GoogleGenAIInstrumentation({ prices });
const openai = new OpenAIInstrumentation({ prices });
for (const i of [gemini, openai]) i.setTracerProvider(provider);
const require = createRequire(import.meta.url);
const genai = require('@google/genai') as { GoogleGenAI: new (o: object) => { models: { generateContent(p: object): Promise<unknown> } } };
const OpenAI = (require('openai') as { OpenAI: new (o: object) => { chat: { completions: { create(b: object): Promise<unknown> } } } }).OpenAI;

const GEMINI_ANSWER = JSON.stringify({
  candidates: [{ content: { role: 'model', parts: [{ text: 'Atlantic Ocean.' }] }, finishReason: 'STOP', index: 0 }],
  usageMetadata: { promptTokenCount: 22, candidatesTokenCount: 3, totalTokenCount: 25 },
  modelVersion: 'gemini-2.5-flash',
  responseId: 'bench',
});
globalThis.fetch = () => Promise.resolve(new Response(GEMINI_ANSWER, { status: 200, headers: { 'content-type': 'application/json' } }));

const geminiClient = new genai.GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: 'http://127.0.0.1:1' } });
const openaiClient = new OpenAI({ apiKey: 'sk', baseURL: 'http://127.0.0.1:1/v1', maxRetries: 0, fetch: cannedFetch() });

interface Client {
  readonly name: string;
  readonly instrumentation: { enable(): void; disable(): void };
  call(): Promise<unknown>;
}
const clients: Client[] = [
  { name: 'openai 7 chat.completions.create', instrumentation: openai, call: () => openaiClient.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Which ocean?' }] }) },
  { name: '@google/genai models.generateContent', instrumentation: gemini, call: () => geminiClient.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Which ocean?' }) },
];

type Mode = 'bare A' | 'bare B' | 'tollgate';
const MODES: readonly Mode[] = ['bare A', 'bare B', 'tollgate'];

async function batch(client: Client, mode: Mode, walls: number[]): Promise<number> {
  if (mode === 'tollgate') client.instrumentation.enable();
  else client.instrumentation.disable();
  globalThis.gc?.();
  const cpu = process.cpuUsage();
  for (let i = 0; i < BATCH; i++) {
    const t = performance.now();
    await client.call();
    walls.push((performance.now() - t) * 1000);
  }
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / BATCH;
}

function p50(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const added = new Map<string, number>();
for (const client of clients) {
  for (const m of MODES) await batch(client, m, []); // warm-up
  const cpu = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  const wall = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < MODES.length; k++) {
      const m = MODES[(r + k) % MODES.length] as Mode;
      cpu.get(m)?.push(await batch(client, m, wall.get(m) ?? []));
    }
  }
  client.instrumentation.disable();
  const c = (m: Mode): number => p50(cpu.get(m) ?? []);
  const w = (m: Mode): number => p50(wall.get(m) ?? []);
  const bare = (c('bare A') + c('bare B')) / 2;
  console.log(`\n${client.name}: in-memory fetch, no-op export, ${ROUNDS} rounds x ${BATCH} calls per mode`);
  for (const m of MODES) console.log(`${m.padEnd(9)} ${c(m).toFixed(1).padStart(7)} us CPU/call  ${w(m).toFixed(1).padStart(7)} us p50 wall`);
  console.log(`A/A floor |bare A - bare B| = ${Math.abs(c('bare A') - c('bare B')).toFixed(1)} us CPU/call`);
  console.log(`tollgate added ${(c('tollgate') - bare).toFixed(1)} us CPU/call (${(c('tollgate') / bare).toFixed(2)}x the bare client)`);
  added.set(client.name, c('tollgate') - bare);
}
const [o, g] = clients.map((cl) => added.get(cl.name) ?? NaN);
console.log(`\n@google/genai added / openai added = ${((g ?? NaN) / (o ?? NaN)).toFixed(2)} (1.00 = the same per-call overhead)`);
await provider.shutdown();
