/**
 * Watching a WHATWG `ReadableStream` of events (the Speakeasy SDKs' `EventStream`): every event,
 * the end, a failure and the consumer's cancel (a `for await` left with `break`, `reader.cancel()`)
 * reach an observer. The caller gets a stream of the same class (its prototype is the source's),
 * read through lazily (high-water mark 0), so nothing is pulled before the consumer asks.
 */
import { reportFault } from '../core/index.ts';
import type { StreamObserver } from '../stainless/index.ts';

/** A stream that reads `source` and reports to `observer`; `source` is locked to it. */
export function watchReadableStream<T>(source: ReadableStream<T>, observer: StreamObserver<T>): ReadableStream<T> {
  const reader = source.getReader();
  let settled = false;
  const settle = (where: string, fn: () => void): void => {
    if (settled) return;
    settled = true;
    try {
      fn();
    } catch (error) {
      reportFault(where, error);
    }
  };
  const watched = new ReadableStream<T>(
    {
      async pull(controller): Promise<void> {
        let step: Awaited<ReturnType<ReadableStreamDefaultReader<T>['read']>>;
        try {
          step = await reader.read();
        } catch (error) {
          settle('stream error', () => observer.onError(error));
          controller.error(error);
          return;
        }
        if (step.done) {
          settle('stream done', () => observer.onDone());
          controller.close();
          return;
        }
        let show = true;
        try {
          show = observer.onChunk(step.value);
        } catch (error) {
          reportFault('stream chunk', error);
        }
        if (show) controller.enqueue(step.value);
      },
      cancel(reason: unknown): Promise<void> {
        settle('stream break', () => observer.onBreak());
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  // Same class as the SDK's stream (its own async iterator, `instanceof`): the internal slots are a
  // ReadableStream's, which every ReadableStream subclass method reads.
  const proto: unknown = Object.getPrototypeOf(source);
  if (proto !== ReadableStream.prototype && typeof proto === 'object' && proto !== null) Object.setPrototypeOf(watched, proto);
  return watched;
}
