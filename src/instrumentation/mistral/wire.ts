/**
 * What Mistral's wire format means for tollgate, as `@mistralai/mistralai` hands it over (its zod
 * schemas rename the fields they know to camelCase and keep the others as they came, snake_case):
 * usage in the GenAI convention, response id / model / finish reasons, and the text of requests
 * and answers for local estimates.
 *
 * Usage: `prompt_tokens` includes the cached part (`prompt_tokens_details.cached_tokens`, billed at
 * the cache-read rate), `completion_tokens` includes reasoning (`completion_tokens_details.reasoning_tokens`),
 * as docs/coverage.md states. An answer whose usage is absent, or all zero (the SDK fills a missing
 * count with 0), carries no usage: the call is then estimated, never priced at $0.
 */
import type { Usage } from '../../pricing/types.ts';
import { collectText, count, isRecord } from '../core/index.ts';
import type { TrackedCall } from '../core/index.ts';

type Params = Record<string, unknown>;

/** A field under its SDK (camelCase) name, else its wire (snake_case) name. */
function field(record: Params, camel: string, snake: string): unknown {
  const value = record[camel];
  return value === undefined ? record[snake] : value;
}

function detail(usage: Params, camel: string, snake: string, key: string, keySnake: string): number | undefined {
  const details = field(usage, camel, snake);
  return isRecord(details) ? count(field(details, key, keySnake)) : undefined;
}

/** A Mistral `usage` object in the GenAI convention; undefined when it carries no counts. */
export function mistralUsage(usage: unknown): Usage | undefined {
  if (!isRecord(usage)) return undefined;
  const prompt = count(field(usage, 'promptTokens', 'prompt_tokens'));
  const completion = count(field(usage, 'completionTokens', 'completion_tokens'));
  if ((prompt ?? 0) === 0 && (completion ?? 0) === 0) return undefined;
  const out: { -readonly [K in keyof Usage]: Usage[K] } = { inputTokens: prompt ?? 0, outputTokens: completion ?? 0 };
  const cached = detail(usage, 'promptTokensDetails', 'prompt_tokens_details', 'cachedTokens', 'cached_tokens');
  if (cached !== undefined && cached > 0) out.cacheReadTokens = Math.min(cached, out.inputTokens);
  const reasoning = detail(usage, 'completionTokensDetails', 'completion_tokens_details', 'reasoningTokens', 'reasoning_tokens');
  if (reasoning !== undefined && reasoning > 0) out.reasoningTokens = Math.min(reasoning, out.outputTokens);
  return out;
}

/** The answer text of a response's choices (`message`) or a stream chunk's (`delta`). */
export function choicesText(response: Params): string {
  const choices = response['choices'];
  if (!Array.isArray(choices)) return '';
  const out: string[] = [];
  for (const c of choices) {
    if (!isRecord(c)) continue;
    const message = isRecord(c['message']) ? c['message'] : isRecord(c['delta']) ? c['delta'] : undefined;
    if (message === undefined) continue;
    const content = message['content'];
    if (typeof content === 'string') out.push(content);
    else if (content !== undefined && content !== null) collectText({ content }, out);
  }
  return out.join('');
}

/** Records `id`, `model` and the choices' finish reasons (SDK `finishReason`, wire `finish_reason`). */
export function setResponseInfo(call: TrackedCall, response: Params): void {
  const choices = response['choices'];
  let finishReasons: string[] | undefined;
  if (Array.isArray(choices)) {
    for (const c of choices) {
      const reason = isRecord(c) ? field(c, 'finishReason', 'finish_reason') : undefined;
      if (typeof reason === 'string' && reason !== '') (finishReasons ??= []).push(reason);
    }
  }
  call.setResponse({
    id: typeof response['id'] === 'string' ? response['id'] : undefined,
    model: typeof response['model'] === 'string' ? response['model'] : undefined,
    finishReasons,
  });
}
