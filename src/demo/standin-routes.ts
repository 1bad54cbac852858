/**
 * The stand-in provider as the demo runs it: the OpenAI routes as they are, and the
 * Anthropic Messages route extended with one behaviour the research agent needs, a
 * tool call. A request that offers tools and ends with the user's turn (not a tool
 * result) is answered with a `tool_use` block, as a model that decides to search would;
 * the usage (input, cache reads and writes) is the stand-in's own, computed from the
 * request. Everything else is answered by the stand-in unchanged.
 */
import { AnthropicPromptCache, answerMessages, anthropicRoutes, standinTokens, writeReply, type AnthropicReply } from '../standin/anthropic.ts';
import { isRecord } from '../internal/values.ts';
import { openaiRoutes } from '../standin/openai.ts';
import type { RouteContext, StandinRoute } from '../standin/server.ts';

/** Routes for `startStandinServer`: OpenAI, Anthropic count_tokens, and Messages with tool calls. */
export function demoStandinRoutes(): StandinRoute[] {
  const cache = new AnthropicPromptCache();
  const countTokens = anthropicRoutes().filter((r) => r.path === '/v1/messages/count_tokens');
  let toolCalls = 0;
  return [
    ...openaiRoutes(),
    ...countTokens,
    {
      method: 'POST',
      path: '/v1/messages',
      handle(ctx: RouteContext) {
        const reply = answerMessages(ctx.request.body, ctx.request.headers, cache, ctx.fault);
        const tool = wantsTool(ctx.request.body);
        if (tool === undefined || reply.status !== 200 || typeof reply.body !== 'string') return writeReply(ctx.res, reply);
        toolCalls++;
        return writeReply(ctx.res, asToolUse(reply, tool, `toolu_standin_${String(toolCalls).padStart(6, '0')}`, lastUserText(ctx.request.body)));
      },
    },
  ];
}

type Rec = Record<string, unknown>;


/** The first tool's name when the request offers tools and the last turn is the user's own text. */
function wantsTool(body: unknown): string | undefined {
  if (!isRecord(body) || !Array.isArray(body['tools']) || body['stream'] === true) return undefined;
  const first: unknown = body['tools'][0];
  if (!isRecord(first) || typeof first['name'] !== 'string') return undefined;
  const messages = Array.isArray(body['messages']) ? (body['messages'] as unknown[]) : [];
  const last = messages[messages.length - 1];
  if (!isRecord(last) || last['role'] !== 'user') return undefined;
  const content = last['content'];
  if (Array.isArray(content) && content.some((b) => isRecord(b) && b['type'] === 'tool_result')) return undefined;
  return first['name'];
}

function lastUserText(body: unknown): string {
  if (!isRecord(body) || !Array.isArray(body['messages'])) return '';
  const last: unknown = body['messages'][body['messages'].length - 1];
  if (!isRecord(last)) return '';
  const c = last['content'];
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((b) => (isRecord(b) && typeof b['text'] === 'string' ? b['text'] : '')).join(' ');
  return '';
}

function asToolUse(reply: AnthropicReply, tool: string, id: string, request: string): AnthropicReply {
  const message = JSON.parse(reply.body as string) as Rec;
  // The query is the request's first line, as a model asked to search for it would write.
  const query = request.split('\n')[0]!.slice(0, 160);
  const text = 'Searching the source library first.';
  const input = { query, max_results: 3 };
  const content = [
    { type: 'text', text },
    { type: 'tool_use', id, name: tool, input },
  ];
  const usage = isRecord(message['usage']) ? { ...message['usage'], output_tokens: standinTokens(text) + standinTokens(JSON.stringify(input)) } : undefined;
  const body = JSON.stringify({ ...message, content, stop_reason: 'tool_use', ...(usage === undefined ? {} : { usage }) });
  return { ...reply, body };
}
