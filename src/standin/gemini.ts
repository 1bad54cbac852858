/**
 * Stand-in routes for Google's Gemini API and Vertex AI (the REST surface `@google/genai` calls):
 * `…/models/{model}:generateContent`, `…:streamGenerateContent?alt=sse` (one JSON
 * `GenerateContentResponse` per `data:` line, usage on every chunk, cumulative, as Gemini sends it),
 * `…:batchEmbedContents` and `…:embedContent` (Gemini API: no usage in the answer) and `…:predict` (Vertex embeddings,
 * with per-instance `statistics.token_count`). Paths are matched by their `:method` suffix, so the
 * Gemini API's `/v1beta/models/…` and Vertex's `/v1beta1/projects/…/publishers/google/models/…` both land here.
 *
 * Usage is deterministic (see server.ts): prompt tokens from the text, one output token per
 * answer word, and, when the request asks for them, the counts Gemini reports beside the prompt
 * and candidates: `cachedContentTokenCount` (a `cachedContent` is named: half the prompt, part
 * of `promptTokenCount`), `thoughtsTokenCount` (a `thinkingConfig` is set: NOT part of
 * `candidatesTokenCount`), `toolUsePromptTokenCount` (a built-in tool such as `googleSearch`: not
 * part of `promptTokenCount` either).
 */
import { isRecord } from '../internal/values.ts';
import type { RouteContext, StandinRoute } from './server.ts';
import { ANSWER_WORDS, answerTokens, nextId, promptTokens, sendJson, sendSse } from './server.ts';

/** Thought tokens the stand-in reports when the request sets a `thinkingConfig`. */
export const GEMINI_STANDIN_THOUGHTS_TOKENS = 8;
/** Tool-use prompt tokens the stand-in reports when the request enables a built-in tool (`googleSearch`, `codeExecution`, `urlContext`). */
export const GEMINI_STANDIN_TOOL_USE_TOKENS = 5;

type Body = Record<string, unknown>;

/** The Gemini routes (Gemini API and Vertex AI paths). */
export function geminiRoutes(): StandinRoute[] {
  return [
    { method: 'POST', path: (p) => p.endsWith(':generateContent'), handle: (ctx) => generate(ctx, false) },
    { method: 'POST', path: (p) => p.endsWith(':streamGenerateContent'), handle: (ctx) => generate(ctx, true) },
    { method: 'POST', path: (p) => p.endsWith(':batchEmbedContents'), handle: batchEmbed },
    { method: 'POST', path: (p) => p.endsWith(':embedContent'), handle: embedOne },
    { method: 'POST', path: (p) => p.endsWith(':predict'), handle: predict },
  ];
}

/** Sends an error in Google's shape: `{ error: { code, message, status } }`. */
function sendGoogleError(ctx: RouteContext, status: number, message: string): void {
  const name = status === 429 ? 'RESOURCE_EXHAUSTED' : status >= 500 ? 'INTERNAL' : status === 404 ? 'NOT_FOUND' : 'INVALID_ARGUMENT';
  sendJson(ctx.res, status, { error: { code: status, message, status: name } });
}

function modelOf(path: string): string {
  const m = /models\/([^/:]+):/.exec(path);
  return m?.[1] ?? 'unknown';
}

function textOf(value: unknown, out: string[]): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) textOf(v, out);
  else if (isRecord(value)) {
    if (typeof value['text'] === 'string') out.push(value['text']);
    else if ('parts' in value) textOf(value['parts'], out);
    else if ('content' in value) textOf(value['content'], out);
  }
  return out;
}

function usesBuiltinTool(tools: unknown): boolean {
  return Array.isArray(tools) && tools.some((t) => isRecord(t) && ('googleSearch' in t || 'codeExecution' in t || 'urlContext' in t));
}

async function generate(ctx: RouteContext, stream: boolean): Promise<void> {
  const body = ctx.request.body;
  if (!isRecord(body)) return sendGoogleError(ctx, 400, 'stand-in: the request body must be a JSON object');
  const fault = ctx.fault;
  if (fault?.kind === 'status') return sendGoogleError(ctx, fault.status, fault.message ?? `stand-in injected HTTP ${fault.status}`);
  const contents = Array.isArray(body['contents']) ? body['contents'] : [];
  const prompt = [...textOf(body['systemInstruction'], []), ...textOf(contents, [])].join('\n');
  const promptTokenCount = promptTokens(prompt, contents.length);
  const config = isRecord(body['generationConfig']) ? body['generationConfig'] : {};
  const cap = typeof config['maxOutputTokens'] === 'number' ? config['maxOutputTokens'] : Infinity;
  const thoughts = isRecord(config['thinkingConfig']) ? GEMINI_STANDIN_THOUGHTS_TOKENS : 0;
  const words = answerTokens(Math.max(0, Math.min(ANSWER_WORDS.length, cap)));
  const finishReason = words.length < ANSWER_WORDS.length ? 'MAX_TOKENS' : 'STOP';
  const cached = typeof body['cachedContent'] === 'string' ? Math.floor(promptTokenCount / 2) : 0;
  const toolUse = usesBuiltinTool(body['tools']) ? GEMINI_STANDIN_TOOL_USE_TOKENS : 0;
  const usage = (candidates: number): Body => {
    const u: Body = { promptTokenCount, candidatesTokenCount: candidates, totalTokenCount: promptTokenCount + candidates + thoughts + toolUse };
    if (cached > 0) u['cachedContentTokenCount'] = cached;
    if (thoughts > 0) u['thoughtsTokenCount'] = thoughts;
    if (toolUse > 0) u['toolUsePromptTokenCount'] = toolUse;
    return u;
  };
  const model = modelOf(ctx.request.path);
  const responseId = nextId('gemini');
  const noUsage = fault?.kind === 'no-usage';
  const chunk = (text: string, candidates: number, last: boolean): Body => {
    const candidate: Body = { content: { role: 'model', parts: [{ text }] }, index: 0 };
    if (last) candidate['finishReason'] = finishReason;
    const out: Body = { candidates: [candidate], modelVersion: model, responseId };
    if (!noUsage) out['usageMetadata'] = usage(candidates);
    return out;
  };
  if (!stream) {
    sendJson(ctx.res, 200, chunk(words.join(''), words.length, true));
    return;
  }
  // One word per event; Gemini repeats the (growing) usage on each.
  const events = words.map((w, i) => ({ data: chunk(w, i + 1, i === words.length - 1) }));
  await sendSse(ctx.res, events, fault, false);
}

function batchEmbed(ctx: RouteContext): void {
  const body = ctx.request.body;
  if (!isRecord(body) || !Array.isArray(body['requests'])) return sendGoogleError(ctx, 400, 'stand-in: batchEmbedContents needs a `requests` array');
  const fault = ctx.fault;
  if (fault?.kind === 'status') return sendGoogleError(ctx, fault.status, fault.message ?? `stand-in injected HTTP ${fault.status}`);
  // The Gemini API reports no token usage for embeddings.
  sendJson(ctx.res, 200, { embeddings: body['requests'].map((_, i) => ({ values: [0.1 * (i + 1), 0.2, 0.3] })) });
}

function embedOne(ctx: RouteContext): void {
  const fault = ctx.fault;
  if (fault?.kind === 'status') return sendGoogleError(ctx, fault.status, fault.message ?? `stand-in injected HTTP ${fault.status}`);
  // No usage here either.
  sendJson(ctx.res, 200, { embedding: { values: [0.1, 0.2, 0.3] } });
}

function predict(ctx: RouteContext): void {
  const body = ctx.request.body;
  if (!isRecord(body) || !Array.isArray(body['instances'])) return sendGoogleError(ctx, 400, 'stand-in: predict needs an `instances` array');
  const fault = ctx.fault;
  if (fault?.kind === 'status') return sendGoogleError(ctx, fault.status, fault.message ?? `stand-in injected HTTP ${fault.status}`);
  const predictions = body['instances'].map((instance) => {
    const text = textOf(instance, []).join('\n');
    return { embeddings: { values: [0.1, 0.2, 0.3], statistics: { token_count: promptTokens(text, 0), truncated: false } } };
  });
  sendJson(ctx.res, 200, { predictions, metadata: { billableCharacterCount: 0 } });
}
