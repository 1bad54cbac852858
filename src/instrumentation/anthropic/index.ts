/**
 * Priced GenAI spans for the official `@anthropic-ai/sdk` (the 0.x line from
 * 0.20, and 1.x): `messages.create` (plain and `stream: true`), the
 * `messages.stream()` helper, and the same two on `beta.messages`.
 * `messages.countTokens` is left untraced (it costs nothing).
 *
 * Patch points, the same in every supported version:
 * - `Anthropic.Messages.prototype.create` (and `Anthropic.Beta.Messages`):
 *   starts the span and returns the SDK's own APIPromise, watched in place
 *   (`.withResponse()`, `.asResponse()`, the returned Stream's `tee()`,
 *   `for await … break` keep working).
 * - `messages.stream()` is NOT given a span of its own: the helper calls
 *   `this.create({ stream: true })` and then `.withResponse()` on what it gets
 *   back, so the patched `create` makes exactly one span per helper call, and
 *   the helper keeps working because `create` still returns the SDK's
 *   APIPromise (a wrapper returning a plain Promise breaks it:
 *   braintrust-sdk-javascript#1592).
 * - `BaseAnthropic.prototype.prepareOptions`: awaited by the SDK before each
 *   request is built (and each retry); the budget gate runs there, so a
 *   blocked call sends nothing and a rewrite changes the body that is sent.
 * - `BaseAnthropic.prototype.request`: a POST `/v1/messages` (plain or beta,
 *   not `count_tokens`) that reaches the client without tollgate's `create`
 *   (another instrumentation enabled later replaced the wrapper) is tracked
 *   from there and `prepareOptions` instead, so the gate still holds
 *   (stainless/hooks.ts, "Displaced create"). Its span is a child of the SDK's own
 *   call span, which the span processor then does not count again.
 *
 * The SDK's own spans (docs/comparison.md, "Traps in the ecosystem"): from 0.134 the SDK starts its own
 * `anthropic.messages.create` CLIENT span, with `gen_ai.operation.name=chat`
 * and usage attributes, as soon as a tracer provider is registered. Next to
 * tollgate's span that counts every call twice in any backend that sums GenAI
 * usage. tollgate's span carries everything the SDK's does that docs/telemetry.md
 * lists, plus cost, so the SDK's span for the calls tollgate traces is switched
 * off: the client's tracer (its `_tracer` field, read by the SDK each time it
 * starts a call span) is wrapped once per client so that `startSpan` for the
 * message-creation span names returns a non-recording span, which the SDK
 * treats as "tracing off" for that call (see its `startApiCallSpan`). The
 * SDK's other spans (files, batches, tool runner, …) are left as they are, and
 * a client built with `openTelemetry: false` is untouched.
 */
import { INVALID_SPAN_CONTEXT, trace } from '@opentelemetry/api';
import type { Context, Span, SpanOptions, Tracer } from '@opentelemetry/api';
import { clientInfoReader, count, isRecord, protoOf, reportFault } from '../core/index.ts';
import type { CallSpec, CallTracker, SdkInstrumentationConfig, SdkModule, TrackedCall } from '../core/index.ts';
import { isSdkStream, readRawResponse, StainlessInstrumentation, wrapStreamIterator } from '../stainless/index.ts';
import type { BeginCreate, DisplacedRoutes, ResultHandlers, StreamObserver } from '../stainless/index.ts';
import { MessageStreamObserver, messageOutputText, requestInputText, summarizeMessage } from './events.ts';
import type { MessageSummary } from './events.ts';

/** The `@anthropic-ai/sdk` versions tollgate patches (tested: 0.137 and 1.14; the patch points hold from 0.20). */
export const SUPPORTED_ANTHROPIC_VERSIONS = '>=0.20.0 <2';
const INSTRUMENTATION_NAME = 'tollgate-instrumentation-anthropic';
const INSTRUMENTATION_VERSION = '0.1.0';

/** Options of {@link AnthropicInstrumentation}. */
export type AnthropicInstrumentationConfig = SdkInstrumentationConfig;

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
type Body = Record<string, unknown>;

/** Makes every Messages call of `@anthropic-ai/sdk` a priced GenAI span, with the budget gate before sending. */
export class AnthropicInstrumentation extends StainlessInstrumentation<AnthropicInstrumentationConfig> {
  constructor(config: AnthropicInstrumentationConfig = {}) {
    super(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION, config);
  }

  protected sdk(): SdkModule {
    return { name: '@anthropic-ai/sdk', supported: SUPPORTED_ANTHROPIC_VERSIONS, unsupported: '<0.20.0 || >=2', shape: 'Anthropic.Messages.prototype.create, prepareOptions' };
  }

  protected patch(exports: unknown, name: string, version: string | undefined): unknown {
    return this.patchTarget(exports, name, version, targetsOf(exports), (targets) => {
      this.wrapClient(targets.client);
      for (const messages of targets.messages) {
        this.wrapCreate(messages, 'anthropic create', this.beginCreate());
        if (typeof messages['stream'] === 'function') this._wrap(messages, 'stream', (original: unknown) => this.wrapStream(original as AnyFunction));
      }
    });
  }

  protected unpatch(exports: unknown): void {
    const targets = targetsOf(exports);
    if (targets === undefined) return;
    this.unwrapClient(targets.client);
    for (const messages of targets.messages) {
      this._unwrap(messages, 'create');
      if (typeof messages['stream'] === 'function') this._unwrap(messages, 'stream');
    }
  }

  /** `messages.stream()`: no span here (its inner `create` makes it); only the SDK's own span is switched off, before the helper starts it. */
  private wrapStream(original: AnyFunction): AnyFunction {
    const enabled = (): boolean => this.isEnabled();
    return function tollgateStream(this: unknown, ...args: unknown[]): unknown {
      try {
        suppressSdkCallSpans((this as { _client?: unknown })._client, enabled);
      } catch (error) {
        reportFault('anthropic stream (suppress SDK span)', error);
      }
      return original.apply(this, args);
    };
  }

  /**
   * Requests that reach the client without the `create` wrapper (displaced by another
   * instrumentation). The SDK's own call span is left alone here: it already started (in
   * `create`), and the tollgate span starts inside it, so the processor counts the call once.
   */
  protected displacedRoutes(): DisplacedRoutes {
    const tracker = (): CallTracker => this.tracker;
    return {
      matches: (options) => options['method'] === 'post' && isMessagesPath(options['path']),
      begin(options, client, parent) {
        const body = options['body'];
        if (!isRecord(body)) return undefined;
        const call = tracker().start(specOf(body, client), parent);
        if (call.capture !== 'NO_CONTENT') call.recordContent('input', inputMessages(body));
        return { call, handlers: handlersFor(call, body) };
      },
    };
  }

  /** Starts a `messages.create` call, with the SDK's own call span switched off for its client. */
  private beginCreate(): BeginCreate {
    const tracker = (): CallTracker => this.tracker;
    const enabled = (): boolean => this.isEnabled();
    return (body, client, parent) => {
      suppressSdkCallSpans(client, enabled);
      const call = tracker().start(specOf(body, client), parent);
      if (call.capture !== 'NO_CONTENT') call.recordContent('input', inputMessages(body));
      return { call, handlers: handlersFor(call, body) };
    };
  }
}

// ---------------------------------------------------------------------------
// Module shape

interface Targets {
  /** The prototype that owns `prepareOptions` (BaseAnthropic's). */
  client: Record<string, unknown>;
  /** `Messages.prototype`, and `Beta.Messages.prototype` when present. */
  messages: Record<string, unknown>[];
}

function targetsOf(exports: unknown): Targets | undefined {
  const mod = exports as Record<string, unknown> | undefined;
  // CJS: module.exports is a function with .Anthropic / .default; ESM: the namespace.
  const Anthropic = (mod?.['Anthropic'] ?? mod?.['default'] ?? mod) as Record<string, unknown> | undefined;
  if (Anthropic === undefined || Anthropic === null) return undefined;
  let client = protoOf(Anthropic);
  // Wrap prepareOptions where it is defined, so every client class built on it shares one wrapper.
  while (client !== undefined && !Object.prototype.hasOwnProperty.call(client, 'prepareOptions')) {
    const parent: unknown = Object.getPrototypeOf(client);
    client = isRecord(parent) && parent !== Object.prototype ? parent : undefined;
  }
  const messages = protoOf(Anthropic['Messages']);
  if (client === undefined || typeof client['prepareOptions'] !== 'function' || messages === undefined || typeof messages['create'] !== 'function') {
    return undefined;
  }
  const beta = protoOf((Anthropic['Beta'] as Record<string, unknown> | undefined)?.['Messages']);
  return { client, messages: beta !== undefined && typeof beta['create'] === 'function' && beta !== messages ? [messages, beta] : [messages] };
}

// ---------------------------------------------------------------------------
// The SDK's own call spans

/** Names of the SDK's call spans that tollgate's span replaces (0.134+ and 1.x, plain and beta Messages). */
const REPLACED_SDK_SPANS: ReadonlySet<string> = new Set(['anthropic.messages.create', 'anthropic.beta.messages.create']);
const kReplacing = Symbol('tollgate.replacingTracer');

/**
 * Wraps a client's tracer, once, so that the SDK's message-creation span is not
 * started while tollgate is enabled (see the file comment). A client without a
 * tracer (SDK < 0.134, or `openTelemetry: false`) is left alone.
 */
function suppressSdkCallSpans(client: unknown, enabled: () => boolean): void {
  if (!isRecord(client)) return;
  const tracer = client['_tracer'];
  if (!isRecord(tracer) || (tracer as Record<PropertyKey, unknown>)[kReplacing] === true || typeof tracer['startSpan'] !== 'function') return;
  client['_tracer'] = replacingTracer(tracer as unknown as Tracer, enabled);
}

function replacingTracer(inner: Tracer, enabled: () => boolean): Tracer {
  const wrapped: Tracer & { [kReplacing]: true } = {
    [kReplacing]: true,
    startSpan(name: string, options?: SpanOptions, ctx?: Context): Span {
      if (REPLACED_SDK_SPANS.has(name) && enabled()) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
      return inner.startSpan(name, options, ctx);
    },
    startActiveSpan: inner.startActiveSpan.bind(inner) as Tracer['startActiveSpan'],
  };
  return wrapped;
}

// ---------------------------------------------------------------------------
// Request side

const clientInfo = clientInfoReader(() => 'anthropic', 'anthropic');

/** POST paths of message creation: `/v1/messages`, and `/v1/messages?beta=true` (0.x beta); not `count_tokens`. */
function isMessagesPath(path: unknown): boolean {
  return path === '/v1/messages' || path === '/v1/messages?beta=true';
}

function specOf(body: Body, client: unknown): CallSpec {
  const info = clientInfo(client);
  return {
    provider: 'anthropic',
    operation: 'chat',
    model: typeof body['model'] === 'string' ? body['model'] : '',
    maxTokens: count(body['max_tokens']),
    maxTokensField: 'max_tokens',
    stream: body['stream'] === true,
    body,
    serverAddress: info.address,
    serverPort: info.port,
  };
}

function textParts(content: unknown): unknown[] {
  if (typeof content === 'string') return [{ type: 'text', content }];
  if (!Array.isArray(content)) return [];
  return content.map((p: unknown) => {
    if (!isRecord(p)) return { type: 'unknown' };
    if (typeof p['text'] === 'string') return { type: 'text', content: p['text'] };
    if (typeof p['thinking'] === 'string') return { type: 'reasoning', content: p['thinking'] };
    if (p['type'] === 'tool_use') return { type: 'tool_call', id: p['id'], name: p['name'], arguments: p['input'] };
    return { type: typeof p['type'] === 'string' ? p['type'] : 'unknown' };
  });
}

function inputMessages(body: Body): unknown[] {
  const out: unknown[] = [];
  const system = body['system'];
  if (system !== undefined) out.push({ role: 'system', parts: textParts(system) });
  if (Array.isArray(body['messages'])) {
    for (const m of body['messages'] as unknown[]) out.push(isRecord(m) ? { role: m['role'], parts: textParts(m['content']) } : m);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Response side

function respond(call: TrackedCall, summary: MessageSummary): void {
  call.setResponse({ id: summary.id, model: summary.model, finishReasons: summary.stopReason === undefined ? undefined : [summary.stopReason] });
}

function handlersFor(call: TrackedCall, body: Body): ResultHandlers {
  return {
    onResult(result: unknown): void {
      if (isSdkStream(result)) {
        wrapStreamIterator(result, streamObserver(call, body));
        return;
      }
      finishFromMessage(call, body, result);
    },
    onRawResponse(response: unknown): void {
      readRawResponse(
        response,
        body['stream'] === true,
        (json) => finishFromMessage(call, body, json),
        () => void call.endEstimated({ inputText: requestInputText(body), outputTokens: 0 }),
      );
    },
  };
}

function finishFromMessage(call: TrackedCall, body: Body, message: unknown): void {
  const summary = summarizeMessage(message);
  respond(call, summary);
  if (call.capture !== 'NO_CONTENT' && isRecord(message)) {
    call.recordContent('output', [{ role: 'assistant', parts: textParts(message['content']), finish_reason: summary.stopReason }]);
  }
  if (summary.usage !== undefined) call.end(summary.usage);
  else void call.endEstimated({ inputText: requestInputText(body), outputText: messageOutputText(message) });
}

/**
 * Settles the span from a stream's events. Usage that came back whole (a
 * `message_delta` with its cumulative usage) is exact, whatever happened next.
 * Otherwise the call is estimated: the input from `message_start` when it
 * came (exact), else counted from the request; the output counted from the
 * text seen. A stream that failed before any event came back has no cost.
 */
function streamObserver(call: TrackedCall, body: Body): StreamObserver<unknown> {
  const observer = new MessageStreamObserver(call.capture !== 'NO_CONTENT');
  let events = 0;
  const settle = (error: unknown, failed: boolean): void => {
    const summary = observer.summary();
    respond(call, summary);
    const usage = summary.usage;
    if (usage !== undefined && !summary.partial) {
      if (call.capture !== 'NO_CONTENT') call.recordContent('output', [{ role: 'assistant', parts: textParts(observer.outputText), finish_reason: summary.stopReason }]);
      if (failed) call.fail(error, usage);
      else call.end(usage);
      return;
    }
    if (failed && events === 0) {
      call.fail(error);
      return;
    }
    const estimate =
      usage !== undefined
        ? { inputTokens: usage.inputTokens, outputText: observer.outputText }
        : { inputText: requestInputText(body), outputText: observer.outputText };
    void call.endEstimated(estimate, failed ? error : undefined);
  };
  return {
    onChunk(event: unknown): boolean {
      events++;
      observer.observe(event);
      return true;
    },
    onDone: () => settle(undefined, false),
    onError: (error: unknown) => settle(error, true),
    onBreak: () => settle(undefined, false),
  };
}
