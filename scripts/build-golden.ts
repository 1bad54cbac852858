/**
 * Writes the golden cost corpus shared by the TypeScript and Go pricing, and the Go
 * processor's embedded copy of the compiled price table.
 *
 *   node scripts/build-golden.ts [--check]
 *
 * - `test/golden/cost-cases.json`: spans (name, start time, resource and span attributes
 *   in every dialect the processor reads) and what tollgate's own CostSpanProcessor
 *   writes on them (the cost attributes, or `null` when it does not price the span),
 *   plus every model id of the built-in table and its dated snapshot, priced under its
 *   own provider. The expectations come from running the real TypeScript processor on a
 *   real TracerProvider; the Go tests (collector/tollgateprocessor) replay the same spans
 *   through the collector processor and must write the same numbers to the last bit.
 * - `collector/tollgateprocessor/internal/pricing/prices.json`: a byte copy of
 *   `src/pricing/data/prices.json` (go:embed cannot reach outside its module).
 *
 * `--check` exits 1 when either file differs from what would be written (npm test runs it
 * through test/golden/cost-cases.test.ts). Rerun without it after changing prices or
 * pricing rules, and commit both files.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AttributeValue, Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { metrics } from '@opentelemetry/api';
import { defaultPriceTable } from '../src/pricing/index.ts';
import { CostSpanProcessor } from '../src/processor/index.ts';

const ROOT = new URL('../', import.meta.url);
export const GOLDEN_FILE = fileURLToPath(new URL('test/golden/cost-cases.json', ROOT));
export const PRICES_FILE = fileURLToPath(new URL('src/pricing/data/prices.json', ROOT));
export const EMBEDDED_PRICES_FILE = fileURLToPath(new URL('collector/tollgateprocessor/internal/pricing/prices.json', ROOT));

/** An attribute with its OTLP type (the Go side must send ints as ints). */
type Typed = { int: number } | { double: number } | { string: string } | { bool: boolean };

/** One span of the corpus. */
interface GoldenSpan {
  /** What the case is about. */
  readonly note: string;
  readonly name: string;
  /** RFC 3339, UTC: prices are those in force at the span's start. */
  readonly startTime: string;
  readonly resource: Readonly<Record<string, Typed>>;
  readonly attributes: Readonly<Record<string, Typed>>;
  /** The cost attributes the TypeScript processor wrote; null when it did not price the span. */
  readonly expected: Readonly<Record<string, number | string>> | null;
}

const i = (int: number): Typed => ({ int });
const d = (double: number): Typed => ({ double });
const s = (string: string): Typed => ({ string });

const DEFAULT_START = '2026-11-25T12:00:00Z';
const RESOURCE: Record<string, Typed> = { 'service.name': s('golden-service') };

/** The attribute names the processor writes, compared by both languages. */
export const COST_ATTRIBUTES: readonly string[] = [
  'tollgate.cost.usd',
  'tollgate.cost.input_usd',
  'tollgate.cost.output_usd',
  'tollgate.cost.cache_read_usd',
  'tollgate.cost.cache_write_usd',
  'tollgate.cost.source',
  'gen_ai.usage.cost',
];

type Case = Omit<GoldenSpan, 'expected' | 'startTime' | 'resource'> & { startTime?: string; resource?: Record<string, Typed> };

function genai(model: string, provider: string | undefined, tokens: Record<string, number>, extra: Record<string, Typed> = {}): Record<string, Typed> {
  const out: Record<string, Typed> = { 'gen_ai.operation.name': s('chat'), 'gen_ai.request.model': s(model) };
  if (provider !== undefined) out['gen_ai.provider.name'] = s(provider);
  for (const [k, v] of Object.entries(tokens)) out[k] = i(v);
  return { ...out, ...extra };
}

const IO = (input: number, output: number): Record<string, number> => ({ 'gen_ai.usage.input_tokens': input, 'gen_ai.usage.output_tokens': output });

/** Hand-written spans: every dialect, the normalisations, tiers, guards, what must not be priced. */
const CASES: readonly Case[] = [
  { note: 'GenAI conventions, dated snapshot, cache read', name: 'chat gpt-4o-2024-08-06', attributes: genai('gpt-4o-2024-08-06', 'openai', { ...IO(1234, 567), 'gen_ai.usage.cache_read.input_tokens': 200 }) },
  { note: 'response model (the snapshot served) wins over the request model', name: 'chat gpt-4o', attributes: genai('gpt-4o', 'openai', IO(1000, 100), { 'gen_ai.response.model': s('gpt-4o-2024-05-13') }) },
  { note: 'Anthropic SDK spans: input includes cache parts, 1-hour cache writes', name: 'chat claude-sonnet-4-5-20250929', attributes: genai('claude-sonnet-4-5-20250929', 'anthropic', { ...IO(8200, 950), 'gen_ai.usage.cache_read.input_tokens': 4096, 'gen_ai.usage.cache_creation.input_tokens': 1024, 'anthropic.usage.cache_creation.ephemeral_1h_input_tokens': 512 }) },
  { note: 'cache_write name variant', name: 'chat claude-haiku-4-5', attributes: genai('claude-haiku-4-5', 'anthropic', { ...IO(5000, 300), 'gen_ai.usage.cache_write.input_tokens': 2000 }) },
  { note: 'older conventions: gen_ai.system, prompt/completion tokens', name: 'chat gpt-4.1-mini', attributes: { 'gen_ai.operation.name': s('chat'), 'gen_ai.system': s('openai'), 'gen_ai.request.model': s('gpt-4.1-mini'), 'gen_ai.usage.prompt_tokens': i(3000), 'gen_ai.usage.completion_tokens': i(700) } },
  { note: 'reasoning tokens inside output', name: 'chat o3-mini', attributes: genai('o3-mini', 'openai', { ...IO(2000, 5000), 'gen_ai.usage.reasoning.output_tokens': 4000 }) },
  { note: 'OpenLLMetry: llm.request.type, underscore cache names', name: 'openai.chat', attributes: { 'llm.request.type': s('chat'), 'gen_ai.system': s('openai'), 'gen_ai.request.model': s('gpt-4o-mini'), 'gen_ai.usage.prompt_tokens': i(4000), 'gen_ai.usage.completion_tokens': i(250), 'gen_ai.usage.cache_read_input_tokens': i(1024) } },
  { note: 'OpenLLMetry Anthropic: cache creation underscore name', name: 'anthropic.chat', attributes: { 'llm.request.type': s('chat'), 'gen_ai.system': s('anthropic'), 'gen_ai.request.model': s('claude-3-5-haiku-20241022'), 'gen_ai.usage.prompt_tokens': i(3000), 'gen_ai.usage.completion_tokens': i(100), 'gen_ai.usage.cache_creation_input_tokens': i(1000) } },
  { note: 'OpenLLMetry workflow span: not an inference call', name: 'workflow.run', attributes: { 'llm.request.type': s('workflow'), 'gen_ai.request.model': s('gpt-4o'), 'gen_ai.usage.prompt_tokens': i(3000), 'gen_ai.usage.completion_tokens': i(100) } },
  { note: 'OpenInference LLM span: llm.* names, cache and reasoning details', name: 'ChatCompletion', attributes: { 'openinference.span.kind': s('LLM'), 'llm.model_name': s('gpt-4.1'), 'llm.provider': s('openai'), 'llm.token_count.prompt': i(6000), 'llm.token_count.completion': i(900), 'llm.token_count.prompt_details.cache_read': i(3000), 'llm.token_count.completion_details.reasoning': i(300) } },
  { note: 'OpenInference Anthropic with cache write, llm.system', name: 'Messages', attributes: { 'openinference.span.kind': s('LLM'), 'llm.model_name': s('claude-sonnet-4-5'), 'llm.system': s('anthropic'), 'llm.token_count.prompt': i(10000), 'llm.token_count.completion': i(400), 'llm.token_count.prompt_details.cache_write': i(8000) } },
  { note: 'OpenInference embedding span', name: 'Embeddings', attributes: { 'openinference.span.kind': s('EMBEDDING'), 'embedding.model_name': s('text-embedding-3-small'), 'llm.provider': s('openai'), 'llm.token_count.prompt': i(5000) } },
  { note: 'OpenInference chain span: not priced', name: 'Chain', attributes: { 'openinference.span.kind': s('CHAIN'), 'llm.model_name': s('gpt-4.1'), 'llm.token_count.prompt': i(6000), 'llm.token_count.completion': i(900) } },
  { note: 'Vercel AI SDK v5 doGenerate: ai.model.provider openai.chat, cached input, reasoning', name: 'ai.generateText.doGenerate', attributes: { 'ai.operationId': s('ai.generateText.doGenerate'), 'ai.model.id': s('gpt-5-mini'), 'ai.model.provider': s('openai.chat'), 'ai.usage.inputTokens': i(2500), 'ai.usage.outputTokens': i(800), 'ai.usage.cachedInputTokens': i(1000), 'ai.usage.reasoningTokens': i(500) } },
  { note: 'Vercel AI SDK v6 detail names', name: 'ai.streamText.doStream', attributes: { 'ai.operationId': s('ai.streamText.doStream'), 'ai.model.id': s('claude-sonnet-4-5'), 'ai.model.provider': s('anthropic.messages'), 'ai.usage.inputTokens': i(9000), 'ai.usage.outputTokens': i(600), 'ai.usage.inputTokenDetails.cacheReadTokens': i(4000), 'ai.usage.inputTokenDetails.cacheWriteTokens': i(2000), 'ai.usage.outputTokenDetails.reasoningTokens': i(100) } },
  { note: 'Vercel AI SDK v4: prompt/completion tokens, google.generative-ai provider id', name: 'ai.generateText.doGenerate', attributes: { 'ai.operationId': s('ai.generateText.doGenerate'), 'ai.model.id': s('gemini-2.5-flash'), 'ai.model.provider': s('google.generative-ai'), 'gen_ai.system': s('google.generative-ai'), 'ai.usage.promptTokens': i(1200), 'ai.usage.completionTokens': i(300) } },
  { note: 'Vercel AI SDK parent span repeats the usage: not priced', name: 'ai.generateText', attributes: { 'ai.operationId': s('ai.generateText'), 'ai.model.id': s('gpt-5-mini'), 'ai.model.provider': s('openai.chat'), 'ai.usage.inputTokens': i(2500), 'ai.usage.outputTokens': i(800) } },
  { note: 'Vercel span recognised by its name alone', name: 'ai.embed.doEmbed', attributes: { 'ai.model.id': s('text-embedding-3-large'), 'ai.model.provider': s('openai.embedding'), 'ai.usage.tokens': i(7000) } },
  { note: 'Vercel Bedrock provider id', name: 'ai.generateText.doGenerate', attributes: { 'ai.operationId': s('ai.generateText.doGenerate'), 'ai.model.id': s('us.anthropic.claude-3-5-haiku-20241022-v1:0'), 'ai.model.provider': s('amazon-bedrock'), 'ai.usage.inputTokens': i(1500), 'ai.usage.outputTokens': i(200) } },
  { note: 'agent span: not priced', name: 'invoke_agent support', attributes: genai('gpt-4o', 'openai', IO(1000, 100), { 'gen_ai.operation.name': s('invoke_agent') }) },
  { note: 'text_completion and generate_content operations are priced', name: 'generate_content gemini-2.5-flash', attributes: genai('gemini-2.5-flash', 'gcp.gemini', IO(800, 200), { 'gen_ai.operation.name': s('generate_content') }) },
  { note: 'already priced (tollgate SDK): left alone', name: 'chat gpt-4o', attributes: genai('gpt-4o', 'openai', IO(1000, 100), { 'tollgate.cost.usd': d(0.5), 'tollgate.cost.source': s('override') }) },
  { note: 'refused by the budget policy: nothing was sent', name: 'chat gpt-4o', attributes: genai('gpt-4o', 'openai', {}, { 'error.type': s('tollgate.budget_exceeded') }) },
  { note: 'no token counts: nothing to price', name: 'chat gpt-4o', attributes: genai('gpt-4o', 'openai', {}) },
  { note: 'output only', name: 'chat gpt-4o', attributes: genai('gpt-4o', 'openai', { 'gen_ai.usage.output_tokens': 50 }) },
  { note: 'double-valued counts, a string count ignored', name: 'chat gpt-4o-mini', attributes: { ...genai('gpt-4o-mini', 'openai', {}), 'gen_ai.usage.input_tokens': d(1500.5), 'gen_ai.usage.output_tokens': d(20), 'gen_ai.usage.cache_read.input_tokens': s('900') } },
  { note: 'negative count treated as absent', name: 'chat gpt-4o-mini', attributes: genai('gpt-4o-mini', 'openai', { 'gen_ai.usage.input_tokens': -5, 'gen_ai.usage.output_tokens': 40 }) },
  { note: 'exclusive input leaking through (cache parts exceed the whole): cache counts added', name: 'chat claude-sonnet-4-5', attributes: genai('claude-sonnet-4-5', 'anthropic', { ...IO(10, 300), 'gen_ai.usage.cache_read.input_tokens': 5000, 'gen_ai.usage.cache_creation.input_tokens': 2000 }) },
  { note: 'reasoning above output: added', name: 'chat o4-mini', attributes: genai('o4-mini', 'openai', { ...IO(100, 10), 'gen_ai.usage.reasoning.output_tokens': 900 }) },
  { note: 'long-context tier (input strictly above the threshold)', name: 'chat gemini-2.5-pro', attributes: genai('gemini-2.5-pro', 'gcp.gemini', { ...IO(250_000, 2000), 'gen_ai.usage.cache_read.input_tokens': 100_000 }) },
  { note: 'exactly at the tier threshold: base rates', name: 'chat gemini-2.5-pro', attributes: genai('gemini-2.5-pro', 'gcp.gemini', IO(200_000, 2000)) },
  { note: 'Gemini TTS variant is not gemini-2.5-pro (negative lookahead rule)', name: 'chat gemini-2.5-pro-preview-tts', attributes: genai('gemini-2.5-pro-preview-tts', 'gcp.gemini', IO(1000, 1000)) },
  { note: 'gateway prefix, no provider', name: 'chat openai/gpt-4.1-mini', attributes: genai('openai/gpt-4.1-mini', undefined, IO(3000, 700)) },
  { note: 'provider prefix in the name picks the provider', name: 'chat anthropic/claude-sonnet-4-5', attributes: genai('anthropic/claude-sonnet-4-5', undefined, IO(3000, 700)) },
  { note: 'Vertex @version', name: 'chat claude-3-5-haiku@20241022', attributes: genai('claude-3-5-haiku@20241022', 'gcp.vertex_ai', IO(2200, 400)) },
  { note: 'Bedrock inference profile id', name: 'chat us.anthropic.claude-3-5-haiku-20241022-v1:0', attributes: genai('us.anthropic.claude-3-5-haiku-20241022-v1:0', 'aws.bedrock', IO(2200, 400)) },
  { note: 'Gemini models/ prefix', name: 'chat models/gemini-2.5-flash', attributes: genai('models/gemini-2.5-flash', 'gcp.gemini', IO(2200, 400)) },
  { note: 'Azure OpenAI provider name', name: 'chat gpt-4o', attributes: genai('gpt-4o', 'azure.ai.openai', IO(2200, 400)) },
  { note: 'mixed case model name', name: 'chat GPT-4o-Mini', attributes: genai('GPT-4o-Mini', 'openai', IO(2200, 400)) },
  { note: 'Mistral -latest alias', name: 'chat mistral-large-latest', attributes: genai('mistral-large-latest', 'mistral_ai', IO(2200, 400)) },
  { note: 'Fireworks full id', name: 'chat accounts/fireworks/models/deepseek-v3p2', attributes: genai('accounts/fireworks/models/deepseek-v3p2', 'fireworks', IO(2200, 400)) },
  { note: 'Fireworks bare id: its rules expect accounts/fireworks/models/, another provider prices it', name: 'chat deepseek-v3p2', attributes: genai('deepseek-v3p2', 'fireworks', IO(2200, 400)) },
  { note: 'DeepSeek (peak / off-peak windows in genai-prices), inside 01:00-04:00 UTC', name: 'chat deepseek-chat', startTime: '2026-11-25T02:30:00Z', attributes: genai('deepseek-chat', 'deepseek', { ...IO(20_000, 1000), 'gen_ai.usage.cache_read.input_tokens': 10_000 }) },
  { note: 'DeepSeek outside its 00:30-16:30 UTC window', name: 'chat deepseek-chat', startTime: '2026-11-25T18:30:00Z', attributes: genai('deepseek-chat', 'deepseek', { ...IO(20_000, 1000), 'gen_ai.usage.cache_read.input_tokens': 10_000 }) },
  { note: 'DeepSeek window end is exclusive (16:30:00)', name: 'chat deepseek-chat', startTime: '2026-11-25T16:30:00Z', attributes: genai('deepseek-chat', 'deepseek', IO(20_000, 1000)) },
  { note: 'DeepSeek V4 before its dated off-peak price: the flat base', name: 'chat deepseek-v4-flash', startTime: '2026-08-16T12:00:00Z', attributes: genai('deepseek-v4-flash', 'deepseek', IO(20_000, 1000)) },
  { note: 'DeepSeek V4 after the date, off-peak', name: 'chat deepseek-v4-flash', startTime: '2026-08-17T00:00:00Z', attributes: genai('deepseek-v4-flash', 'deepseek', IO(20_000, 1000)) },
  { note: 'DeepSeek V4 peak window 01:00-04:00 (the later entry wins over the date)', name: 'chat deepseek-v4-flash', startTime: '2026-11-25T03:59:59Z', attributes: genai('deepseek-v4-flash', 'deepseek', IO(20_000, 1000)) },
  { note: 'DeepSeek V4 second peak window 06:00-10:00', name: 'chat deepseek-v4-pro', startTime: '2026-11-25T06:00:00Z', attributes: genai('deepseek-v4-pro', 'deepseek', IO(20_000, 1000)) },
  { note: 'DeepSeek V4 peak window before the date (the windows are listed last)', name: 'chat deepseek-v4-pro', startTime: '2026-08-10T02:00:00Z', attributes: genai('deepseek-v4-pro', 'deepseek', IO(20_000, 1000)) },
  { note: 'o3 before its price cut', name: 'chat o3', startTime: '2025-06-09T23:59:59Z', attributes: genai('o3', 'openai', IO(10_000, 1000)) },
  { note: 'o3 from the day of its price cut', name: 'chat o3', startTime: '2025-06-10T00:00:00Z', attributes: genai('o3', 'openai', IO(10_000, 1000)) },
  { note: 'a dated price in the future of the table (2027)', name: 'chat gemini-3.6-flash', startTime: '2027-01-02T00:00:00Z', attributes: genai('gemini-3.6-flash', 'gcp.gemini', IO(10_000, 1000)) },
  { note: 'a service tier name compares exactly (Flex is not flex)', name: 'chat gpt-5', attributes: genai('gpt-5', 'openai', IO(10_000, 2000), { 'openai.response.service_tier': s('Flex') }) },
  { note: 'response tier wins over the request tier', name: 'chat gpt-5', attributes: genai('gpt-5', 'openai', IO(10_000, 2000), { 'openai.request.service_tier': s('flex'), 'gen_ai.openai.response.service_tier': s('priority') }) },
  // Prices in force at the span's start (h14): exact seconds on both sides of each dated change and window boundary.
  { note: 'gemini-3.6-flash the second before it doubles (2027-01-01)', name: 'chat gemini-3.6-flash', startTime: '2026-12-31T23:59:59Z', attributes: genai('gemini-3.6-flash', 'gcp.gemini', IO(10_000, 1000)) },
  { note: 'gemini-3.6-flash from 2027-01-01T00:00:00Z', name: 'chat gemini-3.6-flash', startTime: '2027-01-01T00:00:00Z', attributes: genai('gemini-3.6-flash', 'gcp.gemini', IO(10_000, 1000)) },
  { note: 'gpt-5.6-luna the second before its 2026-07-30 price', name: 'chat gpt-5.6-luna', startTime: '2026-07-29T23:59:59Z', attributes: genai('gpt-5.6-luna', 'openai', IO(10_000, 1000)) },
  { note: 'gpt-5.6-luna from 2026-07-30T00:00:00Z', name: 'chat gpt-5.6-luna', startTime: '2026-07-30T00:00:00Z', attributes: genai('gpt-5.6-luna', 'openai', IO(10_000, 1000)) },
  { note: 'deepseek-chat off-peak, a millisecond before the 00:30 UTC standard window', name: 'chat deepseek-chat', startTime: '2026-12-03T00:29:59.999Z', attributes: genai('deepseek-chat', 'deepseek', IO(10_000, 1000)) },
  { note: 'deepseek-chat at 00:30:00 UTC: standard rate', name: 'chat deepseek-chat', startTime: '2026-12-03T00:30:00Z', attributes: genai('deepseek-chat', 'deepseek', IO(10_000, 1000)) },
  { note: 'deepseek-chat at 16:29:59 UTC: still standard', name: 'chat deepseek-chat', startTime: '2026-12-03T16:29:59Z', attributes: genai('deepseek-chat', 'deepseek', IO(10_000, 1000)) },
  { note: 'deepseek-chat at 16:30:00 UTC: off-peak (window end is exclusive)', name: 'chat deepseek-chat', startTime: '2026-12-03T16:30:00Z', attributes: genai('deepseek-chat', 'deepseek', IO(10_000, 1000)) },
  { note: 'deepseek-reasoner at 00:30:00 UTC: standard rate', name: 'chat deepseek-reasoner', startTime: '2026-12-03T00:30:00Z', attributes: genai('deepseek-reasoner', 'deepseek', IO(10_000, 1000)) },
  { note: 'deepseek-v4-pro the second before its 2026-08-17 off-peak price', name: 'chat deepseek-v4-pro', startTime: '2026-08-16T23:59:59Z', attributes: genai('deepseek-v4-pro', 'deepseek', IO(10_000, 1000)) },
  { note: 'deepseek-v4-pro 2026-08-17 00:59:59: the dated off-peak price', name: 'chat deepseek-v4-pro', startTime: '2026-08-17T00:59:59Z', attributes: genai('deepseek-v4-pro', 'deepseek', IO(10_000, 1000)) },
  { note: 'deepseek-v4-pro 01:00:00: the first peak window (listed after the date, so it wins)', name: 'chat deepseek-v4-pro', startTime: '2026-08-17T01:00:00Z', attributes: genai('deepseek-v4-pro', 'deepseek', IO(10_000, 1000)) },
  { note: 'deepseek-v4-pro 03:59:59: still peak', name: 'chat deepseek-v4-pro', startTime: '2026-08-17T03:59:59Z', attributes: genai('deepseek-v4-pro', 'deepseek', IO(10_000, 1000)) },
  { note: 'deepseek-v4-pro 04:00:00: off-peak again', name: 'chat deepseek-v4-pro', startTime: '2026-08-17T04:00:00Z', attributes: genai('deepseek-v4-pro', 'deepseek', IO(10_000, 1000)) },
  { note: 'deepseek-v4-pro in a peak window before its date: the window holds (genai-prices rule)', name: 'chat deepseek-v4-pro', startTime: '2026-08-16T06:00:00Z', attributes: genai('deepseek-v4-pro', 'deepseek', IO(10_000, 1000)) },
  { note: 'service tier: the response\'s (priority) wins over the request\'s (flex)', name: 'chat gpt-5', attributes: genai('gpt-5', 'openai', IO(10_000, 2000), { 'openai.request.service_tier': s('flex'), 'openai.response.service_tier': s('priority') }) },
  { note: 'service tier: default served for an auto request, standard rates', name: 'chat gpt-5', attributes: genai('gpt-5', 'openai', IO(10_000, 2000), { 'openai.request.service_tier': s('auto'), 'openai.response.service_tier': s('default') }) },
  { note: 'service tier under the older gen_ai.openai.* name', name: 'chat gpt-5', attributes: genai('gpt-5', 'openai', IO(10_000, 2000), { 'gen_ai.openai.response.service_tier': s('flex') }) },
  { note: 'service tier a model has no rates for (gpt-4o has no flex): standard rates', name: 'chat gpt-4o', attributes: genai('gpt-4o', 'openai', IO(10_000, 2000), { 'openai.response.service_tier': s('flex') }) },
  { note: 'OpenRouter id, provider openrouter: its OpenRouter row', name: 'chat meta-llama/llama-3.3-70b-instruct', attributes: genai('meta-llama/llama-3.3-70b-instruct', 'openrouter', IO(10_000, 2000)) },
  { note: 'a call from before the table was built', name: 'chat gpt-4o', startTime: '2024-06-01T00:00:00Z', attributes: genai('gpt-4o', 'openai', IO(1000, 100)) },
  { note: 'flex service tier (response attribute)', name: 'chat gpt-5', attributes: genai('gpt-5', 'openai', IO(10_000, 2000), { 'openai.response.service_tier': s('flex') }) },
  { note: 'priority service tier (request attribute)', name: 'chat gpt-5-mini', attributes: genai('gpt-5-mini', 'openai', IO(10_000, 2000), { 'openai.request.service_tier': s('priority') }) },
  { note: 'unknown model, known provider: the provider\'s most expensive rates, flagged', name: 'chat mystery-llm-9', attributes: genai('mystery-llm-9', 'openai', IO(100, 10)) },
  { note: 'unknown model, Anthropic', name: 'chat mystery-llm-9', attributes: genai('mystery-llm-9', 'anthropic', { ...IO(1000, 10), 'gen_ai.usage.cache_read.input_tokens': 500 }) },
  { note: 'unknown model, no provider, name points at Anthropic (modelMatch)', name: 'chat claude-unreleased-9', attributes: genai('claude-unreleased-9', undefined, IO(100, 10)) },
  { note: 'unknown model, no provider, Mistral-like name (negative lookahead modelMatch)', name: 'chat mistral-unreleased-9', attributes: genai('mistral-unreleased-9', undefined, IO(100, 10)) },
  { note: 'unknown model and provider: every provider\'s most expensive rates', name: 'chat mystery-llm-9', attributes: genai('mystery-llm-9', undefined, { ...IO(100, 10), 'gen_ai.usage.reasoning.output_tokens': 5 }) },
  { note: 'no model at all', name: 'chat', attributes: { 'gen_ai.operation.name': s('chat'), 'gen_ai.provider.name': s('openai'), 'gen_ai.usage.input_tokens': i(10), 'gen_ai.usage.output_tokens': i(10) } },
  { note: 'agent from the resource (gen_ai.agent.name)', name: 'chat gpt-4o', resource: { 'service.name': s('svc'), 'gen_ai.agent.name': s('support-bot') }, attributes: genai('gpt-4o', 'openai', IO(1000, 100)) },
];

/** Usage every built-in model id is priced with in the `names` section. */
export const NAMES_TOKENS: Readonly<Record<string, number>> = {
  'gen_ai.usage.input_tokens': 12_345,
  'gen_ai.usage.output_tokens': 678,
  'gen_ai.usage.cache_read.input_tokens': 2000,
  'gen_ai.usage.cache_creation.input_tokens': 300,
  'gen_ai.usage.reasoning.output_tokens': 100,
};

function toAttributes(typed: Readonly<Record<string, Typed>>): Attributes {
  const out: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(typed)) out[k] = 'int' in v ? v.int : 'double' in v ? v.double : 'string' in v ? v.string : v.bool;
  return out;
}

/** Runs spans through tollgate's CostSpanProcessor, one provider per resource; returns each span's cost attributes. */
function priceWithProcessor(spans: readonly { name: string; startTime: string; resource: Record<string, Typed>; attributes: Record<string, Typed> }[]): (Record<string, number | string> | null)[] {
  const out: (Record<string, number | string> | null)[] = [];
  const providers = new Map<string, { provider: TracerProvider; exporter: InMemorySpanExporter }>();
  for (const span of spans) {
    const key = JSON.stringify(span.resource);
    let p = providers.get(key);
    if (p === undefined) {
      const exporter = new InMemorySpanExporter();
      const processor = new CostSpanProcessor({ prices: defaultPriceTable(), meterProvider: metrics.getMeterProvider() });
      p = { exporter, provider: new TracerProvider({ resource: resourceFromAttributes(toAttributes(span.resource)), spanProcessors: [processor, new SimpleSpanProcessor({ exporter })] }) };
      providers.set(key, p);
    }
    p.exporter.reset();
    const started = p.provider.getTracer('golden-foreign-instrumentation').startSpan(span.name, { attributes: toAttributes(span.attributes), startTime: new Date(span.startTime) });
    started.end();
    const [finished] = p.exporter.getFinishedSpans();
    if (finished === undefined) throw new Error(`build-golden: span ${span.name} was not exported`);
    const attrs = finished.attributes;
    if (attrs['tollgate.cost.usd'] === undefined || span.attributes['tollgate.cost.usd'] !== undefined) {
      out.push(null);
      continue;
    }
    const expected: Record<string, number | string> = {};
    for (const k of COST_ATTRIBUTES) {
      const v = attrs[k];
      if (typeof v !== 'number' && typeof v !== 'string') throw new Error(`build-golden: ${span.name} has no ${k}`);
      expected[k] = v;
    }
    out.push(expected);
  }
  return out;
}

/** The corpus text, generated from the TypeScript processor now. */
export function buildGolden(): string {
  const cases = CASES.map((c) => ({ ...c, startTime: c.startTime ?? DEFAULT_START, resource: c.resource ?? RESOURCE }));
  const caseExpected = priceWithProcessor(cases);

  // Every built-in model id, and a dated snapshot of it, under its own provider.
  const names: [string, string][] = [];
  for (const { price } of defaultPriceTable().entries()) {
    names.push([price.provider, price.model], [price.provider, `${price.model}-2025-01-01`]);
  }
  const tokens = Object.fromEntries(Object.entries(NAMES_TOKENS).map(([k, v]) => [k, i(v)]));
  const nameExpected = priceWithProcessor(
    names.map(([provider, model]) => ({ name: `chat ${model}`, startTime: DEFAULT_START, resource: RESOURCE, attributes: { ...genai(model, undefined, {}), 'gen_ai.provider.name': s(provider), ...tokens } })),
  );

  const lines: string[] = [];
  lines.push('{');
  lines.push('  "comment": "GENERATED by node scripts/build-golden.ts from tollgate\'s TypeScript CostSpanProcessor; do not edit. Checked by test/golden/cost-cases.test.ts and the Go tests of collector/tollgateprocessor.",');
  lines.push(`  "costAttributes": ${JSON.stringify(COST_ATTRIBUTES)},`);
  lines.push('  "spans": [');
  cases.forEach((c, n) => {
    const span: GoldenSpan = { note: c.note, name: c.name, startTime: c.startTime, resource: c.resource, attributes: c.attributes, expected: caseExpected[n] ?? null };
    lines.push(`    ${JSON.stringify(span)}${n < cases.length - 1 ? ',' : ''}`);
  });
  lines.push('  ],');
  lines.push(`  "namesStartTime": ${JSON.stringify(DEFAULT_START)},`);
  lines.push(`  "namesTokens": ${JSON.stringify(NAMES_TOKENS)},`);
  lines.push('  "names": [');
  names.forEach(([provider, model], n) => {
    const e = nameExpected[n];
    const row = e === null || e === undefined ? [provider, model, null] : [provider, model, e['tollgate.cost.source'], e['tollgate.cost.usd'], e['tollgate.cost.input_usd'], e['tollgate.cost.output_usd'], e['tollgate.cost.cache_read_usd'], e['tollgate.cost.cache_write_usd']];
    lines.push(`    ${JSON.stringify(row)}${n < names.length - 1 ? ',' : ''}`);
  });
  lines.push('  ]');
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Files that differ from what would be written. */
export function staleFiles(): string[] {
  const stale: string[] = [];
  if (readOrEmpty(GOLDEN_FILE) !== buildGolden()) stale.push('test/golden/cost-cases.json');
  if (readOrEmpty(EMBEDDED_PRICES_FILE) !== readFileSync(PRICES_FILE, 'utf8')) stale.push('collector/tollgateprocessor/internal/pricing/prices.json');
  return stale;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--check')) {
    const stale = staleFiles();
    if (stale.length > 0) {
      console.error(`build-golden: stale: ${stale.join(', ')}; regenerate with: node scripts/build-golden.ts`);
      process.exit(1);
    }
    console.log('build-golden: up to date');
  } else {
    writeFileSync(GOLDEN_FILE, buildGolden());
    writeFileSync(EMBEDDED_PRICES_FILE, readFileSync(PRICES_FILE, 'utf8'));
    console.log('build-golden: wrote test/golden/cost-cases.json and collector/tollgateprocessor/internal/pricing/prices.json');
  }
}
