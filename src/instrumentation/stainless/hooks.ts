/**
 * The client hooks of a Stainless SDK: the call marker carried in request options, the budget
 * gate in the client's `prepareOptions`, and the routing that keeps the gate when another
 * instrumentation displaced tollgate's `create` wrapper ("Displaced create" below).
 */
import { context } from '@opentelemetry/api';
import type { Context } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { isRecord, isThenable } from '../../internal/values.ts';
import { reportFault } from '../../internal/warn-once.ts';
import type { Usage } from '../../pricing/types.ts';
import { TrackedCall } from '../core/tracked-call.ts';
import { isApiPromise, observeApiPromise } from './api-promise.ts';
import type { ObservedCall, ResultHandlers } from './api-promise.ts';

/**
 * Marks request options as belonging to a tracked call. The SDKs copy request options with
 * object spread, which keeps symbol keys, so the marker reaches `prepareOptions` on every attempt.
 */
export const kTrackedCall: unique symbol = Symbol('tollgate.trackedCall');

/** A copy of the caller's request options carrying the call marker. The caller's object is not touched. */
export function markOptions(options: unknown, call: TrackedCall): Record<PropertyKey, unknown> {
  // An assignment, not a computed key in the literal (a runtime call per request in optimised code).
  const marked: Record<PropertyKey, unknown> = isRecord(options) ? { ...options } : {};
  marked[kTrackedCall] = call;
  return marked;
}

export type PrepareOptions = (this: unknown, options: Record<PropertyKey, unknown>, ...rest: unknown[]) => Promise<void>;

/**
 * Wraps a client's async `prepareOptions(options)`, which both SDKs await before building each
 * request (and again on each retry, with the same options object). For a marked call it awaits
 * the gate first; a block error rejects the SDK's own promise before anything is sent. A request
 * tagged by {@link wrapRequest} (an inference request whose `create` wrapper was displaced) starts
 * its call here, on its first attempt, and is then marked like any other.
 */
export function wrapPrepareOptions(original: PrepareOptions): PrepareOptions {
  return function tollgatePrepareOptions(this: unknown, options: Record<PropertyKey, unknown>): Promise<void> {
    // `arguments` forwarded as is (the SDKs pass one argument): no rest array on every request.
    // eslint-disable-next-line prefer-rest-params
    const args = arguments as unknown as [Record<PropertyKey, unknown>, ...unknown[]];
    let call = isRecord(options) ? options[kTrackedCall] : undefined;
    if (!(call instanceof TrackedCall)) {
      const displaced = isRecord(options) ? options[kDisplacedCall] : undefined;
      if (!(displaced instanceof DisplacedCall)) return original.apply(this, args);
      call = displaced.begin(options, this);
      if (call === undefined) return original.apply(this, args);
    }
    let pending: Promise<void> | undefined;
    try {
      pending = (call as TrackedCall).beforeAttempt(options as { body?: unknown });
    } catch (error) {
      // Only a block decision throws here: reject like the async hook would.
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return pending === undefined ? original.apply(this, args) : pending.then(() => original.apply(this, args));
  };
}

// ---------------------------------------------------------------------------
// Displaced create
//
// An OTel instrumentation enabled after tollgate that patches the same `create` (the official
// `@opentelemetry/instrumentation-openai` does, on openai 4-6) goes through
// `InstrumentationBase._wrap`, which first unwraps whatever wrapper is there: tollgate's `create`
// wrapper is gone, its calls are no longer marked, and without more the gate never runs. Only
// tollgate patches the client's `request` and `prepareOptions`, so the gate is anchored there:
// - every request issued while no tollgate `create` is on the stack (`createScope`)
//   is copied, when the instrumentation recognises it as an inference request (method + path),
//   with a `DisplacedCall` under `kDisplacedCall`, and the SDK's APIPromise is watched through it;
// - `prepareOptions` starts the call on the first attempt (the span, as a child of whatever span
//   is active there: the displacing instrumentation's or the SDK's own), marks the options, and
//   runs the same gate: block throws before sending, rewrite replaces `options.body`. Retries reuse
//   the options object, so the gate admits once per request; the result settles the reservation
//   with the real cost, exactly as on the `create` path.
// The copy is per `request()` call, so an options object a caller reuses for two requests
// (`client.request(opts)` twice) is admitted twice. The displacing instrumentation's span is
// not double-counted: the span processor counts only the tollgate span nested in it.

/**
 * How many of tollgate's patched `create` calls are on the stack: requests issued while one runs
 * are its own (marked, or deliberately left alone), so {@link wrapRequest} passes them straight
 * through. `trackedCreate` (client.ts) counts itself in; {@link ownCreate} does it for any other wrapper.
 */
export const createScope = { depth: 0 };

/** Wraps a patched `create` that does not count itself in {@link createScope}. */
export function ownCreate(tracked: (this: unknown, ...args: unknown[]) => unknown): (this: unknown, ...args: unknown[]) => unknown {
  return function tollgateCreate(this: unknown, ...args: unknown[]): unknown {
    createScope.depth++;
    try {
      return tracked.apply(this, args);
    } finally {
      createScope.depth--;
    }
  };
}

/** What an instrumentation tells {@link wrapRequest} about the requests it tracks without its `create` wrapper. */
export interface DisplacedRoutes {
  /** Whether resolved request options are an inference request this instrumentation tracks (method and path). Called per request: O(1). */
  matches(options: Readonly<Record<PropertyKey, unknown>>): boolean;
  /**
   * Starts tracking: the call (span started in `parent`) and how its result is read. May replace
   * `options.body` with a copy (e.g. to ask for stream usage). Undefined leaves the request untracked.
   */
  begin(options: Record<PropertyKey, unknown>, client: unknown, parent: Context): { call: TrackedCall; handlers: ResultHandlers } | undefined;
}

/** Tag of request options that reached the client without tollgate's `create`. */
const kDisplacedCall: unique symbol = Symbol('tollgate.displacedCall');

/**
 * A request that may become a tracked call in `prepareOptions`. Stands in for the call while its
 * APIPromise is watched (the call only exists once the options are resolved).
 */
class DisplacedCall implements ObservedCall, ResultHandlers {
  private readonly routes: DisplacedRoutes;
  private call: TrackedCall | undefined;
  private handlers: ResultHandlers | undefined;
  private started = false;

  constructor(routes: DisplacedRoutes) {
    this.routes = routes;
  }

  /** Starts the call on the first attempt; later attempts find the mark left on `options`. */
  begin(options: Record<PropertyKey, unknown>, client: unknown): TrackedCall | undefined {
    if (this.started) return this.call;
    this.started = true;
    const parent = context.active();
    if (isTracingSuppressed(parent)) return undefined;
    try {
      const begun = this.routes.begin(options, client, parent);
      if (begun === undefined) return undefined;
      this.call = begun.call;
      this.handlers = begun.handlers;
      options[kTrackedCall] = begun.call;
      return begun.call;
    } catch (error) {
      reportFault('displaced call (start)', error);
      return undefined;
    }
  }

  get isEnded(): boolean {
    return this.call === undefined || this.call.isEnded;
  }

  end(usage: Usage | undefined): void {
    this.call?.end(usage);
  }

  fail(error: unknown): void {
    this.call?.fail(error);
  }

  onResult(result: unknown): void {
    this.handlers?.onResult(result);
  }

  onRawResponse(response: unknown): void {
    this.handlers?.onRawResponse(response);
  }
}

export type RequestMethod = (this: unknown, options: unknown, ...rest: unknown[]) => unknown;

/**
 * Wraps a client's `request(options)`, through which every `post` of the SDK goes. A request issued
 * outside tollgate's `create` that `routes` recognises gets its own copy of the options, tagged so
 * that `prepareOptions` gates it, and its APIPromise is watched (see "Displaced create").
 */
export function wrapRequest(original: RequestMethod, routes: DisplacedRoutes): RequestMethod {
  const tag = (options: unknown, displaced: DisplacedCall): unknown =>
    isRecord(options) && !isMarked(options) && routes.matches(options) ? { ...options, [kDisplacedCall]: displaced } : options;
  return function tollgateRequest(this: unknown, options: unknown): unknown {
    // `arguments` forwarded as is (the SDKs pass options, sometimes a second argument): no rest
    // array on every request, most of which pass straight through.
    // eslint-disable-next-line prefer-rest-params
    const args = arguments as unknown as [unknown, ...unknown[]];
    if (createScope.depth > 0) return original.apply(this, args);
    let displaced: DisplacedCall;
    let tagged: unknown;
    try {
      // A plain options object (a direct `client.request(...)`) is decided now, without a promise hop.
      if (!isThenable(options) && (!isRecord(options) || isMarked(options) || !routes.matches(options))) {
        return original.apply(this, args);
      }
      const d = new DisplacedCall(routes);
      displaced = d;
      // methodRequest passes a promise: tag once it resolves (the SDK awaits it anyway).
      tagged = isThenable(options) ? Promise.resolve(options).then((o) => tag(o, d)) : tag(options, d);
    } catch (error) {
      reportFault('request (tag)', error);
      return original.apply(this, args);
    }
    const rest = Array.prototype.slice.call(args, 1) as unknown[];
    const result = original.call(this, tagged, ...rest);
    try {
      if (isApiPromise(result)) observeApiPromise(result, displaced, displaced, true);
    } catch (error) {
      reportFault('request (observe)', error);
    }
    return result;
  };
}

function isMarked(options: object): boolean {
  return (options as Record<PropertyKey, unknown>)[kTrackedCall] instanceof TrackedCall;
}
