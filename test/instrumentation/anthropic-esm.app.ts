/**
 * The "application" of the ESM test: imports both SDK lines with ESM `import`
 * (not require), makes one call with each against the stand-in server whose
 * URL is in STANDIN_URL, and prints the finished spans as JSON on stdout.
 */
import Anthropic from '@anthropic-ai/sdk';
import { Anthropic as AnthropicV0 } from 'anthropic-v0';
import type { InMemorySpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';

const { exporter, provider } = (globalThis as unknown as { tollgateTest: { exporter: InMemorySpanExporter; provider: TracerProvider } }).tollgateTest;
const baseURL = process.env['STANDIN_URL'];
const messages = [{ role: 'user' as const, content: 'Hello there' }];

const v1 = new Anthropic({ apiKey: 'sk-ant-test', baseURL, maxRetries: 0 });
await v1.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 100, messages });
const v0 = new AnthropicV0({ apiKey: 'sk-ant-test', baseURL, maxRetries: 0 });
await v0.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, messages }).finalMessage();
await provider.forceFlush();

process.stdout.write(
  JSON.stringify({
    resolved: [import.meta.resolve('@anthropic-ai/sdk'), import.meta.resolve('anthropic-v0')],
    spans: exporter.getFinishedSpans().map((s) => ({ scope: s.instrumentationScope.name, name: s.name, attributes: s.attributes })),
  }),
);
