// Per-call CPU cost of tollgate's AI SDK and Bedrock instrumentations over their bare clients,
// next to the same measure for tollgate's `openai` instrumentation (the reference row), in one run.
// - Clients (non-streaming, one user message, no sockets: each client's own in-memory transport
//   returns a canned answer, so only client-side work is measured):
//   - openai: openai-v6 `chat.completions.create` with a `fetch` option (bench/canned.ts);
//   - ai-sdk: `ai` 7 `generateText` with @ai-sdk/openai's chat model and the same `fetch`;
//   - bedrock: @aws-sdk/client-bedrock-runtime `ConverseCommand` with an in-memory `requestHandler`;
//   - mistral: @mistralai/mistralai `chat.complete` with an in-memory `HTTPClient` fetcher.
// - Modes per client, each in its own worker process (own heap, JIT, module copy patched once):
//   `bare A` and `bare B` (the same bare client twice: their gap is the A/A noise floor) and
//   `tollgate` (the instrumentation enabled, cost span processor + batch export to a no-op
//   exporter, no budget policy). Rounds alternate the modes in a rotating order; each batch's CPU
//   is the worker's process.cpuUsage around the calls; a GC and a flush run between batches.
// - Printed: CPU us per call per mode, tollgate's overhead over the mean of the bare modes, the
//   A/A gap, and each client's overhead as a ratio of the openai row's overhead.
// Env: BENCH_ROUNDS (default 30), BENCH_BATCH (calls per batch, default 200).
import { spawn, type ChildProcess } from 'node:child_process';
import { register } from 'node:module';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { cannedFetch as cannedFetchType } from './canned.ts';

type Client = 'openai' | 'ai-sdk' | 'bedrock' | 'mistral';
type Mode = 'bare A' | 'bare B' | 'tollgate';
const ALL_CLIENTS: readonly Client[] = ['openai', 'ai-sdk', 'bedrock', 'mistral'];
/** BENCH_CLIENTS=openai,mistral measures only these (openai, the reference row, is always kept). */
const CLIENTS: readonly Client[] = ALL_CLIENTS.filter((c) => c === 'openai' || (process.env['BENCH_CLIENTS'] ?? ALL_CLIENTS.join(',')).split(',').includes(c));
const MODES: readonly Mode[] = ['bare A', 'tollgate', 'bare B'];
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 30);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 200);

interface WorkerSpec {
  readonly client: Client;
  readonly mode: Mode;
}

// ---------------------------------------------------------------------------
// Worker

async function worker(spec: WorkerSpec): Promise<void> {
  const instrumented = spec.mode === 'tollgate';
  let acknowledged: () => Promise<void> = () => Promise.resolve();
  if (instrumented && (spec.client === 'ai-sdk' || spec.client === 'mistral')) {
    // `ai` 7 and @mistralai/mistralai are ESM only: the loader hook must be in place before they are imported.
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
    const config = { prices, enabled: false };
    const instrumentation =
      spec.client === 'openai'
        ? new (await import('../src/instrumentation/openai/index.ts')).OpenAIInstrumentation({ ...config, moduleNames: ['openai-v6'] })
        : spec.client === 'ai-sdk'
          ? new (await import('../src/instrumentation/ai-sdk/index.ts')).AiSdkInstrumentation(config)
          : spec.client === 'mistral'
            ? new (await import('../src/instrumentation/mistral/index.ts')).MistralInstrumentation(config)
            : new (await import('../src/instrumentation/bedrock/index.ts')).BedrockInstrumentation(config);
    instrumentation.setTracerProvider(provider);
    instrumentation.enable();
  }
  // After enable(): it waits for the hooks the instrumentation just added to reach the loader.
  await acknowledged();
  const require = createRequire(import.meta.url);
  const call = await makeCall(spec.client, require, cannedFetch());
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

type Call = () => Promise<unknown>;

async function makeCall(client: Client, require: NodeJS.Require, fetch: ReturnType<typeof cannedFetchType>): Promise<Call> {
  const messages = [{ role: 'user', content: 'Which ocean lies between Europe and America?' }];
  if (client === 'openai') {
    const { OpenAI } = require('openai-v6') as { OpenAI: new (o: object) => { chat: { completions: { create(b: object): Promise<unknown> } } } };
    const sdk = new OpenAI({ apiKey: 'sk-bench', baseURL: 'http://bench.invalid/v1', fetch, maxRetries: 0 });
    return () => sdk.chat.completions.create({ model: 'gpt-4o-mini', messages });
  }
  if (client === 'ai-sdk') {
    const ai = (await import('ai')) as unknown as { generateText(o: object): Promise<unknown> };
    const { createOpenAI } = (await import('@ai-sdk/openai')) as unknown as { createOpenAI(o: object): { chat(id: string): unknown } };
    const model = createOpenAI({ apiKey: 'sk-bench', baseURL: 'http://bench.invalid/v1', fetch }).chat('gpt-4o-mini');
    return () => ai.generateText({ model, messages, maxRetries: 0 });
  }
  if (client === 'mistral') return mistralCall(messages);
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
  const bedrockMessages = [{ role: 'user', content: [{ text: messages[0]?.content }] }];
  return () => sdk.send(new ConverseCommand({ modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', messages: bedrockMessages }));
}

/** @mistralai/mistralai `chat.complete` answered by an in-memory fetcher (same 22 / 3 tokens as the others). */
async function mistralCall(messages: readonly { role: string; content: string }[]): Promise<Call> {
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
  const fetcher = (): Promise<Response> => Promise.resolve(new Response(answer, { status: 200, headers: { 'content-type': 'application/json' } }));
  const sdk = new Mistral({ apiKey: 'bench', serverURL: 'http://bench.invalid', httpClient: new HTTPClient({ fetcher }) });
  return () => sdk.chat.complete({ model: 'mistral-small-latest', messages });
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

async function main(): Promise<void> {
  console.log(`clients bench: ${ROUNDS} rounds x ${BATCH} calls per mode, CPU us per call (median of rounds), one worker process per mode`);
  const overheads = new Map<Client, number>();
  for (const client of CLIENTS) {
    const workers = new Map<Mode, Running>();
    for (const mode of MODES) workers.set(mode, await start({ client, mode }));
    const perCall = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
    let tollgateEnded = 0;
    // Warm-up round, not counted.
    for (const mode of MODES) await workers.get(mode)?.next();
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < MODES.length; k++) {
        const mode = MODES[(k + r) % MODES.length] as Mode;
        const result = await (workers.get(mode) as Running).next();
        perCall.get(mode)?.push(result.cpuMicros / BATCH);
        if (mode === 'tollgate') tollgateEnded = result.ended;
      }
    }
    for (const w of workers.values()) w.child.kill();
    const a = median(perCall.get('bare A') ?? []);
    const b = median(perCall.get('bare B') ?? []);
    const t = median(perCall.get('tollgate') ?? []);
    const bare = (a + b) / 2;
    const overhead = t - bare;
    overheads.set(client, overhead);
    const calls = (ROUNDS + 1) * BATCH;
    if (tollgateEnded !== calls) throw new Error(`${client}: tollgate ended ${tollgateEnded} spans for ${calls} calls`);
    console.log(
      `${client.padEnd(8)} bare ${bare.toFixed(1).padStart(7)} us  tollgate ${t.toFixed(1).padStart(7)} us  +${overhead.toFixed(1).padStart(6)} us (${((overhead / bare) * 100).toFixed(0)}% of bare)  A/A |bare A - bare B| ${Math.abs(a - b).toFixed(1)} us`,
    );
  }
  const reference = overheads.get('openai') ?? NaN;
  for (const client of CLIENTS) {
    if (client === 'openai') continue;
    const ratio = (overheads.get(client) ?? NaN) / reference;
    console.log(`${client} overhead / openai overhead: ${ratio.toFixed(2)}x (target <= 1.00x)`);
  }
}

const workerSpec = process.env['BENCH_CLIENT_WORKER'];
if (workerSpec !== undefined) await worker(JSON.parse(workerSpec) as WorkerSpec);
else await main();
