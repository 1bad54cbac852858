/**
 * Gateway collector CPU per GenAI span: the collector scripts/build-otel-binaries.sh builds,
 * fed 80k GenAI spans (8 models, 7 providers, one unknown; 11 attributes each, as an
 * instrumented service sends them) over OTLP/HTTP protobuf, pre-encoded so the sender costs
 * little. Pipelines, each a fresh collector process, alternating A / P / G / A' per round:
 * - A (bare): otlp -> batch -> file
 * - P (processor): otlp -> tollgate -> batch -> file
 * - G (gateway): gateway.yaml's trace pipeline with its network exporters swapped for the file:
 *   otlp -> memory_limiter -> tollgate -> batch -> file + signal_to_metrics -> delta_to_cumulative -> debug
 * - A' (bare again): the A/A noise floor.
 * CPU is the collector process's utime + stime from /proc/<pid>/stat, read after a warm-up
 * and again once its exporter has sent every span (its own otelcol_exporter_sent_spans
 * counter). Target (issue #15): G <= 2.0x A per span (the generated OTTL pricing was ~32x).
 * Run: npm run bench -- collector
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ensureBinaries, REPO_ROOT } from '../test/e2e/stack.ts';

const SPANS_PER_REQUEST = 500;
const REQUESTS = 160; // 80,000 spans per measured run
const WARMUP_REQUESTS = 20;
const ROUNDS = 5;
const CONCURRENCY = 4;
const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat times are in 1/100 s

// ---- a minimal OTLP protobuf encoder (ExportTraceServiceRequest), enough for these spans

class Writer {
  private readonly parts: Buffer[] = [];
  varint(n: number | bigint): this {
    let v = BigInt(n);
    const bytes: number[] = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      bytes.push(b);
    } while (v > 0n);
    this.parts.push(Buffer.from(bytes));
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  bytes(field: number, b: Buffer): this {
    this.tag(field, 2).varint(b.length);
    this.parts.push(b);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }
  fixed64(field: number, n: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    this.tag(field, 1);
    this.parts.push(b);
    return this;
  }
  /** Appends already-encoded fields. */
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function keyValue(key: string, value: string | number): Buffer {
  const any = new Writer();
  if (typeof value === 'string') any.string(1, value);
  else any.tag(3, 0).varint(value); // int_value
  return new Writer().string(1, key).bytes(2, any.done()).done();
}

const MODELS: readonly [string, string][] = [
  ['openai', 'gpt-4o-2024-08-06'],
  ['anthropic', 'claude-sonnet-4-5-20250929'],
  ['gcp.gemini', 'gemini-2.5-pro'],
  ['aws.bedrock', 'us.anthropic.claude-3-5-haiku-20241022-v1:0'],
  ['mistral_ai', 'mistral-large-latest'],
  ['groq', 'llama-3.3-70b-versatile'],
  ['deepseek', 'deepseek-chat'],
  ['openai', 'mystery-llm-9'],
];

/** One OTLP/HTTP protobuf request body of `n` GenAI spans. */
function requestBody(n: number, seed: number): Buffer {
  const spans = new Writer();
  const start = BigInt(Date.now()) * 1_000_000n;
  for (let i = 0; i < n; i++) {
    const [provider, model] = MODELS[(seed + i) % MODELS.length] as [string, string];
    const traceId = Buffer.alloc(16);
    traceId.writeUInt32BE(seed + 1, 0);
    traceId.writeUInt32BE(i + 1, 12);
    const spanId = Buffer.alloc(8);
    spanId.writeUInt32BE(i + 1, 4);
    const span = new Writer()
      .bytes(1, traceId)
      .bytes(2, spanId)
      .string(5, `chat ${model}`)
      .tag(6, 0)
      .varint(3) // SPAN_KIND_CLIENT
      .fixed64(7, start + BigInt(i) * 1000n)
      .fixed64(8, start + BigInt(i) * 1000n + 250_000_000n);
    const attrs: [string, string | number][] = [
      ['gen_ai.operation.name', 'chat'],
      ['gen_ai.provider.name', provider],
      ['gen_ai.request.model', model],
      ['gen_ai.response.model', model],
      ['gen_ai.response.id', `resp-${String(seed)}-${String(i)}`],
      ['gen_ai.usage.input_tokens', 1000 + (i % 5000)],
      ['gen_ai.usage.output_tokens', 100 + (i % 700)],
      ['gen_ai.usage.cache_read.input_tokens', i % 900],
      ['server.address', 'api.example.com'],
      ['server.port', 443],
      ['gen_ai.agent.name', 'bench-agent'],
    ];
    for (const [k, v] of attrs) span.bytes(9, keyValue(k, v));
    spans.bytes(2, span.done());
  }
  const scopeSpans = new Writer().bytes(1, new Writer().string(1, 'bench-instrumentation').done()).raw(spans.done()).done();
  const resource = new Writer().bytes(1, keyValue('service.name', 'bench-service')).done();
  const resourceSpans = new Writer().bytes(1, resource).bytes(2, scopeSpans).done();
  return new Writer().bytes(1, resourceSpans).done();
}

// ---- collector processes

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      server.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** gateway.yaml's signal_to_metrics connector block, verbatim (the gateway's own derived-metrics work). */
function gatewayConnector(): string {
  const gateway = readFileSync(join(REPO_ROOT, 'collector-config/gateway.yaml'), 'utf8');
  const from = gateway.indexOf('\nconnectors:\n');
  const to = gateway.indexOf('\nexporters:\n', from);
  if (from < 0 || to < 0) throw new Error('collector-config/gateway.yaml has no connectors: block before exporters:');
  return gateway.slice(from + 1, to + 1);
}

type Pipeline = 'A' | 'P' | 'G' | "A'";

function config(kind: Pipeline, otlpPort: number, metricsPort: number, file: string): string {
  const common = `receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${String(otlpPort)}
exporters:
  file:
    path: ${file}
    format: proto
  debug:
    verbosity: basic
`;
  const telemetry = `  telemetry:
    logs:
      level: warn
    metrics:
      level: basic
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${String(metricsPort)}
`;
  if (kind === 'A' || kind === "A'") {
    return `${common}processors:
  batch: {}
service:
${telemetry}  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [file]
`;
  }
  if (kind === 'P') {
    return `${common}processors:
  tollgate: {}
  batch: {}
service:
${telemetry}  pipelines:
    traces:
      receivers: [otlp]
      processors: [tollgate, batch]
      exporters: [file]
`;
  }
  return `${common}${gatewayConnector()}processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
  tollgate: {}
  batch: {}
  delta_to_cumulative:
    max_stale: 24h
service:
${telemetry}  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, tollgate, batch]
      exporters: [file, signal_to_metrics/tollgate]
    metrics/derived:
      receivers: [signal_to_metrics/tollgate]
      processors: [delta_to_cumulative]
      exporters: [debug]
`;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the whole line)
}

function post(port: number, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } }, (res) => {
      let answer = '';
      res.on('data', (c: Buffer) => (answer += c.toString('latin1')));
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`collector answered ${String(res.statusCode)}: ${answer.slice(0, 300)}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function sendAll(port: number, bodies: readonly Buffer[], count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const body = bodies[next % bodies.length] as Buffer;
        next++;
        await post(port, body);
      }
    }),
  );
}

/** Sum of a counter in the collector's own Prometheus metrics (all label sets). */
async function counter(metricsPort: number, name: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`, { signal: AbortSignal.timeout(2000) });
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMillis = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(100);
  }
}

interface Run {
  readonly kind: Pipeline;
  readonly cpuMicrosPerSpan: number;
  readonly priced: number;
}

async function run(otelcol: string, dir: string, kind: Pipeline, bodies: readonly Buffer[]): Promise<Run> {
  const [otlpPort, metricsPort] = [await freePort(), await freePort()];
  const file = join(dir, `spans-${kind}.pb`);
  const cfg = join(dir, `config-${kind}.yaml`);
  await writeFile(cfg, config(kind, otlpPort, metricsPort, file));
  const child: ChildProcess = spawn(otelcol, ['--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-4000)));
  try {
    const sent = async (): Promise<number> => await counter(metricsPort, 'otelcol_exporter_sent_spans');
    await until(`collector ${kind} up`, async () => {
      if (child.exitCode !== null) throw new Error(`collector ${kind} exited: ${stderr}`);
      // Both listeners: the OTLP receiver (an empty request) and the self-telemetry endpoint.
      await post(otlpPort, Buffer.alloc(0));
      return (await counter(metricsPort, 'otelcol_receiver_accepted_spans')) >= 0;
    });
    await sendAll(otlpPort, bodies, WARMUP_REQUESTS);
    const warm = WARMUP_REQUESTS * SPANS_PER_REQUEST;
    await until(`${kind} warm-up exported`, async () => (await sent()) >= warm);
    const pid = child.pid ?? 0;
    const c0 = cpuTicks(pid);
    await sendAll(otlpPort, bodies, REQUESTS);
    const total = warm + REQUESTS * SPANS_PER_REQUEST;
    await until(`${kind} all spans exported`, async () => (await sent()) >= total);
    const c1 = cpuTicks(pid);
    const priced = await counter(metricsPort, 'otelcol_processor_tollgate_spans_priced');
    return { kind, cpuMicrosPerSpan: ((c1 - c0) * (1e6 / CLK_TCK)) / (REQUESTS * SPANS_PER_REQUEST), priced };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    await rm(file, { force: true });
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const { otelcol } = ensureBinaries();
const dir = await mkdtemp(join(tmpdir(), 'tollgate-collector-bench-'));
try {
  const bodies = Array.from({ length: 8 }, (_, k) => requestBody(SPANS_PER_REQUEST, k * SPANS_PER_REQUEST));
  console.log(`collector ${otelcol}\n${String(REQUESTS * SPANS_PER_REQUEST)} GenAI spans per run (OTLP/HTTP protobuf, ${String(SPANS_PER_REQUEST)} per request, ${String(CONCURRENCY)} in flight), ${String(ROUNDS)} rounds of A / P / G / A'`);
  const runs: Run[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of ['A', 'P', 'G', "A'"] as const) {
      const r = await run(otelcol, dir, kind, bodies);
      runs.push(r);
      console.log(`  round ${String(round + 1)} ${kind.padEnd(2)} ${r.cpuMicrosPerSpan.toFixed(2).padStart(7)} µs CPU/span${kind === 'P' || kind === 'G' ? `  (priced ${String(r.priced)})` : ''}`);
    }
  }
  const med = (k: Pipeline): number => median(runs.filter((r) => r.kind === k).map((r) => r.cpuMicrosPerSpan));
  const a = med('A');
  const a2 = med("A'");
  const p = med('P');
  const g = med('G');
  console.log('\nmedian collector CPU per span (µs) | spans per CPU-second | vs bare A');
  for (const [name, v] of [['A  bare otlp->batch->file', a], ["A' bare again (A/A noise)", a2], ['P  + tollgate processor', p], ['G  gateway (memory_limiter, tollgate, batch, file, signal_to_metrics)', g]] as const) {
    console.log(`  ${name.padEnd(72)} ${v.toFixed(2).padStart(7)} | ${String(Math.round(1e6 / v)).padStart(7)} | ${(v / a).toFixed(2)}x`);
  }
  const target = g / a <= 2.0;
  console.log(`\ntarget G <= 2.0x A: ${target ? 'met' : 'NOT met'} (${(g / a).toFixed(2)}x; A/A noise ${(Math.abs(a2 - a) / a * 100).toFixed(1)}%)`);
  const expectedPriced = (WARMUP_REQUESTS + REQUESTS) * SPANS_PER_REQUEST;
  for (const r of runs) if ((r.kind === 'P' || r.kind === 'G') && r.priced !== expectedPriced) throw new Error(`${r.kind} priced ${String(r.priced)} spans, expected ${String(expectedPriced)}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
