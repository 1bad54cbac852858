/**
 * Span export processors from the standard OTel env vars. tollgate builds its own
 * list (instead of letting the Node SDK do it) because the SDK creates no tracer
 * provider at all when OTEL_TRACES_EXPORTER=none, and tollgate's cost processor
 * must see every span whether or not spans are exported: spend, budgets and
 * metrics never depend on export.
 */
import { diag } from '@opentelemetry/api';
import { OTLPTraceExporter as OTLPHttpJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPHttpProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { envValue } from '../config/env.ts';
import { ConfigError } from '../errors.ts';

/** Protocols accepted in OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL. */
const PROTOCOLS = ['http/protobuf', 'http/json'] as const;

/** The OTLP trace exporter the env vars ask for (endpoint, headers and timeouts are read by the exporter itself). */
export function otlpTraceExporterFromEnv(env: NodeJS.ProcessEnv): SpanExporter {
  const source = envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = envValue(env, source) ?? 'http/protobuf';
  switch (protocol) {
    case 'http/protobuf':
      return new OTLPHttpProtoTraceExporter();
    case 'http/json':
      return new OTLPHttpJsonTraceExporter();
    case 'grpc':
      // The gRPC exporter pulls in @grpc/grpc-js; tollgate keeps its footprint to HTTP.
      diag.warn('tollgate: OTLP protocol "grpc" is not bundled; exporting spans with http/protobuf instead');
      return new OTLPHttpProtoTraceExporter();
    default:
      throw new ConfigError(source, protocol, `one of ${PROTOCOLS.join(', ')}`);
  }
}

/** Export processors for OTEL_TRACES_EXPORTER (`otlp` by default, `console`, `none`). */
export function spanExportProcessorsFromEnv(env: NodeJS.ProcessEnv): SpanProcessor[] {
  const raw = envValue(env, 'OTEL_TRACES_EXPORTER');
  const names = [...new Set((raw ?? 'otlp').split(',').map((s) => s.trim()).filter((s) => s.length > 0))];
  if (names.includes('none')) return [];
  const processors: SpanProcessor[] = [];
  for (const name of names) {
    if (name === 'otlp') processors.push(new BatchSpanProcessor({ exporter: otlpTraceExporterFromEnv(env), ...batchOptionsFromEnv(env) }));
    else if (name === 'console') processors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
    else throw new ConfigError('OTEL_TRACES_EXPORTER', raw, 'a comma-separated list of otlp, console, none');
  }
  return processors;
}

/** OTEL_BSP_* settings, as the Node SDK reads them. */
function batchOptionsFromEnv(env: NodeJS.ProcessEnv): { maxQueueSize?: number; maxExportBatchSize?: number; scheduledDelayMillis?: number; exportTimeoutMillis?: number } {
  const out: { maxQueueSize?: number; maxExportBatchSize?: number; scheduledDelayMillis?: number; exportTimeoutMillis?: number } = {};
  const read = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(name, raw, 'a non-negative number');
    return n;
  };
  const q = read('OTEL_BSP_MAX_QUEUE_SIZE');
  const b = read('OTEL_BSP_MAX_EXPORT_BATCH_SIZE');
  const d = read('OTEL_BSP_SCHEDULE_DELAY');
  const t = read('OTEL_BSP_EXPORT_TIMEOUT');
  if (q !== undefined) out.maxQueueSize = q;
  if (b !== undefined) out.maxExportBatchSize = b;
  if (d !== undefined) out.scheduledDelayMillis = d;
  if (t !== undefined) out.exportTimeoutMillis = t;
  return out;
}
