/**
 * A ledger's background flush is tollgate's own traffic: it runs with tracing suppressed and
 * outside the span of whoever triggered it, so an instrumented Redis / HTTP client makes no span
 * of it in a user's trace. The buffered writes are sent by a real WriteBuffer; the test's `send`
 * records the context each write was sent in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { WriteBuffer, type BufferedWrite } from '../../src/ledger/write-buffer.ts';
import { installContextManager } from '../processor/harness.ts';

test('WriteBuffer.flush sends every buffered write with tracing suppressed and no active span', async () => {
  installContextManager();
  const seen: { suppressed: boolean; span: string | undefined }[] = [];
  const buffer = new WriteBuffer<BufferedWrite>({
    description: 'test',
    maxWrites: 10,
    retryMillis: 60_000,
    ready: () => true,
    send: async () => {
      // After an await too: the suppression must follow the flush's own async continuation.
      await Promise.resolve();
      seen.push({ suppressed: isTracingSuppressed(context.active()), span: trace.getActiveSpan()?.spanContext().spanId });
    },
    transient: () => true,
    mayHaveLanded: () => false,
    batch: 2,
  });
  for (const holdId of ['a', 'b', 'c']) buffer.add({ holdId, actualNanos: 1, retry: false });

  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })] });
  const userSpan = provider.getTracer('app').startSpan('user request');
  const left = await context.with(trace.setSpan(context.active(), userSpan), () => {
    assert.equal(isTracingSuppressed(context.active()), false);
    return buffer.flush();
  });
  userSpan.end();
  buffer.close();

  assert.equal(left, 0);
  assert.deepEqual(seen, [
    { suppressed: true, span: undefined },
    { suppressed: true, span: undefined },
    { suppressed: true, span: undefined },
  ]);
});
