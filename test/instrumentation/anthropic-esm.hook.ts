/**
 * `node --import` hook for the ESM test (anthropic-esm.test.ts): registers the
 * import-in-the-middle loader, a tracer provider with an in-memory exporter
 * (shared with the app through globalThis), and the Anthropic instrumentation,
 * before the application's `import` statements run.
 */
import { register } from 'node:module';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { AnthropicInstrumentation } from '../../src/instrumentation/anthropic/index.ts';

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
trace.setGlobalTracerProvider(provider);
const instrumentation = new AnthropicInstrumentation({ moduleNames: ['anthropic-v0'] });
instrumentation.setTracerProvider(provider);

(globalThis as { tollgateTest?: unknown }).tollgateTest = { exporter, provider };
