/**
 * Shared set-up for the Anthropic instrumentation tests: a real tracer provider
 * (registered globally, so the SDK's own OpenTelemetry spans are live too) with
 * an in-memory exporter, the instrumentation hooked into `require` for
 * `@anthropic-ai/sdk` 1.x and its 0.x npm alias `anthropic-v0`, a switchable
 * CallGate, and the stand-in provider server with the Anthropic routes.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { createRequire } from 'node:module';
import { AnthropicInstrumentation } from '../../src/instrumentation/anthropic/index.ts';
import type { AnthropicInstrumentationConfig } from '../../src/instrumentation/anthropic/index.ts';
import { ALLOW_ALL } from '../../src/gate.ts';
import type { CallGate } from '../../src/gate.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import type { PriceTable } from '../../src/pricing/types.ts';
import { anthropicRoutes } from '../../src/standin/anthropic.ts';
import { startStandinServer } from '../../src/standin/server.ts';
import type { StandinServer } from '../../src/standin/server.ts';

/** The SDK lines the tests drive: package name as installed, and its version. */
export const SDKS = [
  { pkg: '@anthropic-ai/sdk', version: '1.14.0' },
  { pkg: 'anthropic-v0', version: '0.137.0' },
] as const;

/** The tollgate instrumentation scope (spans from any other scope are the SDK's own). */
export const SCOPE = 'tollgate-instrumentation-anthropic';

/** The client API the tests use, typed loosely so one helper serves both SDK lines. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnthropicClient = any;

/** A gate whose behaviour a test swaps in. */
export interface SwitchableGate extends CallGate {
  current: CallGate;
}

export interface Harness {
  readonly exporter: InMemorySpanExporter;
  readonly provider: TracerProvider;
  readonly instrumentation: AnthropicInstrumentation;
  readonly server: StandinServer;
  readonly prices: PriceTable;
  readonly gate: SwitchableGate;
  /** Every finished span, tollgate's and the SDK's. */
  allSpans(): ReadableSpan[];
  /** tollgate's finished spans. */
  spans(): ReadableSpan[];
  /** A client of `pkg` pointed at the stand-in server, retries off unless given. */
  client(pkg: string, options?: Record<string, unknown>): AnthropicClient;
  reset(): void;
  close(): Promise<void>;
}

let contextManager: AsyncLocalStorageContextManager | undefined;

/** Starts everything, before any Anthropic SDK is required. */
export async function startHarness(config: AnthropicInstrumentationConfig = {}): Promise<Harness> {
  if (contextManager === undefined) {
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
  }
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  // Registered globally on purpose: @anthropic-ai/sdk >= 0.134 then starts its own spans (docs/comparison.md, "Traps in the ecosystem").
  trace.setGlobalTracerProvider(provider);
  const prices = createPriceTable();
  const gate: SwitchableGate = {
    current: ALLOW_ALL,
    admit(call) {
      return this.current.admit(call);
    },
    decideNow(call) {
      return this.current.decideNow?.(call);
    },
    complete(ticket, outcome) {
      this.current.complete(ticket, outcome);
    },
    abort(ticket) {
      this.current.abort(ticket);
    },
  };
  const instrumentation = new AnthropicInstrumentation({ moduleNames: ['anthropic-v0'], prices, gate, ...config, enabled: false });
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  const server = await startStandinServer({ routes: anthropicRoutes() });
  const require = createRequire(import.meta.url);
  const allSpans = (): ReadableSpan[] => exporter.getFinishedSpans();
  return {
    exporter,
    provider,
    instrumentation,
    server,
    prices,
    gate,
    allSpans,
    spans: () => allSpans().filter((s) => s.instrumentationScope.name === SCOPE),
    client(pkg, options = {}) {
      const mod = require(pkg) as { Anthropic?: new (o: object) => unknown };
      if (mod.Anthropic === undefined) throw new Error(`${pkg} exports no Anthropic class`);
      return new mod.Anthropic({ apiKey: 'sk-ant-test', baseURL: server.url, maxRetries: 0, ...options });
    },
    reset() {
      exporter.reset();
      server.reset();
      gate.current = ALLOW_ALL;
    },
    async close() {
      instrumentation.disable();
      await server.close();
      await provider.shutdown();
    },
  };
}

/** Waits until `n` tollgate spans have ended (an estimated call ends after an async token count). */
export async function waitForSpans(h: Harness, n: number, timeoutMillis = 10_000): Promise<ReadableSpan[]> {
  const deadline = Date.now() + timeoutMillis;
  while (h.spans().length < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} spans, got ${h.spans().length}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return h.spans();
}

/** The only finished tollgate span, asserting there is exactly one. */
export async function onlySpan(h: Harness): Promise<ReadableSpan> {
  const spans = await waitForSpans(h, 1);
  // A few more turns: a duplicate span would have ended by now.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  if (h.spans().length !== 1) throw new Error(`expected exactly one span, got ${h.spans().length}: ${h.spans().map((s) => s.name).join(', ')}`);
  const span = spans[0];
  if (span === undefined) throw new Error('no span');
  return span;
}

/** A user message of the given text. */
export function userMessage(text: string): { role: 'user'; content: string } {
  return { role: 'user', content: text };
}
