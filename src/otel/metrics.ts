/**
 * Metric readers from the standard OTel env vars (OTEL_METRICS_EXPORTER,
 * OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL, OTEL_METRIC_EXPORT_INTERVAL). tollgate
 * owns its MeterProvider so its instruments exist from the first call, before
 * any span is exported.
 */
import { diag } from '@opentelemetry/api';
import { OTLPMetricExporter as OTLPHttpJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPHttpProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { ConsoleMetricExporter, PeriodicExportingMetricReader, type IMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { envValue } from '../config/env.ts';
import { ConfigError } from '../errors.ts';

function otlpMetricExporterFromEnv(env: NodeJS.ProcessEnv): PushMetricExporter {
  const source = envValue(env, 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = envValue(env, source) ?? 'http/protobuf';
  switch (protocol) {
    case 'http/protobuf':
      return new OTLPHttpProtoMetricExporter();
    case 'http/json':
      return new OTLPHttpJsonMetricExporter();
    case 'grpc':
      diag.warn('tollgate: OTLP protocol "grpc" is not bundled; exporting metrics with http/protobuf instead');
      return new OTLPHttpProtoMetricExporter();
    default:
      throw new ConfigError(source, protocol, 'one of http/protobuf, http/json');
  }
}

function exportIntervalMillis(env: NodeJS.ProcessEnv): number {
  const raw = env['OTEL_METRIC_EXPORT_INTERVAL'];
  if (raw === undefined || raw.trim() === '') return 60_000;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError('OTEL_METRIC_EXPORT_INTERVAL', raw, 'a positive whole number of milliseconds');
  return n;
}

/** Readers for OTEL_METRICS_EXPORTER (`otlp` by default, `console`, `none`). */
export function metricReadersFromEnv(env: NodeJS.ProcessEnv): IMetricReader[] {
  const raw = envValue(env, 'OTEL_METRICS_EXPORTER');
  const names = [...new Set((raw ?? 'otlp').split(',').map((s) => s.trim()).filter((s) => s.length > 0))];
  if (names.includes('none')) return [];
  const interval = exportIntervalMillis(env);
  return names.map((name) => {
    if (name === 'otlp') return new PeriodicExportingMetricReader({ exporter: otlpMetricExporterFromEnv(env), exportIntervalMillis: interval });
    if (name === 'console') return new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter(), exportIntervalMillis: interval });
    throw new ConfigError('OTEL_METRICS_EXPORTER', raw, 'a comma-separated list of otlp, console, none');
  });
}
