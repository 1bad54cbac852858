/**
 * The base of the instrumentations of Stainless-generated SDKs (`openai`, `@anthropic-ai/sdk`):
 * the client hooks (`prepareOptions` for the gate, `request` for displaced calls) and the one
 * `create` wrapper both SDKs share. Each SDK instrumentation supplies only what differs: where
 * its classes are, how a call is described, how its results are read.
 */
import { context } from '@opentelemetry/api';
import type { Context } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { isRecord, isThenable } from '../../internal/values.ts';
import { reportFault } from '../../internal/warn-once.ts';
import { ClientInstrumentation } from '../core/client-instrumentation.ts';
import type { SdkInstrumentationConfig } from '../core/client-instrumentation.ts';
import type { TrackedCall } from '../core/tracked-call.ts';
import { isApiPromise, observeApiPromise } from './api-promise.ts';
import type { ResultHandlers } from './api-promise.ts';
import { createScope, markOptions, wrapPrepareOptions, wrapRequest } from './hooks.ts';
import type { DisplacedRoutes, PrepareOptions, RequestMethod } from './hooks.ts';

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/** A call an instrumentation started tracking in `create`. */
export interface BegunCall {
  readonly call: TrackedCall;
  /** How the call's parsed result (or raw Response) is read. */
  readonly handlers: ResultHandlers;
  /** The body to send when it is not the caller's (a copy, e.g. asking for stream usage). */
  readonly sendBody?: Record<string, unknown> | undefined;
}

/**
 * Starts tracking one `create(body, options)` call: `client` is the resource's `_client`, `parent`
 * the active context. Undefined leaves the call untracked.
 */
export type BeginCreate = (body: Record<string, unknown>, client: unknown, parent: Context) => BegunCall | undefined;

/**
 * The patched `create` of a Stainless resource: starts the call, sends it with the span active and
 * the call marker in its request options (so `prepareOptions` runs the gate), and watches the
 * SDK's own APIPromise, which is returned unchanged. Calls with tracing suppressed, or with a
 * body that is not an object, pass straight through.
 * @param where names the call site in fault reports (`openai create`)
 */
export function trackedCreate(where: string, original: AnyFunction, begin: BeginCreate): AnyFunction {
  return function tollgateTrackedCreate(this: unknown, ...args: unknown[]): unknown {
    // Requests issued from here on are this create's own (hooks.ts, "Displaced create").
    createScope.depth++;
    try {
      return track(this, args, where, original, begin);
    } finally {
      createScope.depth--;
    }
  };
}

function track(self: unknown, args: unknown[], where: string, original: AnyFunction, begin: BeginCreate): unknown {
  const body = args[0];
  const active = context.active();
  if (!isRecord(body) || isTracingSuppressed(active)) return original.apply(self, args);
  let begun: BegunCall | undefined;
  try {
    begun = begin(body, (self as { _client?: unknown })._client, active);
  } catch (error) {
    reportFault(`${where} (start)`, error);
  }
  if (begun === undefined) return original.apply(self, args);
  const call = begun.call;
  const options = args[1];
  // `args` is this call's own array: reuse it for the SDK call instead of copying it.
  if (begun.sendBody !== undefined) args[0] = begun.sendBody;
  args[1] = isThenable(options) ? Promise.resolve(options).then((o) => markOptions(o, call)) : markOptions(options, call);
  let result: unknown;
  try {
    result = context.with(call.context, () => original.apply(self, args));
  } catch (error) {
    call.fail(error);
    throw error;
  }
  try {
    if (isApiPromise(result)) observeApiPromise(result, call, begun.handlers);
    else call.end(undefined);
  } catch (error) {
    reportFault(`${where} (observe)`, error);
  }
  return result;
}

/**
 * Reads a raw `Response` the caller took with `.asResponse()` (without parsing), before the caller
 * reads it: the body is theirs, so a non-stream JSON body is read from a `clone()` and passed to
 * `onJson`; anything else (a stream, another content type, an unreadable clone) goes to `onOpaque`,
 * which estimates.
 */
export function readRawResponse(response: unknown, stream: boolean, onJson: (json: unknown) => void, onOpaque: () => void): void {
  const r = response as { headers?: Headers; clone?: () => Response } | undefined;
  const type = r?.headers?.get('content-type') ?? '';
  if (!stream && type.includes('json') && typeof r?.clone === 'function') {
    r.clone()
      .json()
      .then(onJson, onOpaque);
    return;
  }
  onOpaque();
}

/** Base of the instrumentations of Stainless-generated SDKs. */
export abstract class StainlessInstrumentation<C extends SdkInstrumentationConfig> extends ClientInstrumentation<C> {
  /** The inference requests this SDK sends, for the gate on the client's `request` (see hooks.ts, "Displaced create"). */
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

  /** Replaces `resource.create` with the tracked one ({@link trackedCreate}, which counts itself as tollgate's own for `request`). */
  protected wrapCreate(resource: Record<string, unknown>, where: string, begin: BeginCreate): void {
    this._wrap(resource, 'create', (original: unknown) => trackedCreate(where, original as AnyFunction, begin));
  }
}
