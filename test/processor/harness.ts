/**
 * Shared set-up for the processor tests: a real TracerProvider with the
 * CostSpanProcessor in front of an in-memory exporter, a real MeterProvider read
 * back through a MetricReader, an injected clock and a known price table.
 */
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { createPriceTable } from '../../src/pricing/index.ts';
import { CostSpanProcessor, type CostSpanProcessorOptions } from '../../src/processor/index.ts';

let cmInstalled = false;
/** Registers AsyncLocalStorage as the global context manager (once per process). */
export function installContextManager(): void {
  if (cmInstalled) return;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  cmInstalled = true;
}

/** USD per million tokens. `acme-large` has every rate, so each usage part is visible in the total. */
export const PRICES = createPriceTable({
  overrides: [
    { provider: 'openai', model: 'acme-large', input: 2, output: 8, cacheRead: 0.5, cacheWrite: 2.5, cacheWrite1h: 4 },
    { provider: 'anthropic', model: 'acme-claude', input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75, cacheWrite1h: 6 },
    { provider: 'openai', model: 'acme-embed', input: 0.1, output: 0 },
  ],
});

export class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export interface Harness {
  readonly processor: CostSpanProcessor;
  readonly provider: TracerProvider;
  readonly exporter: InMemorySpanExporter;
  readonly reader: TestReader;
  readonly meterProvider: MeterProvider;
  /** The fake clock, milliseconds since the epoch. */
  readonly clock: { now: number };
  spans(): ReadableSpan[];
  span(name: string): ReadableSpan;
}

export function harness(options: Partial<CostSpanProcessorOptions> = {}, resourceAttrs: Record<string, string> = { 'service.name': 'svc' }): Harness {
  installContextManager();
  const clock = { now: Date.UTC(2026, 0, 31, 12, 0, 0) };
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const processor = new CostSpanProcessor({ prices: PRICES, now: () => clock.now, meterProvider, ...options });
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes(resourceAttrs),
    spanProcessors: [processor, new SimpleSpanProcessor({ exporter })],
  });
  return {
    processor,
    provider,
    exporter,
    reader,
    meterProvider,
    clock,
    spans: () => exporter.getFinishedSpans(),
    span(name) {
      const found = exporter.getFinishedSpans().filter((s) => s.name === name);
      if (found.length !== 1) throw new Error(`expected one span named ${name}, found ${found.length}`);
      return found[0]!;
    },
  };
}

/** USD to integer nano-USD, for exact comparisons. */
export function nanos(usd: unknown): number {
  if (typeof usd !== 'number') throw new Error(`not a number: ${String(usd)}`);
  return Math.round(usd * 1e9);
}

/** The data points of metric `name` after a collection. */
export async function points(reader: MetricReader, name: string): Promise<DataPoint<number | Histogram>[]> {
  const { resourceMetrics } = await reader.collect();
  const out: DataPoint<number | Histogram>[] = [];
  for (const sm of resourceMetrics.scopeMetrics) {
    for (const m of sm.metrics) {
      if (m.descriptor.name === name) out.push(...(m.dataPoints as DataPoint<number | Histogram>[]));
    }
  }
  return out;
}
