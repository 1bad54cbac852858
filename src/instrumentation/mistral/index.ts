/**
 * Priced GenAI spans and the budget gate for `@mistralai/mistralai` (v1 and v2, an ESM-only
 * Speakeasy SDK): `chat.complete`, `chat.stream`, `chat.parse`, `chat.parseStream`,
 * `fim.complete`, `fim.stream`, `agents.complete`, `agents.stream` and `embeddings.create`.
 *
 * Hook point: the package entry exports only the `Mistral` client, whose `chat` / `fim` / `agents`
 * / `embeddings` are getters building the sub-SDK objects lazily (the sub-SDK modules are internal
 * files, which the ESM loader hook does not see). So the getters are wrapped: the first object
 * each returns has its class prototype's methods wrapped, once per class. Each wrapped method is
 * one provider request (the SDK's own retries happen inside it: one span, one reservation).
 *
 * The gate runs inside the wrapped method before the original is called: a block rejects with the
 * gate's error, the SDK never builds the request, and its retry policy (`retryConfig`, which
 * retries HTTP statuses and, when asked, connection errors) never sees the refusal. A rewrite calls
 * the original with a copy of the request (`model`, `maxTokens`); the caller's object is untouched.
 * An agent completion names an agent, not a model: its output limit can be clamped, its model not.
 *
 * Provider `mistral_ai`. Usage: see ./wire.ts. Mistral's own spans (the SDK's TracingHook, on when
 * the app registers a tracer provider with it or sets `MISTRAL_SDK_TELEMETRY=global`) start inside
 * this call's span, so the cost processor counts the call once (docs/coverage.md).
 */
import { context } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { Usage } from '../../pricing/types.ts';
import { ClientInstrumentation, collectText, count, isRecord, protoOf, reportFault, serverOf } from '../core/index.ts';
import type { AnyFunction, CallSpec, CallTracker, SdkInstrumentationConfig, SdkModule, TrackedCall } from '../core/index.ts';
import { watchReadableStream } from './stream.ts';
import { choicesText, mistralUsage, setResponseInfo } from './wire.ts';

/** The `@mistralai/mistralai` majors tollgate patches (tested: 2.7). */
export const SUPPORTED_MISTRAL_VERSIONS = '>=1 <3';
const INSTRUMENTATION_NAME = 'tollgate-instrumentation-mistral';
const INSTRUMENTATION_VERSION = '0.1.0';
const PROVIDER = 'mistral_ai';

/** Options of {@link MistralInstrumentation}. */
export type MistralInstrumentationConfig = SdkInstrumentationConfig;

type Params = Record<string, unknown>;
/** What a request is: the wire operation, and where its text and limits are. */
type Kind = 'chat' | 'fim' | 'agents' | 'embeddings';

interface Method {
  readonly name: string;
  readonly stream: boolean;
}
/** The sub-SDK getters of `Mistral.prototype`, and the methods of the class each returns. */
const RESOURCES: readonly { readonly getter: string; readonly kind: Kind; readonly methods: readonly Method[] }[] = [
  {
    getter: 'chat',
    kind: 'chat',
    methods: [
      { name: 'complete', stream: false },
      { name: 'stream', stream: true },
      { name: 'parse', stream: false },
      { name: 'parseStream', stream: true },
    ],
  },
  { getter: 'fim', kind: 'fim', methods: [{ name: 'complete', stream: false }, { name: 'stream', stream: true }] },
  { getter: 'agents', kind: 'agents', methods: [{ name: 'complete', stream: false }, { name: 'stream', stream: true }] },
  { getter: 'embeddings', kind: 'embeddings', methods: [{ name: 'create', stream: false }] },
];

/** Marks a sub-SDK prototype whose methods are wrapped (a property: no weak-map lookup per access). */
const kPatched: unique symbol = Symbol('tollgate.mistral.patched');

/** Makes every chat / FIM / agent / embeddings request of `@mistralai/mistralai` a priced GenAI span, with the budget gate before sending. */
export class MistralInstrumentation extends ClientInstrumentation<MistralInstrumentationConfig> {
  /** Sub-SDK prototypes wrapped so far, to unwrap on disable. */
  private readonly wrapped = new Set<Record<string | symbol, unknown>>();

  constructor(config: MistralInstrumentationConfig = {}) {
    super(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION, config);
  }

  protected sdk(): SdkModule {
    return { name: '@mistralai/mistralai', supported: SUPPORTED_MISTRAL_VERSIONS, unsupported: '<1 || >=3', shape: 'Mistral.prototype.chat getter' };
  }

  protected patch(exports: unknown, name: string, version: string | undefined): unknown {
    return this.patchTarget(exports, name, version, clientProto(exports), (proto) => {
      for (const resource of RESOURCES) {
        const descriptor = Object.getOwnPropertyDescriptor(proto, resource.getter);
        const getter = descriptor?.get;
        if (descriptor === undefined || getter === undefined || isOurs(getter)) continue;
        const patchSub = (sub: object): void => this.patchResource(sub, resource.kind, resource.methods);
        const wrappedGetter = function tollgateMistralResource(this: unknown): unknown {
          const sub = getter.call(this);
          if (typeof sub === 'object' && sub !== null && (Object.getPrototypeOf(sub) as Record<symbol, unknown> | null)?.[kPatched] !== true) patchSub(sub);
          return sub;
        };
        Object.defineProperty(wrappedGetter, kOriginalGetter, { value: getter });
        Object.defineProperty(proto, resource.getter, { ...descriptor, get: wrappedGetter });
      }
    });
  }

  protected unpatch(exports: unknown): void {
    const proto = clientProto(exports);
    if (proto !== undefined) {
      for (const resource of RESOURCES) {
        const descriptor = Object.getOwnPropertyDescriptor(proto, resource.getter);
        const original = descriptor?.get === undefined ? undefined : originalOf(descriptor.get);
        if (descriptor !== undefined && original !== undefined) Object.defineProperty(proto, resource.getter, { ...descriptor, get: original });
      }
    }
    for (const sub of this.wrapped) {
      const methods = RESOURCES.find((r) => r.kind === sub[kKind])?.methods ?? [];
      this.unwrapMethods(sub as Record<string, unknown>, methods.map((m) => m.name));
      delete sub[kPatched];
    }
    this.wrapped.clear();
  }

  /** Wraps the methods of the class of one sub-SDK object (once per class). */
  private patchResource(sub: object, kind: Kind, methods: readonly Method[]): void {
    const proto = Object.getPrototypeOf(sub) as Record<string | symbol, unknown> | null;
    if (proto === null || proto[kPatched] === true) return;
    try {
      proto[kPatched] = true;
      proto[kKind] = kind;
      this.wrapped.add(proto);
      const tracker = (): CallTracker => this.tracker;
      this.wrapMethods(proto as Record<string, unknown>, methods.map((m) => m.name), (original, method) => {
        const stream = methods.find((m) => m.name === method)?.stream === true;
        return tracked(original, kind, stream, tracker);
      });
    } catch (error) {
      reportFault(`patching @mistralai/mistralai ${kind}`, error);
    }
  }
}

const kOriginalGetter: unique symbol = Symbol('tollgate.mistral.originalGetter');
const kKind: unique symbol = Symbol('tollgate.mistral.kind');

function isOurs(getter: () => unknown): boolean {
  return originalOf(getter) !== undefined;
}
function originalOf(getter: () => unknown): (() => unknown) | undefined {
  const original = (getter as { [kOriginalGetter]?: () => unknown })[kOriginalGetter];
  return typeof original === 'function' ? original : undefined;
}

function clientProto(exports: unknown): Record<string, unknown> | undefined {
  const proto = isRecord(exports) ? protoOf(exports['Mistral']) : undefined;
  return proto !== undefined && typeof Object.getOwnPropertyDescriptor(proto, 'chat')?.get === 'function' ? proto : undefined;
}

function tracked(original: AnyFunction, kind: Kind, stream: boolean, tracker: () => CallTracker): AnyFunction {
  return function tollgateMistral(this: unknown, ...args: unknown[]): unknown {
    const request = args[0];
    const active = context.active();
    if (!isRecord(request) || isTracingSuppressed(active)) return original.apply(this, args);
    let call: TrackedCall;
    let view: Params;
    try {
      view = gateView(kind, request);
      call = tracker().start(specOf(kind, stream, view, this), active);
      if (call.capture !== 'NO_CONTENT' && kind !== 'embeddings') call.recordContent('input', inputMessages(kind, request));
    } catch (error) {
      reportFault('mistral (start)', error);
      return original.apply(this, args);
    }
    return send(call, kind, stream, request, view, (sendRequest) => {
      args[0] = sendRequest;
      return call.run(() => original.apply(this, args));
    });
  };
}

/**
 * Gates, sends, and watches the result. The gate sees an OpenAI-shaped view of the request
 * (`messages`, `prompt`, `input`, `tools`, `max_tokens`), the format the policy's input estimator
 * reads; a rewrite of the view is carried back onto a copy of the Mistral request.
 */
async function send(call: TrackedCall, kind: Kind, stream: boolean, request: Params, view: Params, invoke: (request: Params) => unknown): Promise<unknown> {
  let admitted = call.admitBody(view);
  if (admitted instanceof Promise) admitted = await admitted;
  const sendRequest = admitted === view ? request : rewritten(kind, request, admitted);
  let result: unknown;
  try {
    result = await invoke(sendRequest);
  } catch (error) {
    onError(call, kind, request, error);
    throw error;
  }
  try {
    if (stream) return watchStream(call, kind, result, request);
    onResponse(call, kind, result, request);
  } catch (error) {
    reportFault('mistral (result)', error);
    call.end(undefined);
  }
  return result;
}

function rewritten(kind: Kind, request: Params, body: unknown): Params {
  if (!isRecord(body)) return request;
  const out: Params = { ...request };
  // An agent request names its agent; the agent's configuration decides the model.
  if (kind !== 'agents' && typeof body['model'] === 'string' && body['model'] !== request['model']) out['model'] = body['model'];
  const max = count(body['max_tokens']);
  if (max !== undefined && max !== request['maxTokens']) out['maxTokens'] = max;
  return out;
}

// ---------------------------------------------------------------------------
// Request side

const clientServers = new WeakMap<object, { address: string; port: number } | undefined>();

/** `server.address` / `server.port` of a sub-SDK object (its `_baseURL`), read once per object. */
function serverOfClient(client: unknown): { address: string; port: number } | undefined {
  if (typeof client !== 'object' || client === null) return undefined;
  if (clientServers.has(client)) return clientServers.get(client);
  const base = (client as { _baseURL?: unknown })._baseURL;
  const server = serverOf(base instanceof URL ? base.href : base);
  clientServers.set(client, server);
  return server;
}

/** The OpenAI-shaped view of the request the gate estimates from. */
function gateView(kind: Kind, request: Params): Params {
  const model = typeof request['model'] === 'string' ? request['model'] : '';
  const view: Params = { model };
  if (kind === 'embeddings') {
    view['input'] = request['inputs'];
    return view;
  }
  if (kind === 'fim') view['prompt'] = [request['prompt'], request['suffix']].filter((p) => typeof p === 'string');
  else view['messages'] = request['messages'];
  if (request['tools'] !== undefined && request['tools'] !== null) view['tools'] = request['tools'];
  const max = count(request['maxTokens']);
  if (max !== undefined) view['max_tokens'] = max;
  return view;
}

function specOf(kind: Kind, stream: boolean, view: Params, client: unknown): CallSpec {
  const server = serverOfClient(client);
  return {
    provider: PROVIDER,
    operation: kind === 'embeddings' ? 'embeddings' : kind === 'fim' ? 'text_completion' : 'chat',
    model: view['model'] as string,
    maxTokens: count(view['max_tokens']),
    maxTokensField: kind === 'embeddings' ? undefined : 'max_tokens',
    stream,
    body: view,
    serverAddress: server?.address,
    serverPort: server?.port,
  };
}

function requestText(kind: Kind, request: Params): string {
  if (kind === 'embeddings') {
    const inputs = request['inputs'];
    return Array.isArray(inputs) ? inputs.filter((i) => typeof i === 'string').join('\n') : typeof inputs === 'string' ? inputs : '';
  }
  if (kind === 'fim') return [request['prompt'], request['suffix']].filter((p) => typeof p === 'string').join('\n');
  return collectText(request['messages']).join('\n');
}

function inputMessages(kind: Kind, request: Params): unknown {
  if (kind === 'fim') return [{ role: 'user', parts: [{ type: 'text', content: requestText(kind, request) }] }];
  const messages = request['messages'];
  if (!Array.isArray(messages)) return [];
  return messages.map((m: unknown) => ({
    role: isRecord(m) && typeof m['role'] === 'string' ? m['role'] : 'user',
    parts: [{ type: 'text', content: collectText(isRecord(m) ? { content: m['content'] } : m).join('') }],
  }));
}

// ---------------------------------------------------------------------------
// Response side

function onResponse(call: TrackedCall, kind: Kind, result: unknown, request: Params): void {
  if (!isRecord(result)) {
    void call.endEstimated({ inputText: requestText(kind, request), outputTokens: 0 });
    return;
  }
  setResponseInfo(call, result);
  const text = kind === 'embeddings' ? '' : choicesText(result);
  if (call.capture !== 'NO_CONTENT' && kind !== 'embeddings') call.recordContent('output', [{ role: 'assistant', parts: [{ type: 'text', content: text }] }]);
  const usage = mistralUsage(result['usage']);
  if (usage === undefined) void call.endEstimated({ inputText: requestText(kind, request), outputText: text });
  else call.end(usage);
}

/**
 * A failed call. The SDK rejects an answer its schema does not accept (a 200 without `usage`, a
 * malformed body) with a `ResponseValidationError` carrying the raw answer: the provider served
 * (and bills) that request, so it is priced from the raw usage, else estimated, and marked failed.
 */
function onError(call: TrackedCall, kind: Kind, request: Params, error: unknown): void {
  const served = error instanceof Error && error.name === 'ResponseValidationError' ? (error as { statusCode?: unknown; rawValue?: unknown }) : undefined;
  if (served === undefined || typeof served.statusCode !== 'number' || served.statusCode >= 300) {
    call.fail(error);
    return;
  }
  const raw = isRecord(served.rawValue) ? served.rawValue : {};
  const usage = mistralUsage(raw['usage']);
  if (usage !== undefined) call.fail(error, usage);
  else void call.endEstimated({ inputText: requestText(kind, request), outputText: kind === 'embeddings' ? '' : choicesText(raw) }, error);
}

/**
 * Watches the SDK's `EventStream` (events `{ data: CompletionChunk }`): the last chunk's usage is
 * the call's (Mistral sends it once, on the final chunk). A stream that fails, ends without usage,
 * or that the consumer cancels early is priced from what arrived, flagged estimated.
 */
function watchStream(call: TrackedCall, kind: Kind, result: unknown, request: Params): unknown {
  if (!(result instanceof ReadableStream)) {
    call.end(undefined);
    return result;
  }
  let usage: Usage | undefined;
  const text: string[] = [];
  const estimate = (): { inputTokens?: number; inputText: string; outputText: string } => ({
    inputText: requestText(kind, request),
    outputText: text.join(''),
  });
  return watchReadableStream<unknown>(result as ReadableStream<unknown>, {
    onChunk(event: unknown): boolean {
      const chunk = isRecord(event) && isRecord(event['data']) ? event['data'] : undefined;
      if (chunk === undefined) return true;
      const u = mistralUsage(chunk['usage']);
      if (u !== undefined) usage = u;
      setResponseInfo(call, chunk);
      text.push(choicesText(chunk));
      return true;
    },
    onDone(): void {
      if (call.capture !== 'NO_CONTENT') call.recordContent('output', [{ role: 'assistant', parts: [{ type: 'text', content: text.join('') }] }]);
      if (usage !== undefined) call.end(usage);
      else void call.endEstimated(estimate());
    },
    onError(error: unknown): void {
      void call.endEstimated(estimate(), error);
    },
    onBreak(): void {
      void call.endEstimated(estimate());
    },
  });
}
