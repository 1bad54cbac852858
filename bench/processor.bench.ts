/**
 * CostSpanProcessor overhead and memory bound.
 * 1. Span throughput of BatchSpanProcessor + no-op exporter, with (B) and without (A)
 *    CostSpanProcessor in front, ~15 attributes a span, traces of 10 spans (a root,
 *    8 plain spans, 1 chat span with usage). Rounds alternate A/B; an A/A pair gives
 *    the noise floor. Target: B/A >= 0.80.
 * 2. Heap growth over 1M completed tasks (a root + one priced call each). Target < 30 MB.
 * Run: npm run bench -- processor   (node --expose-gc)
 */
import { context, trace, type Attributes, type Tracer } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { createPriceTable } from '../src/pricing/index.ts';
import { CostSpanProcessor } from '../src/processor/index.ts';

const noopExporter: SpanExporter = {
  export: (_spans: ReadableSpan[], cb) => cb({ code: 0 }),
  shutdown: () => Promise.resolve(),
};
const prices = createPriceTable({ overrides: [{ provider: 'openai', model: 'acme-large', input: 2, output: 8, cacheRead: 0.5 }] });
const meterProvider = new MeterProvider();

function provider(withCost: boolean): TracerProvider {
  const processors: SpanProcessor[] = [];
  if (withCost) processors.push(new CostSpanProcessor({ prices, meterProvider }));
  processors.push(new BatchSpanProcessor({ exporter: noopExporter, maxQueueSize: 65536, maxExportBatchSize: 4096, scheduledDelayMillis: 50 }));
  return new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'bench' }), spanProcessors: processors });
}

const plain: Attributes = {};
for (let i = 0; i < 15; i++) plain[`app.attr_${i}`] = i % 2 === 0 ? `value-${i}` : i;
const chat: Attributes = {
  'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'acme-large', 'gen_ai.response.model': 'acme-large',
  'gen_ai.usage.input_tokens': 1200, 'gen_ai.usage.output_tokens': 300, 'gen_ai.usage.cache_read.input_tokens': 400,
  'gen_ai.request.max_tokens': 512, 'gen_ai.response.id': 'resp-1', 'gen_ai.response.finish_reasons': ['stop'], 'server.address': 'api.openai.com',
  'server.port': 443, 'gen_ai.request.stream': false, 'gen_ai.request.temperature': 0.2, 'app.route': '/chat',
};

function oneTrace(tracer: Tracer): void {
  const root = tracer.startSpan('GET /handle', { attributes: plain });
  const ctx = trace.setSpan(context.active(), root);
  for (let i = 0; i < 8; i++) tracer.startSpan('db.query', { attributes: plain }, ctx).end();
  tracer.startSpan('chat acme-large', { attributes: chat }, ctx).end();
  root.end();
}

async function round(p: TracerProvider, traces: number): Promise<{ spansPerSec: number; cpuMicrosPerSpan: number }> {
  const tracer = p.getTracer('bench');
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < traces; i++) {
    oneTrace(tracer);
    if (i % 500 === 499) await new Promise<void>((r) => setImmediate(r));
  }
  await p.forceFlush();
  const c = process.cpuUsage(c0);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const spans = traces * 10;
  return { spansPerSec: spans / secs, cpuMicrosPerSpan: (c.user + c.system) / spans };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function throughput(): Promise<void> {
  const A = provider(false);
  const A2 = provider(false);
  const B = provider(true);
  const TRACES = 20_000;
  for (const p of [A, A2, B]) await round(p, 2_000); // warm-up
  const a: number[] = [], a2: number[] = [], b: number[] = [], ca: number[] = [], cb: number[] = [];
  for (let r = 0; r < 7; r++) {
    const ra = await round(A, TRACES);
    const rb = await round(B, TRACES);
    const ra2 = await round(A2, TRACES);
    a.push(ra.spansPerSec); b.push(rb.spansPerSec); a2.push(ra2.spansPerSec);
    ca.push(ra.cpuMicrosPerSpan); cb.push(rb.cpuMicrosPerSpan);
  }
  const ratio = median(b) / median(a);
  console.log(`A  (Batch only)             ${Math.round(median(a))} spans/s, CPU ${median(ca).toFixed(2)} µs/span`);
  console.log(`B  (Cost + Batch)           ${Math.round(median(b))} spans/s, CPU ${median(cb).toFixed(2)} µs/span`);
  console.log(`A' (Batch only, A/A noise)  ${Math.round(median(a2))} spans/s  -> A'/A = ${(median(a2) / median(a)).toFixed(3)}`);
  console.log(`B/A throughput ratio: ${ratio.toFixed(3)} (target >= 0.80) ${ratio >= 0.8 ? 'OK' : 'MISS'}`);
  for (const p of [A, A2, B]) await p.shutdown();
}

async function heap(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    console.log('heap: run with --expose-gc (npm run bench does)');
    return;
  }
  const cost = new CostSpanProcessor({ prices, meterProvider });
  const p = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'bench' }), spanProcessors: [cost] });
  const tracer = p.getTracer('bench');
  const N = 1_000_000;
  const warm = 20_000;
  const task = (): void => {
    const root = tracer.startSpan('task', { attributes: plain });
    tracer.startSpan('chat acme-large', { attributes: chat }, trace.setSpan(context.active(), root)).end();
    root.end();
  };
  for (let i = 0; i < warm; i++) task(); // fill the tables to their caps' working size
  gc(); gc();
  const before = process.memoryUsage().heapUsed;
  const t0 = Date.now();
  for (let i = 0; i < N; i++) {
    task();
    if (i % 10_000 === 9_999) await new Promise<void>((r) => setImmediate(r));
  }
  gc(); gc();
  const growthMb = (process.memoryUsage().heapUsed - before) / 1e6;
  const s = cost.stats();
  console.log(`heap growth over ${N} completed tasks: ${growthMb.toFixed(2)} MB (target < 30 MB) ${growthMb < 30 ? 'OK' : 'MISS'}; ${((Date.now() - t0) / 1000).toFixed(1)} s; tables: open ${s.openTasks}, ended ${s.endedTasks}; calls counted ${cost.getSpend().total.calls}`);
  await p.shutdown();
}

await throughput();
await heap();
