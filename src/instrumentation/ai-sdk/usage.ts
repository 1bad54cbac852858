/**
 * The AI SDK's usage and finish-reason shapes, read into tollgate's {@link Usage} (GenAI
 * convention: input tokens INCLUDE cache reads and writes).
 *
 * - Specification v2 (`ai` 5, `@ai-sdk/*` 2.x): flat numbers `{ inputTokens, outputTokens,
 *   totalTokens, reasoningTokens?, cachedInputTokens? }`. Most providers report `inputTokens`
 *   with the cached part included (OpenAI's `prompt_tokens`), but the Anthropic and Bedrock
 *   providers pass the provider's own `input_tokens` / `inputTokens`, which EXCLUDE cache reads
 *   and writes; the cache write count is only in `providerMetadata`. Those two are summed back.
 * - Specification v3 / v4 (`ai` 6 and 7): `{ inputTokens: { total, noCache, cacheRead,
 *   cacheWrite }, outputTokens: { total, text, reasoning }, raw }`, with `total` already
 *   including the cache (every provider computes it so).
 */
import type { Usage } from '../../pricing/types.ts';
import { count, isRecord } from '../core/index.ts';

/** Providers whose v2 `inputTokens` leave the cached prompt out (the provider's own convention). */
function excludesCache(provider: string): boolean {
  return provider.startsWith('anthropic') || provider.startsWith('amazon-bedrock') || provider.startsWith('bedrock');
}

/** Cache-write tokens a v2 provider reports only in its metadata (Anthropic, Bedrock). */
function metadataCacheWrite(providerMetadata: unknown): number | undefined {
  if (!isRecord(providerMetadata)) return undefined;
  const anthropic = providerMetadata['anthropic'];
  if (isRecord(anthropic)) {
    const n = count(anthropic['cacheCreationInputTokens']);
    if (n !== undefined) return n;
  }
  const bedrock = providerMetadata['bedrock'];
  if (isRecord(bedrock) && isRecord(bedrock['usage'])) return count(bedrock['usage']['cacheWriteInputTokens']);
  return undefined;
}

function sum(...values: (number | undefined)[]): number | undefined {
  let total: number | undefined;
  for (const v of values) if (v !== undefined) total = (total ?? 0) + v;
  return total;
}

/** What a model call reported, split into what is known; undefined fields were not reported. */
export interface ReportedUsage {
  readonly inputTokens: number | undefined;
  readonly outputTokens: number | undefined;
  readonly cacheReadTokens: number | undefined;
  readonly cacheWriteTokens: number | undefined;
  readonly reasoningTokens: number | undefined;
}

/** Reads a language model's usage, any specification version. */
export function reportedUsage(usage: unknown, provider: string, providerMetadata: unknown): ReportedUsage {
  if (!isRecord(usage)) return { inputTokens: undefined, outputTokens: undefined, cacheReadTokens: undefined, cacheWriteTokens: undefined, reasoningTokens: undefined };
  const input = usage['inputTokens'];
  const output = usage['outputTokens'];
  if (isRecord(input) || isRecord(output)) {
    const i = isRecord(input) ? input : {};
    const o = isRecord(output) ? output : {};
    const cacheRead = count(i['cacheRead']);
    const cacheWrite = count(i['cacheWrite']);
    const reasoning = count(o['reasoning']);
    return {
      inputTokens: count(i['total']) ?? sum(count(i['noCache']), cacheRead, cacheWrite),
      outputTokens: count(o['total']) ?? sum(count(o['text']), reasoning),
      cacheReadTokens: cacheRead,
      cacheWriteTokens: cacheWrite,
      reasoningTokens: reasoning,
    };
  }
  const cacheRead = count(usage['cachedInputTokens']);
  const cacheWrite = metadataCacheWrite(providerMetadata);
  let inputTokens = count(input);
  if (inputTokens !== undefined && excludesCache(provider)) inputTokens += (cacheRead ?? 0) + (cacheWrite ?? 0);
  return {
    inputTokens,
    outputTokens: count(output),
    cacheReadTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    reasoningTokens: count(usage['reasoningTokens']),
  };
}

/** The usage to price, or undefined when input or output was not reported (then the call is estimated). */
export function completeUsage(r: ReportedUsage): Usage | undefined {
  if (r.inputTokens === undefined || r.outputTokens === undefined) return undefined;
  return {
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    ...(r.cacheReadTokens === undefined ? {} : { cacheReadTokens: r.cacheReadTokens }),
    ...(r.cacheWriteTokens === undefined ? {} : { cacheWriteTokens: r.cacheWriteTokens }),
    ...(r.reasoningTokens === undefined ? {} : { reasoningTokens: r.reasoningTokens }),
  };
}

/**
 * The finish reason as the provider sent it (`stop`, `end_turn`, `tool_calls`): v3+ carry it
 * in `raw` next to the SDK's unified name, v2 only the unified string.
 */
export function finishReasonOf(reason: unknown): string | undefined {
  if (typeof reason === 'string') return reason;
  if (!isRecord(reason)) return undefined;
  const raw = reason['raw'];
  if (typeof raw === 'string' && raw !== '') return raw;
  return typeof reason['unified'] === 'string' ? reason['unified'] : undefined;
}
