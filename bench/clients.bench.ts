// The client table: per-call CPU of each tollgate instrumentation over its bare client, side by
// side with tollgate's `openai` instrumentation over the bare `openai` client (the reference row),
// all measured in one run with the rows interleaved.
// - Clients (non-streaming, one user message, no sockets: each client's own in-memory transport
//   returns a canned answer, so only client-side work is measured):
//   - openai: openai-v6 `chat.completions.create` with a `fetch` option (bench/canned.ts);
//   - ai-sdk: `ai` 7 `generateText` with @ai-sdk/openai's chat model and the same `fetch`;
//   - gemini: @google/genai `models.generateContent` (it reads global `fetch`, replaced in its
//     workers by one that returns a canned Gemini answer);
//   - bedrock: @aws-sdk/client-bedrock-runtime `ConverseCommand` with an in-memory `requestHandler`;
//   - mistral: @mistralai/mistralai `chat.complete` with an in-memory `HTTPClient` fetcher.
// - Modes per client, each in its own worker process (own heap, JIT, module copy patched once):
//   `bare A` and `bare B` (the same bare client twice: their gap is the A/A noise floor) and
//   `tollgate` (the instrumentation enabled, cost span processor + batch export to a no-op
//   exporter, no budget policy). Every worker stays up for the whole run; each round runs one
//   batch per (client, mode), clients and modes in an order rotated every round, so drift on the
//   shared machine reaches every row alike. A batch's CPU is the worker's process.cpuUsage around
//   its calls; a GC and a flush run between batches, outside that window.
// - Printed: CPU us per call (median of rounds) bare (mean of A and B) and tollgate, the overhead,
//   the A/A gap, and each overhead as a ratio of the openai row's. A ratio whose overhead differs
//   from the openai row's by less than the two rows' A/A gaps together is marked "within noise".
// Env: BENCH_ROUNDS (default 30), BENCH_BATCH (calls per batch, default 200), BENCH_CLIENTS
// (comma list of client names; default all; openai is always measured, as the reference).
import { spawn, type ChildProcess } from 'node:child_process';
import { register } from 'node:module';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { cannedFetch as cannedFetchType } from './canned.ts';
import type { TollgateInstrumentationConfig } from '../src/instrumentation/core/index.ts';

type Mode = 'bare A' | 'bare B' | 'tollgate';
const MODES: readonly Mode[] = ['bare A', 'tollgate', 'bare B'];
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 30);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 200);

type Call = () => Promise<unknown>;
type Fetch = ReturnType<typeof cannedFetchType>;
interface Instrumentation {
  setTracerProvider(provider: unknown): void;
  enable(): void;
}

/** One row of the table: what is called, and tollgate's instrumentation for it. */
interface ClientSpec {
  /** The row's label: package, major and call. */
  readonly label: string;
  /** ESM-only packages: the import-in-the-middle loader hook goes in before they are imported. */
  readonly esm?: boolean;
  instrumentation(config: TollgateInstrumentationConfig): Promise<Instrumentation>;
  makeCall(require: NodeJS.Require, fetch: Fetch): Promise<Call>;
}

const QUESTION = 'Which ocean lies between Europe and America?';

const CLIENTS = {
  openai: {
    label: 'openai 6 chat.completions.create (reference)',
    instrumentation: async (config) => new (await import('../src/instrumentation/openai/index.ts')).OpenAIInstrumentation({ ...config, moduleNames: ['openai-v6'] }),
    makeCall: async (require, fetch) => {
      const { OpenAI } = require('openai-v6') as { OpenAI: new (o: object) => { chat: { completions: { create(b: object): Promise<unknown> } } } };
      const sdk = new OpenAI({ apiKey: 'sk-bench', baseURL: 'https://api.openai.com/v1', fetch, maxRetries: 0 });
      return () => sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: QUESTION }] });
    },
  },
  'ai-sdk': {
    label: 'ai 7 generateText (@ai-sdk/openai chat)',
    esm: true,
    instrumentation: async (config) => new (await import('../src/instrumentation/ai-sdk/index.ts')).AiSdkInstrumentation(config),
    makeCall: async (_require, fetch) => {
      const ai = (await import('ai')) as unknown as { generateText(o: object): Promise<unknown> };
      const { createOpenAI } = (await import('@ai-sdk/openai')) as unknown as { createOpenAI(o: object): { chat(id: string): unknown } };
      const model = createOpenAI({ apiKey: 'sk-bench', baseURL: 'https://api.openai.com/v1', fetch }).chat('gpt-4o-mini');
      return () => ai.generateText({ model, messages: [{ role: 'user', content: QUESTION }], maxRetries: 0 });
    },
  },
  gemini: {
    label: '@google/genai 2 models.generateContent',
    instrumentation: async (config) => new (await import('../src/instrumentation/google-genai/index.ts')).GoogleGenAIInstrumentation(config),
    makeCall: (require) => {
      const answer = JSON.stringify({
        candidates: [{ content: { role: 'model', parts: [{ text: 'Atlantic Ocean.' }] }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: 22, candidatesTokenCount: 3, totalTokenCount: 25 },
        modelVersion: 'gemini-2.5-flash',
        responseId: 'bench',
      });
      // The client has no fetch option: this worker's global fetch answers instead.
      globalThis.fetch = () => Promise.resolve(new Response(answer, { status: 200, headers: { 'content-type': 'application/json' } }));
      const { GoogleGenAI } = require('@google/genai') as { GoogleGenAI: new (o: object) => { models: { generateContent(p: object): Promise<unknown> } } };
      const sdk = new GoogleGenAI({ apiKey: 'bench', httpOptions: { baseUrl: 'http://bench.invalid' } });
      return Promise.resolve(() => sdk.models.generateContent({ model: 'gemini-2.5-flash', contents: QUESTION }));
    },
  },
  bedrock: {
    label: '@aws-sdk/client-bedrock-runtime ConverseCommand',
    instrumentation: async (config) => new (await import('../src/instrumentation/bedrock/index.ts')).BedrockInstrumentation(config),
    makeCall: async (require) => {
      const { Readable } = await import('node:stream');
      const { BedrockRuntimeClient, ConverseCommand } = require('@aws-sdk/client-bedrock-runtime') as {
        BedrockRuntimeClient: new (o: object) => { send(c: unknown): Promise<unknown> };
        ConverseCommand: new (i: object) => unknown;
      };
      const answer = Buffer.from(
        JSON.stringify({
          output: { message: { role: 'assistant', content: [{ text: 'Atlantic Ocean.' }] } },
          stopReason: 'end_turn',
          usage: { inputTokens: 22, outputTokens: 3, totalTokens: 25 },
          metrics: { latencyMs: 1 },
        }),
      );
      const requestHandler = {
        handle: () => Promise.resolve({ response: { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Readable.from([answer]) } }),
        updateHttpClientConfig() {},
        httpHandlerConfigs: () => ({}),
        destroy() {},
      };
      const sdk = new BedrockRuntimeClient({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' }, requestHandler, maxAttempts: 1 });
      const messages = [{ role: 'user', content: [{ text: QUESTION }] }];
      return () => sdk.send(new ConverseCommand({ modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', messages }));
    },
  },
  mistral: {
    label: '@mistralai/mistralai 2 chat.complete',
    esm: true,
    instrumentation: async (config) => new (await import('../src/instrumentation/mistral/index.ts')).MistralInstrumentation(config),
    makeCall: async () => {
      const { HTTPClient, Mistral } = (await import('@mistralai/mistralai')) as unknown as {
        HTTPClient: new (o: object) => unknown;
        Mistral: new (o: object) => { chat: { complete(r: object): Promise<unknown> } };
      };
      const answer = JSON.stringify({
        id: 'mistral-bench',
        object: 'chat.completion',
        created: 1,
        model: 'mistral-small-latest',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Atlantic Ocean.' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 22, completion_tokens: 3, total_tokens: 25 },
      });
      // An in-memory fetcher answers, as the other rows' transports do.
      const fetcher = (): Promise<Response> => Promise.resolve(new Response(answer, { status: 200, headers: { 'content-type': 'application/json' } }));
      const sdk = new Mistral({ apiKey: 'bench', serverURL: 'https://api.mistral.ai', httpClient: new HTTPClient({ fetcher }) });
      return () => sdk.chat.complete({ model: 'mistral-small-latest', messages: [{ role: 'user', content: QUESTION }] });
    },
  },
} satisfies Record<string, ClientSpec>;

type ClientName = keyof typeof CLIENTS;
const ALL: readonly ClientName[] = Object.keys(CLIENTS) as ClientName[];
const asked = process.env['BENCH_CLIENTS']?.split(',').map((c) => c.trim());
const SELECTED: readonly ClientName[] = asked === undefined ? ALL : ALL.filter((c) => c === 'openai' || asked.includes(c));

interface WorkerSpec {
  readonly client: ClientName;
  readonly mode: Mode;
}

// ---------------------------------------------------------------------------
// Worker

async function worker(spec: WorkerSpec): Promise<void> {
  const client: ClientSpec = CLIENTS[spec.client];
  const instrumented = spec.mode === 'tollgate';
  let acknowledged: () => Promise<void> = () => Promise.resolve();
  if (instrumented && client.esm === true) {
    const { createAddHookMessageChannel } = await import('import-in-the-middle');
    const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
    register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
    acknowledged = waitForAllMessagesAcknowledged;
  }
  const { context } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { BatchSpanProcessor, TracerProvider } = await import('@opentelemetry/sdk-trace');
  const { MeterProvider } = await import('@opentelemetry/sdk-metrics');
  const { CostSpanProcessor } = await import('../src/processor/index.ts');
  const { defaultPriceTable } = await import('../src/pricing/index.ts');
  const { cannedFetch } = await import('./canned.ts');
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const prices = defaultPriceTable();
  let ended = 0;
  // Counts the spans ended, so the run proves every call made exactly one span.
  const counting = {
    onStart() {},
    onEnd() {
      ended++;
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new TracerProvider({
    spanProcessors: [
      new CostSpanProcessor({ prices, meterProvider: new MeterProvider() }),
      counting,
      new BatchSpanProcessor({ exporter: { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve() }, maxQueueSize: 1 << 16 }),
    ],
  });
  if (instrumented) {
    const instrumentation = await client.instrumentation({ prices, enabled: false });
    instrumentation.setTracerProvider(provider);
    instrumentation.enable();
  }
  // After enable(): it waits for the hooks the instrumentation just added to reach the loader.
  await acknowledged();
  const call = await client.makeCall(createRequire(import.meta.url), cannedFetch());
  const gc = (globalThis as { gc?: () => void }).gc;

  process.on('message', (message: { batch: number }) => {
    (async () => {
      gc?.();
      const before = process.cpuUsage();
      for (let i = 0; i < message.batch; i++) await call();
      const used = process.cpuUsage(before);
      await provider.forceFlush();
      process.send?.({ cpuMicros: used.user + used.system, ended });
    })().catch((error: unknown) => {
      console.error(`bench worker ${spec.client}/${spec.mode}:`, error);
      process.exit(1);
    });
  });
  // The parent gone (or done): exit normally, so --cpu-prof and the like write their output.
  process.on('disconnect', () => process.exit(0));
  process.send?.({ ready: true });
}

// ---------------------------------------------------------------------------
// Parent

interface Running {
  readonly child: ChildProcess;
  next(): Promise<{ cpuMicros: number; ended: number }>;
}

function start(spec: WorkerSpec): Promise<Running> {
  const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], {
    env: { ...process.env, BENCH_CLIENT_WORKER: JSON.stringify(spec) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting: ((m: { cpuMicros: number; ended: number }) => void)[] = [];
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker ${spec.client}/${spec.mode} exited with ${String(code)}`)));
    child.on('message', (m: { ready?: boolean; cpuMicros: number; ended: number }) => {
      if (m.ready === true) {
        resolve({
          child,
          next: () =>
            new Promise((r) => {
              waiting.push(r);
              child.send({ batch: BATCH });
            }),
        });
        return;
      }
      waiting.shift()?.(m);
    });
  });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The list rotated left by `by`. */
function rotated<T>(xs: readonly T[], by: number): T[] {
  const k = by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

interface Row {
  readonly bare: number;
  readonly tollgate: number;
  readonly overhead: number;
  readonly aa: number;
}

async function main(): Promise<void> {
  console.log(
    `clients bench: ${ROUNDS} rounds x ${BATCH} calls per (client, mode), CPU us per call (median of rounds), one worker process per (client, mode), rows interleaved`,
  );
  const key = (client: ClientName, mode: Mode): string => `${client}/${mode}`;
  const workers = new Map<string, Running>();
  for (const client of SELECTED) for (const mode of MODES) workers.set(key(client, mode), await start({ client, mode }));
  const perCall = new Map<string, number[]>([...workers.keys()].map((k) => [k, []]));
  const ended = new Map<ClientName, number>();
  const run = async (client: ClientName, mode: Mode, counted: boolean): Promise<void> => {
    const result = await (workers.get(key(client, mode)) as Running).next();
    if (counted) perCall.get(key(client, mode))?.push(result.cpuMicros / BATCH);
    if (mode === 'tollgate') ended.set(client, result.ended);
  };
  // Warm-up round, not counted.
  for (const client of SELECTED) for (const mode of MODES) await run(client, mode, false);
  for (let r = 0; r < ROUNDS; r++) {
    for (const client of rotated(SELECTED, r)) for (const mode of rotated(MODES, r)) await run(client, mode, true);
  }
  for (const w of workers.values()) w.child.kill();

  const rows = new Map<ClientName, Row>();
  for (const client of SELECTED) {
    const calls = (ROUNDS + 1) * BATCH;
    if (ended.get(client) !== calls) throw new Error(`${client}: tollgate ended ${String(ended.get(client))} spans for ${calls} calls`);
    const a = median(perCall.get(key(client, 'bare A')) ?? []);
    const b = median(perCall.get(key(client, 'bare B')) ?? []);
    const t = median(perCall.get(key(client, 'tollgate')) ?? []);
    const bare = (a + b) / 2;
    rows.set(client, { bare, tollgate: t, overhead: t - bare, aa: Math.abs(a - b) });
  }
  const reference = rows.get('openai') as Row;
  const f = (x: number, w = 8): string => x.toFixed(1).padStart(w);
  console.log(`\n${'client'.padEnd(50)} ${'bare'.padStart(8)} ${'tollgate'.padStart(8)} ${'overhead'.padStart(8)} ${'of bare'.padStart(7)} ${'A/A'.padStart(6)}  overhead / openai's`);
  for (const client of ALL) {
    const row = rows.get(client);
    const label = CLIENTS[client].label.padEnd(50);
    if (row === undefined) {
      console.log(`${label} (not selected: BENCH_CLIENTS)`);
      continue;
    }
    const ratio = row.overhead / reference.overhead;
    const resolved = Math.abs(row.overhead - reference.overhead) > row.aa + reference.aa;
    const verdict = client === 'openai' ? '1.00x (reference)' : `${ratio.toFixed(2)}x${resolved ? '' : ' (within noise)'} (target <= 1.00x)`;
    console.log(`${label} ${f(row.bare)} ${f(row.tollgate)} ${f(row.overhead)} ${`${((row.overhead / row.bare) * 100).toFixed(0)}%`.padStart(7)} ${f(row.aa, 6)}  ${verdict}`);
  }
  console.log('(us CPU per call; A/A = |bare A - bare B|; "within noise": |overhead - openai overhead| <= this A/A + openai A/A)');
}

const workerSpec = process.env['BENCH_CLIENT_WORKER'];
if (workerSpec !== undefined) await worker(JSON.parse(workerSpec) as WorkerSpec);
else await main();
