/**
 * Watching a Stainless `Stream` without replacing it: every event, the end, a failure and an early
 * break reach an observer; the caller keeps the SDK's own object (`tee()`, `toReadableStream()`).
 */
import { isRecord } from '../../internal/values.ts';
import { reportFault } from '../../internal/warn-once.ts';

/** True when a parsed result is a Stainless `Stream` (its `iterator` factory and abort `controller`). */
export function isSdkStream(value: unknown): value is object {
  return isRecord(value) && typeof value['iterator'] === 'function' && 'controller' in value;
}

/** Callbacks of a watched stream; all optional except `onChunk`. */
export interface StreamObserver<T> {
  /** Sees every event; return false to hide it from the consumer. */
  onChunk(chunk: T): boolean;
  /** The stream ended normally. */
  onDone(): void;
  /** The stream failed (malformed SSE, connection lost, ...). */
  onError(error: unknown): void;
  /** The consumer stopped early (`break`, `return()`, an abandoned `tee` branch pair). */
  onBreak(): void;
}

interface StreamLike<T> {
  iterator: () => AsyncIterator<T>;
}

/**
 * Marks a stream whose iterator is already watched. A symbol-keyed property on the stream rather
 * than a module-wide WeakSet: no weak (ephemeron) entry for the GC to process per streamed call.
 */
const kWatchedStream: unique symbol = Symbol('tollgate.watchedStream');

/**
 * Watches a Stainless `Stream` without replacing it: wraps its `iterator` factory, which
 * `for await`, `tee()` and `toReadableStream()` all draw from. Returns the same stream.
 * Idempotent per stream.
 */
export function wrapStreamIterator<S extends object, T>(stream: S, observer: StreamObserver<T>): S {
  const target = stream as unknown as StreamLike<T> & { [kWatchedStream]?: true } & Record<symbol, unknown>;
  if (typeof target.iterator !== 'function' || target[kWatchedStream] === true) return stream;
  target[kWatchedStream] = true;
  const state = { started: false };
  const inner = target.iterator;
  target.iterator = function tollgateIterator(this: unknown) {
    return closableBeforeStart(inner.call(this), observer, state);
  };
  // openai >= 7.5x gives chat streams their own async iterator, a generator over `iterator`:
  // given up before its first next(), it never calls `iterator` at all. Watch it too.
  const outer = target[Symbol.asyncIterator];
  if (Object.hasOwn(target, Symbol.asyncIterator) && typeof outer === 'function') {
    target[Symbol.asyncIterator] = function tollgateAsyncIterator(this: unknown) {
      const iterator = (outer as () => AsyncIterator<T>).call(this);
      const ownReturn = iterator.return?.bind(iterator);
      if (ownReturn === undefined) return iterator;
      iterator.return = (value?: unknown) => {
        if (!state.started) {
          state.started = true;
          safely('stream break', () => observer.onBreak());
        }
        return ownReturn(value);
      };
      return iterator;
    };
  }
  return stream;
}

/**
 * An async generator's body (and so its `finally`) never runs when `return()` comes before the
 * first `next()`: a consumer that gives up on a stream it never read would leave the span open
 * and the budget reservation held until its TTL. This wrapper closes both in that case.
 */
function closableBeforeStart<T>(source: AsyncIterator<T>, observer: StreamObserver<T>, state: { started: boolean }): AsyncGenerator<T, void, undefined> {
  const generator = observeIterator(source, observer);
  const originalNext = generator.next.bind(generator);
  const originalReturn = generator.return.bind(generator);
  let started = false;
  generator.next = (...args: [] | [undefined]) => {
    started = true;
    state.started = true;
    return originalNext(...args);
  };
  generator.return = async (value?: void | PromiseLike<void>) => {
    if (!started) {
      started = true;
      if (!state.started) {
        state.started = true;
        safely('stream break', () => observer.onBreak());
      }
      await source.return?.();
    }
    return originalReturn(value as void);
  };
  return generator;
}

async function* observeIterator<T>(source: AsyncIterator<T>, observer: StreamObserver<T>): AsyncGenerator<T, void, undefined> {
  let finished = false;
  try {
    for (;;) {
      const step = await source.next();
      if (step.done === true) break;
      let show = true;
      try {
        show = observer.onChunk(step.value);
      } catch (error) {
        reportFault('stream chunk', error);
      }
      if (show) yield step.value;
    }
    finished = true;
    safely('stream done', () => observer.onDone());
  } catch (error) {
    finished = true;
    safely('stream error', () => observer.onError(error));
    throw error;
  } finally {
    if (!finished) {
      // The consumer left early: close the source (aborts the HTTP request), then settle the span.
      safely('stream break', () => observer.onBreak());
      await source.return?.();
    }
  }
}

function safely(where: string, fn: () => void): void {
  try {
    fn();
  } catch (error) {
    reportFault(where, error);
  }
}
