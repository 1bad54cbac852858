/**
 * The Anthropic Messages API of the local stand-in provider (./server.ts): the
 * real `@anthropic-ai/sdk` clients talk to it since no machine here reaches
 * the provider. `anthropicRoutes()` serves `POST /v1/messages` (JSON and SSE,
 * also the `?beta=true` variant) and `POST /v1/messages/count_tokens`.
 *
 * Deterministic: token counts derive from the request text
 * ({@link standinTokens}: one token per 4 characters of each block, rounded
 * up), the reply text is fixed ({@link STANDIN_REPLY_TEXT}, cut to
 * `max_tokens`), and prompt caching behaves like the real API closely enough
 * to test pricing: each block carrying `cache_control` ends a cacheable prefix
 * (tools, then system, then messages); the longest prefix seen before by this
 * server is read from the cache, the rest up to the last breakpoint is written
 * with the TTL of the breakpoint that ends it (`5m` by default, or `1h`), and
 * `input_tokens` is what follows the last breakpoint, EXCLUSIVE of the cache,
 * as Anthropic reports it. The stream uses the current shape: `message_delta`
 * repeats the input and cache counts, cumulatively.
 *
 * Faults come from `server.injectFault()` (`status` is answered by the server
 * itself; `malformed-sse`, `cut-stream`, `no-usage` here) or, with
 * Anthropic-exact bodies, from the request header `x-standin-fault`:
 * `500`, `429`, `529` (`overloaded_error`), `malformed-sse` (a `data:` line
 * that is not JSON after the first text delta), `stream-error` (an SSE `error`
 * event there), `cut` (the stream ends cleanly there, without `message_delta`),
 * `reset` (the socket is destroyed there), `no-usage` (no usage anywhere).
 * The header `x-standin-shape: old` makes `message_delta.usage` carry only
 * `output_tokens`, as the API did before mid-2025.
 */
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { isRecord } from '../internal/values.ts';
import type { RouteContext, StandinFault, StandinRoute, StandinState } from './server.ts';

/** The stand-in's token count of one text: ceil(characters / 4). Exported so tests state expectations in the same unit. */
export function standinTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** The reply every stand-in Message carries (cut to `max_tokens` x 4 characters). */
export const STANDIN_REPLY_TEXT = 'Hello from the Anthropic stand-in.';

/** What the route writes: a whole body, or SSE frames with an optional abrupt ending. */
export interface AnthropicReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** A whole body, or the SSE frames of a stream written one by one. */
  readonly body: string | readonly string[];
  /** After the frames: end the response normally (default) or destroy the socket mid-body. */
  readonly close?: 'end' | 'destroy';
}

/** Options of {@link anthropicRoutes}. */
export interface AnthropicRoutesOptions {
  /** Largest number of cached prefixes kept per server (oldest dropped first). @default 10000 */
  readonly maxCachedPrefixes?: number;
}

interface Block {
  readonly key: string;
  readonly tokens: number;
  readonly ttl: '5m' | '1h' | undefined;
}

/** Input tokens as Anthropic splits them: `input` excludes the cache. */
export interface AnthropicInputCount {
  readonly input: number;
  readonly cacheRead: number;
  readonly write5m: number;
  readonly write1h: number;
}

/** Where a stream breaks, and how. */
interface StreamFault {
  readonly afterFrames: number;
  readonly how: 'malformed' | 'error-event' | 'end' | 'destroy';
}

type Headers = Readonly<Record<string, string>>;

const JSON_HEADERS = { 'content-type': 'application/json' } as const;
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' } as const;
/** Frames before the first text delta: message_start, content_block_start, ping. */
const FRAMES_BEFORE_TEXT = 3;

/** One SSE frame with its `event:` line (the SDK skips frames without one). */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

function errorReply(status: number, type: string, message: string, extra: Record<string, string> = {}): AnthropicReply {
  return {
    status,
    headers: { ...JSON_HEADERS, 'request-id': `req_standin_${status}`, ...extra },
    body: JSON.stringify({ type: 'error', error: { type, message } }),
  };
}

/**
 * The prompt cache of one server: a set of prefix hashes, capped (oldest
 * first out). Pure apart from that set; exported for unit tests.
 */
export class AnthropicPromptCache {
  readonly #keys = new Set<string>();
  readonly #max: number;

  constructor(maxPrefixes = 10_000) {
    this.#max = maxPrefixes;
  }

  /** Counts the input of a request and records the prefixes it writes. `write` false: count only (count_tokens). */
  count(body: Readonly<Record<string, unknown>>, write = true): AnthropicInputCount {
    const blocks = flatten(body);
    let total = 0;
    for (const b of blocks) total += b.tokens;
    if (!write) return { input: total, cacheRead: 0, write5m: 0, write1h: 0 };
    // One breakpoint per cache_control block: the hash and token count of the prefix it ends.
    const hash = createHash('sha256');
    const breakpoints: { key: string; tokens: number; ttl: '5m' | '1h' }[] = [];
    let running = 0;
    for (const b of blocks) {
      hash.update(b.key);
      hash.update('\u0000');
      running += b.tokens;
      if (b.ttl !== undefined) breakpoints.push({ key: hash.copy().digest('hex'), tokens: running, ttl: b.ttl });
    }
    let readUpTo = 0;
    let hit = -1;
    for (let i = breakpoints.length - 1; i >= 0; i--) {
      const bp = breakpoints[i];
      if (bp !== undefined && this.#keys.has(bp.key)) {
        readUpTo = bp.tokens;
        hit = i;
        break;
      }
    }
    let write5m = 0;
    let write1h = 0;
    let prev = readUpTo;
    for (let i = hit + 1; i < breakpoints.length; i++) {
      const bp = breakpoints[i];
      if (bp === undefined) continue;
      if (bp.ttl === '1h') write1h += bp.tokens - prev;
      else write5m += bp.tokens - prev;
      prev = bp.tokens;
      this.#add(bp.key);
    }
    return { input: total - prev, cacheRead: readUpTo, write5m, write1h };
  }

  clear(): void {
    this.#keys.clear();
  }

  #add(key: string): void {
    this.#keys.add(key);
    if (this.#keys.size > this.#max) {
      const oldest = this.#keys.values().next().value;
      if (oldest !== undefined) this.#keys.delete(oldest);
    }
  }
}

let messageCounter = 0;

/**
 * Answers one `POST /v1/messages`. `serverFault` is the fault queued on the
 * server (status faults never reach here); the `x-standin-fault` header is
 * read too.
 */
export function answerMessages(body: unknown, headers: Headers, cache: AnthropicPromptCache, serverFault?: StandinFault): AnthropicReply {
  const headerFault = headers['x-standin-fault'];
  if (headerFault === '500') return errorReply(500, 'api_error', 'Internal server error (stand-in fault 500)');
  if (headerFault === '429') return errorReply(429, 'rate_limit_error', 'Rate limited (stand-in fault 429)', { 'retry-after': '0' });
  if (headerFault === '529') return errorReply(529, 'overloaded_error', 'Overloaded (stand-in fault 529)');
  if (!isRecord(body)) return errorReply(400, 'invalid_request_error', 'body: expected a JSON object');
  const model = body.model;
  if (typeof model !== 'string' || model.length === 0) return errorReply(400, 'invalid_request_error', 'model: Field required');
  const maxTokens = body.max_tokens;
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
    return errorReply(400, 'invalid_request_error', 'max_tokens: expected a positive integer');
  }

  messageCounter += 1;
  const id = `msg_standin_${String(messageCounter).padStart(6, '0')}`;
  const count = cache.count(body);
  const { text, stopReason } = replyFor(maxTokens);
  const output = standinTokens(text);
  const noUsage = headerFault === 'no-usage' || serverFault?.kind === 'no-usage';
  const usage = {
    input_tokens: count.input,
    cache_creation_input_tokens: count.write5m + count.write1h,
    cache_read_input_tokens: count.cacheRead,
    cache_creation: { ephemeral_5m_input_tokens: count.write5m, ephemeral_1h_input_tokens: count.write1h },
    output_tokens: output,
    service_tier: 'standard',
  };
  const replyHeaders = { 'request-id': `req_${id}` };

  if (body.stream !== true) {
    if (headerFault === 'malformed-sse' || serverFault?.kind === 'malformed-sse') {
      return { status: 200, headers: { ...JSON_HEADERS, ...replyHeaders }, body: `{"id":"${id}","type":"message","content":[{"type":"te` };
    }
    const message = {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [{ type: 'text', text }],
      stop_reason: stopReason,
      stop_sequence: null,
      ...(noUsage ? {} : { usage }),
    };
    return { status: 200, headers: { ...JSON_HEADERS, ...replyHeaders }, body: JSON.stringify(message) };
  }

  const frames: string[] = [];
  frames.push(
    sseFrame('message_start', {
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        ...(noUsage ? {} : { usage: { ...usage, output_tokens: 1 } }),
      },
    }),
  );
  frames.push(sseFrame('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
  frames.push(sseFrame('ping', { type: 'ping' }));
  for (const piece of splitText(text)) {
    frames.push(sseFrame('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } }));
  }
  frames.push(sseFrame('content_block_stop', { type: 'content_block_stop', index: 0 }));
  const oldShape = headers['x-standin-shape'] === 'old';
  const deltaUsage = noUsage
    ? undefined
    : oldShape
      ? { output_tokens: output }
      : { input_tokens: count.input, cache_creation_input_tokens: usage.cache_creation_input_tokens, cache_read_input_tokens: count.cacheRead, output_tokens: output };
  frames.push(
    sseFrame('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stopReason, stop_sequence: null },
      ...(deltaUsage === undefined ? {} : { usage: deltaUsage }),
    }),
  );
  frames.push(sseFrame('message_stop', { type: 'message_stop' }));

  const fault = streamFault(headerFault, serverFault);
  if (fault === undefined) return { status: 200, headers: { ...SSE_HEADERS, ...replyHeaders }, body: frames };
  const kept = frames.slice(0, fault.afterFrames);
  if (fault.how === 'malformed') kept.push('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_de\n\n');
  if (fault.how === 'error-event') kept.push(sseFrame('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded (stand-in stream-error)' } }));
  return { status: 200, headers: { ...SSE_HEADERS, ...replyHeaders }, body: kept, close: fault.how === 'destroy' ? 'destroy' : 'end' };
}

function streamFault(headerFault: string | undefined, serverFault: StandinFault | undefined): StreamFault | undefined {
  const afterText = FRAMES_BEFORE_TEXT + 1;
  switch (headerFault) {
    case 'malformed-sse':
      return { afterFrames: afterText, how: 'malformed' };
    case 'stream-error':
      return { afterFrames: afterText, how: 'error-event' };
    case 'cut':
      return { afterFrames: afterText, how: 'end' };
    case 'reset':
      return { afterFrames: afterText, how: 'destroy' };
    default:
      break;
  }
  if (serverFault?.kind === 'malformed-sse') return { afterFrames: serverFault.afterEvents ?? afterText, how: 'malformed' };
  if (serverFault?.kind === 'cut-stream') return { afterFrames: serverFault.afterEvents ?? afterText, how: 'destroy' };
  return undefined;
}

/**
 * A canned reply that replays a recorded SSE body (for `server.setNextResponse`
 * or a route). Bodies recorded without `event:` lines (one JSON payload per
 * line, the AI SDK fixture format) get one named after the payload's `type`,
 * since the SDK skips unnamed frames.
 */
export function replaySse(recorded: string): { status: number; headers: Record<string, string>; body: string[] } {
  const headers = { ...SSE_HEADERS };
  if (/^(event|data):/m.test(recorded)) return { status: 200, headers, body: [recorded] };
  const body: string[] = [];
  for (const line of recorded.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.length === 0) continue;
    const parsed = JSON.parse(trimmed) as { type?: unknown };
    body.push(`event: ${typeof parsed.type === 'string' ? parsed.type : 'message'}\ndata: ${trimmed}\n\n`);
  }
  return { status: 200, headers, body };
}

/** Writes a reply, frame by frame for streams, honouring `close`. */
export async function writeReply(res: ServerResponse, reply: AnthropicReply): Promise<void> {
  if (typeof reply.body === 'string') {
    res.writeHead(reply.status, { ...reply.headers, 'content-length': String(Buffer.byteLength(reply.body)) });
    res.end(reply.body);
    return;
  }
  res.writeHead(reply.status, reply.headers);
  for (const frame of reply.body) {
    if (res.destroyed) return;
    // A client that went away (a consumer's early break) never drains: stop on close too.
    if (!res.write(frame)) await new Promise<void>((resolve) => {
      res.once('drain', () => resolve());
      res.once('close', () => resolve());
    });
  }
  if (reply.close === 'destroy') {
    // Let the frames reach the client first, then drop the connection with no terminator.
    await new Promise((resolve) => setImmediate(resolve));
    res.destroy();
    return;
  }
  res.end();
}

const caches = new WeakMap<StandinState, AnthropicPromptCache>();

/**
 * The Anthropic routes for `startStandinServer({ routes })`. The prompt cache
 * lives per server (keyed by the server's shared state) and per routes list.
 */
export function anthropicRoutes(options: AnthropicRoutesOptions = {}): StandinRoute[] {
  const cacheOf = (state: StandinState): AnthropicPromptCache => {
    let cache = caches.get(state);
    if (cache === undefined) {
      cache = new AnthropicPromptCache(options.maxCachedPrefixes);
      caches.set(state, cache);
    }
    return cache;
  };
  return [
    {
      method: 'POST',
      path: '/v1/messages/count_tokens',
      handle(ctx: RouteContext) {
        const body = ctx.request.body;
        const reply: AnthropicReply = isRecord(body)
          ? { status: 200, headers: JSON_HEADERS, body: JSON.stringify({ input_tokens: cacheOf(ctx.state).count(body, false).input }) }
          : errorReply(400, 'invalid_request_error', 'body: expected a JSON object');
        return writeReply(ctx.res, reply);
      },
    },
    {
      method: 'POST',
      path: '/v1/messages',
      handle(ctx: RouteContext) {
        return writeReply(ctx.res, answerMessages(ctx.request.body, ctx.request.headers, cacheOf(ctx.state), ctx.fault));
      },
    },
  ];
}


function replyFor(maxTokens: number): { text: string; stopReason: string } {
  const full = STANDIN_REPLY_TEXT;
  if (standinTokens(full) <= maxTokens) return { text: full, stopReason: 'end_turn' };
  return { text: full.slice(0, maxTokens * 4), stopReason: 'max_tokens' };
}

/** Up to three pieces split on spaces, so that a stream has several deltas. */
function splitText(text: string): string[] {
  const words = text.split(' ');
  if (words.length < 3) return [text];
  const third = Math.ceil(words.length / 3);
  return [words.slice(0, third).join(' ') + ' ', words.slice(third, 2 * third).join(' ') + ' ', words.slice(2 * third).join(' ')].filter((p) => p.trim().length > 0);
}

/** The request's blocks in cache order (tools, system, messages), each with its stand-in token count and cache breakpoint. */
function flatten(body: Readonly<Record<string, unknown>>): Block[] {
  const blocks: Block[] = [];
  const push = (value: unknown, text: string): void => {
    blocks.push({ key: JSON.stringify(value) ?? '', tokens: standinTokens(text), ttl: ttlOf(value) });
  };
  if (Array.isArray(body.tools)) {
    for (const tool of body.tools as unknown[]) push(tool, JSON.stringify(tool) ?? '');
  }
  const system = body.system;
  if (typeof system === 'string') push(system, system);
  else if (Array.isArray(system)) for (const b of system as unknown[]) push(b, blockText(b));
  if (Array.isArray(body.messages)) {
    for (const m of body.messages as unknown[]) {
      if (!isRecord(m)) continue;
      const content = m.content;
      if (typeof content === 'string') push({ role: m.role, content }, content);
      else if (Array.isArray(content)) for (const b of content as unknown[]) push(b, blockText(b));
    }
  }
  return blocks;
}

function ttlOf(block: unknown): '5m' | '1h' | undefined {
  if (!isRecord(block)) return undefined;
  const cc = block.cache_control;
  if (!isRecord(cc) || cc.type !== 'ephemeral') return undefined;
  return cc.ttl === '1h' ? '1h' : '5m';
}

function blockText(block: unknown): string {
  if (typeof block === 'string') return block;
  if (!isRecord(block)) return '';
  if (typeof block.text === 'string') return block.text;
  if (typeof block.thinking === 'string') return block.thinking;
  if (block.type === 'tool_result') {
    const c = block.content;
    if (typeof c === 'string') return c;
    if (Array.isArray(c)) return (c as unknown[]).map(blockText).join('');
    return '';
  }
  return JSON.stringify(block.input ?? '') ?? '';
}
