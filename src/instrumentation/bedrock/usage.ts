/**
 * Bedrock's usage shapes, read into tollgate's {@link Usage} (GenAI convention: input tokens
 * INCLUDE cache reads and writes).
 *
 * Bedrock reports the cached part of a prompt beside the rest, not inside it: Converse's
 * `usage.inputTokens` counts only the tokens neither read from nor written to the cache
 * (`cacheReadInputTokens`, `cacheWriteInputTokens`), as Anthropic's `input_tokens` does in an
 * InvokeModel body, and so does the `amazon-bedrock-invocationMetrics.inputTokenCount` of
 * InvokeModel streams. The three are summed here.
 */
import type { Usage } from '../../pricing/types.ts';
import { count, isRecord } from '../core/index.ts';

function withCache(exclusiveInput: number, output: number, cacheRead: number | undefined, cacheWrite: number | undefined): Usage {
  return {
    inputTokens: exclusiveInput + (cacheRead ?? 0) + (cacheWrite ?? 0),
    outputTokens: output,
    ...(cacheRead === undefined ? {} : { cacheReadTokens: cacheRead }),
    ...(cacheWrite === undefined ? {} : { cacheWriteTokens: cacheWrite }),
  };
}

/** Converse / ConverseStream `usage` (`TokenUsage`). */
export function converseUsage(usage: unknown): Usage | undefined {
  if (!isRecord(usage)) return undefined;
  const input = count(usage['inputTokens']);
  const output = count(usage['outputTokens']);
  if (input === undefined || output === undefined) return undefined;
  return withCache(input, output, count(usage['cacheReadInputTokens']), count(usage['cacheWriteInputTokens']));
}

/** An Anthropic Messages `usage` block (InvokeModel bodies, `message_start`). */
export function anthropicUsage(usage: unknown, outputOverride?: number): Usage | undefined {
  if (!isRecord(usage)) return undefined;
  const input = count(usage['input_tokens']);
  const output = outputOverride ?? count(usage['output_tokens']);
  if (input === undefined || output === undefined) return undefined;
  return withCache(input, output, count(usage['cache_read_input_tokens']), count(usage['cache_creation_input_tokens']));
}

/** `amazon-bedrock-invocationMetrics` on the last chunk of an InvokeModel stream (any model family). */
export function invocationMetricsUsage(metrics: unknown): Usage | undefined {
  if (!isRecord(metrics)) return undefined;
  const input = count(metrics['inputTokenCount']);
  const output = count(metrics['outputTokenCount']);
  if (input === undefined || output === undefined) return undefined;
  return withCache(input, output, count(metrics['cacheReadInputTokenCount']), count(metrics['cacheWriteInputTokenCount']));
}

/**
 * The model to name and price from a Bedrock `modelId`: a foundation-model or inference-profile
 * ARN is reduced to its last path segment (`arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude-sonnet-4-6`
 * -> `us.anthropic.claude-sonnet-4-6`); a plain id, with or without its geography prefix (`us.`,
 * `eu.`, `apac.`, `global.`), is kept as is (the price table resolves the prefix: regional and
 * global profiles are priced differently). An application inference profile's ARN ends in an
 * opaque id that no price table knows: it is kept, and the call is priced as an unknown model.
 */
export function bedrockModel(modelId: string): string {
  if (!modelId.startsWith('arn:')) return modelId;
  const slash = modelId.lastIndexOf('/');
  return slash >= 0 ? modelId.slice(slash + 1) : modelId;
}
