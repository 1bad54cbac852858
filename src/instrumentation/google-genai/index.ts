/**
 * Priced GenAI spans and the budget gate for Google's `@google/genai` SDK (Gemini API and Vertex AI
 * mode): `models.generateContent`, `models.generateContentStream`, `models.embedContent`, and
 * chats (`chat.sendMessage` / `sendMessageStream` go through the same model methods).
 *
 * Patch points: `Models.prototype.generateContentInternal`, `generateContentStreamInternal` and
 * `embedContentInternal`. The public methods are per-instance arrow functions (nothing to patch on
 * the prototype) that may send several requests for one call: automatic function calling and
 * automatic continuation loop over the internal methods, and each internal call is exactly one
 * HTTP request. So each request is one span, one gate decision and one price, as for the other SDKs.
 *
 * The gate runs inside the patched method before the original builds its request: a block rejects
 * with the gate's error and nothing is sent; a rewrite calls the original with a copy of the
 * parameters (`model`, `config.maxOutputTokens`), the caller's object untouched.
 *
 * Usage (`usageMetadata`) in the GenAI convention: input = `promptTokenCount` (which includes
 * `cachedContentTokenCount`) + `toolUsePromptTokenCount` (counted beside the prompt, billed as input);
 * output = `candidatesTokenCount` + `thoughtsTokenCount` (thoughts are NOT inside the candidates
 * count, and are billed at the output rate); cache reads = `cachedContentTokenCount`; reasoning =
 * `thoughtsTokenCount`. The price table's long-context tiers apply on the input count.
 */
import { context } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { Usage } from '../../pricing/types.ts';
import { count, isRecord, perClient, reportFault, serverOf } from '../core/index.ts';
import { wrapStreamIterator } from '../stainless/index.ts';
import type { CallSpec, CallTracker, TrackedCall } from '../core/index.ts';
import { candidateText, contentsText, geminiUsage, setResponseInfo } from './wire.ts';
import { ClientInstrumentation, type AnyFunction, type ClientInfo, type SdkInstrumentationConfig, type SdkModule } from '../core/index.ts';

/** The `@google/genai` majors tollgate patches. */
export const SUPPORTED_GOOGLE_GENAI_VERSIONS = '>=1 <3';
const INSTRUMENTATION_NAME = 'tollgate-instrumentation-google-genai';
const INSTRUMENTATION_VERSION = '0.1.0';

/** Options of {@link GoogleGenAIInstrumentation}. */
export type GoogleGenAIInstrumentationConfig = SdkInstrumentationConfig;

type Params = Record<string, unknown>;
type Operation = 'chat' | 'embeddings';

/** The internal methods patched, each one HTTP request. */
const METHODS: readonly { readonly name: string; readonly op: Operation; readonly stream: boolean }[] = [
  { name: 'generateContentInternal', op: 'chat', stream: false },
  { name: 'generateContentStreamInternal', op: 'chat', stream: true },
  { name: 'embedContentInternal', op: 'embeddings', stream: false },
];
const METHOD_NAMES: readonly string[] = METHODS.map((m) => m.name);

/** Makes every request of `@google/genai` a priced GenAI span, with the budget gate before sending. */
export class GoogleGenAIInstrumentation extends ClientInstrumentation<GoogleGenAIInstrumentationConfig> {
  constructor(config: GoogleGenAIInstrumentationConfig = {}) {
    super(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION, config);
  }

  protected sdk(): SdkModule {
    return { name: '@google/genai', supported: SUPPORTED_GOOGLE_GENAI_VERSIONS, unsupported: '<1 || >=3', shape: 'Models.prototype.generateContentInternal' };
  }

  protected patch(exports: unknown, name: string, version: string | undefined): unknown {
    return this.patchTarget(exports, name, version, modelsPrototype(exports), (proto) => {
      this.wrapMethods(proto, METHOD_NAMES, (original, method) => {
        const m = METHODS.find((x) => x.name === method) as (typeof METHODS)[number];
        return this.tracked(original, m.op, m.stream);
    });
    });
  }

  protected unpatch(exports: unknown): void {
    const proto = modelsPrototype(exports);
    if (proto === undefined) return;
    this.unwrapMethods(proto, METHOD_NAMES);
  }

  private tracked(original: AnyFunction, op: Operation, stream: boolean): AnyFunction {
    const tracker = (): CallTracker => this.tracker;
    return function tollgateGoogleGenAI(this: unknown, ...args: unknown[]): unknown {
      const params = args[0];
      const active = context.active();
      if (!isRecord(params) || isTracingSuppressed(active)) return original.apply(this, args);
      let call: TrackedCall;
      let view: Params;
      try {
        const client = (this as { apiClient?: unknown }).apiClient;
        view = gateView(op, params);
        call = tracker().start(specOf(op, stream, params, view, client), active);
        if (call.capture !== 'NO_CONTENT' && op === 'chat') call.recordContent('input', inputMessages(params));
      } catch (error) {
        reportFault('google-genai (start)', error);
        return original.apply(this, args);
      }
      return send(call, op, stream, params, view, (sendParams) => {
        args[0] = sendParams;
        return call.run(() => original.apply(this, args));
      });
    };
  }
}

function modelsPrototype(exports: unknown): Record<string, unknown> | undefined {
  const models = isRecord(exports) || typeof exports === 'function' ? (exports as Record<string, unknown>)['Models'] : undefined;
  if (typeof models !== 'function') return undefined;
  const proto = (models as { prototype?: unknown }).prototype;
  return isRecord(proto) && typeof proto['generateContentInternal'] === 'function' ? proto : undefined;
}

/**
 * Gates, sends, and watches the result. The gate sees an OpenAI-shaped view of the request
 * (`instructions`, `input`, `tools`, `max_tokens`), the format the policy's input estimator reads;
 * a rewrite of the view is carried back onto a copy of the Gemini parameters.
 */
async function send(call: TrackedCall, op: Operation, stream: boolean, params: Params, view: Params, invoke: (params: Params) => unknown): Promise<unknown> {
  let admitted = call.admitBody(view);
  if (admitted instanceof Promise) admitted = await admitted;
  const sendParams = admitted === view ? params : rewritten(params, admitted);
  let result: unknown;
  try {
    result = await invoke(sendParams);
  } catch (error) {
    call.fail(error);
    throw error;
  }
  try {
    if (stream) return watchStream(call, result, params);
    onResponse(call, op, result, params);
  } catch (error) {
    reportFault('google-genai (result)', error);
    call.end(undefined);
  }
  return result;
}

function rewritten(params: Params, body: unknown): Params {
  if (!isRecord(body)) return params;
  const out: Params = { ...params };
  if (typeof body['model'] === 'string' && body['model'] !== params['model']) out['model'] = body['model'];
  const max = count(body['max_tokens']);
  const config = isRecord(params['config']) ? params['config'] : {};
  if (max !== undefined && max !== config['maxOutputTokens']) out['config'] = { ...config, maxOutputTokens: max };
  return out;
}

// ---------------------------------------------------------------------------
// Request side

const clientInfo = perClient<ClientInfo>(
  (client) => {
    let vertex = false;
    let baseUrl: unknown;
    try {
      vertex = (client as { isVertexAI?: () => unknown }).isVertexAI?.() === true;
      baseUrl = (client as { getBaseUrl?: () => unknown }).getBaseUrl?.();
    } catch {
      // getBaseUrl throws when no base URL is set: no server attributes then.
    }
    const server = serverOf(baseUrl);
    return { provider: vertex ? 'gcp.vertex_ai' : 'gcp.gemini', address: server?.address, port: server?.port };
  },
  { provider: 'gcp.gemini', address: undefined, port: undefined },
);

function configOf(params: Params): Params {
  return isRecord(params['config']) ? params['config'] : {};
}

/** The OpenAI-shaped view of the request the gate estimates from. */
function gateView(op: Operation, params: Params): Params {
  const config = configOf(params);
  const view: Params = { model: typeof params['model'] === 'string' ? params['model'] : '' };
  if (op === 'embeddings') {
    view['input'] = contentsText(params['contents']);
    return view;
  }
  const system = config['systemInstruction'];
  if (system !== undefined) view['instructions'] = contentsText(system);
  view['input'] = contentsText(params['contents']);
  if (config['tools'] !== undefined) view['tools'] = config['tools'];
  const max = count(config['maxOutputTokens']);
  if (max !== undefined) view['max_tokens'] = max;
  return view;
}

function specOf(op: Operation, stream: boolean, params: Params, view: Params, client: unknown): CallSpec {
  const info = clientInfo(client);
  return {
    provider: info.provider,
    operation: op,
    model: view['model'] as string,
    maxTokens: count(view['max_tokens']),
    maxTokensField: op === 'chat' ? 'max_tokens' : undefined,
    stream,
    body: params,
    serverAddress: info.address,
    serverPort: info.port,
  };
}

function inputMessages(params: Params): unknown {
  const messages: unknown[] = [];
  const system = configOf(params)['systemInstruction'];
  if (system !== undefined) messages.push({ role: 'system', parts: [{ type: 'text', content: contentsText(system) }] });
  messages.push({ role: 'user', parts: [{ type: 'text', content: contentsText(params['contents']) }] });
  return messages;
}

function requestText(params: Params): string {
  const system = configOf(params)['systemInstruction'];
  return [system === undefined ? '' : contentsText(system), contentsText(params['contents'])].join('\n');
}

// ---------------------------------------------------------------------------
// Response side

/** Token count of an embeddings answer: Vertex's per-instance statistics, else usageMetadata. */
function embeddingUsage(response: Params): Usage | undefined {
  const fromMetadata = geminiUsage(response['usageMetadata']);
  if (fromMetadata !== undefined) return fromMetadata;
  const embeddings = response['embeddings'];
  if (!Array.isArray(embeddings)) return undefined;
  let total = 0;
  let seen = false;
  for (const e of embeddings) {
    const stats = isRecord(e) && isRecord(e['statistics']) ? e['statistics'] : undefined;
    const n = count(stats?.['tokenCount']);
    if (n !== undefined) {
      total += n;
      seen = true;
    }
  }
  return seen ? { inputTokens: total, outputTokens: 0 } : undefined;
}

function onResponse(call: TrackedCall, op: Operation, result: unknown, params: Params): void {
  if (!isRecord(result)) {
    void call.endEstimated({ inputText: requestText(params), outputTokens: 0 });
    return;
  }
  if (op === 'embeddings') {
    const usage = embeddingUsage(result);
    // The Gemini API does not report embedding tokens: counted locally, flagged estimated.
    if (usage === undefined) void call.endEstimated({ inputText: contentsText(params['contents']), outputTokens: 0 });
    else call.end(usage);
    return;
  }
  setResponseInfo(call, result);
  if (call.capture !== 'NO_CONTENT') call.recordContent('output', [{ role: 'assistant', parts: [{ type: 'text', content: candidateText(result) }] }]);
  const usage = geminiUsage(result['usageMetadata']);
  if (usage === undefined) void call.endEstimated({ inputText: requestText(params), outputText: candidateText(result) });
  else call.end(usage);
}

/**
 * Watches the SDK's stream (an async generator of `GenerateContentResponse`): the last
 * `usageMetadata` seen is the call's usage (Gemini repeats it, growing, on each chunk). A stream
 * that fails, or that the consumer leaves early, is priced from what arrived, flagged estimated.
 */
function watchStream(call: TrackedCall, result: unknown, params: Params): unknown {
  const source = result as AsyncIterator<unknown> & AsyncIterable<unknown>;
  if (typeof source?.next !== 'function') {
    call.end(undefined);
    return result;
  }
  let usage: Usage | undefined;
  const text: string[] = [];
  const holder = wrapStreamIterator(
    { iterator: () => source },
    {
      onChunk(chunk: unknown): boolean {
        if (!isRecord(chunk)) return true;
        const u = geminiUsage(chunk['usageMetadata']);
        if (u !== undefined) usage = u;
        setResponseInfo(call, chunk);
        text.push(candidateText(chunk));
        return true;
      },
      onDone(): void {
        if (call.capture !== 'NO_CONTENT') call.recordContent('output', [{ role: 'assistant', parts: [{ type: 'text', content: text.join('') }] }]);
        if (usage !== undefined && !call.isEnded) call.end(usage);
        else void call.endEstimated({ inputText: requestText(params), outputText: text.join('') });
      },
      onError(error: unknown): void {
        void call.endEstimated({ inputTokens: usage?.inputTokens, inputText: requestText(params), outputText: text.join('') }, error);
      },
      onBreak(): void {
        void call.endEstimated({ inputTokens: usage?.inputTokens, inputText: requestText(params), outputText: text.join('') });
      },
    },
  );
  const iterator = holder.iterator() as AsyncGenerator<unknown>;
  return iterator;
}
