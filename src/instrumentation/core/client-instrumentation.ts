/**
 * What every tollgate client instrumentation shares beyond the call life cycle in
 * `tracked-call.ts`: the module definitions (the supported range, npm aliases, and a loud
 * warning for a version outside it), the CallTracker and config updates, and the small
 * readers of a client module (class prototypes, the server a client talks to).
 */
import { diag } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import { isRecord } from '../../internal/values.ts';
import { reportFault, WarnOnce } from '../../internal/warn-once.ts';
import type { TollgateInstrumentationConfig } from './settings.ts';
import { serverOf } from './text.ts';
import { CallTracker } from './tracked-call.ts';

/** Options of an SDK instrumentation. */
export interface SdkInstrumentationConfig extends TollgateInstrumentationConfig {
  /**
   * Package names to hook besides the SDK's own: npm aliases of it
   * (`"openai-v4": "npm:openai@4"`).
   * @default []
   */
  moduleNames?: string[];
}

/** The SDK an instrumentation hooks. */
export interface SdkModule {
  /** The npm package name, e.g. `openai`. */
  readonly name: string;
  /** The versions patched, e.g. `>=4 <8`. */
  readonly supported: string;
  /** Every other version: these get a loud warning instead of silence. */
  readonly unsupported: string;
  /** What the shape check looks for, named in the warning when it fails. */
  readonly shape: string;
}

/** A method being wrapped. */
export type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/** Messages already printed on the console (a handful: one per unsupported client version). */
const printed = new WarnOnce(16);

/** Warns through diag and, once per message, on the console: diag is silent unless the app set a logger. */
export function loudWarn(message: string): void {
  diag.warn(message);
  if (printed.first(message)) console.warn(message);
}

/**
 * Base of every tollgate client instrumentation: hooks the client module (CJS and ESM, npm
 * aliases), warns loudly for a version outside the supported range, and owns the
 * {@link CallTracker} that starts each call's span with the settings in force.
 */
export abstract class ClientInstrumentation<C extends SdkInstrumentationConfig> extends InstrumentationBase<C> {
  protected readonly tracker: CallTracker;

  constructor(name: string, version: string, config: C) {
    super(name, version, config);
    this.tracker = new CallTracker(() => this.tracer, this.getConfig());
  }

  override setConfig(config: C = {} as C): void {
    super.setConfig(config);
    // setConfig also runs inside the base constructor, before the tracker exists.
    (this as unknown as { tracker?: CallTracker }).tracker?.configure(config);
  }

  /** The SDK this instrumentation hooks. A method, not a field: init() runs inside the base constructor. */
  protected abstract sdk(): SdkModule;

  /** Patches one loaded copy of the SDK; returns its exports. */
  protected abstract patch(exports: unknown, name: string, version: string | undefined): unknown;

  protected abstract unpatch(exports: unknown): void;

  protected init(): InstrumentationNodeModuleDefinition[] {
    const sdk = this.sdk();
    const names = [sdk.name, ...(this.getConfig().moduleNames ?? [])];
    return names.flatMap((name) => [
      new InstrumentationNodeModuleDefinition(
        name,
        [sdk.supported],
        (exports: unknown, version?: string) => this.patch(exports, name, version),
        (exports: unknown) => this.unpatch(exports),
      ),
      new InstrumentationNodeModuleDefinition(name, [sdk.unsupported], (exports: unknown, version?: string) => {
        loudWarn(
          `tollgate: ${name}@${version ?? 'unknown'} is outside the supported range ${sdk.supported}: ` +
            `its calls get NO spans, NO cost and NO budget checks. Upgrade tollgate or pin ${sdk.name} to a supported version.`,
        );
        return exports;
      }),
    ]);
  }

  /** Wraps each of `names` that is a function on `target` (one SDK's patch points). */
  protected wrapMethods(target: Record<string, unknown>, names: readonly string[], wrapper: (original: AnyFunction, name: string) => AnyFunction): void {
    for (const name of names) {
      if (typeof target[name] === 'function') this._wrap(target, name, ((original: AnyFunction) => wrapper(original, name)) as (original: unknown) => unknown);
    }
  }

  /** Undoes {@link wrapMethods}. */
  protected unwrapMethods(target: Record<string, unknown>, names: readonly string[]): void {
    for (const name of names) if (typeof target[name] === 'function') this._unwrap(target, name);
  }

  /**
   * The frame every `patch` shares: `target` is what `exports` offers to hook (undefined when the
   * module's shape is not the expected one: one loud warning, nothing patched); `wrap` runs under a
   * fault guard, so a fault of tollgate's never breaks the user's import.
   */
  protected patchTarget<T>(exports: unknown, name: string, version: string | undefined, target: T | undefined, wrap: (target: T) => void): unknown {
    if (target === undefined) {
      this.warnShape(name, version);
      return exports;
    }
    try {
      wrap(target);
    } catch (error) {
      reportFault(`patching ${name}@${version ?? '?'}`, error);
    }
    return exports;
  }

  /** Reports a loaded SDK whose classes are not where this version of tollgate expects them. */
  protected warnShape(name: string, version: string | undefined): void {
    loudWarn(`tollgate: ${name}@${version ?? 'unknown'} does not have the expected shape (${this.sdk().shape}): its calls get NO spans`);
  }
}

/** The prototype of a class exported by a client module, else undefined (the module's shape changed). */
export function protoOf(cls: unknown): Record<string, unknown> | undefined {
  if (typeof cls !== 'function') return undefined;
  const proto = (cls as { prototype?: unknown }).prototype;
  return isRecord(proto) ? proto : undefined;
}

/** Who a client talks to: `gen_ai.provider.name`, `server.address`, `server.port`. */
export interface ClientInfo {
  readonly provider: string;
  readonly address: string | undefined;
  readonly port: number | undefined;
}

/**
 * A reader of what a client object says about itself (its {@link ClientInfo}, or more), worked
 * out once per client object by `describe`; `none` for a value that is not an object.
 */
export function perClient<I>(describe: (client: object) => I, none: I): (client: unknown) => I {
  const infos = new WeakMap<object, I>();
  return (client: unknown): I => {
    if (typeof client !== 'object' || client === null) return none;
    let info = infos.get(client);
    if (info === undefined) {
      info = describe(client);
      infos.set(client, info);
    }
    return info;
  };
}

/**
 * A memoised reader of {@link ClientInfo} for client objects that carry their base URL in
 * `baseURL` (the Stainless clients, and most others): read once per client object.
 * @param providerOf names the provider from the client and its host (`''` when unknown)
 * @param fallback the provider named for a value that is not a client object
 */
export function clientInfoReader(providerOf: (client: object, host: string) => string, fallback: string): (client: unknown) => ClientInfo {
  return perClient<ClientInfo>(
    (client) => {
      const server = serverOf((client as { baseURL?: unknown }).baseURL);
      return { provider: providerOf(client, server?.address ?? ''), address: server?.address, port: server?.port };
    },
    { provider: fallback, address: undefined, port: undefined },
  );
}
