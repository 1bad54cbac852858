/**
 * Priced GenAI spans and the budget gate for Google's older `@google/generative-ai` SDK (0.x,
 * deprecated by Google but still what `@langchain/google-genai` is built on):
 * `GenerativeModel.generateContent`, `generateContentStream`, `embedContent`, `batchEmbedContents`.
 * (`ChatSession` calls the module's request functions directly, not these methods: its calls are
 * not tracked; LangChain does not use it.)
 *
 * Patch points: `GenerativeModel.prototype.<method>`; each is one HTTP request. The gate runs before
 * the original: a block rejects with the gate's error and nothing is sent; a rewrite calls the original
 * with a request carrying the clamped `generationConfig.maxOutputTokens`, and, for a model switch, on a
 * view of the model object whose `model` is the new one (the caller's objects are not touched).
 * Usage mapping as for `@google/genai` (google-genai/wire.ts).
 */
import { context } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { count, isRecord, reportFault, serverOf } from '../core/index.ts';
import type { CallSpec, CallTracker, TrackedCall } from '../core/index.ts';
import { candidateText, contentsText, geminiUsage, setResponseInfo } from '../google-genai/wire.ts';
import { ClientInstrumentation, type AnyFunction, type SdkInstrumentationConfig, type SdkModule } from '../core/index.ts';

/** The `@google/generative-ai` versions tollgate patches. */
export const SUPPORTED_GOOGLE_GENERATIVE_AI_VERSIONS = '>=0.21 <1';
const INSTRUMENTATION_NAME = 'tollgate-instrumentation-google-generative-ai';
const INSTRUMENTATION_VERSION = '0.1.0';
const DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com';

/** Options of {@link GoogleGenerativeAIInstrumentation}. */
export type GoogleGenerativeAIInstrumentationConfig = SdkInstrumentationConfig;

type Params = Record<string, unknown>;
type Kind = 'generate' | 'stream' | 'embed' | 'batchEmbed';

const METHODS: readonly { readonly name: string; readonly kind: Kind }[] = [
  { name: 'generateContent', kind: 'generate' },
  { name: 'generateContentStream', kind: 'stream' },
  { name: 'embedContent', kind: 'embed' },
  { name: 'batchEmbedContents', kind: 'batchEmbed' },
];
const METHOD_NAMES: readonly string[] = METHODS.map((m) => m.name);

/** The model object's fields tollgate reads (`GenerativeModel`). */
interface ModelLike {
  model?: unknown;
  generationConfig?: unknown;
  systemInstruction?: unknown;
  tools?: unknown;
  _requestOptions?: unknown;
}

/** Makes every request of `@google/generative-ai` a priced GenAI span, with the budget gate before sending. */
export class GoogleGenerativeAIInstrumentation extends ClientInstrumentation<GoogleGenerativeAIInstrumentationConfig> {
  constructor(config: GoogleGenerativeAIInstrumentationConfig = {}) {
    super(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION, config);
  }

  protected sdk(): SdkModule {
    return { name: '@google/generative-ai', supported: SUPPORTED_GOOGLE_GENERATIVE_AI_VERSIONS, unsupported: '<0.21 || >=1', shape: 'GenerativeModel.prototype.generateContent' };
  }

  protected patch(exports: unknown, name: string, version: string | undefined): unknown {
    return this.patchTarget(exports, name, version, modelPrototype(exports), (proto) => {
      this.wrapMethods(proto, METHOD_NAMES, (original, method) => {
        const m = METHODS.find((x) => x.name === method) as (typeof METHODS)[number];
        return this.tracked(original, m.kind);
    });
    });
  }

  protected unpatch(exports: unknown): void {
    const proto = modelPrototype(exports);
    if (proto === undefined) return;
    this.unwrapMethods(proto, METHOD_NAMES);
  }

  private tracked(original: AnyFunction, kind: Kind): AnyFunction {
    const tracker = (): CallTracker => this.tracker;
    return async function tollgateGenerativeModel(this: unknown, ...args: unknown[]): Promise<unknown> {
      const self = this as ModelLike;
      const active = context.active();
      if (isTracingSuppressed(active) || !isRecord(self)) return original.apply(self, args);
      let call: TrackedCall;
      let view: Params;
      let request: Params;
      try {
        request = normalise(kind, args[0]);
        view = gateView(kind, self, request);
        call = tracker().start(specOf(kind, self, request, view), active);
      } catch (error) {
        reportFault('google-generative-ai (start)', error);
        return original.apply(self, args);
      }
      let admitted = call.admitBody(view);
      if (admitted instanceof Promise) admitted = await admitted;
      let target: ModelLike = self;
      if (admitted !== view) {
        const body = admitted;
        if (typeof body['model'] === 'string' && body['model'] !== view['model']) {
          // A view of the model object: the caller's instance keeps its model.
          target = Object.create(self, { model: { value: `models/${body['model']}`, enumerable: true } }) as ModelLike;
        }
        const max = count(body['max_tokens']);
        if (max !== undefined && max !== view['max_tokens']) args[0] = withMaxOutputTokens(self, request, max);
      }
      let result: unknown;
      try {
        result = await call.run(() => original.apply(target, args));
      } catch (error) {
        call.fail(error);
        throw error;
      }
      try {
        observe(call, kind, result, request, self);
      } catch (error) {
        reportFault('google-generative-ai (result)', error);
        call.end(undefined);
      }
      return result;
    };
  }
}

function modelPrototype(exports: unknown): Record<string, unknown> | undefined {
  const cls = isRecord(exports) ? exports['GenerativeModel'] : undefined;
  if (typeof cls !== 'function') return undefined;
  const proto = (cls as { prototype?: unknown }).prototype;
  return isRecord(proto) && typeof proto['generateContent'] === 'function' ? proto : undefined;
}

/** The request as an object (`generateContent('text')` and part arrays become `{ contents }`). */
function normalise(kind: Kind, request: unknown): Params {
  if (kind === 'embed' || kind === 'batchEmbed') return isRecord(request) ? request : { content: request };
  if (typeof request === 'string') return { contents: [{ role: 'user', parts: [{ text: request }] }] };
  if (Array.isArray(request)) {
    return { contents: [{ role: 'user', parts: request.map((p: unknown) => (typeof p === 'string' ? { text: p } : p)) }] };
  }
  return isRecord(request) ? request : {};
}

function withMaxOutputTokens(model: ModelLike, request: Params, max: number): Params {
  const base = isRecord(request['generationConfig']) ? request['generationConfig'] : isRecord(model.generationConfig) ? model.generationConfig : {};
  return { ...request, generationConfig: { ...base, maxOutputTokens: max } };
}

function modelName(model: ModelLike): string {
  const name = typeof model.model === 'string' ? model.model : '';
  return name.startsWith('models/') ? name.slice('models/'.length) : name;
}

function maxOutputTokens(model: ModelLike, request: Params): number | undefined {
  const config = isRecord(request['generationConfig']) ? request['generationConfig'] : isRecord(model.generationConfig) ? model.generationConfig : undefined;
  return count(config?.['maxOutputTokens']);
}

function requestText(kind: Kind, model: ModelLike, request: Params): string {
  if (kind === 'embed') return contentsText(request['content']);
  if (kind === 'batchEmbed') return contentsText(Array.isArray(request['requests']) ? request['requests'].map((r: unknown) => (isRecord(r) ? r['content'] : r)) : []);
  const system = request['systemInstruction'] ?? model.systemInstruction;
  return [system === undefined ? '' : contentsText(system), contentsText(request['contents'])].join('\n');
}

function gateView(kind: Kind, model: ModelLike, request: Params): Params {
  const view: Params = { model: modelName(model), input: requestText(kind, model, request) };
  if (kind === 'embed' || kind === 'batchEmbed') return view;
  const tools = request['tools'] ?? model.tools;
  if (tools !== undefined) view['tools'] = tools;
  const max = maxOutputTokens(model, request);
  if (max !== undefined) view['max_tokens'] = max;
  return view;
}

function specOf(kind: Kind, model: ModelLike, request: Params, view: Params): CallSpec {
  const options = isRecord(model._requestOptions) ? model._requestOptions : {};
  const server = serverOf(typeof options['baseUrl'] === 'string' ? options['baseUrl'] : DEFAULT_BASE_URL);
  const chat = kind === 'generate' || kind === 'stream';
  return {
    provider: 'gcp.gemini',
    operation: chat ? 'chat' : 'embeddings',
    model: view['model'] as string,
    maxTokens: count(view['max_tokens']),
    maxTokensField: chat ? 'max_tokens' : undefined,
    stream: kind === 'stream',
    body: request,
    serverAddress: server?.address,
    serverPort: server?.port,
  };
}

function endFrom(call: TrackedCall, response: unknown, inputText: string): void {
  if (!isRecord(response)) {
    void call.endEstimated({ inputText, outputTokens: 0 });
    return;
  }
  setResponseInfo(call, response);
  const usage = geminiUsage(response['usageMetadata']);
  if (usage === undefined) void call.endEstimated({ inputText, outputText: candidateText(response) });
  else call.end(usage);
}

/**
 * Reads the result: `{ response }` for a plain call; `{ stream, response }` for a stream, where the
 * SDK resolves `response` (aggregated, with the final usage) from its own branch of the HTTP body
 * whether or not the caller reads `stream`. Embedding answers carry no usage: counted locally.
 */
function observe(call: TrackedCall, kind: Kind, result: unknown, request: Params, model: ModelLike): void {
  const inputText = requestText(kind, model, request);
  if (kind === 'embed' || kind === 'batchEmbed') {
    void call.endEstimated({ inputText, outputTokens: 0 });
    return;
  }
  const response = isRecord(result) ? result['response'] : undefined;
  if (kind === 'generate') {
    endFrom(call, response, inputText);
    return;
  }
  if (response instanceof Promise) {
    response.then(
      (r: unknown) => endFrom(call, r, inputText),
      (error: unknown) => void call.endEstimated({ inputText, outputTokens: 0 }, error),
    );
  } else {
    call.end(undefined);
  }
}
