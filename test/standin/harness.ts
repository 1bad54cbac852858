/**
 * Shared set-up for the OpenAI instrumentation tests: a real tracer provider with an in-memory
 * exporter, the instrumentation hooked into `require` (the current `openai` and the npm aliases
 * `openai-v4` / `openai-v6`), and a stand-in provider server.
 */
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { createRequire } from 'node:module';
import { OpenAIInstrumentation } from '../../src/instrumentation/openai/index.ts';
import type { OpenAIInstrumentationConfig } from '../../src/instrumentation/openai/index.ts';
import { startStandinServer } from '../../src/standin/server.ts';
import type { StandinServer } from '../../src/standin/server.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { createPriceTable } from '../../src/pricing/index.ts';

/** The SDK majors the tests drive: package name as installed -> label. */
export const SDKS = [
  { pkg: 'openai', major: 7 },
  { pkg: 'openai-v6', major: 6 },
  { pkg: 'openai-v4', major: 4 },
] as const;

export interface Harness {
  readonly exporter: InMemorySpanExporter;
  readonly instrumentation: OpenAIInstrumentation;
  readonly server: StandinServer;
  /** `require`, resolving from the repo (so the hooks see a real CJS load). */
  readonly require: NodeJS.Require;
  /** Finished spans. */
  spans(): ReadableSpan[];
  /** A client of `pkg` pointed at the stand-in server, retries off unless given. */
  client(pkg: string, options?: Record<string, unknown>): OpenAIClient;
  reset(): void;
  close(): Promise<void>;
}

/** The subset of the client API the tests use, typed loosely so one helper serves every major. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OpenAIClient = any;

let contextManager: AsyncLocalStorageContextManager | undefined;

/** Starts the stand-in server, the tracer provider and the instrumentation (before any openai is required). */
export async function startHarness(config: OpenAIInstrumentationConfig = {}): Promise<Harness> {
  if (contextManager === undefined) {
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
  }
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const instrumentation = new OpenAIInstrumentation({
    moduleNames: ['openai-v4', 'openai-v6'],
    prices: createPriceTable(),
    ...config,
    enabled: false,
  });
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  const server = await startStandinServer({ routes: openaiRoutes() });
  const require = createRequire(import.meta.url);
  return {
    exporter,
    instrumentation,
    server,
    require,
    spans: () => exporter.getFinishedSpans(),
    client(pkg, options = {}) {
      const mod = require(pkg) as { OpenAI?: new (o: object) => unknown } & (new (o: object) => unknown);
      const OpenAI = mod.OpenAI ?? mod;
      return new OpenAI({ apiKey: 'sk-test', baseURL: `${server.url}/v1`, maxRetries: 0, ...options });
    },
    reset() {
      exporter.reset();
      server.reset();
    },
    async close() {
      instrumentation.disable();
      await server.close();
      await provider.shutdown();
    },
  };
}

/** Waits until `n` spans have ended (estimated usage ends a span after an async token count). */
export async function waitForSpans(h: Harness, n: number, timeoutMillis = 5000): Promise<ReadableSpan[]> {
  const deadline = Date.now() + timeoutMillis;
  while (h.spans().length < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} spans, got ${h.spans().length}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return h.spans();
}

/** The only finished span, asserting there is exactly one. */
export async function onlySpan(h: Harness): Promise<ReadableSpan> {
  const spans = await waitForSpans(h, 1);
  // One more turn: a duplicate span would have ended by now.
  await new Promise((resolve) => setImmediate(resolve));
  if (h.spans().length !== 1) throw new Error(`expected exactly one span, got ${h.spans().length}: ${h.spans().map((s) => s.name).join(', ')}`);
  const span = spans[0];
  if (span === undefined) throw new Error('no span');
  return span;
}
