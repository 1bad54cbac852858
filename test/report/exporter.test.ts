/**
 * The OTLP/HTTP JSON line format, recorded for real: spans made with a real
 * TracerProvider are sent by the real OTLP/HTTP JSON exporter to a local
 * server, whose request bodies are saved one per line and reported.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { CostReport } from '../../src/report/report.ts';
import { runReport } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tollgate-report-otlp-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('tollgate report: bodies sent by @opentelemetry/exporter-trace-otlp-http', () => {
  it('reports the request bodies of the real exporter, one per line', async () => {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        bodies.push(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${port}/v1/traces` });
      const provider = new TracerProvider({
        resource: resourceFromAttributes({ 'service.name': 'pipeline', 'gen_ai.agent.name': 'drafter' }),
        spanProcessors: [new SimpleSpanProcessor({ exporter })],
      });
      const tracer = provider.getTracer('tollgate');
      const t0 = new Date('2026-11-25T10:00:00Z');
      const t1 = new Date('2026-11-25T10:00:02Z');

      // tollgate's span, with the SDK's own span of the same call nested under it.
      const outer = tracer.startSpan('chat gpt-4o', {
        kind: SpanKind.CLIENT,
        startTime: t0,
        attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 2000, 'gen_ai.usage.output_tokens': 100, 'tollgate.cost.usd': 0.006, 'tollgate.task.type': 'draft', 'gen_ai.response.finish_reasons': ['stop'] },
      });
      tracer
        .startSpan('chat gpt-4o', { kind: SpanKind.CLIENT, startTime: t0, attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 2000, 'gen_ai.usage.output_tokens': 100 } }, trace.setSpan(context.active(), outer))
        .end(t1);
      outer.end(t1);

      const blocked = tracer.startSpan('chat gpt-4o', { kind: SpanKind.CLIENT, startTime: t1, attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'error.type': 'tollgate.budget_exceeded', 'tollgate.task.type': 'draft' } });
      blocked.setStatus({ code: SpanStatusCode.ERROR, message: 'budget' });
      blocked.end(t1);

      await provider.forceFlush();
      await provider.shutdown();
      assert.equal(bodies.length, 3);

      const file = join(tmp, 'bodies.jsonl');
      writeFileSync(file, `${bodies.join('\n')}\n`);
      const r = await runReport([file, '--json']);
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
      const report = JSON.parse(r.stdout) as CostReport;
      assert.deepEqual(report.input, { lines: 3, skippedLines: 0, gzip: false, spans: 3, inferenceSpans: 3, nestedMerged: 1, repeatedSpans: 0 });
      assert.deepEqual(
        report.byAgent.map((a) => [a.agent, a.calls, a.blocked, a.inputTokens, a.costUsd]),
        [['drafter', 1, 1, 2000, 0.006]],
      );
      assert.deepEqual(report.byDay.map((d) => d.day), ['2026-11-25']);
      assert.deepEqual(report.byTaskType.map((t) => t.taskType), ['draft']);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
