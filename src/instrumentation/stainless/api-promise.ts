/**
 * Watching a Stainless `APIPromise` (openai-node, anthropic-sdk-typescript) without replacing it:
 * the caller keeps the SDK's own object, so `.withResponse()`, `.asResponse()`, `.parse()` and the
 * SDK's helpers that build on it keep working.
 */
import { isRecord, isThenable } from '../../internal/values.ts';
import { reportFault } from '../../internal/warn-once.ts';
import type { Usage } from '../../pricing/types.ts';

/** The parts of a Stainless `APIPromise` that tollgate relies on (stable from openai 4 / anthropic 0.x to now). */
export interface ApiPromiseLike {
  responsePromise: Promise<unknown>;
  parseResponse: (...args: unknown[]) => unknown;
  _thenUnwrap?: (transform: (result: unknown, props: unknown) => unknown) => unknown;
  asResponse?: () => Promise<unknown>;
  parsedPromise?: unknown;
}

/** True when `value` looks like a Stainless APIPromise. */
export function isApiPromise(value: unknown): value is ApiPromiseLike {
  return (
    value instanceof Promise &&
    (value as Partial<ApiPromiseLike>).responsePromise instanceof Promise &&
    typeof (value as Partial<ApiPromiseLike>).parseResponse === 'function'
  );
}

/** What an instrumentation does with the parsed result of a call. */
export interface ResultHandlers {
  /** Called with the parsed body (or the SDK Stream) once per parse. */
  onResult(result: unknown): void;
  /**
   * Called with the raw `Response` when the caller took only that (`.asResponse()` without
   * parsing), before the caller reads it: the body is theirs, read a `clone()` or estimate.
   */
  onRawResponse(response: unknown): void;
}

/** What {@link observeApiPromise} needs of a call ({@link TrackedCall} has it). */
export interface ObservedCall {
  readonly isEnded: boolean;
  end(usage: Usage | undefined): void;
  fail(error: unknown): void;
}

/**
 * Watches the SDK's own APIPromise without replacing it: errors (HTTP, connection, a gate block)
 * through `responsePromise`, results through the instance's `parseResponse`, which every
 * consumer path (`await`, `.parse()`, `.withResponse()`, `_thenUnwrap` helpers) goes through.
 * @param followDerived also watch the promises derived with `_thenUnwrap` for a bare `.asResponse()`
 *   (needed when `promise` is the client's, not the one the caller holds).
 */
export function observeApiPromise(promise: ApiPromiseLike, call: ObservedCall, handlers: ResultHandlers, followDerived = false): void {
  const raw: RawOnly = { only: false };
  const observe = (result: unknown): void => {
    raw.only = false;
    try {
      handlers.onResult(result);
    } catch (error) {
      reportFault('onResult', error);
      call.end(undefined);
    }
  };
  watchParse(promise, call, observe);
  watchThenUnwrap(promise, call, observe, raw, followDerived);
  watchAsResponse(promise, raw);
  promise.responsePromise.then(
    (props: unknown) => {
      // Runs before the caller's own continuation (attached first), so the body is still unread.
      if (raw.only && !call.isEnded) {
        try {
          handlers.onRawResponse(isRecord(props) ? props['response'] : undefined);
        } catch (error) {
          reportFault('onRawResponse', error);
          call.end(undefined);
        }
      }
    },
    (error: unknown) => call.fail(error),
  );
}

/** Set when the caller took only the raw Response (no parse). */
interface RawOnly {
  only: boolean;
}

/**
 * openai >= 7.5x gives each APIPromise its own `_thenUnwrap`, which parses through a closure rather
 * than `this.parseResponse`: observe the raw result inside the transform instead (`observe`
 * undefined: a derived promise whose base already observes). Older SDKs' derived promises parse
 * through the base's watched `parseResponse`; with `follow`, they are still wrapped for `asResponse`.
 */
function watchThenUnwrap(promise: ApiPromiseLike, call: ObservedCall, observe: ((result: unknown) => void) | undefined, raw: RawOnly, follow: boolean): void {
  const thenUnwrap = promise._thenUnwrap;
  if (typeof thenUnwrap !== 'function') return;
  const own = Object.hasOwn(promise, '_thenUnwrap');
  if (!own && !follow) return;
  promise._thenUnwrap = function tollgateThenUnwrap(this: unknown, transform: (result: unknown, props: unknown) => unknown) {
    const derived =
      own && observe !== undefined
        ? thenUnwrap.call(this, (result: unknown, props: unknown) => {
            observe(result);
            return transform(result, props);
          })
        : thenUnwrap.call(this, transform);
    if (isApiPromise(derived)) {
      if (own) watchParse(derived, call, undefined);
      if (follow) {
        watchThenUnwrap(derived, call, undefined, raw, true);
        watchAsResponse(derived, raw);
      }
    }
    return derived;
  };
}

function watchAsResponse(promise: ApiPromiseLike, raw: RawOnly): void {
  const asResponse = promise.asResponse;
  if (typeof asResponse !== 'function') return;
  promise.asResponse = function tollgateAsResponse(this: ApiPromiseLike) {
    // withResponse() starts parse() before asResponse(): only a bare asResponse() is raw-only.
    if (this.parsedPromise === undefined) raw.only = true;
    return asResponse.call(this);
  };
}

/**
 * Wraps the instance's `parseResponse`: parse errors fail the call; results go to `observe`.
 * A plain function chaining one `.then` rather than an `async` wrapper: that would add a promise
 * and an `await` per call, on the hot path of every tracked call.
 */
function watchParse(promise: ApiPromiseLike, call: ObservedCall, observe: ((result: unknown) => void) | undefined): void {
  const parseResponse = promise.parseResponse;
  const fail = (error: unknown): never => {
    call.fail(error);
    throw error;
  };
  promise.parseResponse = function tollgateParseResponse(this: unknown): unknown {
    let parsed: unknown;
    try {
      // `arguments` forwarded as is: no rest array per parse.
      // eslint-disable-next-line prefer-rest-params
      parsed = parseResponse.apply(this, arguments as unknown as unknown[]);
    } catch (error) {
      // Rejected, not thrown: the original is async, and callers may rely on a promise.
      call.fail(error);
      return Promise.reject(error as Error);
    }
    if (!isThenable(parsed)) {
      observe?.(parsed);
      return parsed;
    }
    return parsed.then((result: unknown) => {
      observe?.(result);
      return result;
    }, fail);
  };
}
