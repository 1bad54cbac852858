/**
 * A language or embedding model of the AI SDK, tracked: every `doGenerate` / `doStream` /
 * `doEmbed` (one provider request: one step of a tool loop, one retry attempt) is a
 * {@link TrackedCall}, gated before the provider package builds its request.
 *
 * The wrapper is a Proxy over the provider's own model object, so every other property
 * (`provider`, `modelId`, `supportedUrls`, `specificationVersion`, private state reached
 * through getters) reads from the real model. One proxy per model object (WeakMap): a model
 * built once at start-up and passed to every call costs one lookup per call.
 *
 * What the gate can rewrite:
 * - `maxOutputTokens` (the clamp) in the call options the provider receives;
 * - the model, when the model object can be rebuilt for another id: every first-party
 *   `@ai-sdk/*` model class constructs from `(modelId, config)` and keeps its provider settings
 *   (base URL, key, headers, fetch) in `config`, so `new Model(newId, model.config)` is the
 *   same provider's model for the new id. A model without that shape (a custom provider, a
 *   middleware-wrapped model) keeps its own id; the switch is then reported through diag and the
 *   call is priced by the model that answered (`response.modelId`).
 */
import { context, diag } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { vercelProvider } from '../../processor/dialects.ts';
import { collectText, count, isRecord, reportFault, serverOf } from '../core/index.ts';
import type { CallSpec, CallTracker, TrackedCall } from '../core/index.ts';
import { completeUsage, finishReasonOf, reportedUsage } from './usage.ts';

type Model = Record<string, unknown> & { readonly provider?: unknown; readonly modelId?: unknown };
type ModelMethod = (options: unknown) => Promise<unknown>;

/** Marks a proxy tollgate made, so it is never wrapped twice. */
const kTracked: unique symbol = Symbol('tollgate.aiSdkModel');

const languageProxies = new WeakMap<object, object>();
const embeddingProxies = new WeakMap<object, object>();

/** What the proxies need from the instrumentation. */
export interface ModelTracking {
  readonly tracker: () => CallTracker;
  readonly enabled: () => boolean;
}

/** The model, tracked; anything that is not a model object is returned as is. */
export function trackLanguageModel(model: unknown, tracking: ModelTracking): unknown {
  if (!isModel(model, 'doGenerate') || model[kTracked] === true) return model;
  let proxy = languageProxies.get(model);
  if (proxy === undefined) {
    const info = modelInfo(model);
    const generate = (options: unknown): Promise<unknown> => trackedGenerate(model, info, tracking, options);
    const stream = (options: unknown): Promise<unknown> => trackedStream(model, info, tracking, options);
    proxy = new Proxy(model, {
      get(target, prop) {
        if (prop === 'doGenerate') return generate;
        if (prop === 'doStream') return stream;
        if (prop === kTracked) return true;
        return Reflect.get(target, prop, target) as unknown;
      },
    });
    languageProxies.set(model, proxy);
  }
  return proxy;
}

/** The embedding model, tracked. */
export function trackEmbeddingModel(model: unknown, tracking: ModelTracking): unknown {
  if (!isModel(model, 'doEmbed') || model[kTracked] === true) return model;
  let proxy = embeddingProxies.get(model);
  if (proxy === undefined) {
    const info = modelInfo(model);
    const embed = (options: unknown): Promise<unknown> => trackedEmbed(model, info, tracking, options);
    proxy = new Proxy(model, {
      get(target, prop) {
        if (prop === 'doEmbed') return embed;
        if (prop === kTracked) return true;
        return Reflect.get(target, prop, target) as unknown;
      },
    });
    embeddingProxies.set(model, proxy);
  }
  return proxy;
}

function isModel(value: unknown, method: string): value is Model & Record<symbol, unknown> {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[method] === 'function';
}

/** What is fixed per model object: read once. */
interface ModelInfo {
  /** The AI SDK provider id (`openai.chat`). */
  readonly providerId: string;
  /** `gen_ai.provider.name` (`openai`, `anthropic`, `gcp.gemini`, `aws.bedrock`). */
  readonly provider: string;
  readonly modelId: string;
  readonly server: { address: string; port: number } | undefined;
}

function modelInfo(model: Model): ModelInfo {
  const providerId = typeof model.provider === 'string' ? model.provider : 'unknown';
  return {
    providerId,
    provider: vercelProvider(providerId),
    modelId: typeof model.modelId === 'string' ? model.modelId : '',
    server: serverOfModel(model),
  };
}

/** The provider's base URL, from the model's config (`baseURL`, or the `url()` builder every first-party provider has). */
function serverOfModel(model: Model): { address: string; port: number } | undefined {
  try {
    const config = model['config'];
    if (!isRecord(config)) return undefined;
    if (typeof config['baseURL'] === 'string') return serverOf(config['baseURL']);
    const url = config['url'];
    if (typeof url === 'function') return serverOf((url as (o: object) => unknown)({ path: '', modelId: model.modelId }));
  } catch {
    // A url builder that needs more than we pass: no server attributes.
  }
  return undefined;
}

/**
 * The same provider's model for another id, or undefined when the model object does not have
 * the `(modelId, config)` shape of the first-party providers (see the module comment).
 */
function rebuild(model: Model, modelId: string): Model | undefined {
  const Ctor = (model as { constructor?: unknown }).constructor;
  const config = model['config'];
  if (typeof Ctor !== 'function' || Ctor === Object || !isRecord(config)) return undefined;
  try {
    const built = new (Ctor as new (id: string, config: unknown) => unknown)(modelId, config);
    if (isModel(built, 'doGenerate') && built.modelId === modelId && built.provider === model.provider) return built;
  } catch (error) {
    reportFault('ai-sdk model switch', error);
  }
  return undefined;
}

/** The call options an AI SDK model receives, as far as tollgate reads them. */
type CallOptions = Record<string, unknown>;

/** The request as the gate sees it: model, output ceiling, and the prompt under `messages` for the input estimate. */
function gateBody(info: ModelInfo, options: CallOptions): Record<string, unknown> {
  return {
    model: info.modelId,
    ...(options['maxOutputTokens'] === undefined ? {} : { maxOutputTokens: options['maxOutputTokens'] }),
    messages: options['prompt'],
    ...(options['tools'] === undefined ? {} : { tools: options['tools'] }),
  };
}

function startCall(info: ModelInfo, tracking: ModelTracking, options: CallOptions, operation: string, stream: boolean): TrackedCall | undefined {
  if (!tracking.enabled() || isTracingSuppressed(context.active())) return undefined;
  try {
    const body = gateBody(info, options);
    const spec: CallSpec = {
      provider: info.provider,
      operation,
      model: info.modelId,
      maxTokens: count(options['maxOutputTokens']),
      maxTokensField: operation === 'embeddings' ? undefined : 'maxOutputTokens',
      stream,
      body,
      serverAddress: info.server?.address,
      serverPort: info.server?.port,
    };
    return tracking.tracker().start(spec);
  } catch (error) {
    reportFault('ai-sdk call (start)', error);
    return undefined;
  }
}

type Target = { model: Model; options: CallOptions };

/**
 * The gate, before the provider package builds its request: throws (rejects with) the block
 * error, else gives the model and options to call with (rewritten copies when the gate said so).
 * Synchronous when the gate decided synchronously (no policy, or its `decideNow` fast path):
 * no promise on the hot path.
 */
function gate(call: TrackedCall, model: Model, info: ModelInfo, options: CallOptions): Target | Promise<Target> {
  const holder: { body?: unknown } = { body: gateBody(info, options) };
  const before = holder.body;
  const pending = call.beforeAttempt(holder);
  if (pending === undefined) return applyRewrite(holder.body, before, model, info, options);
  return pending.then(() => applyRewrite(holder.body, before, model, info, options));
}

function applyRewrite(rewritten: unknown, before: unknown, model: Model, info: ModelInfo, options: CallOptions): Target {
  if (rewritten === before || !isRecord(rewritten)) return { model, options };
  let target = model;
  const newId = rewritten['model'];
  if (typeof newId === 'string' && newId !== info.modelId) {
    const built = rebuild(model, newId);
    if (built !== undefined) target = built;
    else diag.warn(`tollgate: the budget policy switched ${info.providerId} model ${info.modelId} to ${newId}, but this model object cannot be rebuilt for another id; the call goes to ${info.modelId}`);
  }
  const max = rewritten['maxOutputTokens'];
  const newOptions = typeof max === 'number' && max !== options['maxOutputTokens'] ? { ...options, maxOutputTokens: max } : options;
  return { model: target, options: newOptions };
}

/** Gates, then calls `method` of the (possibly switched) model, in one pass with the call's span active. */
function gatedCall(call: TrackedCall, model: Model, info: ModelInfo, options: CallOptions, method: 'doGenerate' | 'doStream'): Promise<unknown> {
  return call.run(() => {
    const target = gate(call, model, info, options);
    const send = (t: Target): Promise<unknown> => (t.model[method] as ModelMethod).call(t.model, t.options);
    return target instanceof Promise ? target.then(send) : send(target);
  });
}

function inputText(options: CallOptions): string {
  return collectText(options['prompt']).join('\n');
}

async function trackedGenerate(model: Model, info: ModelInfo, tracking: ModelTracking, rawOptions: unknown): Promise<unknown> {
  const original = model['doGenerate'] as ModelMethod;
  const options = isRecord(rawOptions) ? rawOptions : {};
  const call = startCall(info, tracking, options, 'chat', false);
  if (call === undefined) return original.call(model, rawOptions);
  let result: unknown;
  try {
    result = await gatedCall(call, model, info, options, 'doGenerate');
  } catch (error) {
    call.fail(error);
    throw error;
  }
  // Mastra's model wrappers answer `doGenerate` with a stream of parts (`{ stream }`, no `usage`): read it as doStream's.
  if (isRecord(result) && result['usage'] === undefined && result['stream'] instanceof ReadableStream) return observed(call, info, options, result);
  try {
    endGenerate(call, info, options, result);
  } catch (error) {
    reportFault('ai-sdk generate (result)', error);
    call.end(undefined);
  }
  return result;
}

function endGenerate(call: TrackedCall, info: ModelInfo, options: CallOptions, result: unknown): void {
  if (!isRecord(result)) {
    void call.endEstimated({ inputText: inputText(options), outputTokens: 0 });
    return;
  }
  const response = isRecord(result['response']) ? result['response'] : {};
  const reason = finishReasonOf(result['finishReason']);
  call.setResponse({
    id: typeof response['id'] === 'string' ? response['id'] : undefined,
    model: typeof response['modelId'] === 'string' ? response['modelId'] : undefined,
    finishReasons: reason === undefined ? undefined : [reason],
  });
  const reported = reportedUsage(result['usage'], info.providerId, result['providerMetadata']);
  const usage = completeUsage(reported);
  if (usage !== undefined) call.end(usage);
  else {
    void call.endEstimated({
      inputTokens: reported.inputTokens,
      inputText: inputText(options),
      outputTokens: reported.outputTokens,
      outputText: collectText(result['content']).join(''),
    });
  }
}

async function trackedStream(model: Model, info: ModelInfo, tracking: ModelTracking, rawOptions: unknown): Promise<unknown> {
  const original = model['doStream'] as ModelMethod;
  const options = isRecord(rawOptions) ? rawOptions : {};
  const call = startCall(info, tracking, options, 'chat', true);
  if (call === undefined) return original.call(model, rawOptions);
  let result: unknown;
  try {
    result = await gatedCall(call, model, info, options, 'doStream');
  } catch (error) {
    call.fail(error);
    throw error;
  }
  return observed(call, info, options, result);
}

/** The result with its stream of parts observed (the call ends when the stream does); a result without one ends the call, estimated. */
function observed(call: TrackedCall, info: ModelInfo, options: CallOptions, result: unknown): unknown {
  try {
    const stream = isRecord(result) ? result['stream'] : undefined;
    if (isRecord(result) && stream instanceof ReadableStream) return { ...result, stream: observeStream(stream as ReadableStream<unknown>, new StreamState(call, info, options)) };
    void call.endEstimated({ inputText: inputText(options), outputTokens: 0 });
  } catch (error) {
    reportFault('ai-sdk stream (observe)', error);
    call.end(undefined);
  }
  return result;
}

/** What a stream of AI SDK parts told so far. */
class StreamState {
  private readonly call: TrackedCall;
  private readonly info: ModelInfo;
  private readonly options: CallOptions;
  private readonly text: string[] = [];
  private finish: Record<string, unknown> | undefined;
  private error: unknown;

  constructor(call: TrackedCall, info: ModelInfo, options: CallOptions) {
    this.call = call;
    this.info = info;
    this.options = options;
  }

  part(part: unknown): void {
    if (!isRecord(part)) return;
    switch (part['type']) {
      case 'text-delta':
      case 'reasoning-delta':
      case 'tool-input-delta': {
        // v5+: `delta`; a v1-style part would say `textDelta`.
        const delta = part['delta'] ?? part['textDelta'];
        if (typeof delta === 'string') this.text.push(delta);
        break;
      }
      case 'tool-call': {
        if (typeof part['input'] === 'string') this.text.push(part['input']);
        break;
      }
      case 'response-metadata':
        this.call.setResponse({
          id: typeof part['id'] === 'string' ? part['id'] : undefined,
          model: typeof part['modelId'] === 'string' ? part['modelId'] : undefined,
        });
        break;
      case 'finish':
        this.finish = part;
        break;
      case 'error':
        this.error ??= part['error'] ?? new Error('the provider stream reported an error');
        break;
      default:
        break;
    }
  }

  /** The source ended (normally, or with `failure` when reading it threw). */
  done(failure?: unknown): void {
    const error = failure ?? this.error;
    const finish = this.finish;
    if (finish !== undefined) {
      const reason = finishReasonOf(finish['finishReason']);
      if (reason !== undefined) this.call.setResponse({ finishReasons: [reason] });
    }
    const reported = reportedUsage(finish?.['usage'], this.info.providerId, finish?.['providerMetadata']);
    const usage = completeUsage(reported);
    if (error === undefined && usage !== undefined) {
      this.call.end(usage);
      return;
    }
    if (error !== undefined && usage !== undefined) {
      this.call.fail(error, usage);
      return;
    }
    const cause = error ?? (finish === undefined ? new Error('the stream ended without a finish part') : undefined);
    void this.call.endEstimated(
      { inputTokens: reported.inputTokens, inputText: inputText(this.options), outputTokens: reported.outputTokens, outputText: this.text.join('') },
      cause,
    );
  }

  /** The consumer cancelled the stream before its end: price what was seen, release the rest. */
  cancelled(): void {
    void this.call.endEstimated({ inputText: inputText(this.options), outputText: this.text.join('') });
  }
}

/** A stream that passes every part through unchanged while `state` watches them; pull-driven, so no part is read ahead. */
function observeStream(source: ReadableStream<unknown>, state: StreamState): ReadableStream<unknown> {
  const reader = source.getReader();
  const safely = (fn: () => void): void => {
    try {
      fn();
    } catch (error) {
      reportFault('ai-sdk stream', error);
    }
  };
  return new ReadableStream<unknown>(
    {
      async pull(controller) {
        let step: Awaited<ReturnType<typeof reader.read>>;
        try {
          step = await reader.read();
        } catch (error) {
          safely(() => state.done(error));
          throw error;
        }
        if (step.done) {
          safely(() => state.done());
          controller.close();
          return;
        }
        safely(() => state.part(step.value));
        controller.enqueue(step.value);
      },
      cancel(reason) {
        safely(() => state.cancelled());
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

async function trackedEmbed(model: Model, info: ModelInfo, tracking: ModelTracking, rawOptions: unknown): Promise<unknown> {
  const original = model['doEmbed'] as ModelMethod;
  const options = isRecord(rawOptions) ? rawOptions : {};
  const call = startCall(info, tracking, { prompt: options['values'] }, 'embeddings', false);
  if (call === undefined) return original.call(model, rawOptions);
  let result: unknown;
  try {
    result = await call.run(() => {
      const admitted = gate(call, model, info, { prompt: options['values'] });
      return admitted instanceof Promise ? admitted.then(() => original.call(model, rawOptions)) : original.call(model, rawOptions);
    });
  } catch (error) {
    call.fail(error);
    throw error;
  }
  try {
    const response = isRecord(result) && isRecord(result['response']) ? result['response'] : {};
    call.setResponse({ model: typeof response['modelId'] === 'string' ? response['modelId'] : undefined });
    const usage = isRecord(result) && isRecord(result['usage']) ? count(result['usage']['tokens']) : undefined;
    if (usage !== undefined) call.end({ inputTokens: usage, outputTokens: 0 });
    else {
      const values = Array.isArray(options['values']) ? options['values'] : [];
      void call.endEstimated({ inputText: values.filter((v): v is string => typeof v === 'string').join('\n'), outputTokens: 0 });
    }
  } catch (error) {
    reportFault('ai-sdk embed (result)', error);
    call.end(undefined);
  }
  return result;
}
