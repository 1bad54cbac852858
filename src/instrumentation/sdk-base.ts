/**
 * What tollgate's two SDK instrumentations share beyond the call life cycle in
 * common.ts: the module definitions (the supported range, npm aliases, and a loud
 * warning for a version outside it), the CallTracker, and config updates.
 */
import { diag } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import { CallTracker, wrapPrepareOptions, wrapRequest } from './common.ts';
import type { DisplacedRoutes, PrepareOptions, RequestMethod, TollgateInstrumentationConfig } from './common.ts';

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

const printed = new Set<string>();

/** Warns through diag and, once per message, on the console: diag is silent unless the app set a logger. */
export function loudWarn(message: string): void {
  diag.warn(message);
  if (!printed.has(message) && printed.size < 16) {
    printed.add(message);
    console.warn(message);
  }
}

/** Base of the `openai` and `@anthropic-ai/sdk` instrumentations. */
export abstract class SdkInstrumentation<C extends SdkInstrumentationConfig> extends InstrumentationBase<C> {
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

  /** The inference requests this SDK sends, for the gate on the client's `request` (see common.ts, "Displaced create"). */
  protected abstract displacedRoutes(): DisplacedRoutes;

  /**
   * Hooks the client prototype every resource goes through: `prepareOptions` (the budget
   * gate) and `request` (the gate for calls whose `create` wrapper another instrumentation
   * displaced). Only tollgate patches these two.
   */
  protected wrapClient(client: Record<string, unknown>): void {
    this._wrap(client, 'prepareOptions', (original: unknown) => wrapPrepareOptions(original as PrepareOptions));
    if (typeof client['request'] === 'function') {
      this._wrap(client, 'request', (original: unknown) => wrapRequest(original as RequestMethod, this.displacedRoutes()));
    }
  }

  protected unwrapClient(client: Record<string, unknown>): void {
    this._unwrap(client, 'prepareOptions');
    if (typeof client['request'] === 'function') this._unwrap(client, 'request');
  }

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

  /** Reports a loaded SDK whose classes are not where this version of tollgate expects them. */
  protected warnShape(name: string, version: string | undefined): void {
    loudWarn(`tollgate: ${name}@${version ?? 'unknown'} does not have the expected shape (${this.sdk().shape}): its calls get NO spans`);
  }
}
