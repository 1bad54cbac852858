/**
 * A local HTTP server standing in for the LLM providers: no machine here reaches a real one,
 * so tests and the demo point the real SDK clients at this server. It speaks each provider's
 * wire format through pluggable routes (`openaiRoutes()` in ./openai.ts, `anthropicRoutes()`
 * in ./anthropic.ts), answers with usage that depends deterministically on the request, records
 * every request it receives, and injects faults on demand.
 *
 * Usage: `const s = await startStandinServer({ routes: openaiRoutes() }); new OpenAI({ baseURL: `${s.url}/v1` })`.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as http2Constants, createServer as createHttp2Server } from 'node:http2';
import type { Http2ServerResponse, Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';

/** One request as the provider received it. */
export interface RecordedRequest {
  readonly method: string;
  /** Path without the query string, e.g. `/v1/chat/completions`. */
  readonly path: string;
  readonly query: string;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed JSON body, or the raw text when it is not JSON, or undefined when empty. */
  readonly body: unknown;
  /** `1.1`, or `2.0` on a server started with `http2`. */
  readonly httpVersion: string;
}

/**
 * A fault to inject into the next matching request(s):
 * - `status`: answer with an HTTP error (`retryAfterSeconds` sets `retry-after`).
 * - `malformed-sse`: a stream whose data line after `afterEvents` good events is not JSON.
 * - `no-usage`: a well-formed answer without any usage (JSON and SSE).
 * - `cut-stream`: the connection is destroyed after `afterEvents` events, no terminator.
 */
export type StandinFault =
  | { readonly kind: 'status'; readonly status: number; readonly retryAfterSeconds?: number; readonly message?: string }
  | { readonly kind: 'malformed-sse'; readonly afterEvents?: number }
  | { readonly kind: 'no-usage' }
  | { readonly kind: 'cut-stream'; readonly afterEvents?: number };

/** A canned answer served verbatim (used to replay recorded provider payloads). */
export interface CannedResponse {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A string or Buffer is sent as is; an array is sent as successive writes (SSE chunks). */
  readonly body: string | Buffer | readonly string[];
}

/** Mutable state routes share across requests of one server (e.g. the prompt cache). */
export interface StandinState {
  /** Prompts seen so far, most recent last (capped), for deterministic cached-token counts. */
  readonly prompts: string[];
}

/** What a route handler gets. */
export interface RouteContext {
  readonly request: RecordedRequest;
  readonly res: ServerResponse;
  /** The fault to inject into this request, if one was queued. */
  readonly fault: StandinFault | undefined;
  readonly state: StandinState;
}

/** A pluggable route: a provider module exports a list of these. */
export interface StandinRoute {
  readonly method: string;
  /** Exact path, a RegExp tested against the path, or a predicate. */
  readonly path: string | RegExp | ((path: string) => boolean);
  handle(ctx: RouteContext): void | Promise<void>;
}

/** Options of {@link startStandinServer}. */
export interface StandinOptions {
  /** The routes to serve, e.g. `[...openaiRoutes(), ...anthropicRoutes()]`. @default [] */
  readonly routes?: readonly StandinRoute[];
  /** Port on 127.0.0.1. @default 0 (a random free port) */
  readonly port?: number;
  /** Most requests kept in `requests` (oldest dropped). @default 10000 */
  readonly maxRecordedRequests?: number;
  /**
   * Speak HTTP/2 without TLS (h2c, prior knowledge: an HTTP/1.1 client is refused), as clients
   * whose default handler is HTTP/2 (the AWS SDK's) connect to an `http://` endpoint. Routes get
   * node:http2's compatibility request and response, which behave as node:http's here.
   * @default false
   */
  readonly http2?: boolean;
}

/** A running stand-in server. */
export interface StandinServer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Injects `fault` into the next `times` requests whose path matches `pathIncludes` (any path when omitted). */
  injectFault(fault: StandinFault, options?: { times?: number; pathIncludes?: string }): void;
  /** Serves `response` verbatim for the next request (queued, first in first out). */
  setNextResponse(response: CannedResponse): void;
  /** Clears recorded requests, queued faults and canned responses, and the prompt cache. */
  reset(): void;
  /** Stops the server and drops open connections. */
  close(): Promise<void>;
}

interface QueuedFault {
  readonly fault: StandinFault;
  remaining: number;
  readonly pathIncludes: string | undefined;
}

const MAX_PROMPTS = 256;

/** Starts a stand-in server on 127.0.0.1. */
export async function startStandinServer(options: StandinOptions = {}): Promise<StandinServer> {
  const routes = [...(options.routes ?? [])];
  const maxRecorded = options.maxRecordedRequests ?? 10_000;
  const requests: RecordedRequest[] = [];
  const faults: QueuedFault[] = [];
  const canned: CannedResponse[] = [];
  const state: StandinState = { prompts: [] };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: `stand-in failure: ${String(error)}`, type: 'server_error' } });
      else res.destroy();
    });
  };
  const sessions = new Set<Http2Session>();
  const server =
    options.http2 === true
      ? // The compatibility API's request and response have every member the routes use (see `http2`).
        createHttp2Server(listener as unknown as Parameters<typeof createHttp2Server>[0])
      : createServer(listener);
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const [path = '/', query = ''] = (req.url ?? '/').split('?', 2);
    const request: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      query,
      headers: flattenHeaders(req.headers),
      body: parseBody(raw),
      httpVersion: req.httpVersion,
    };
    requests.push(request);
    if (requests.length > maxRecorded) requests.shift();

    const next = canned.shift();
    if (next !== undefined) {
      sendCanned(res, next);
      return;
    }
    const fault = takeFault(path);
    if (fault?.kind === 'status') {
      sendError(res, fault.status, fault.message, fault.retryAfterSeconds);
      return;
    }
    const route = routes.find((r) => r.method === request.method && matches(r.path, path));
    if (route === undefined) {
      sendJson(res, 404, { error: { message: `stand-in: no route for ${request.method} ${path}`, type: 'invalid_request_error' } });
      return;
    }
    await route.handle({ request, res, fault, state });
  }

  function takeFault(path: string): StandinFault | undefined {
    const i = faults.findIndex((f) => f.pathIncludes === undefined || path.includes(f.pathIncludes));
    if (i < 0) return undefined;
    const queued = faults[i];
    if (queued === undefined) return undefined;
    queued.remaining--;
    if (queued.remaining <= 0) faults.splice(i, 1);
    return queued.fault;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    injectFault(fault, opts = {}) {
      faults.push({ fault, remaining: opts.times ?? 1, pathIncludes: opts.pathIncludes });
    },
    setNextResponse(response) {
      canned.push(response);
    },
    reset() {
      requests.length = 0;
      faults.length = 0;
      canned.length = 0;
      state.prompts.length = 0;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
        for (const session of sessions) session.destroy();
      });
    },
  };
}

function matches(pattern: StandinRoute['path'], path: string): boolean {
  if (typeof pattern === 'string') return pattern === path;
  if (pattern instanceof RegExp) return pattern.test(path);
  return pattern(path);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function flattenHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

let requestCounter = 0;

/** A short deterministic-per-process id with a prefix, e.g. `chatcmpl-standin-7`. */
export function nextId(prefix: string): string {
  requestCounter++;
  return `${prefix}-standin-${requestCounter}`;
}

/** Sends a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': `req_standin_${++requestCounter}`,
    ...headers,
  });
  res.end(text);
}

/** Sends a provider-style JSON error (OpenAI and Anthropic SDKs both read `error.message`). */
export function sendError(res: ServerResponse, status: number, message?: string, retryAfterSeconds?: number): void {
  const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  sendJson(
    res,
    status,
    { type: 'error', error: { message: message ?? `stand-in injected HTTP ${status}`, type, code: null } },
    retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
  );
}

/** One server-sent event: `event:` line (optional) and its `data:` payload (an object is JSON-encoded). */
export interface SseEvent {
  readonly event?: string;
  readonly data: unknown;
}

/**
 * Drops a response mid-body, as a failing provider or proxy does: over HTTP/1.1 the connection is
 * destroyed; over HTTP/2 the stream is reset with INTERNAL_ERROR (a plain destroy of an HTTP/2
 * stream resets it with NO_ERROR, which a client reads as a clean end of the body).
 */
export function cutResponse(res: ServerResponse): void {
  const stream = (res as unknown as Partial<Http2ServerResponse>).stream;
  if (stream !== undefined) stream.close(http2Constants.NGHTTP2_INTERNAL_ERROR);
  else res.destroy();
}

/**
 * Sends events as an SSE stream, applying a `malformed-sse` or `cut-stream` fault. `done`
 * appends OpenAI's `data: [DONE]` terminator.
 */
export async function sendSse(res: ServerResponse, events: readonly SseEvent[], fault: StandinFault | undefined, done: boolean): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': `req_standin_${++requestCounter}` });
  const cutAt = fault?.kind === 'cut-stream' ? (fault.afterEvents ?? 1) : fault?.kind === 'malformed-sse' ? (fault.afterEvents ?? 1) : Infinity;
  let sent = 0;
  for (const ev of events) {
    if (sent >= cutAt) break;
    await write(res, formatEvent(ev));
    sent++;
  }
  if (fault?.kind === 'cut-stream') {
    // Let the written events reach the client, then drop the connection without a terminator.
    await new Promise((resolve) => setImmediate(resolve));
    cutResponse(res);
    return;
  }
  if (fault?.kind === 'malformed-sse') {
    await write(res, 'data: {"id":"broken","choices":[{"delta":{"content":"x"}\n\n');
  }
  if (done) await write(res, 'data: [DONE]\n\n');
  res.end();
}

function formatEvent(ev: SseEvent): string {
  const data = typeof ev.data === 'string' ? ev.data : JSON.stringify(ev.data);
  return ev.event === undefined ? `data: ${data}\n\n` : `event: ${ev.event}\ndata: ${data}\n\n`;
}

function write(res: ServerResponse, chunk: string): Promise<void> {
  return new Promise((resolve) => {
    if (res.write(chunk)) resolve();
    else res.once('drain', () => resolve());
  });
}

function sendCanned(res: ServerResponse, canned: CannedResponse): void {
  res.writeHead(canned.status ?? 200, { 'x-request-id': `req_standin_${++requestCounter}`, ...canned.headers });
  if (typeof canned.body === 'string' || Buffer.isBuffer(canned.body)) {
    res.end(canned.body);
    return;
  }
  for (const chunk of canned.body) res.write(chunk);
  res.end();
}

// ---------------------------------------------------------------------------
// Deterministic usage

/**
 * Input tokens of a prompt text: one token per 4 characters, rounded up, plus 3 per message.
 * Not a real tokenizer: stable and request-dependent, which is what tests and the demo need.
 */
export function promptTokens(text: string, messages: number): number {
  return Math.ceil(text.length / 4) + 3 * messages;
}

/**
 * Cached input tokens, as OpenAI reports them: a prompt whose first 1024+ tokens repeat a
 * prompt seen before reads the longest shared prefix from the cache, in 128-token steps
 * (OpenAI's prompt-caching rule). Records `text` for later requests.
 */
export function cachedPrefixTokens(state: StandinState, text: string): number {
  let best = 0;
  for (const seen of state.prompts) {
    const shared = sharedPrefixLength(seen, text);
    if (shared > best) best = shared;
  }
  state.prompts.push(text);
  if (state.prompts.length > MAX_PROMPTS) state.prompts.shift();
  const tokens = Math.floor(best / 4);
  return tokens >= 1024 ? Math.floor(tokens / 128) * 128 : 0;
}

function sharedPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** The words of the stand-in's answers; each counts as one output token. */
export const ANSWER_WORDS: readonly string[] = ['The', ' stand-in', ' provider', ' answers', ' deterministically', ' so', ' tests', ' can', ' assert', ' exact', ' token', ' counts', '.'];

/** An answer of `n` tokens (the words cycle). */
export function answerTokens(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(ANSWER_WORDS[i % ANSWER_WORDS.length] ?? '');
  return out;
}
