/**
 * `tollgate demo`: a short priced-call walkthrough against the local stand-in
 * provider (replaced by the five-agent pipeline once it lands).
 */
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import type { Command } from './io.ts';
import { startStandinServer } from '../standin/server.ts';
import { openaiRoutes } from '../standin/openai.ts';
import { anthropicRoutes } from '../standin/anthropic.ts';
import { startTollgate } from '../start.ts';

export const demo: Command = async (_args, io) => {
  const standin = await startStandinServer({ routes: [...openaiRoutes(), ...anthropicRoutes()] });
  const exporter = new InMemorySpanExporter();
  const tollgate = await startTollgate({
    env: { ...io.env, OTEL_METRICS_EXPORTER: io.env['OTEL_METRICS_EXPORTER'] ?? 'none' },
    serviceName: 'tollgate-demo',
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  try {
    const { default: OpenAI } = await import('openai');
    const { default: Anthropic } = await import('@anthropic-ai/sdk');
    const openai = new OpenAI({ apiKey: 'demo', baseURL: `${standin.url}/v1` });
    const anthropic = new Anthropic({ apiKey: 'demo', baseURL: standin.url });
    await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Summarise the quarterly report.' }] });
    await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 300, messages: [{ role: 'user', content: 'Draft an outline.' }] });
    for (const span of exporter.getFinishedSpans()) {
      const a = span.attributes;
      io.stdout.write(`${span.name.padEnd(28)} in=${String(a['gen_ai.usage.input_tokens']).padStart(5)} out=${String(a['gen_ai.usage.output_tokens']).padStart(5)} $${Number(a['tollgate.cost.usd']).toFixed(6)}\n`);
    }
    return 0;
  } finally {
    await tollgate.shutdown();
    await standin.close();
  }
};
