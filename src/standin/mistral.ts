/**
 * Mistral's wire format for the stand-in server (the REST surface `@mistralai/mistralai` calls):
 * `POST /v1/chat/completions`, `/v1/fim/completions` and `/v1/agents/completions` (JSON, or SSE
 * `data:` chunks ending with `data: [DONE]` when the body sets `stream`), and `/v1/embeddings`.
 * Errors come as Mistral sends them: `{ object: 'error', message, type, param, code }`.
 *
 * Usage is deterministic (see server.ts): prompt tokens from the text, one output token per answer
 * word (13 unless `max_tokens` caps it lower). A stream carries its usage once, on the final chunk
 * (the one with `finish_reason`), as Mistral sends it. A request with a `prompt_cache_key` already
 * seen on this server reports its prompt, in whole 64-token cache blocks, as
 * `prompt_tokens_details.cached_tokens` (part of `prompt_tokens`). An agent completion answers
 * with {@link MISTRAL_STANDIN_AGENT_MODEL}, the model an agent is configured with.
 */
import { isRecord } from '../internal/values.ts';
import type { RouteContext, SseEvent, StandinRoute, StandinState } from './server.ts';
import { ANSWER_WORDS, answerTokens, nextId, promptTokens, sendJson, sendSse } from './server.ts';

/** The model the stand-in's agents run on (an agent request names no model). */
export const MISTRAL_STANDIN_AGENT_MODEL = 'mistral-medium-latest';
/** Mistral's prompt-cache block size: cached tokens come in whole blocks. */
export const MISTRAL_CACHE_BLOCK_TOKENS = 64;

type Body = Record<string, unknown>;
type Kind = 'chat' | 'fim' | 'agents';

/** The Mistral routes. */
export function mistralRoutes(): StandinRoute[] {
  return [
    { method: 'POST', path: '/v1/chat/completions', handle: (ctx) => complete(ctx, 'chat') },
    { method: 'POST', path: '/v1/fim/completions', handle: (ctx) => complete(ctx, 'fim') },
    { method: 'POST', path: '/v1/agents/completions', handle: (ctx) => complete(ctx, 'agents') },
    { method: 'POST', path: '/v1/embeddings', handle: embeddings },
  ];
}

/** Sends an error in Mistral's shape. */
function sendMistralError(ctx: RouteContext, status: number, message: string): void {
  const type = status === 429 ? 'rate_limited' : status >= 500 ? 'internal_server_error' : 'invalid_request_error';
  sendJson(ctx.res, status, { object: 'error', message, type, param: null, code: String(status) });
}

/** The request body, or an error answer (and undefined) when it is not a JSON object or a fault is due. */
function bodyOf(ctx: RouteContext): Body | undefined {
  const body = ctx.request.body;
  const fault = ctx.fault;
  if (fault?.kind === 'status') {
    sendMistralError(ctx, fault.status, fault.message ?? `stand-in injected HTTP ${fault.status}`);
    return undefined;
  }
  if (!isRecord(body)) {
    sendMistralError(ctx, 400, 'stand-in: the request body must be a JSON object');
    return undefined;
  }
  return body;
}

function textOf(value: unknown, out: string[]): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) textOf(v, out);
  else if (isRecord(value)) {
    if (typeof value['text'] === 'string') out.push(value['text']);
    else if ('content' in value) textOf(value['content'], out);
  }
  return out;
}

const cacheKeys = new WeakMap<StandinState, Set<string>>();

/** Cached prompt tokens: the whole 64-token blocks of the prompt when its cache key was seen before. */
function cachedTokens(state: StandinState, body: Body, prompt: number): number {
  const key = body['prompt_cache_key'];
  if (typeof key !== 'string') return 0;
  let keys = cacheKeys.get(state);
  if (keys === undefined) cacheKeys.set(state, (keys = new Set()));
  const seen = keys.has(key);
  keys.add(key);
  return seen ? Math.floor(prompt / MISTRAL_CACHE_BLOCK_TOKENS) * MISTRAL_CACHE_BLOCK_TOKENS : 0;
}

function usageOf(prompt: number, completion: number, cached: number): Body {
  const usage: Body = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (cached > 0) usage['prompt_tokens_details'] = { cached_tokens: cached };
  return usage;
}

async function complete(ctx: RouteContext, kind: Kind): Promise<void> {
  const body = bodyOf(ctx);
  if (body === undefined) return;
  const messages = Array.isArray(body['messages']) ? body['messages'] : [];
  const prompt =
    kind === 'fim' ? promptTokens([body['prompt'], body['suffix']].filter((p) => typeof p === 'string').join('\n'), 1) : promptTokens(textOf(messages, []).join('\n'), messages.length);
  const model = kind === 'agents' ? MISTRAL_STANDIN_AGENT_MODEL : typeof body['model'] === 'string' ? body['model'] : 'unknown';
  const cap = typeof body['max_tokens'] === 'number' && body['max_tokens'] >= 0 ? body['max_tokens'] : Infinity;
  const words = answerTokens(Math.min(ANSWER_WORDS.length, cap));
  const finishReason = words.length < ANSWER_WORDS.length ? 'length' : 'stop';
  const usage = ctx.fault?.kind === 'no-usage' ? undefined : usageOf(prompt, words.length, cachedTokens(ctx.state, body, prompt));
  const id = nextId('mistral');
  const created = Math.floor(Date.now() / 1000);
  if (body['stream'] !== true) {
    const answer: Body = {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: words.join(''), tool_calls: null }, finish_reason: finishReason }],
    };
    if (usage !== undefined) answer['usage'] = usage;
    sendJson(ctx.res, 200, answer);
    return;
  }
  const chunk = (delta: Body, finish: string | null, extra: Body = {}): SseEvent => ({
    data: { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra },
  });
  const events: SseEvent[] = [chunk({ role: 'assistant', content: '' }, null)];
  words.forEach((word, i) => {
    const last = i === words.length - 1;
    events.push(chunk({ content: word }, last ? finishReason : null, last && usage !== undefined ? { usage } : {}));
  });
  if (words.length === 0) events.push(chunk({ content: '' }, finishReason, usage === undefined ? {} : { usage }));
  await sendSse(ctx.res, events, ctx.fault, true);
}

function embeddings(ctx: RouteContext): void {
  const body = bodyOf(ctx);
  if (body === undefined) return;
  const raw = body['input'];
  const inputs = Array.isArray(raw) ? raw : [raw];
  if (!inputs.every((i) => typeof i === 'string')) return sendMistralError(ctx, 422, 'stand-in: embeddings `input` must be a string or a list of strings');
  const prompt = inputs.reduce((n: number, text) => n + promptTokens(text as string, 0), 0);
  const answer: Body = {
    id: nextId('embd'),
    object: 'list',
    model: typeof body['model'] === 'string' ? body['model'] : 'unknown',
    data: inputs.map((_, index) => ({ object: 'embedding', embedding: [0.1 * (index + 1), 0.2, 0.3], index })),
  };
  if (ctx.fault?.kind !== 'no-usage') answer['usage'] = usageOf(prompt, 0, 0);
  sendJson(ctx.res, 200, answer);
}
