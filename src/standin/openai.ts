/**
 * OpenAI wire format for the stand-in server: Chat Completions, Responses and Embeddings,
 * JSON and SSE, on the OpenAI paths (`/v1/...`) and the Azure deployment paths
 * (`/openai/deployments/{name}/...`).
 *
 * Usage is deterministic: input tokens from the request's text (see `promptTokens`), cached
 * tokens when a 1024+ token prefix repeats, output tokens = the answer's word count (13 unless
 * the request caps it lower), plus 8 reasoning tokens for reasoning models (o-series, gpt-5*).
 *
 * A request's `service_tier` comes back as the tier that served it (`auto` -> `default`), as
 * OpenAI reports it. A request with OpenRouter's usage accounting on (`usage: { include: true }`)
 * gets `usage.cost` in USD, at {@link STANDIN_GATEWAY_RATES}, as a gateway that bills reports it.
 */
import type { ServerResponse } from 'node:http';
import {
  answerTokens,
  ANSWER_WORDS,
  cachedPrefixTokens,
  nextId,
  promptTokens,
  sendError,
  sendJson,
  sendSse,
} from './server.ts';
import type { RouteContext, SseEvent, StandinRoute, StandinState } from './server.ts';

/** USD per million tokens at which the stand-in reports `usage.cost` (rates no price table has). */
export const STANDIN_GATEWAY_RATES = { input: 0.7, output: 2.9 } as const;

/** The tier a response reports for the request's `service_tier` (none when the request named none). */
function servedTier(body: Body): Body {
  const asked = body['service_tier'];
  return typeof asked === 'string' ? { service_tier: asked === 'auto' ? 'default' : asked } : {};
}

/** `usage.cost` when the request turned on OpenRouter's usage accounting. */
function gatewayCost(body: Body, inputTokens: number, outputTokens: number): Body {
  const u = body['usage'];
  if (typeof u !== 'object' || u === null || (u as Body)['include'] !== true) return {};
  return { cost: (inputTokens * STANDIN_GATEWAY_RATES.input + outputTokens * STANDIN_GATEWAY_RATES.output) / 1e6 };
}

/** Reasoning tokens the stand-in reports for reasoning models. */
export const STANDIN_REASONING_TOKENS = 8;

/** The OpenAI routes (and their Azure OpenAI deployment-path twins). */
export function openaiRoutes(): StandinRoute[] {
  return [
    { method: 'POST', path: (p) => p.endsWith('/chat/completions'), handle: chatCompletions },
    { method: 'POST', path: (p) => p.endsWith('/responses'), handle: responses },
    { method: 'POST', path: (p) => p.endsWith('/embeddings'), handle: embeddings },
  ];
}

type Body = Record<string, unknown>;

function bodyOf(ctx: RouteContext): Body | undefined {
  const b = ctx.request.body;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) {
    sendError(ctx.res, 400, 'stand-in: the request body must be a JSON object');
    return undefined;
  }
  return b as Body;
}

function isReasoningModel(model: string): boolean {
  return /^(o\d|gpt-5)/.test(model);
}

/** Collects the text of messages / input items (strings and `text` parts). */
function textOf(value: unknown, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) textOf(v, out);
  else if (typeof value === 'object' && value !== null) {
    const rec = value as Record<string, unknown>;
    if ('content' in rec) textOf(rec['content'], out);
    else if (typeof rec['text'] === 'string') out.push(rec['text']);
  }
}

interface Planned {
  readonly model: string;
  readonly inputTokens: number;
  readonly cachedTokens: number;
  readonly words: string[];
  readonly reasoningTokens: number;
  readonly finishReason: 'stop' | 'length';
}

function plan(state: StandinState, model: string, prompt: string, messages: number, cap: unknown): Planned {
  const inputTokens = promptTokens(prompt, messages);
  const cachedTokens = Math.min(cachedPrefixTokens(state, prompt), inputTokens);
  const limit = typeof cap === 'number' && cap >= 0 ? cap : Infinity;
  const reasoningTokens = isReasoningModel(model) ? STANDIN_REASONING_TOKENS : 0;
  const visible = Math.max(0, Math.min(ANSWER_WORDS.length, limit - reasoningTokens));
  return {
    model,
    inputTokens,
    cachedTokens,
    words: answerTokens(visible),
    reasoningTokens,
    finishReason: visible < ANSWER_WORDS.length ? 'length' : 'stop',
  };
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

// ---------------------------------------------------------------------------
// Chat Completions

function chatUsage(p: Planned, body: Body): Body {
  return {
    ...gatewayCost(body, p.inputTokens, p.words.length + p.reasoningTokens),
    prompt_tokens: p.inputTokens,
    completion_tokens: p.words.length + p.reasoningTokens,
    total_tokens: p.inputTokens + p.words.length + p.reasoningTokens,
    prompt_tokens_details: { cached_tokens: p.cachedTokens, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: p.reasoningTokens, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

async function chatCompletions(ctx: RouteContext): Promise<void> {
  const body = bodyOf(ctx);
  if (body === undefined) return;
  const model = typeof body['model'] === 'string' ? body['model'] : '';
  const messages = Array.isArray(body['messages']) ? body['messages'] : [];
  const parts: string[] = [];
  textOf(messages, parts);
  const p = plan(ctx.state, model, parts.join('\n'), messages.length, body['max_completion_tokens'] ?? body['max_tokens']);
  const id = nextId('chatcmpl');
  const created = now();
  const withUsage = ctx.fault?.kind !== 'no-usage';
  const azure = ctx.request.path.includes('/openai/deployments/');

  if (body['stream'] !== true) {
    const answer: Body = {
      id,
      object: 'chat.completion',
      created,
      model: p.model,
      choices: [{ index: 0, message: { role: 'assistant', content: p.words.join(''), refusal: null }, logprobs: null, finish_reason: p.finishReason }],
      system_fingerprint: 'fp_standin',
      ...servedTier(body),
    };
    if (withUsage) answer['usage'] = chatUsage(p, body);
    sendJson(ctx.res, 200, answer);
    return;
  }

  const streamOptions = body['stream_options'] as Body | undefined;
  const includeUsage = streamOptions?.['include_usage'] === true;
  const base = (choices: unknown[], extra: Body = {}): Body => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model: p.model,
    system_fingerprint: 'fp_standin',
    ...servedTier(body),
    choices,
    ...(includeUsage ? { usage: null } : {}),
    ...extra,
  });
  const events: SseEvent[] = [];
  if (azure) {
    // Azure sends a first chunk with no choices, only content-filter results and an empty model.
    events.push({ data: { id: '', object: '', created: 0, model: '', choices: [], prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] } });
  }
  events.push({ data: base([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]) });
  for (const word of p.words) events.push({ data: base([{ index: 0, delta: { content: word }, logprobs: null, finish_reason: null }]) });
  events.push({ data: base([{ index: 0, delta: {}, logprobs: null, finish_reason: p.finishReason }]) });
  if (includeUsage && withUsage) events.push({ data: base([], { usage: chatUsage(p, body) }) });
  await sendSse(ctx.res, events, ctx.fault, true);
}

// ---------------------------------------------------------------------------
// Responses

function responsesUsage(p: Planned): Body {
  return {
    input_tokens: p.inputTokens,
    input_tokens_details: { cached_tokens: p.cachedTokens },
    output_tokens: p.words.length + p.reasoningTokens,
    output_tokens_details: { reasoning_tokens: p.reasoningTokens },
    total_tokens: p.inputTokens + p.words.length + p.reasoningTokens,
  };
}

function responseObject(id: string, msgId: string, p: Planned, status: 'in_progress' | 'completed' | 'incomplete', text: string, usage: Body | null, body: Body): Body {
  return {
    id,
    object: 'response',
    created_at: now(),
    status,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: body['instructions'] ?? null,
    max_output_tokens: body['max_output_tokens'] ?? null,
    model: p.model,
    output:
      status === 'in_progress'
        ? []
        : [{ type: 'message', id: msgId, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }],
    parallel_tool_calls: true,
    temperature: 1,
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    ...servedTier(body),
    usage,
  };
}

async function responses(ctx: RouteContext): Promise<void> {
  const body = bodyOf(ctx);
  if (body === undefined) return;
  const model = typeof body['model'] === 'string' ? body['model'] : '';
  const parts: string[] = [];
  if (typeof body['instructions'] === 'string') parts.push(body['instructions']);
  textOf(body['input'], parts);
  const items = Array.isArray(body['input']) ? body['input'].length : 1;
  const p = plan(ctx.state, model, parts.join('\n'), items, body['max_output_tokens']);
  const id = nextId('resp');
  const msgId = nextId('msg');
  const text = p.words.join('');
  const status = p.finishReason === 'length' ? 'incomplete' : 'completed';
  const usage = ctx.fault?.kind === 'no-usage' ? null : responsesUsage(p);

  if (body['stream'] !== true) {
    sendJson(ctx.res, 200, responseObject(id, msgId, p, status, text, usage, body));
    return;
  }
  let seq = 0;
  const ev = (type: string, data: Body): SseEvent => ({ event: type, data: { type, sequence_number: seq++, ...data } });
  const events: SseEvent[] = [
    ev('response.created', { response: responseObject(id, msgId, p, 'in_progress', '', null, body) }),
    ev('response.in_progress', { response: responseObject(id, msgId, p, 'in_progress', '', null, body) }),
    ev('response.output_item.added', { output_index: 0, item: { type: 'message', id: msgId, status: 'in_progress', role: 'assistant', content: [] } }),
    ev('response.content_part.added', { item_id: msgId, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }),
  ];
  for (const word of p.words) events.push(ev('response.output_text.delta', { item_id: msgId, output_index: 0, content_index: 0, delta: word }));
  events.push(
    ev('response.output_text.done', { item_id: msgId, output_index: 0, content_index: 0, text }),
    ev('response.content_part.done', { item_id: msgId, output_index: 0, content_index: 0, part: { type: 'output_text', text, annotations: [] } }),
    ev('response.output_item.done', {
      output_index: 0,
      item: { type: 'message', id: msgId, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] },
    }),
    ev(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: responseObject(id, msgId, p, status, text, usage, body) }),
  );
  await sendSse(ctx.res, events, ctx.fault, false);
}

// ---------------------------------------------------------------------------
// Embeddings

function embeddings(ctx: RouteContext): void {
  const body = bodyOf(ctx);
  if (body === undefined) return;
  const model = typeof body['model'] === 'string' ? body['model'] : '';
  const input = body['input'];
  const inputs: unknown[] = Array.isArray(input) && !input.every((v) => typeof v === 'number') ? input : [input];
  const dims = typeof body['dimensions'] === 'number' ? body['dimensions'] : 8;
  let tokens = 0;
  const data = inputs.map((item, index) => {
    tokens += typeof item === 'string' ? promptTokens(item, 0) : Array.isArray(item) ? item.length : 0;
    const vector = Array.from({ length: dims }, (_, i) => Math.round(Math.sin(index + i + 1) * 1e6) / 1e6);
    const embedding = body['encoding_format'] === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
    return { object: 'embedding', index, embedding };
  });
  const answer: Body = { object: 'list', data, model };
  if (ctx.fault?.kind !== 'no-usage') answer['usage'] = { prompt_tokens: tokens, total_tokens: tokens };
  sendJson(ctx.res as ServerResponse, 200, answer);
}
