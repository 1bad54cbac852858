/**
 * What the Gemini wire format (the Gemini API and Vertex AI REST answers, as both Google SDKs hand them
 * over) means for tollgate: usage in the GenAI convention, response id / model / finish reasons, and
 * the text of contents for local estimates. Shared by the `@google/genai` and `@google/generative-ai`
 * instrumentations.
 */
import type { Usage } from '../../pricing/types.ts';
import { collectText, count, isRecord } from '../core/index.ts';
import type { TrackedCall } from '../core/index.ts';

type Params = Record<string, unknown>;

/** Text of `contents` (a string, a Content, parts, or a list of these). */
export function contentsText(contents: unknown): string {
  if (typeof contents === 'string') return contents;
  if (Array.isArray(contents) && contents.every((c) => typeof c === 'string')) return contents.join('\n');
  return collectText({ content: contents }).join('\n');
}

/**
 * `usageMetadata` in the GenAI convention (see the file comment). Undefined when the response
 * carries no usable counts.
 */
export function geminiUsage(metadata: unknown): Usage | undefined {
  if (!isRecord(metadata)) return undefined;
  const prompt = count(metadata['promptTokenCount']);
  const candidates = count(metadata['candidatesTokenCount']);
  const thoughts = count(metadata['thoughtsTokenCount']);
  const toolUse = count(metadata['toolUsePromptTokenCount']);
  const cached = count(metadata['cachedContentTokenCount']);
  if (prompt === undefined && candidates === undefined && thoughts === undefined) return undefined;
  const usage: { -readonly [K in keyof Usage]: Usage[K] } = {
    inputTokens: (prompt ?? 0) + (toolUse ?? 0),
    outputTokens: (candidates ?? 0) + (thoughts ?? 0),
  };
  if (cached !== undefined && cached > 0) usage.cacheReadTokens = cached;
  if (thoughts !== undefined && thoughts > 0) usage.reasoningTokens = thoughts;
  return usage;
}

/** The text of a response's candidates. */
export function candidateText(response: Params): string {
  const candidates = response['candidates'];
  if (!Array.isArray(candidates)) return '';
  return collectText(candidates.map((c: unknown) => (isRecord(c) ? { content: c['content'] } : undefined))).join('');
}

/** Records `responseId`, `modelVersion` and the candidates' finish reasons (lower-cased). */
export function setResponseInfo(call: TrackedCall, response: Params): void {
  const candidates = response['candidates'];
  const finishReasons = Array.isArray(candidates)
    ? candidates.flatMap((c: unknown) => (isRecord(c) && typeof c['finishReason'] === 'string' ? [c['finishReason'].toLowerCase()] : []))
    : undefined;
  call.setResponse({
    id: typeof response['responseId'] === 'string' ? response['responseId'] : undefined,
    model: typeof response['modelVersion'] === 'string' ? response['modelVersion'] : undefined,
    finishReasons,
  });
}

