// `node --import ./test/standin/esm-register.ts app.mjs`: what an ESM service's preload does.
// Registers the import-in-the-middle loader hook BEFORE the instrumentation is built, so the
// app's `import OpenAI from 'openai'` (the package's ESM build) is patched. Each finished span
// is printed as one `TOLLGATE_SPAN {json}` line for the parent test to read.
import { register } from 'node:module';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { OpenAIInstrumentation } from '../../src/instrumentation/openai/index.ts';

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);

const printer: SpanExporter = {
  export(spans: ReadableSpan[], done) {
    for (const s of spans) {
      process.stdout.write(`TOLLGATE_SPAN ${JSON.stringify({ name: s.name, status: s.status.code, attributes: s.attributes })}\n`);
    }
    done({ code: 0 });
  },
  shutdown: () => Promise.resolve(),
};

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: printer })] });
const instrumentation = new OpenAIInstrumentation({ moduleNames: ['openai-v6'] });
instrumentation.setTracerProvider(provider);
// Not openai-v4 here: v4's ESM build imports its own shims by the self-name `openai/_shims/...`,
// which under import-in-the-middle's resolver lands in the other installed major when v4 is an
// npm alias. A real install of openai@4 under its own name does not have that problem.
