/**
 * Amazon Bedrock Runtime wire format for the stand-in server: Converse and ConverseStream, and
 * InvokeModel / InvokeModelWithResponseStream with Anthropic Messages bodies, on Bedrock's paths
 * (`/model/{modelId}/converse`, `/converse-stream`, `/invoke`, `/invoke-with-response-stream`;
 * the model id URL-encoded, so inference-profile ids and ARNs arrive whole).
 *
 * Streams use the AWS event-stream binary framing (`application/vnd.amazon.eventstream`), encoded
 * here ({@link eventFrame}; node:zlib's CRC32, so the stand-in needs no AWS package): each frame
 * has `:message-type` `event`, `:event-type` the member name (`messageStart`,
 * `contentBlockDelta`, `metadata`, or `chunk` for InvokeModel streams) and a JSON body.
 *
 * Usage is deterministic: input tokens = ceil(characters / 4) of the request text + 3 per
 * message (see `promptTokens`); output tokens = the answer's word count, 13 unless the request
 * caps it lower. A content block `{ cachePoint: ... }` marks the text before it as cacheable: the
 * first request writes it to the cache, a later one with the same prefix reads it. Bedrock's
 * `inputTokens` EXCLUDES the cached part (reported in `cacheReadInputTokens` /
 * `cacheWriteInputTokens`), as the real service does for Claude; Anthropic bodies do the same with
 * `input_tokens` / `cache_*_input_tokens`.
 *
 * Faults: `no-usage`, `cut-stream` (connection dropped after `afterEvents` frames),
 * `malformed-sse` (here: a frame with a corrupt CRC after `afterEvents` good frames). The server
 * answers a queued `status` fault in OpenAI's error shape before any route runs, so a Bedrock
 * error (its type in `x-amzn-errortype`) is queued as a canned answer: {@link bedrockError}.
 */
import type { ServerResponse } from 'node:http';
import { crc32 } from 'node:zlib';
import { isRecord } from '../internal/values.ts';
import { ANSWER_WORDS, answerTokens, cutResponse, nextId, promptTokens, sendJson } from './server.ts';
import type { CannedResponse, RouteContext, StandinFault, StandinRoute } from './server.ts';

type Body = Record<string, unknown>;

/** The Bedrock Runtime routes. */
export function bedrockRoutes(): StandinRoute[] {
  const cache = new Set<string>();
  const route = (suffix: string, handle: (ctx: RouteContext, modelId: string, cache: Set<string>) => Promise<void> | void): StandinRoute => ({
    method: 'POST',
    path: (p) => p.startsWith('/model/') && p.endsWith(`/${suffix}`),
    handle: (ctx) => handle(ctx, decodeURIComponent(ctx.request.path.slice('/model/'.length, -(suffix.length + 1))), cache),
  });
  return [route('converse', converse), route('converse-stream', converseStream), route('invoke', invoke), route('invoke-with-response-stream', invokeStream)];
}

function bodyOf(ctx: RouteContext): Body | undefined {
  const b = ctx.request.body;
  if (isRecord(b)) return b;
  sendBedrockError(ctx.res, 400, 'ValidationException', 'stand-in: the request body must be a JSON object');
  return undefined;
}

/** A Bedrock error as the service sends it: the type in `x-amzn-errortype`, `message` in the body. */
export function sendBedrockError(res: ServerResponse, status: number, type: string, message: string): void {
  sendJson(res, status, { message }, { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/` });
}

/**
 * A Bedrock error answer to queue with `server.setNextResponse`: `ValidationException` (400),
 * `AccessDeniedException` (403), `ThrottlingException` (429), `InternalServerException` (5xx).
 */
export function bedrockError(status: number, message = `stand-in injected HTTP ${status}`): CannedResponse {
  const type =
    status === 429 ? 'ThrottlingException' : status === 403 ? 'AccessDeniedException' : status >= 500 ? 'InternalServerException' : 'ValidationException';
  return {
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/` },
    body: JSON.stringify({ message }),
  };
}

interface Planned {
  /** Input tokens NOT read from or written to the cache (Bedrock's `inputTokens`). */
  readonly input: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
  readonly words: string[];
  readonly stopReason: 'end_turn' | 'max_tokens';
}

/** Text of the request before the first cache point, and all of it; message count. */
function scan(blocks: unknown, out: { text: string[]; cached: string | undefined }): void {
  if (typeof blocks === 'string') {
    out.text.push(blocks);
    return;
  }
  if (!Array.isArray(blocks)) return;
  for (const block of blocks) {
    if (typeof block !== 'object' || block === null) continue;
    const b = block as Body;
    if (typeof b['text'] === 'string') out.text.push(b['text']);
    if (b['cachePoint'] !== undefined || b['cache_control'] !== undefined) out.cached ??= out.text.join('\n');
    if (Array.isArray(b['content']) || typeof b['content'] === 'string') scan(b['content'], out);
  }
}

function plan(body: Body, cache: Set<string>, cap: unknown): Planned {
  const out = { text: [] as string[], cached: undefined as string | undefined };
  scan(body['system'], out);
  const messages = Array.isArray(body['messages']) ? body['messages'] : [];
  scan(messages, out);
  const total = promptTokens(out.text.join('\n'), messages.length);
  let cacheRead = 0;
  let cacheWrite = 0;
  if (out.cached !== undefined) {
    const tokens = Math.min(total, Math.ceil(out.cached.length / 4));
    if (cache.has(out.cached)) cacheRead = tokens;
    else {
      cache.add(out.cached);
      cacheWrite = tokens;
    }
  }
  const limit = typeof cap === 'number' && cap >= 0 ? cap : Infinity;
  const n = Math.min(ANSWER_WORDS.length, limit);
  return { input: total - cacheRead - cacheWrite, cacheRead, cacheWrite, words: answerTokens(n), stopReason: n < ANSWER_WORDS.length ? 'max_tokens' : 'end_turn' };
}

function converseUsage(p: Planned): Body {
  return {
    inputTokens: p.input,
    outputTokens: p.words.length,
    totalTokens: p.input + p.cacheRead + p.cacheWrite + p.words.length,
    ...(p.cacheRead > 0 || p.cacheWrite > 0 ? { cacheReadInputTokens: p.cacheRead, cacheWriteInputTokens: p.cacheWrite } : {}),
  };
}

function inferenceCap(body: Body): unknown {
  const config = body['inferenceConfig'];
  return typeof config === 'object' && config !== null ? (config as Body)['maxTokens'] : undefined;
}

function converse(ctx: RouteContext, _modelId: string, cache: Set<string>): void {
  const body = bodyOf(ctx);
  if (body === undefined) return;
  const p = plan(body, cache, inferenceCap(body));
  const answer: Body = {
    output: { message: { role: 'assistant', content: [{ text: p.words.join('') }] } },
    stopReason: p.stopReason,
    metrics: { latencyMs: 12 },
  };
  if (ctx.fault?.kind !== 'no-usage') answer['usage'] = converseUsage(p);
  sendJson(ctx.res, 200, answer);
}

async function converseStream(ctx: RouteContext, _modelId: string, cache: Set<string>): Promise<void> {
  const body = bodyOf(ctx);
  if (body === undefined) return;
  const p = plan(body, cache, inferenceCap(body));
  const events: [string, Body][] = [['messageStart', { role: 'assistant' }]];
  for (const word of p.words) events.push(['contentBlockDelta', { contentBlockIndex: 0, delta: { text: word } }]);
  events.push(['contentBlockStop', { contentBlockIndex: 0 }], ['messageStop', { stopReason: p.stopReason }]);
  events.push(['metadata', { ...(ctx.fault?.kind === 'no-usage' ? {} : { usage: converseUsage(p) }), metrics: { latencyMs: 12 } }]);
  await sendFrames(ctx.res, events, ctx.fault);
}

// ---------------------------------------------------------------------------
// InvokeModel with Anthropic Messages bodies

function anthropicUsage(p: Planned, output: number): Body {
  return { input_tokens: p.input, cache_creation_input_tokens: p.cacheWrite, cache_read_input_tokens: p.cacheRead, output_tokens: output };
}

function invoke(ctx: RouteContext, modelId: string, cache: Set<string>): void {
  const body = bodyOf(ctx);
  if (body === undefined) return;
  const p = plan(body, cache, body['max_tokens']);
  const answer: Body = {
    id: nextId('msg_bdrk'),
    type: 'message',
    role: 'assistant',
    model: modelId,
    content: [{ type: 'text', text: p.words.join('') }],
    stop_reason: p.stopReason,
    stop_sequence: null,
  };
  if (ctx.fault?.kind !== 'no-usage') answer['usage'] = anthropicUsage(p, p.words.length);
  sendJson(ctx.res, 200, answer);
}

async function invokeStream(ctx: RouteContext, modelId: string, cache: Set<string>): Promise<void> {
  const body = bodyOf(ctx);
  if (body === undefined) return;
  const p = plan(body, cache, body['max_tokens']);
  const noUsage = ctx.fault?.kind === 'no-usage';
  const id = nextId('msg_bdrk');
  const parts: Body[] = [
    { type: 'message_start', message: { id, type: 'message', role: 'assistant', model: modelId, content: [], stop_reason: null, ...(noUsage ? {} : { usage: anthropicUsage(p, 1) }) } },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  ];
  for (const word of p.words) parts.push({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: word } });
  parts.push({ type: 'content_block_stop', index: 0 }, { type: 'message_delta', delta: { stop_reason: p.stopReason, stop_sequence: null }, ...(noUsage ? {} : { usage: { output_tokens: p.words.length } }) });
  parts.push({
    type: 'message_stop',
    ...(noUsage
      ? {}
      : {
          'amazon-bedrock-invocationMetrics': {
            inputTokenCount: p.input,
            outputTokenCount: p.words.length,
            invocationLatency: 12,
            firstByteLatency: 5,
            cacheReadInputTokenCount: p.cacheRead,
            cacheWriteInputTokenCount: p.cacheWrite,
          },
        }),
  });
  await sendFrames(
    ctx.res,
    parts.map((part): [string, Body] => ['chunk', { bytes: Buffer.from(JSON.stringify(part)).toString('base64') }]),
    ctx.fault,
  );
}

// ---------------------------------------------------------------------------
// Framing and faults

/**
 * One event-stream frame for the member `eventType` with a JSON payload. The framing (AWS
 * "event stream encoding", the one the SDK's `@smithy/eventstream-codec` decodes), big-endian:
 * - prelude: total frame length (uint32), headers length (uint32), CRC32 of those 8 bytes (uint32);
 * - headers, each: name length (uint8), name (UTF-8), value type (uint8; 7 = string), value length
 *   (uint16), value (UTF-8);
 * - the payload;
 * - the message CRC: CRC32 of every byte before it (uint32).
 */
export function eventFrame(eventType: string, payload: unknown): Uint8Array {
  const headers = Buffer.concat(
    [
      [':message-type', 'event'],
      [':event-type', eventType],
      [':content-type', 'application/json'],
    ].map(([name, value]) => stringHeader(name as string, value as string)),
  );
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  const total = 12 + headers.length + body.length + 4;
  const frame = Buffer.alloc(total);
  frame.writeUInt32BE(total, 0);
  frame.writeUInt32BE(headers.length, 4);
  frame.writeUInt32BE(crc32(frame.subarray(0, 8)), 8);
  headers.copy(frame, 12);
  body.copy(frame, 12 + headers.length);
  frame.writeUInt32BE(crc32(frame.subarray(0, total - 4)), total - 4);
  return new Uint8Array(frame.buffer, frame.byteOffset, frame.length);
}

/** One string-typed header (value type 7). */
function stringHeader(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const v = Buffer.from(value, 'utf8');
  const out = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
  out.writeUInt8(n.length, 0);
  n.copy(out, 1);
  out.writeUInt8(7, 1 + n.length);
  out.writeUInt16BE(v.length, 2 + n.length);
  v.copy(out, 4 + n.length);
  return out;
}

async function sendFrames(res: ServerResponse, events: readonly [string, Body][], fault: StandinFault | undefined): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': nextId('bdrk-req') });
  const cutAt = fault?.kind === 'cut-stream' || fault?.kind === 'malformed-sse' ? (fault.afterEvents ?? 1) : Infinity;
  let sent = 0;
  for (const [type, payload] of events) {
    if (sent >= cutAt) break;
    await write(res, eventFrame(type, payload));
    sent++;
  }
  if (fault?.kind === 'cut-stream') {
    await new Promise((resolve) => setImmediate(resolve));
    cutResponse(res);
    return;
  }
  if (fault?.kind === 'malformed-sse') {
    // A well-sized frame whose message CRC (its last 4 bytes) is wrong.
    const frame = Buffer.from(eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'x' } }));
    frame.writeUInt32BE((frame.readUInt32BE(frame.length - 4) ^ 0xffffffff) >>> 0, frame.length - 4);
    await write(res, frame);
  }
  res.end();
}

function write(res: ServerResponse, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    if (res.write(chunk)) resolve();
    else res.once('drain', () => resolve());
  });
}
