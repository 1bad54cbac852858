/**
 * An environment variable set to the empty string (or blanks) is unset, as the OTel
 * specification says of its own variables: deployment templates render unused variables
 * as `NAME=`. This holds for every TOLLGATE_* variable and for the OTEL_* ones tollgate
 * parses itself (its exporters and metric readers). The CLI's half is in
 * test/cli-cost-prices.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OTLPTraceExporter as OTLPHttpJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPHttpProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace';
import { resolveConfig } from '../../src/config/index.ts';
import { envValue } from '../../src/config/env.ts';
import { metricReadersFromEnv } from '../../src/otel/metrics.ts';
import { otlpTraceExporterFromEnv, spanExportProcessorsFromEnv } from '../../src/otel/exporters.ts';

/** Every variable resolveConfig reads. */
const TOLLGATE_VARS = ['TOLLGATE_PRICES', 'TOLLGATE_CONFIG', 'TOLLGATE_LEDGER', 'TOLLGATE_LEDGER_FAILURE', 'TOLLGATE_EXIT_TIMEOUT_MILLIS', 'OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES'];

void test('envValue: unset, empty and blank are undefined; a value is trimmed', () => {
  const env = { A: '', B: '  \t', C: ' x ' };
  assert.deepEqual(['A', 'B', 'C', 'D'].map((n) => envValue(env, n)), [undefined, undefined, 'x', undefined]);
});

for (const blank of ['', '   ']) {
  void test(`every variable resolveConfig reads, set to ${JSON.stringify(blank)}, resolves as if unset`, () => {
    const env = Object.fromEntries(TOLLGATE_VARS.map((v) => [v, blank]));
    assert.deepEqual(resolveConfig({ env }), resolveConfig({ env: {} }));
  });

  for (const name of TOLLGATE_VARS) {
    void test(`${name}=${JSON.stringify(blank)} alone starts with the default`, () => {
      assert.deepEqual(resolveConfig({ env: { [name]: blank } }), resolveConfig({ env: {} }));
    });
  }
}

void test('a set value still counts: TOLLGATE_EXIT_TIMEOUT_MILLIS and TOLLGATE_LEDGER_FAILURE, trimmed', () => {
  const c = resolveConfig({ env: { TOLLGATE_EXIT_TIMEOUT_MILLIS: ' 250 ', TOLLGATE_LEDGER_FAILURE: 'open ' } });
  assert.equal(c.exitTimeoutMillis, 250);
  assert.equal(c.ledgerFailure, 'open');
  assert.equal(resolveConfig({ env: {} }).exitTimeoutMillis, 1500);
});

void test('empty OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER mean the default (otlp), not "no exporter"', () => {
  const spans = spanExportProcessorsFromEnv({ OTEL_TRACES_EXPORTER: '' });
  assert.equal(spans.length, 1);
  assert.ok(spans[0] instanceof BatchSpanProcessor);
  const readers = metricReadersFromEnv({ OTEL_METRICS_EXPORTER: ' ' });
  assert.equal(readers.length, 1);
  assert.ok(readers[0] instanceof PeriodicExportingMetricReader);
  void Promise.all([...spans.map((p) => p.shutdown()), ...readers.map((r) => r.shutdown())]);
});

void test('an empty per-signal protocol falls back to OTEL_EXPORTER_OTLP_PROTOCOL, then to the default', () => {
  assert.ok(otlpTraceExporterFromEnv({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: '', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }) instanceof OTLPHttpJsonTraceExporter);
  assert.ok(otlpTraceExporterFromEnv({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: ' ', OTEL_EXPORTER_OTLP_PROTOCOL: '' }) instanceof OTLPHttpProtoTraceExporter);
});
