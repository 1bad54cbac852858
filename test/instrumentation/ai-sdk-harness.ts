/**
 * Shared set-up for the AI SDK tests: the import-in-the-middle loader registered in this process
 * (`ai` 7 is ESM only, so the hook is the only way in, as in an app started with
 * `--import tollgate/register`), a real tracer provider with an in-memory exporter, the
 * instrumentation with a switchable gate, and one stand-in server speaking the OpenAI and
 * Anthropic wire formats. The `ai` packages and providers are imported only after the hook is on.
 */
import { register } from 'node:module';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { AiSdkInstrumentation } from '../../src/instrumentation/ai-sdk/index.ts';
import { ALLOW_ALL } from '../../src/gate.ts';
import type { CallGate } from '../../src/gate.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { anthropicRoutes } from '../../src/standin/anthropic.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { startStandinServer } from '../../src/standin/server.ts';
import type { StandinServer } from '../../src/standin/server.ts';

/** The tollgate instrumentation scope. */
export const SCOPE = 'tollgate-instrumentation-ai-sdk';

/** A gate whose behaviour a test swaps in. */
export interface SwitchableGate extends CallGate {
  current: CallGate;
}

/** Loosely typed module namespaces: one helper serves every major. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Loose = any;

export interface AiHarness {
  readonly exporter: InMemorySpanExporter;
  readonly provider: TracerProvider;
  readonly instrumentation: AiSdkInstrumentation;
  readonly server: StandinServer;
  readonly gate: SwitchableGate;
  /** tollgate's finished spans. */
  spans(): ReadableSpan[];
  /** Every finished span (the AI SDK's own too). */
  allSpans(): ReadableSpan[];
  reset(): void;
  close(): Promise<void>;
}

let contextManager: AsyncLocalStorageContextManager | undefined;
let hooked: Promise<void> | undefined;

/** Registers the ESM loader hook once per process (before any `ai` import). */
function hookEsm(): { acknowledged: () => Promise<void> } {
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  return { acknowledged: waitForAllMessagesAcknowledged };
}

/** Starts everything; `extraProcessors` run before the exporter (e.g. tollgate's cost processor). */
export async function startAiHarness(moduleNames: string[] = ['ai-v5', 'ai-v6'], extraProcessors: SpanProcessor[] = []): Promise<AiHarness> {
  if (contextManager === undefined) {
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
  }
  const channel = hooked === undefined ? hookEsm() : undefined;
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [...extraProcessors, new SimpleSpanProcessor({ exporter })] });
  trace.setGlobalTracerProvider(provider);
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
  const instrumentation = new AiSdkInstrumentation({ moduleNames, prices: createPriceTable(), gate, enabled: false });
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  if (channel !== undefined) {
    hooked = channel.acknowledged();
  }
  await hooked;
  const server = await startStandinServer({ routes: [...openaiRoutes(), ...anthropicRoutes()] });
  const allSpans = (): ReadableSpan[] => exporter.getFinishedSpans();
  return {
    exporter,
    provider,
    instrumentation,
    server,
    gate,
    allSpans,
    spans: () => allSpans().filter((s) => s.instrumentationScope.name === SCOPE),
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
export async function waitForAiSpans(h: AiHarness, n: number, timeoutMillis = 5000): Promise<ReadableSpan[]> {
  const deadline = Date.now() + timeoutMillis;
  while (h.spans().length < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} tollgate spans, got ${h.spans().length}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  // One more turn: a surplus span would have ended by now.
  await new Promise((resolve) => setImmediate(resolve));
  return h.spans();
}

/** USD per million tokens -> USD. */
export function usd(tokens: number, perMillion: number): number {
  return (tokens * perMillion) / 1e6;
}
