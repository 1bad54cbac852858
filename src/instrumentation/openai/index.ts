/**
 * Priced GenAI spans for the official `openai` SDK (majors 4 to 7): Chat Completions (plain,
 * stream, and the `parse` / `stream` / `runTools` helpers, which all go through `create`),
 * Responses (plain and stream, `parse` / `stream` helpers) and Embeddings.
 *
 * Patch points, the same in every supported major: `Chat.Completions.prototype.create`,
 * `Responses.prototype.create`, `Embeddings.prototype.create` (start the span, return the SDK's
 * own APIPromise with its result watched) and `OpenAI.prototype.prepareOptions` (the SDK awaits
 * it before building each request and on each retry: the budget gate runs there).
 *
 * `OpenAI.prototype.request` is patched too, so the gate holds when another instrumentation
 * enabled later displaced the `create` wrappers (the official `@opentelemetry/instrumentation-openai`
 * unwraps them): such requests (POST `/chat/completions`, `/responses`, `/embeddings`, and the
 * legacy `/completions`, which has no `create` wrapper) are tracked from `request` and
 * `prepareOptions` instead (stainless/hooks.ts, "Displaced create").
 */
import type { Usage } from '../../pricing/types.ts';
import { collectText, count, isRecord, perClient, protoOf, serverOf, str } from '../core/index.ts';
import type { CallSpec, CallTracker, SdkInstrumentationConfig, SdkModule, TrackedCall } from '../core/index.ts';
import { isSdkStream, readRawResponse, StainlessInstrumentation, wrapStreamIterator } from '../stainless/index.ts';
import type { BeginCreate, DisplacedRoutes, ResultHandlers } from '../stainless/index.ts';
import { providerOfHost } from './hosts.ts';
import type { HostProvider } from './hosts.ts';

/** The `openai` majors tollgate patches. */
export const SUPPORTED_OPENAI_VERSIONS = '>=4 <8';
const INSTRUMENTATION_NAME = 'tollgate-instrumentation-openai';
const INSTRUMENTATION_VERSION = '0.1.0';

/** Options of {@link OpenAIInstrumentation}. */
export type OpenAIInstrumentationConfig = SdkInstrumentationConfig;

type Body = Record<string, unknown>;
/** `completions` (the legacy API) is only tracked on the displaced path: it has no `create` wrapper. */
type Operation = 'chat' | 'responses' | 'embeddings' | 'completions';

/** Makes every call of the `openai` SDK a priced GenAI span, with the budget gate before sending. */
export class OpenAIInstrumentation extends StainlessInstrumentation<OpenAIInstrumentationConfig> {
  constructor(config: OpenAIInstrumentationConfig = {}) {
    super(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION, config);
  }

  protected sdk(): SdkModule {
    return { name: 'openai', supported: SUPPORTED_OPENAI_VERSIONS, unsupported: '<4 || >=8', shape: 'OpenAI.Chat.Completions, prepareOptions' };
  }

  protected patch(exports: unknown, name: string, version: string | undefined): unknown {
    return this.patchTarget(exports, name, version, targetsOf(exports), (targets) => {
      this.wrapClient(targets.client);
      this.wrapCreate(targets.chat, 'openai create', this.beginCreate('chat'));
      if (targets.responses !== undefined) this.wrapCreate(targets.responses, 'openai create', this.beginCreate('responses'));
      if (targets.embeddings !== undefined) this.wrapCreate(targets.embeddings, 'openai create', this.beginCreate('embeddings'));
    });
  }

  protected unpatch(exports: unknown): void {
    const targets = targetsOf(exports);
    if (targets === undefined) return;
    this.unwrapClient(targets.client);
    this._unwrap(targets.chat, 'create');
    if (targets.responses !== undefined) this._unwrap(targets.responses, 'create');
    if (targets.embeddings !== undefined) this._unwrap(targets.embeddings, 'create');
  }

  /** Requests that reach the client without the `create` wrapper (displaced by another instrumentation). */
  protected displacedRoutes(): DisplacedRoutes {
    const tracker = (): CallTracker => this.tracker;
    return {
      matches: (options) => options['method'] === 'post' && operationOfPath(options['path']) !== undefined,
      begin(options, client, parent) {
        const op = operationOfPath(options['path']);
        const body = options['body'];
        if (op === undefined || !isRecord(body)) return undefined;
        let hideUsageChunk = false;
        if ((op === 'chat' || op === 'completions') && body['stream'] === true && body['stream_options'] === undefined) {
          // As in `create`: ask for usage, hide the usage-only chunk.
          options['body'] = { ...body, stream_options: { include_usage: true } };
          hideUsageChunk = true;
        }
        const call = tracker().start(specOf(op, body, client), parent);
        if (call.capture !== 'NO_CONTENT') call.recordContent('input', inputMessages(op, body));
        return { call, handlers: handlersFor(op, call, body, hideUsageChunk) };
      },
    };
  }

  /** Starts a `create` call of operation `op` (see {@link trackedCreate} in stainless/client.ts). */
  private beginCreate(op: Operation): BeginCreate {
    const tracker = (): CallTracker => this.tracker;
    return (body, client, parent) => {
      let sendBody: Body | undefined;
      let hideUsageChunk = false;
      if (op === 'chat' && body['stream'] === true && body['stream_options'] === undefined) {
        // Ask for usage, and hide the extra usage-only chunk from the caller (who did not ask for it).
        sendBody = { ...body, stream_options: { include_usage: true } };
        hideUsageChunk = true;
      }
      const call = tracker().start(specOf(op, body, client), parent);
      if (call.capture !== 'NO_CONTENT') call.recordContent('input', inputMessages(op, body));
      return { call, handlers: handlersFor(op, call, body, hideUsageChunk), sendBody };
    };
  }
}

// ---------------------------------------------------------------------------
// Module shape

interface Targets {
  client: Record<string, unknown>;
  chat: Record<string, unknown>;
  responses: Record<string, unknown> | undefined;
  embeddings: Record<string, unknown> | undefined;
}

function targetsOf(exports: unknown): Targets | undefined {
  const mod = exports as Record<string, unknown> | undefined;
  const OpenAI = (mod?.['OpenAI'] ?? mod?.['default'] ?? mod) as Record<string, unknown> | undefined;
  if (OpenAI === undefined) return undefined;
  const client = protoOf(OpenAI);
  const chat = protoOf((OpenAI['Chat'] as Record<string, unknown> | undefined)?.['Completions']);
  if (client === undefined || chat === undefined || typeof client['prepareOptions'] !== 'function') return undefined;
  return { client, chat, responses: protoOf(OpenAI['Responses']), embeddings: protoOf(OpenAI['Embeddings']) };
}

// ---------------------------------------------------------------------------
// Request side

interface ClientInfo extends HostProvider {
  address: string | undefined;
  port: number | undefined;
}
const clientInfo = perClient<ClientInfo>(
  (client) => {
    const server = serverOf((client as { baseURL?: unknown }).baseURL);
    return { ...providerOfHost(server?.address.toLowerCase(), client.constructor.name === 'AzureOpenAI'), address: server?.address, port: server?.port };
  },
  { ...providerOfHost(undefined, false), address: undefined, port: undefined },
);

/** The operation of an inference request path (as the SDK passes it to `request`), else undefined. */
function operationOfPath(path: unknown): Operation | undefined {
  switch (path) {
    case '/chat/completions':
      return 'chat';
    case '/responses':
      return 'responses';
    case '/embeddings':
      return 'embeddings';
    case '/completions':
      return 'completions';
    default:
      return undefined;
  }
}

const OPERATION_NAMES: Readonly<Record<Operation, string>> = { chat: 'chat', responses: 'chat', embeddings: 'embeddings', completions: 'text_completion' };

function specOf(op: Operation, body: Body, client: unknown): CallSpec {
  const info = clientInfo(client);
  const model = typeof body['model'] === 'string' ? body['model'] : '';
  let maxTokens: number | undefined;
  let maxTokensField: string | undefined;
  if (op === 'chat') {
    maxTokensField = 'max_completion_tokens' in body ? 'max_completion_tokens' : 'max_tokens' in body ? 'max_tokens' : 'max_completion_tokens';
    maxTokens = count(body[maxTokensField]);
  } else if (op === 'responses') {
    maxTokensField = 'max_output_tokens';
    maxTokens = count(body['max_output_tokens']);
  } else if (op === 'completions') {
    maxTokensField = 'max_tokens';
    maxTokens = count(body['max_tokens']);
  }
  return {
    provider: info.provider,
    pricingProvider: info.pricingProvider,
    pricing: info.pricing,
    operation: OPERATION_NAMES[op],
    model,
    maxTokens,
    maxTokensField,
    stream: body['stream'] === true,
    body,
    serviceTier: typeof body['service_tier'] === 'string' ? body['service_tier'] : undefined,
    serverAddress: info.address,
    serverPort: info.port,
  };
}

function requestText(op: Operation, body: Body): string {
  const parts =
    op === 'chat'
      ? collectText(body['messages'])
      : op === 'responses'
        ? collectText({ instructions: body['instructions'], input: body['input'] })
        : op === 'completions'
          ? collectText({ prompt: body['prompt'] })
          : collectText({ input: body['input'] });
  return parts.join('\n');
}

function textPart(content: unknown): unknown[] {
  if (typeof content === 'string') return [{ type: 'text', content }];
  if (Array.isArray(content)) {
    return content.map((p: unknown) =>
      isRecord(p) && typeof p['text'] === 'string' ? { type: 'text', content: p['text'] } : { type: isRecord(p) ? String(p['type']) : 'unknown' },
    );
  }
  return [];
}

function inputMessages(op: Operation, body: Body): unknown {
  if (op === 'chat' && Array.isArray(body['messages'])) {
    return body['messages'].map((m: unknown) => (isRecord(m) ? { role: m['role'], parts: textPart(m['content']) } : m));
  }
  if (op === 'responses') {
    const input = body['input'];
    if (typeof input === 'string') return [{ role: 'user', parts: textPart(input) }];
    if (Array.isArray(input)) return input.map((m: unknown) => (isRecord(m) ? { role: m['role'] ?? 'user', parts: textPart(m['content']) } : m));
  }
  if (op === 'completions' && typeof body['prompt'] === 'string') return [{ role: 'user', parts: textPart(body['prompt']) }];
  return [];
}

// ---------------------------------------------------------------------------
// Usage mapping

function details(u: Body, key: string, field: string): number | undefined {
  const d = u[key];
  return isRecord(d) ? count(d[field]) : undefined;
}

function usage(inputTokens: number | undefined, outputTokens: number | undefined, cacheRead: number | undefined, reasoning: number | undefined, usageBody: Body, response: unknown): Usage {
  // Built in place (no spread of temporary objects): this runs once per call and per usage chunk.
  const u: { inputTokens: number; outputTokens: number; cacheReadTokens?: number; reasoningTokens?: number; costUsd?: number; serviceTier?: string } = {
    inputTokens: inputTokens ?? 0,
    outputTokens: outputTokens ?? 0,
  };
  if (cacheRead !== undefined) u.cacheReadTokens = cacheRead;
  if (reasoning !== undefined) u.reasoningTokens = reasoning;
  // Gateways that bill the call report its cost in USD next to the tokens (OpenRouter's `usage.cost`).
  const cost = usageBody['cost'];
  if (typeof cost === 'number' && cost >= 0 && Number.isFinite(cost)) u.costUsd = cost;
  // The tier that served the call (`flex`, `priority`, `default`) is billed at its own rates.
  const tier = isRecord(response) ? response['service_tier'] : undefined;
  if (typeof tier === 'string' && tier !== '') u.serviceTier = tier;
  return u;
}

/**
 * Chat Completions / Embeddings usage: `prompt_tokens` already includes cached tokens, `completion_tokens` reasoning.
 * `response` (the body or chunk carrying `u`) gives the service tier that served the call.
 */
export function chatUsage(u: unknown, response?: unknown): Usage | undefined {
  if (!isRecord(u)) return undefined;
  const input = count(u['prompt_tokens']);
  const output = count(u['completion_tokens']);
  if (input === undefined && output === undefined) return undefined;
  return usage(input, output, details(u, 'prompt_tokens_details', 'cached_tokens'), details(u, 'completion_tokens_details', 'reasoning_tokens'), u, response);
}

/** Responses API usage: `input_tokens` includes cached tokens, `output_tokens` reasoning. */
export function responsesUsage(u: unknown, response?: unknown): Usage | undefined {
  if (!isRecord(u)) return undefined;
  const input = count(u['input_tokens']);
  const output = count(u['output_tokens']);
  if (input === undefined && output === undefined) return undefined;
  return usage(input, output, details(u, 'input_tokens_details', 'cached_tokens'), details(u, 'output_tokens_details', 'reasoning_tokens'), u, response);
}

function finishOfResponse(r: Body): string[] | undefined {
  const status = r['status'];
  if (status === 'completed') return ['stop'];
  if (status === 'incomplete') {
    const reason = isRecord(r['incomplete_details']) ? r['incomplete_details']['reason'] : undefined;
    return [reason === 'max_output_tokens' ? 'length' : typeof reason === 'string' ? reason : 'incomplete'];
  }
  if (status === 'failed') return ['error'];
  return undefined;
}

// ---------------------------------------------------------------------------
// Response side

function handlersFor(op: Operation, call: TrackedCall, body: Body, hideUsageChunk: boolean): ResultHandlers {
  return new OpenAIResult(op, call, body, hideUsageChunk);
}

/** How one call's result is read. A class rather than closures: one object per call. */
class OpenAIResult implements ResultHandlers {
  private readonly op: Operation;
  private readonly call: TrackedCall;
  private readonly body: Body;
  private readonly hideUsageChunk: boolean;

  constructor(op: Operation, call: TrackedCall, body: Body, hideUsageChunk: boolean) {
    this.op = op;
    this.call = call;
    this.body = body;
    this.hideUsageChunk = hideUsageChunk;
  }

  onResult(result: unknown): void {
    const { op, call, body } = this;
    if (isSdkStream(result)) {
      if (op === 'chat' || op === 'completions') wrapStreamIterator(result, chatStreamObserver(op, call, body, this.hideUsageChunk));
      else if (op === 'responses') wrapStreamIterator(result, responsesStreamObserver(call, body));
      else call.end(undefined);
      return;
    }
    finishFromBody(op, call, body, result);
  }

  onRawResponse(response: unknown): void {
    const { op, call, body } = this;
    readRawResponse(
      response,
      body['stream'] === true,
      (json) => finishFromBody(op, call, body, json),
      () => void call.endEstimated({ inputText: requestText(op, body), outputTokens: 0 }),
    );
  }
}

function finishFromBody(op: Operation, call: TrackedCall, body: Body, result: unknown): void {
  if (!isRecord(result)) {
    call.end(undefined);
    return;
  }
  if (op === 'chat') {
    const choices = Array.isArray(result['choices']) ? (result['choices'] as unknown[]) : [];
    const finish: string[] = [];
    for (const c of choices) if (isRecord(c) && typeof c['finish_reason'] === 'string') finish.push(c['finish_reason']);
    call.setResponse({ id: str(result['id']), model: str(result['model']), finishReasons: finish });
    if (call.capture !== 'NO_CONTENT') {
      call.recordContent(
        'output',
        choices.map((c) => (isRecord(c) && isRecord(c['message']) ? { role: 'assistant', parts: textPart(c['message']['content']), finish_reason: c['finish_reason'] } : c)),
      );
    }
    const u = chatUsage(result['usage'], result);
    if (u !== undefined) call.end(u);
    else void call.endEstimated({ inputText: requestText(op, body), outputText: collectText(choices.map((c) => (isRecord(c) ? c['message'] : undefined))).join('') });
    return;
  }
  if (op === 'completions') {
    const choices = Array.isArray(result['choices']) ? (result['choices'] as unknown[]) : [];
    const finish: string[] = [];
    const text: string[] = [];
    for (const c of choices) {
      if (!isRecord(c)) continue;
      if (typeof c['finish_reason'] === 'string') finish.push(c['finish_reason']);
      if (typeof c['text'] === 'string') text.push(c['text']);
    }
    call.setResponse({ id: str(result['id']), model: str(result['model']), finishReasons: finish });
    if (call.capture !== 'NO_CONTENT') call.recordContent('output', [{ role: 'assistant', parts: textPart(text.join('')), finish_reason: finish[0] }]);
    const u = chatUsage(result['usage'], result);
    if (u !== undefined) call.end(u);
    else void call.endEstimated({ inputText: requestText(op, body), outputText: text.join('') });
    return;
  }
  if (op === 'responses') {
    call.setResponse({ id: str(result['id']), model: str(result['model']), finishReasons: finishOfResponse(result) });
    const outputText = collectText(result['output']).join('');
    if (call.capture !== 'NO_CONTENT') call.recordContent('output', [{ role: 'assistant', parts: textPart(outputText) }]);
    const u = responsesUsage(result['usage'], result);
    if (u !== undefined) call.end(u);
    else void call.endEstimated({ inputText: requestText(op, body), outputText });
    return;
  }
  call.setResponse({ model: str(result['model']) });
  const u = chatUsage(result['usage'], result);
  if (u !== undefined) call.end({ ...u, outputTokens: 0 });
  else void call.endEstimated({ inputText: requestText(op, body), outputTokens: 0 });
}

/** Chat Completions chunks (`choices[].delta`), and legacy Completions chunks (`choices[].text`). */
function chatStreamObserver(op: 'chat' | 'completions', call: TrackedCall, body: Body, hideUsageChunk: boolean) {
  let id: string | undefined;
  let model: string | undefined;
  const finish: string[] = [];
  let reported: Usage | undefined;
  const text: string[] = [];
  let chunks = 0;
  const settleResponse = (): void => call.setResponse({ id, model, finishReasons: finish.filter((f) => f !== undefined) });
  const estimate = (error?: unknown): void => {
    settleResponse();
    void call.endEstimated({ inputText: requestText(op, body), outputText: text.join('') }, error);
  };
  return {
    onChunk(chunk: unknown): boolean {
      chunks++;
      if (!isRecord(chunk)) return true;
      if (typeof chunk['id'] === 'string' && chunk['id'] !== '') id = chunk['id'];
      // Azure sends an empty model on its first (content-filter) chunk.
      if (typeof chunk['model'] === 'string' && chunk['model'] !== '') model = chunk['model'];
      const choices = chunk['choices'];
      if (Array.isArray(choices)) {
        for (const c of choices as unknown[]) {
          if (!isRecord(c)) continue;
          const delta = c['delta'];
          if (isRecord(delta)) {
            if (typeof delta['content'] === 'string') text.push(delta['content']);
            if (Array.isArray(delta['tool_calls'])) text.push(...collectText(delta['tool_calls']));
          } else if (typeof c['text'] === 'string') text.push(c['text']);
          if (typeof c['finish_reason'] === 'string') finish[typeof c['index'] === 'number' ? c['index'] : 0] = c['finish_reason'];
        }
      }
      const u = chatUsage(chunk['usage'], chunk);
      if (u !== undefined) reported = u;
      // The usage-only chunk tollgate asked for is hidden whatever its usage holds: a caller that
      // did not ask for it reads choices[0] of every chunk. Other chunks carry `usage: null`.
      const raw = chunk['usage'];
      return !(hideUsageChunk && raw !== undefined && raw !== null && Array.isArray(choices) && choices.length === 0);
    },
    onDone(): void {
      if (reported === undefined) return estimate();
      settleResponse();
      if (call.capture !== 'NO_CONTENT') call.recordContent('output', [{ role: 'assistant', parts: textPart(text.join('')), finish_reason: finish[0] }]);
      call.end(reported);
    },
    onError(error: unknown): void {
      settleResponse();
      if (reported !== undefined) call.fail(error, reported);
      // Tokens were generated (and billed) before the stream broke: estimate them.
      else if (chunks > 0) estimate(error);
      else call.fail(error);
    },
    onBreak(): void {
      if (reported !== undefined) {
        settleResponse();
        call.end(reported);
      } else estimate();
    },
  };
}

function responsesStreamObserver(call: TrackedCall, body: Body) {
  let reported: Usage | undefined;
  const text: string[] = [];
  let events = 0;
  const estimate = (error?: unknown): void => {
    void call.endEstimated({ inputText: requestText('responses', body), outputText: text.join('') }, error);
  };
  return {
    onChunk(event: unknown): boolean {
      events++;
      if (!isRecord(event)) return true;
      const type = event['type'];
      if (type === 'response.output_text.delta' && typeof event['delta'] === 'string') text.push(event['delta']);
      else if (typeof type === 'string' && type.startsWith('response.') && isRecord(event['response'])) {
        const r = event['response'];
        call.setResponse({ id: str(r['id']), model: str(r['model']), finishReasons: finishOfResponse(r) });
        const u = responsesUsage(r['usage'], r);
        if (u !== undefined) reported = u;
      }
      return true;
    },
    onDone(): void {
      if (reported === undefined) return estimate();
      if (call.capture !== 'NO_CONTENT') call.recordContent('output', [{ role: 'assistant', parts: textPart(text.join('')) }]);
      call.end(reported);
    },
    onError(error: unknown): void {
      if (reported !== undefined) call.fail(error, reported);
      else if (events > 0) estimate(error);
      else call.fail(error);
    },
    onBreak(): void {
      if (reported !== undefined) call.end(reported);
      else estimate();
    },
  };
}
