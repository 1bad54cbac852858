/**
 * `tollgate report` on foreign spans: spans of other instrumentations, in each attribute dialect
 * the span processor prices (OpenInference, OpenLLMetry, the Vercel AI SDK's `ai.*` spans, the
 * older GenAI names), go through a real TracerProvider with the CostSpanProcessor in front of the
 * real OTLP/HTTP JSON exporter, exactly as a service exports them. The bodies the exporter sends
 * are the report's input file. The report must count every call the processor priced, at the
 * processor's cost, and skip the wrapper spans that repeat their children's usage.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { context, trace, type Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { CostSpanProcessor } from '../../src/processor/index.ts';
import type { CostReport } from '../../src/report/report.ts';
import { installContextManager, PRICES } from '../processor/harness.ts';
import { runReport } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tollgate-report-dialects-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Keeps every OTLP/HTTP body as received: each one is a line of the report's input. */
const bodies: string[] = [];
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    bodies.push(Buffer.concat(chunks).toString('utf8'));
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
after(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
const port = (receiver.address() as AddressInfo).port;

installContextManager();
const processor = new CostSpanProcessor({ prices: PRICES, meterProvider: new MeterProvider() });
const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${port}/v1/traces` });
const provider = new TracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'svc' }),
  spanProcessors: [processor, new SimpleSpanProcessor({ exporter })],
});

/** A wrapper span (agent / workflow) around one call span, as each library nests them. */
function wrapped(scope: string, wrapper: { name: string; attributes: Attributes }, call: { name: string; attributes: Attributes }): void {
  const tracer = provider.getTracer(scope);
  const outer = tracer.startSpan(wrapper.name, { attributes: wrapper.attributes });
  const inner = tracer.startSpan(call.name, { attributes: call.attributes }, trace.setSpan(context.active(), outer));
  inner.end();
  outer.end();
}

// OpenInference (Arize): an AGENT span repeating the usage of its LLM span. acme-large is
// $2 in / $0.5 cache read / $8 out per 1M: (600 * 2 + 400 * 0.5 + 200 * 8) / 1M = $0.003.
wrapped(
  'openinference-instrumentation-openai',
  { name: 'agent', attributes: { 'openinference.span.kind': 'AGENT', 'llm.token_count.prompt': 1000, 'llm.token_count.completion': 200 } },
  {
    name: 'ChatCompletion',
    attributes: {
      'openinference.span.kind': 'LLM',
      'llm.provider': 'openai',
      'llm.model_name': 'acme-large',
      'llm.token_count.prompt': 1000,
      'llm.token_count.prompt_details.cache_read': 400,
      'llm.token_count.completion': 200,
    },
  },
);
// OpenLLMetry (Traceloop): `llm.request.type` and the older prompt / completion names.
// acme-claude is $3 in / $15 out: (2000 * 3 + 100 * 15) / 1M = $0.0075.
wrapped(
  '@traceloop/instrumentation-anthropic',
  { name: 'workflow.task', attributes: { 'traceloop.span.kind': 'task' } },
  {
    name: 'anthropic.chat',
    attributes: {
      'llm.request.type': 'chat',
      'gen_ai.system': 'anthropic',
      'gen_ai.request.model': 'acme-claude',
      'gen_ai.usage.prompt_tokens': 2000,
      'gen_ai.usage.completion_tokens': 100,
    },
  },
);
// Vercel AI SDK: `ai.generateText` repeats the summed usage of its `doGenerate` step.
// (300 * 2 + 50 * 8) / 1M = $0.001.
const vercelUsage = { 'ai.usage.inputTokens': 300, 'ai.usage.outputTokens': 50 };
wrapped(
  'ai',
  { name: 'ai.generateText', attributes: { 'ai.operationId': 'ai.generateText', 'ai.model.id': 'acme-large', 'ai.model.provider': 'openai.chat', ...vercelUsage } },
  {
    name: 'ai.generateText.doGenerate',
    attributes: {
      'ai.operationId': 'ai.generateText.doGenerate',
      'ai.model.id': 'acme-large',
      'ai.model.provider': 'openai.chat',
      'gen_ai.system': 'openai.chat',
      'gen_ai.request.model': 'acme-large',
      ...vercelUsage,
    },
  },
);
// Older GenAI names: `gen_ai.system` and `gen_ai.usage.prompt_tokens`. (100 * 2 + 10 * 8) / 1M = $0.00028.
provider
  .getTracer('an-older-genai-instrumentation')
  .startSpan('chat acme-large', {
    attributes: {
      'gen_ai.operation.name': 'chat',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': 'acme-large',
      'gen_ai.usage.prompt_tokens': 100,
      'gen_ai.usage.completion_tokens': 10,
    },
  })
  .end();

await provider.forceFlush();
const file = join(tmp, 'foreign.jsonl');
writeFileSync(file, bodies.map((b) => `${b}\n`).join(''));
const nanos = (usd: number): number => Math.round(usd * 1e9);

test('the exporter sent every span, each call priced by the processor', () => {
  assert.equal(bodies.length, 7);
  const spend = processor.getSpend();
  assert.equal(spend.total.calls, 4);
  assert.equal(nanos(spend.total.costUsd), nanos(0.003 + 0.0075 + 0.001 + 0.00028));
});

test('tollgate report counts the foreign calls of every dialect at the cost the processor priced, and skips their wrapper spans', async () => {
  const r = await runReport([file, '--json']);
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
  const report = JSON.parse(r.stdout) as CostReport;
  assert.deepEqual(report.input, { lines: 4 + 3, skippedLines: 0, gzip: false, spans: 7, inferenceSpans: 4, nestedMerged: 0, repeatedSpans: 0 });
  assert.equal(report.totals.calls, 4);
  assert.equal(report.totals.unpriced, 0);
  assert.equal(report.totals.inputTokens, 1000 + 2000 + 300 + 100);
  assert.equal(report.totals.outputTokens, 200 + 100 + 50 + 10);
  assert.equal(report.totals.cacheReadTokens, 400);
  assert.equal(nanos(report.totals.costUsd), nanos(processor.getSpend().total.costUsd));

  const byModel = Object.fromEntries(report.byModel.map((row) => [row.model, { calls: row.calls, cost: nanos(row.costUsd) }]));
  assert.deepEqual(byModel, {
    'acme-large': { calls: 3, cost: nanos(0.003 + 0.001 + 0.00028) },
    'acme-claude': { calls: 1, cost: nanos(0.0075) },
  });
  assert.deepEqual(
    report.byAgent.map((row) => [row.agent, row.calls]),
    [['svc', 4]],
  );
});
