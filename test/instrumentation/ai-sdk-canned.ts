/**
 * Canned OpenAI Chat Completions answers for the AI SDK tool-loop and object tests: a tool call
 * step and a final text step, JSON and SSE, with usage chosen by the test so every step's tokens
 * and cost are known exactly.
 */
import type { CannedResponse } from '../../src/standin/server.ts';

/** Usage a canned answer reports. */
export interface CannedUsage {
  readonly input: number;
  readonly output: number;
  readonly cached?: number;
}

function usageOf(u: CannedUsage): Record<string, unknown> {
  return {
    prompt_tokens: u.input,
    completion_tokens: u.output,
    total_tokens: u.input + u.output,
    prompt_tokens_details: { cached_tokens: u.cached ?? 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const SSE_HEADERS = { 'content-type': 'text/event-stream' };

/** A chat completion whose only content is one call of tool `name` with `args`. */
export function toolCallAnswer(id: string, name: string, args: unknown, usage: CannedUsage): CannedResponse {
  return {
    headers: JSON_HEADERS,
    body: JSON.stringify({
      id,
      object: 'chat.completion',
      created: 1_764_000_000,
      model: 'gpt-4o-mini',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: null, tool_calls: [{ id: `call_${id}`, type: 'function', function: { name, arguments: JSON.stringify(args) } }] },
          finish_reason: 'tool_calls',
        },
      ],
      usage: usageOf(usage),
    }),
  };
}

/** A chat completion answering `text`. */
export function textAnswer(id: string, text: string, usage: CannedUsage): CannedResponse {
  return {
    headers: JSON_HEADERS,
    body: JSON.stringify({
      id,
      object: 'chat.completion',
      created: 1_764_000_000,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage: usageOf(usage),
    }),
  };
}

function sse(chunks: readonly unknown[]): string[] {
  return [...chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`), 'data: [DONE]\n\n'];
}

function chunk(id: string, choices: unknown[], usage: unknown = null, model = 'gpt-4o-mini'): Record<string, unknown> {
  return { id, object: 'chat.completion.chunk', created: 1_764_000_000, model, choices, usage };
}

/** The streamed twin of {@link toolCallAnswer} (usage in a last, choice-less chunk). */
export function toolCallStream(id: string, name: string, args: unknown, usage: CannedUsage): CannedResponse {
  return {
    headers: SSE_HEADERS,
    body: sse([
      chunk(id, [{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, id: `call_${id}`, type: 'function', function: { name, arguments: '' } }] }, finish_reason: null }]),
      chunk(id, [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: JSON.stringify(args) } }] }, finish_reason: null }]),
      chunk(id, [{ index: 0, delta: {}, finish_reason: 'tool_calls' }]),
      chunk(id, [], usageOf(usage)),
    ]),
  };
}

/**
 * The streamed twin of {@link textAnswer}. `groq`: usage where Groq sends it, in `x_groq.usage`
 * of the finishing chunk, without being asked (its API has no `stream_options`).
 */
export function textStream(id: string, text: string, usage: CannedUsage, dialect: 'openai' | 'groq' = 'openai', model = 'gpt-4o-mini'): CannedResponse {
  const last =
    dialect === 'groq'
      ? [{ ...chunk(id, [{ index: 0, delta: {}, finish_reason: 'stop' }], null, model), x_groq: { id: `req_${id}`, usage: usageOf(usage) } }]
      : [chunk(id, [{ index: 0, delta: {}, finish_reason: 'stop' }], null, model), chunk(id, [], usageOf(usage), model)];
  return {
    headers: SSE_HEADERS,
    body: sse([
      chunk(id, [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], null, model),
      chunk(id, [{ index: 0, delta: { content: text }, finish_reason: null }], null, model),
      ...last,
    ]),
  };
}
