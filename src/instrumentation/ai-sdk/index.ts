/**
 * Priced GenAI spans and the budget gate for the Vercel AI SDK (`ai` 5, 6 and 7), every
 * provider package at once: `generateText`, `streamText`, `generateObject`, `streamObject`,
 * `embed`, `embedMany`, and the `ToolLoopAgent` / `Experimental_Agent` classes.
 *
 * The hook point is the `ai` module, not the provider packages: the entry functions above are
 * wrapped so that the `model` they are given is replaced by a tracked proxy (./model.ts) before
 * the SDK resolves it. Every provider (`@ai-sdk/openai`, `@ai-sdk/anthropic`, `@ai-sdk/google`,
 * `@ai-sdk/amazon-bedrock`, community providers, the gateway) implements the same model
 * specification (`doGenerate` / `doStream` / `doEmbed`), and the SDK calls those once per provider
 * request, so one span per request follows: one per step of a multi-step tool loop, one per
 * retry attempt. A model id given as a string is resolved the way the SDK resolves it (the
 * global default provider, else the gateway). Models a `prepareStep` callback returns are tracked
 * too (the callback is wrapped).
 *
 * Refusals are not retried: the SDK's retry loop retries only an `APICallError` whose
 * `isRetryable` is true; a BudgetExceededError thrown from `doGenerate` is neither, so the SDK
 * rejects with it at once (test/instrumentation/ai-sdk-gate.test.ts).
 *
 * The SDK's own telemetry (`experimental_telemetry`, `@ai-sdk/otel`) calls the model inside its
 * `ai.*.doGenerate` / `doStream` span, so tollgate's span is that span's child and the span
 * processor prices the call once (its nested-tollgate rule, src/processor/).
 *
 * Mastra (`@mastra/core`) runs its own agent loop over AI SDK 5 model objects: it calls the
 * model's `doGenerate` / `doStream` itself, not through `ai`'s functions. Its `Agent` is hooked
 * at `prepareModels`, where every call of `generate` / `stream` gets its list of models: each one
 * is replaced by the same tracked proxy. Mastra retries a failed model call (p-retry, twice by
 * default) unless the error is an `APICallError` whose `isRetryable` is false; a
 * BudgetExceededError carries that marker (src/errors.ts), so a refusal rejects at once
 * (test/frameworks/mastra.test.ts).
 */
import { InstrumentationBase, InstrumentationNodeModuleDefinition, InstrumentationNodeModuleFile } from '@opentelemetry/instrumentation';
import { CallTracker, isRecord, protoOf, reportFault } from '../core/index.ts';
import type { TollgateInstrumentationConfig } from '../core/index.ts';
import { loudWarn } from '../core/index.ts';
import { trackEmbeddingModel, trackLanguageModel } from './model.ts';
import type { ModelTracking } from './model.ts';

/** The `ai` majors tollgate patches (tested: 5.0, 6.0, 7.0). */
export const SUPPORTED_AI_SDK_VERSIONS = '>=5 <8';
/** The `@mastra/core` versions whose `Agent.prototype.prepareModels` is patched (tested: 0.24). */
export const SUPPORTED_MASTRA_VERSIONS = '>=0.20.0 <2';
/**
 * Mastra's builds of the module that exports `Agent`, as `require('@mastra/core/agent')` reaches them.
 * An ES `import` of it is matched by its specifier (the loader hook sees only hooked specifiers).
 */
const MASTRA_AGENT_FILES = ['@mastra/core/dist/agent/index.js', '@mastra/core/dist/agent/index.cjs'] as const;
const INSTRUMENTATION_NAME = 'tollgate-instrumentation-ai-sdk';
const INSTRUMENTATION_VERSION = '0.1.0';

/** Options of {@link AiSdkInstrumentation}. */
export interface AiSdkInstrumentationConfig extends TollgateInstrumentationConfig {
  /**
   * Package names to hook besides `ai`: npm aliases of it (`"ai-v5": "npm:ai@5"`).
   * @default []
   */
  moduleNames?: string[];
}

/** Entry functions whose options carry a language model. */
const LANGUAGE_FUNCTIONS = ['generateText', 'streamText', 'generateObject', 'streamObject', 'experimental_streamTextLowMemory'] as const;
/** Entry functions whose options carry an embedding model. */
const EMBEDDING_FUNCTIONS = ['embed', 'embedMany'] as const;
/** Agent classes that hold their model in `this.settings.model`. */
const AGENT_CLASSES = ['ToolLoopAgent', 'Experimental_Agent'] as const;

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
type Exports = Record<string, unknown>;

/** Makes every model call of the Vercel AI SDK a priced GenAI span, with the budget gate before sending. */
export class AiSdkInstrumentation extends InstrumentationBase<AiSdkInstrumentationConfig> {
  private readonly tracker: CallTracker;
  private readonly tracking: ModelTracking;

  constructor(config: AiSdkInstrumentationConfig = {}) {
    super(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION, config);
    this.tracker = new CallTracker(() => this.tracer, this.getConfig());
    this.tracking = { tracker: () => this.tracker, enabled: () => this.isEnabled() };
  }

  override setConfig(config: AiSdkInstrumentationConfig = {}): void {
    super.setConfig(config);
    // setConfig also runs inside the base constructor, before the tracker exists.
    (this as unknown as { tracker?: CallTracker }).tracker?.configure(config);
  }

  protected init(): InstrumentationNodeModuleDefinition[] {
    const names = ['ai', ...(this.getConfig().moduleNames ?? [])];
    const patchMastra = (exports: unknown, version?: string): unknown => this.patchMastra(exports, version);
    const unpatchMastra = (exports: unknown): void => this.unpatchMastra(exports);
    const mastra = [
      new InstrumentationNodeModuleDefinition(
        '@mastra/core',
        [SUPPORTED_MASTRA_VERSIONS],
        patchMastra,
        unpatchMastra,
        MASTRA_AGENT_FILES.map((file) => new InstrumentationNodeModuleFile(file, [SUPPORTED_MASTRA_VERSIONS], patchMastra, unpatchMastra)),
      ),
      new InstrumentationNodeModuleDefinition('@mastra/core/agent', [SUPPORTED_MASTRA_VERSIONS], patchMastra, unpatchMastra),
    ];
    return [...mastra, ...names.flatMap((name) => [
      new InstrumentationNodeModuleDefinition(
        name,
        [SUPPORTED_AI_SDK_VERSIONS],
        (exports: unknown, version?: string) => this.patch(exports, name, version),
        (exports: unknown) => this.unpatch(exports),
      ),
      new InstrumentationNodeModuleDefinition(name, ['<5 || >=8'], (exports: unknown, version?: string) => {
        loudWarn(
          `tollgate: ${name}@${version ?? 'unknown'} is outside the supported range ${SUPPORTED_AI_SDK_VERSIONS}: ` +
            'its calls get NO spans, NO cost and NO budget checks. Upgrade tollgate or pin ai to a supported version.',
        );
        return exports;
      }),
    ])];
  }

  /**
   * Patches Mastra's `Agent` class (one class, shared by every entry point that exports it):
   * the model list `prepareModels` resolves for a call is returned with each model tracked.
   */
  private patchMastra(exports: unknown, version: string | undefined): unknown {
    if (!isRecord(exports) || exports['Agent'] === undefined) return exports; // an entry point without the Agent
    const proto = protoOf(exports['Agent']);
    if (proto === undefined || typeof proto['prepareModels'] !== 'function') {
      loudWarn(`tollgate: @mastra/core@${version ?? 'unknown'} has no Agent.prototype.prepareModels: its agents' model calls get NO spans, NO cost and NO budget checks`);
      return exports;
    }
    if (isWrapped(proto['prepareModels'])) return exports;
    const tracking = this.tracking;
    const trackMastraModels = (models: unknown): unknown => {
      if (!Array.isArray(models)) return models;
      try {
        return models.map((entry: unknown) => (isRecord(entry) ? withModel(entry, (m) => trackLanguageModel(m, tracking)) : entry));
      } catch (error) {
        reportFault('mastra agent (models)', error);
        return models;
      }
    };
    this._wrap(proto, 'prepareModels', (original: unknown) =>
      function tollgateMastraModels(this: unknown, ...args: unknown[]): unknown {
        const models = (original as AnyFunction).apply(this, args);
        if (!tracking.enabled()) return models;
        return models instanceof Promise ? models.then(trackMastraModels) : trackMastraModels(models);
      },
    );
    return exports;
  }

  private unpatchMastra(exports: unknown): void {
    const proto = isRecord(exports) ? protoOf(exports['Agent']) : undefined;
    if (proto !== undefined && isWrapped(proto['prepareModels'])) this._unwrap(proto, 'prepareModels');
  }

  /**
   * Patches one loaded copy of `ai`. The ESM namespace (through import-in-the-middle) takes new
   * values; a CJS build defines its exports as non-configurable getters, so there a patched copy
   * of the exports object is returned instead, which require-in-the-middle hands to every `require`.
   */
  private patch(exports: unknown, name: string, version: string | undefined): unknown {
    if (!isRecord(exports) || typeof exports['generateText'] !== 'function') {
      loudWarn(`tollgate: ${name}@${version ?? 'unknown'} does not have the expected shape (generateText, streamText): its calls get NO spans`);
      return exports;
    }
    try {
      const target: Exports = isWritable(exports, 'generateText') ? exports : { ...exports };
      const resolveString = (id: unknown, kind: 'languageModel' | 'embeddingModel'): unknown => resolveModelId(id, kind, exports);
      for (const fn of LANGUAGE_FUNCTIONS) this.wrapExport(target, fn, (options) => this.withLanguageModel(options, resolveString));
      for (const fn of EMBEDDING_FUNCTIONS) {
        this.wrapExport(target, fn, (options) => withModel(options, (m) => trackEmbeddingModel(resolveString(m, 'embeddingModel'), this.tracking)));
      }
      for (const cls of AGENT_CLASSES) this.wrapAgent(target[cls], resolveString);
      return target;
    } catch (error) {
      reportFault(`patching ${name}@${version ?? '?'}`, error);
      return exports;
    }
  }

  private unpatch(exports: unknown): void {
    if (!isRecord(exports)) return;
    for (const fn of [...LANGUAGE_FUNCTIONS, ...EMBEDDING_FUNCTIONS]) {
      if (isWrapped(exports[fn]) && isWritable(exports, fn)) this._unwrap(exports, fn);
    }
    for (const cls of AGENT_CLASSES) {
      const proto = protoOf(exports[cls]);
      if (proto === undefined) continue;
      for (const method of ['generate', 'stream']) if (isWrapped(proto[method])) this._unwrap(proto, method);
    }
  }

  private withLanguageModel(options: unknown, resolveString: (id: unknown, kind: 'languageModel') => unknown): unknown {
    const track = (m: unknown): unknown => trackLanguageModel(resolveString(m, 'languageModel'), this.tracking);
    const withTracked = withModel(options, track);
    if (!isRecord(withTracked) || typeof withTracked['prepareStep'] !== 'function') return withTracked;
    // A step may switch models: track whatever model prepareStep returns.
    const prepareStep = withTracked['prepareStep'] as AnyFunction;
    return {
      ...withTracked,
      prepareStep(this: unknown, ...args: unknown[]): unknown {
        const result = prepareStep.apply(this, args);
        return result instanceof Promise ? result.then((r: unknown) => withModel(r, track)) : withModel(result, track);
      },
    };
  }

  private wrapExport(target: Exports, fn: string, rewrite: (options: unknown) => unknown): void {
    if (typeof target[fn] !== 'function') return;
    const enabled = (): boolean => this.isEnabled();
    const wrapper = (original: unknown): AnyFunction =>
      function tollgateAiSdkEntry(this: unknown, ...args: unknown[]): unknown {
        if (!enabled()) return (original as AnyFunction).apply(this, args);
        let options = args[0];
        try {
          options = rewrite(options);
        } catch (error) {
          reportFault(`ai-sdk ${fn} (model)`, error);
        }
        return (original as AnyFunction).call(this, options, ...args.slice(1));
      };
    if (target !== undefined && isWritable(target, fn)) this._wrap(target, fn, wrapper);
    else target[fn] = wrapper(target[fn]);
  }

  /** Agents resolve `this.settings.model` inside `generate` / `stream`: track it there. */
  private wrapAgent(cls: unknown, resolveString: (id: unknown, kind: 'languageModel') => unknown): void {
    const proto = protoOf(cls);
    if (proto === undefined) return;
    const tracking = this.tracking;
    for (const method of ['generate', 'stream']) {
      if (typeof proto[method] !== 'function' || isWrapped(proto[method])) continue;
      this._wrap(proto, method, (original: unknown) =>
        function tollgateAgentCall(this: unknown, ...args: unknown[]): unknown {
          try {
            const self = this as { settings?: unknown };
            if (isRecord(self.settings)) {
              const tracked = trackLanguageModel(resolveString(self.settings['model'], 'languageModel'), tracking);
              if (tracked !== self.settings['model']) self.settings = { ...self.settings, model: tracked };
            }
          } catch (error) {
            reportFault('ai-sdk agent (model)', error);
          }
          return (original as AnyFunction).apply(this, args);
        },
      );
    }
  }
}

/** A copy of `options` with its `model` replaced by `track(model)`; the caller's object is not touched. */
function withModel(options: unknown, track: (model: unknown) => unknown): unknown {
  if (!isRecord(options) || options['model'] === undefined) return options;
  const model = options['model'];
  const tracked = track(model);
  return tracked === model ? options : { ...options, model: tracked };
}

/**
 * A model given by id, resolved as the SDK resolves it (`globalThis.AI_SDK_DEFAULT_PROVIDER`, else
 * the `gateway` export) so that it can be tracked; a model object is returned as is.
 */
function resolveModelId(model: unknown, kind: 'languageModel' | 'embeddingModel', exports: Exports): unknown {
  if (typeof model !== 'string') return model;
  const provider = (globalThis as { AI_SDK_DEFAULT_PROVIDER?: unknown }).AI_SDK_DEFAULT_PROVIDER ?? exports['gateway'];
  if (!isRecord(provider) && typeof provider !== 'function') return model;
  const factory = (provider as Record<string, unknown>)[kind] ?? (kind === 'embeddingModel' ? (provider as Record<string, unknown>)['textEmbeddingModel'] : undefined);
  if (typeof factory !== 'function') return model;
  try {
    return (factory as (id: string) => unknown).call(provider, model);
  } catch {
    // Let the SDK raise its own error for an unknown id.
    return model;
  }
}

function isWritable(target: object, key: string): boolean {
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  return descriptor === undefined || descriptor.writable === true || (descriptor.configurable === true && descriptor.set !== undefined) || descriptor.configurable === true;
}

function isWrapped(value: unknown): boolean {
  return typeof value === 'function' && (value as { __wrapped?: unknown }).__wrapped === true;
}

