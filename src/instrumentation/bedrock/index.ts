/**
 * Priced GenAI spans and the budget gate for `@aws-sdk/client-bedrock-runtime` (v3): Converse,
 * ConverseStream, and InvokeModel / InvokeModelWithResponseStream with Anthropic Messages bodies
 * (other InvokeModel body families get a span priced from a local estimate, flagged).
 *
 * Hook point: `BedrockRuntimeClient.prototype.send`, which every command goes through (the
 * aggregated `BedrockRuntime` client's methods call it too). The gate runs before the original
 * `send`, so a refused command never reaches the SDK's middleware stack (no signing, no request,
 * no retry). A rewrite builds a new command of the same class from a rewritten copy of the input
 * (the caller's command and input are not touched):
 * - the output limit: `inferenceConfig.maxTokens` (Converse), `max_tokens` (Anthropic body);
 * - the model: `modelId`, to any id the policy's ladder names (Bedrock takes any model id or
 *   inference profile on the same client, so every switch is possible).
 * The SDK's own retries run inside `send`: one span per command, its reservation held once.
 *
 * Provider `aws.bedrock`. Model ids keep their inference-profile prefix (`us.`, `eu.`, `apac.`,
 * `global.`: priced per geography); ARNs are reduced to their last segment (./usage.ts).
 */
import { context } from '@opentelemetry/api';
import type { Context } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { InstrumentationBase, InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import type { Usage } from '../../pricing/types.ts';
import { CallTracker, collectText, count, isRecord, reportFault, serverOf } from '../core/index.ts';
import type { CallSpec, TollgateInstrumentationConfig, TrackedCall } from '../core/index.ts';
import { loudWarn } from '../core/index.ts';
import { anthropicUsage, bedrockModel, converseUsage, invocationMetricsUsage } from './usage.ts';

/** The `@aws-sdk/client-bedrock-runtime` versions tollgate patches (tested: 3.1164; Converse exists from 3.588). */
export const SUPPORTED_BEDROCK_VERSIONS = '>=3.588.0 <4';
const MODULE = '@aws-sdk/client-bedrock-runtime';
const INSTRUMENTATION_NAME = 'tollgate-instrumentation-bedrock';
const INSTRUMENTATION_VERSION = '0.1.0';

/** Options of {@link BedrockInstrumentation}. */
export type BedrockInstrumentationConfig = TollgateInstrumentationConfig;

type Kind = 'converse' | 'converse-stream' | 'invoke' | 'invoke-stream';
const COMMANDS: readonly (readonly [string, Kind])[] = [
  ['ConverseCommand', 'converse'],
  ['ConverseStreamCommand', 'converse-stream'],
  ['InvokeModelCommand', 'invoke'],
  ['InvokeModelWithResponseStreamCommand', 'invoke-stream'],
];

/** Command classes of every loaded copy of the SDK (CJS and ESM copies differ) -> what they do. */
const commandKinds = new WeakMap<object, Kind>();

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
type Body = Record<string, unknown>;

/** Makes every Converse / InvokeModel call of the Bedrock Runtime client a priced GenAI span, with the budget gate before sending. */
export class BedrockInstrumentation extends InstrumentationBase<BedrockInstrumentationConfig> {
  private readonly tracker: CallTracker;

  constructor(config: BedrockInstrumentationConfig = {}) {
    super(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION, config);
    this.tracker = new CallTracker(() => this.tracer, this.getConfig());
  }

  override setConfig(config: BedrockInstrumentationConfig = {}): void {
    super.setConfig(config);
    // setConfig also runs inside the base constructor, before the tracker exists.
    (this as unknown as { tracker?: CallTracker }).tracker?.configure(config);
  }

  protected init(): InstrumentationNodeModuleDefinition[] {
    return [
      new InstrumentationNodeModuleDefinition(
        MODULE,
        [SUPPORTED_BEDROCK_VERSIONS],
        (exports: unknown, version?: string) => this.patch(exports, version),
        (exports: unknown) => this.unpatch(exports),
      ),
      new InstrumentationNodeModuleDefinition(MODULE, [`<3.588.0 || >=4`], (exports: unknown, version?: string) => {
        loudWarn(
          `tollgate: ${MODULE}@${version ?? 'unknown'} is outside the supported range ${SUPPORTED_BEDROCK_VERSIONS}: ` +
            'its calls get NO spans, NO cost and NO budget checks. Upgrade tollgate or the client.',
        );
        return exports;
      }),
    ];
  }

  private patch(exports: unknown, version: string | undefined): unknown {
    const proto = clientProto(exports);
    if (proto === undefined || !isRecord(exports)) {
      loudWarn(`tollgate: ${MODULE}@${version ?? 'unknown'} does not have the expected shape (BedrockRuntimeClient.prototype.send): its calls get NO spans`);
      return exports;
    }
    try {
      for (const [name, kind] of COMMANDS) {
        const cls = exports[name];
        if (typeof cls === 'function') commandKinds.set(cls, kind);
      }
      const tracker = (): CallTracker => this.tracker;
      const enabled = (): boolean => this.isEnabled();
      this._wrap(proto, 'send', (original: unknown) => wrapSend(original as AnyFunction, tracker, enabled));
    } catch (error) {
      reportFault(`patching ${MODULE}@${version ?? '?'}`, error);
    }
    return exports;
  }

  private unpatch(exports: unknown): void {
    const proto = clientProto(exports);
    if (proto !== undefined && Object.hasOwn(proto, 'send')) this._unwrap(proto, 'send');
  }
}

function clientProto(exports: unknown): Record<string, unknown> | undefined {
  const cls = isRecord(exports) ? exports['BedrockRuntimeClient'] : undefined;
  const proto = typeof cls === 'function' ? (cls as { prototype?: unknown }).prototype : undefined;
  return isRecord(proto) && typeof proto['send'] === 'function' ? proto : undefined;
}

function wrapSend(original: AnyFunction, tracker: () => CallTracker, enabled: () => boolean): AnyFunction {
  return function tollgateBedrockSend(this: unknown, ...args: unknown[]): unknown {
    const command = args[0];
    const kind = isRecord(command) ? commandKinds.get((command as { constructor?: object }).constructor ?? {}) : undefined;
    if (kind === undefined || !enabled()) return original.apply(this, args);
    const parent = context.active();
    if (isTracingSuppressed(parent)) return original.apply(this, args);
    // The SDK still accepts a trailing callback: settle it from the tracked promise. `args` is this
    // call's own array: it is what the original `send` gets (the command replaced when rewritten).
    const last = args[args.length - 1];
    const callback = args.length > 1 && typeof last === 'function' ? (last as (error: unknown, result?: unknown) => void) : undefined;
    if (callback !== undefined) args.pop();
    let promise: Promise<unknown>;
    try {
      promise = trackedSend(this, original, command as Body, kind, args, tracker(), parent);
    } catch (error) {
      reportFault('bedrock send (start)', error);
      if (callback !== undefined) args.push(callback);
      args[0] = command;
      return original.apply(this, args);
    }
    if (callback === undefined) return promise;
    promise.then(
      (result) => callback(null, result),
      (error: unknown) => callback(error),
    );
    return undefined;
  };
}

/** The request as the gate sees it, and how to read the caller's output limit. */
interface Request {
  readonly input: Body;
  /** The model to name and price ({@link bedrockModel} of the command's `modelId`). */
  readonly model: string;
  /** The parsed JSON body of an InvokeModel command; undefined for Converse or a body that is not JSON. */
  readonly parsed: Body | undefined;
  readonly gateBody: Body;
  readonly maxTokensField: string | undefined;
  readonly maxTokens: number | undefined;
}

function requestOf(command: Body, kind: Kind): Request {
  const input = isRecord(command['input']) ? command['input'] : {};
  const model = bedrockModel(typeof input['modelId'] === 'string' ? input['modelId'] : '');
  if (kind === 'converse' || kind === 'converse-stream') {
    const config = input['inferenceConfig'];
    const maxTokens = isRecord(config) ? count(config['maxTokens']) : undefined;
    const toolConfig = input['toolConfig'];
    const tools = isRecord(toolConfig) ? toolConfig['tools'] : undefined;
    // Built key by key (no spread of temporaries): this runs on every call.
    const gateBody: Body = { model };
    if (maxTokens !== undefined) gateBody['maxTokens'] = maxTokens;
    gateBody['system'] = input['system'];
    gateBody['messages'] = input['messages'];
    if (tools !== undefined) gateBody['tools'] = tools;
    return { input, model, parsed: undefined, gateBody, maxTokensField: 'maxTokens', maxTokens };
  }
  const parsed = parseJson(input['body']);
  // Anthropic Messages bodies name their limit `max_tokens`; other families are not rewritten.
  const anthropic = parsed !== undefined && (typeof parsed['anthropic_version'] === 'string' || Array.isArray(parsed['messages']));
  return {
    input,
    model,
    parsed,
    gateBody: { ...(parsed ?? {}), model },
    maxTokensField: anthropic ? 'max_tokens' : undefined,
    maxTokens: anthropic ? count(parsed['max_tokens']) : undefined,
  };
}

const decoder = new TextDecoder();

function decode(body: unknown): string | undefined {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return decoder.decode(body);
  return undefined;
}

function parseJson(body: unknown): Body | undefined {
  const text = decode(body);
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function serverOfClient(client: unknown): { address: string; port: number } | undefined {
  const config = isRecord(client) ? client['config'] : undefined;
  const endpoint = isRecord(config) ? config['endpoint'] : undefined;
  // A static endpoint override (a string or URL) is known synchronously; the regional default resolves later.
  if (typeof endpoint === 'string') return serverOf(endpoint);
  return undefined;
}

/**
 * Starts the call, gates it, sends it with the span active and observes the response. A promise
 * chain, not an async function: one hop fewer on every call.
 */
function trackedSend(client: unknown, original: AnyFunction, command: Body, kind: Kind, args: unknown[], tracker: CallTracker, parent: Context): Promise<unknown> {
  const request = requestOf(command, kind);
  const server = serverOfClient(client);
  const spec: CallSpec = {
    provider: 'aws.bedrock',
    operation: 'chat',
    model: request.model,
    maxTokens: request.maxTokens,
    maxTokensField: request.maxTokensField,
    stream: kind === 'converse-stream' || kind === 'invoke-stream',
    body: request.gateBody,
    serverAddress: server?.address,
    serverPort: server?.port,
  };
  const call = tracker.start(spec, parent);
  const send = (toSend: Body): Promise<unknown> => {
    args[0] = toSend;
    return original.apply(client, args) as Promise<unknown>;
  };
  let sent: Promise<unknown>;
  try {
    sent = call.run(() => {
      const toSend = gate(call, command, request);
      return toSend instanceof Promise ? toSend.then(send) : send(toSend);
    });
  } catch (error) {
    call.fail(error);
    return Promise.reject(error as Error);
  }
  return sent.then(
    (response: unknown) => {
      try {
        observe(call, kind, request, response);
      } catch (error) {
        reportFault('bedrock send (observe)', error);
        call.end(undefined);
      }
      return response;
    },
    (error: unknown) => {
      call.fail(error);
      throw error;
    },
  );
}

/**
 * The gate: throws the block error, else gives the command to send (a rewritten copy when the
 * gate said so); synchronous when the gate decided synchronously (no promise on the hot path).
 */
function gate(call: TrackedCall, command: Body, request: Request): Body | Promise<Body> {
  const holder: { body?: unknown } = { body: request.gateBody };
  const pending = call.beforeAttempt(holder);
  if (pending === undefined) return rewrittenCommand(command, request, holder.body);
  return pending.then(() => rewrittenCommand(command, request, holder.body));
}

function rewrittenCommand(command: Body, request: Request, rewritten: unknown): Body {
  if (rewritten === request.gateBody || !isRecord(rewritten)) return command;
  const newModel = typeof rewritten['model'] === 'string' && rewritten['model'] !== request.model ? rewritten['model'] : undefined;
  const field = request.maxTokensField;
  const newMax = field !== undefined ? count(rewritten[field]) : undefined;
  const input: Body = { ...request.input, ...(newModel === undefined ? {} : { modelId: newModel }) };
  if (newMax !== undefined && newMax !== request.maxTokens) {
    if (request.parsed === undefined) {
      input['inferenceConfig'] = { ...(isRecord(request.input['inferenceConfig']) ? request.input['inferenceConfig'] : {}), maxTokens: newMax };
    } else {
      const body = JSON.stringify({ ...request.parsed, max_tokens: newMax });
      input['body'] = typeof request.input['body'] === 'string' ? body : new TextEncoder().encode(body);
    }
  }
  const Command = (command as { constructor: new (input: Body) => Body }).constructor;
  return new Command(input);
}

function inputText(request: Request): string {
  return collectText(request.gateBody).join('\n');
}

function observe(call: TrackedCall, kind: Kind, request: Request, response: unknown): void {
  if (!isRecord(response)) {
    void call.endEstimated({ inputText: inputText(request), outputTokens: 0 });
    return;
  }
  switch (kind) {
    case 'converse': {
      const reason = response['stopReason'];
      if (typeof reason === 'string') call.setResponse({ finishReasons: [reason] });
      const usage = converseUsage(response['usage']);
      if (usage !== undefined) call.end(usage);
      else void call.endEstimated({ inputText: inputText(request), outputText: collectText(response['output']).join('') });
      return;
    }
    case 'invoke': {
      const body = parseJson(response['body']);
      if (body !== undefined) {
        call.setResponse({
          id: typeof body['id'] === 'string' ? body['id'] : undefined,
          model: typeof body['model'] === 'string' ? bedrockModel(body['model']) : undefined,
          finishReasons: typeof body['stop_reason'] === 'string' ? [body['stop_reason']] : undefined,
        });
      }
      const usage = anthropicUsage(body?.['usage']);
      if (usage !== undefined) call.end(usage);
      else void call.endEstimated({ inputText: inputText(request), outputText: collectText(body?.['content']).join('') });
      return;
    }
    case 'converse-stream':
    case 'invoke-stream': {
      const key = kind === 'converse-stream' ? 'stream' : 'body';
      const source = response[key];
      if (!isAsyncIterable(source)) {
        void call.endEstimated({ inputText: inputText(request), outputTokens: 0 });
        return;
      }
      const state = kind === 'converse-stream' ? new ConverseStreamState(call, request) : new InvokeStreamState(call, request);
      response[key] = observeEvents(source, state);
      return;
    }
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as Record<symbol, unknown>)[Symbol.asyncIterator] === 'function';
}

/** What a stream's events told so far; ends the call once. */
abstract class StreamState {
  protected readonly call: TrackedCall;
  protected readonly request: Request;
  protected readonly text: string[] = [];
  protected usage: Usage | undefined;

  constructor(call: TrackedCall, request: Request) {
    this.call = call;
    this.request = request;
  }

  abstract event(event: unknown): void;

  /** The stream ended (with `error` when reading it threw: a modelled exception event, a corrupt frame, a cut connection). */
  done(error?: unknown): void {
    if (error === undefined && this.usage !== undefined) this.call.end(this.usage);
    else if (this.usage !== undefined) this.call.fail(error, this.usage);
    else void this.call.endEstimated({ inputText: inputText(this.request), outputText: this.text.join('') }, error);
  }

  /** The consumer stopped reading early: priced from what was seen, the reservation settled. */
  stopped(): void {
    if (this.usage !== undefined) this.call.end(this.usage);
    else void this.call.endEstimated({ inputText: inputText(this.request), outputText: this.text.join('') });
  }
}

class ConverseStreamState extends StreamState {
  event(event: unknown): void {
    if (!isRecord(event)) return;
    const delta = isRecord(event['contentBlockDelta']) ? event['contentBlockDelta']['delta'] : undefined;
    if (isRecord(delta)) {
      if (typeof delta['text'] === 'string') this.text.push(delta['text']);
      else if (isRecord(delta['toolUse']) && typeof delta['toolUse']['input'] === 'string') this.text.push(delta['toolUse']['input']);
    }
    const stop = event['messageStop'];
    if (isRecord(stop) && typeof stop['stopReason'] === 'string') this.call.setResponse({ finishReasons: [stop['stopReason']] });
    const metadata = event['metadata'];
    if (isRecord(metadata)) this.usage = converseUsage(metadata['usage']) ?? this.usage;
  }
}

class InvokeStreamState extends StreamState {
  private start: Record<string, unknown> | undefined;
  private output: number | undefined;

  event(event: unknown): void {
    const chunk = isRecord(event) && isRecord(event['chunk']) ? event['chunk'] : undefined;
    const part = chunk === undefined ? undefined : parseJson(chunk['bytes']);
    if (part === undefined) return;
    switch (part['type']) {
      case 'message_start': {
        const message = isRecord(part['message']) ? part['message'] : {};
        recordStart(this.call, message);
        if (isRecord(message['usage'])) this.start = message['usage'];
        break;
      }
      case 'content_block_delta': {
        const delta = isRecord(part['delta']) ? part['delta'] : {};
        const text = delta['text'] ?? delta['partial_json'];
        if (typeof text === 'string') this.text.push(text);
        break;
      }
      case 'message_delta': {
        const delta = isRecord(part['delta']) ? part['delta'] : {};
        if (typeof delta['stop_reason'] === 'string') this.call.setResponse({ finishReasons: [delta['stop_reason']] });
        if (isRecord(part['usage'])) this.output = count(part['usage']['output_tokens']) ?? this.output;
        break;
      }
      case 'message_stop':
        break;
      default:
        break;
    }
    // The Anthropic events' own usage first; Bedrock's invocation metrics (any model family) otherwise.
    const fromEvents = this.start === undefined || this.output === undefined ? undefined : anthropicUsage(this.start, this.output);
    this.usage = fromEvents ?? invocationMetricsUsage(part['amazon-bedrock-invocationMetrics']) ?? this.usage;
  }
}

/** Records what an Anthropic `message_start` says about the response. */
function recordStart(tracked: TrackedCall, message: Record<string, unknown>): void {
  tracked.setResponse({
    id: typeof message['id'] === 'string' ? message['id'] : undefined,
    model: typeof message['model'] === 'string' ? bedrockModel(message['model']) : undefined,
  });
}

/** Passes every event through while `state` watches; a consumer that stops early (break, return) still ends the call. */
async function* observeEvents(source: AsyncIterable<unknown>, state: StreamState): AsyncGenerator<unknown, void, undefined> {
  let finished = false;
  try {
    for await (const event of source) {
      try {
        state.event(event);
      } catch (error) {
        reportFault('bedrock stream event', error);
      }
      yield event;
    }
    finished = true;
    state.done();
  } catch (error) {
    finished = true;
    state.done(error);
    throw error;
  } finally {
    if (!finished) state.stopped();
  }
}
