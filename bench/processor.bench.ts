/**
 * CostSpanProcessor overhead and memory bound.
 * 1. Span throughput of BatchSpanProcessor + no-op exporter, with (B) and without (A)
 *    CostSpanProcessor in front, ~15 attributes a span, traces of 10 spans (a root,
 *    8 plain spans, 1 chat span with usage). Rounds alternate A/B; an A/A pair gives
 *    the noise floor. Target: B/A >= 0.80.
 * 2. Added cost per standalone LLM call span (each call its own trace, so its own task, as in
 *    instrumentation.bench.ts), with a MeterProvider that has a reader (so the cost counter and
 *    GenAI histograms really aggregate, as under NodeSDK): (a) a span from tollgate's
 *    instrumentation (already priced), (b) a foreign GenAI span the processor prices. Rounds
 *    alternate A (Batch only) / B (Cost + Batch) / A' (Batch only, noise floor). Reports µs and
 *    CPU µs added per call.
 * 3. Heap growth over 1M completed tasks (a root + one priced call each). Target < 30 MB.
 * Run: npm run bench -- processor   (node --expose-gc)
 */
import { context, SpanKind, trace, type Attributes, type Tracer } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
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

/** One call as tollgate's OpenAI instrumentation makes it: request attributes at start, response, usage and cost at the end. */
function tollgateCall(tracer: Tracer): void {
  const span = tracer.startSpan('chat gpt-4o-mini', {
    kind: SpanKind.CLIENT,
    attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.request.stream': false, 'server.address': 'api.openai.com', 'server.port': 443 },
  });
  span.setAttribute('gen_ai.response.id', 'chatcmpl-bench');
  span.setAttribute('gen_ai.response.model', 'gpt-4o-mini-2024-07-18');
  span.setAttribute('gen_ai.response.finish_reasons', ['stop']);
  span.setAttribute('gen_ai.usage.input_tokens', 22);
  span.setAttribute('gen_ai.usage.output_tokens', 3);
  span.setAttribute('tollgate.usage.estimated', false);
  span.setAttribute('tollgate.cost.usd', 0.0000051);
  span.setAttribute('gen_ai.usage.cost', 0.0000051);
  span.setAttribute('tollgate.cost.input_usd', 0.0000033);
  span.setAttribute('tollgate.cost.output_usd', 0.0000018);
  span.setAttribute('tollgate.cost.cache_read_usd', 0);
  span.setAttribute('tollgate.cost.cache_write_usd', 0);
  span.setAttribute('tollgate.cost.source', 'table');
  span.end();
}

/** One call as a GenAI-convention instrumentation makes it, with usage and no cost: the processor prices it. */
function foreignCall(tracer: Tracer): void {
  const span = tracer.startSpan('chat acme-large', {
    kind: SpanKind.CLIENT,
    attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'acme-large', 'server.address': 'api.openai.com', 'server.port': 443 },
  });
  span.setAttribute('gen_ai.response.id', 'chatcmpl-bench');
  span.setAttribute('gen_ai.response.model', 'acme-large');
  span.setAttribute('gen_ai.response.finish_reasons', ['stop']);
  span.setAttribute('gen_ai.usage.input_tokens', 22);
  span.setAttribute('gen_ai.usage.output_tokens', 3);
  span.end();
}

async function perCall(): Promise<void> {
  const noopMetrics: PushMetricExporter = { export: (_m, done) => done({ code: 0 }), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
  const metered = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: noopMetrics, exportIntervalMillis: 60_000 })] });
  const make = (withCost: boolean): TracerProvider => {
    const processors: SpanProcessor[] = [];
    if (withCost) processors.push(new CostSpanProcessor({ prices, meterProvider: metered }));
    processors.push(new BatchSpanProcessor({ exporter: noopExporter, maxQueueSize: 65536, maxExportBatchSize: 4096, scheduledDelayMillis: 50 }));
    return new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'bench' }), spanProcessors: processors });
  };
  const CALLS = 20_000;
  const gc = (globalThis as { gc?: () => void }).gc;
  const one = async (p: TracerProvider, scope: string, call: (t: Tracer) => void): Promise<{ micros: number; cpu: number }> => {
    const tracer = p.getTracer(scope);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) {
      call(tracer);
      if (i % 500 === 499) await new Promise<void>((r) => setImmediate(r));
    }
    const micros = Number(process.hrtime.bigint() - t0) / 1000 / CALLS;
    const c = process.cpuUsage(c0);
    await p.forceFlush(); // export outside the measured window, as the instrumentation bench does
    gc?.();
    return { micros, cpu: (c.user + c.system) / CALLS };
  };
  for (const [label, scope, call] of [
    ['tollgate span (priced by the instrumentation)', 'tollgate-instrumentation-openai', tollgateCall],
    ['foreign GenAI span (priced by the processor)', 'some-genai-instrumentation', foreignCall],
  ] as const) {
    const A = make(false);
    const A2 = make(false);
    const B = make(true);
    for (const p of [A, A2, B]) await one(p, scope, call); // warm-up
    const a: number[] = [], a2: number[] = [], b: number[] = [], ca: number[] = [], cb: number[] = [];
    for (let r = 0; r < 9; r++) {
      // Rotate the order so no mode always follows the same neighbour.
      const order = [[A, a, ca], [B, b, cb], [A2, a2, undefined]] as const;
      for (let k = 0; k < 3; k++) {
        const [p, xs, cs] = order[(k + r) % 3]!;
        const m = await one(p, scope, call);
        xs.push(m.micros);
        cs?.push(m.cpu);
      }
    }
    console.log(`\nstandalone calls, ${label}: ${CALLS} calls x 9 rounds per mode, medians`);
    console.log(`A  (Batch only)   ${median(a).toFixed(2)} µs/call, CPU ${median(ca).toFixed(2)} µs/call`);
    console.log(`B  (Cost + Batch) ${median(b).toFixed(2)} µs/call, CPU ${median(cb).toFixed(2)} µs/call`);
    console.log(`processor adds    ${(median(b) - median(a)).toFixed(2)} µs/call, CPU ${(median(cb) - median(ca)).toFixed(2)} µs/call (A/A noise ${Math.abs(median(a2) - median(a)).toFixed(2)} µs)`);
    for (const p of [A, A2, B]) await p.shutdown();
  }
  await metered.shutdown();
}

await throughput();
await perCall();
await heap();
