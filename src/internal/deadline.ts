/**
 * Deadlines: a promise raced against a timer, the one way tollgate bounds a wait (the policy's
 * ledger answers, the wait option's waiters, a Redis connection, the flush at exit). The timer
 * is cleared as soon as the promise settles, and is unref'd unless the caller says the wait must
 * keep the process alive.
 */

/** What {@link within} resolves with when the time ran out first. */
export const TIMED_OUT: unique symbol = Symbol('tollgate.timed-out');

/** Options of {@link within} and {@link withTimeout}. */
export interface DeadlineOptions<T> {
  /**
   * Keep the process alive while waiting (a ref'd timer): for a wait someone is blocked on, such
   * as a call waiting for room or the flush at exit. @default false (unref'd)
   */
  readonly ref?: boolean;
  /** Called with the promise's value when it arrives after the time ran out (e.g. to release a hold nobody will use). */
  readonly onLate?: (value: T) => void;
}

/**
 * The outcome of `promise`, or {@link TIMED_OUT} once `ms` have passed. Rejects as `promise` does
 * (always with an Error). With `ms` <= 0 (a deadline already past) it resolves TIMED_OUT at once.
 */
export function within<T>(promise: PromiseLike<T>, ms: number, options: DeadlineOptions<T> = {}): Promise<T | typeof TIMED_OUT> {
  return race(promise, ms, options, (resolve) => resolve(TIMED_OUT));
}

/**
 * The outcome of `promise`, or a rejection with `timeoutError()` once `ms` have passed. Rejects as
 * `promise` does (always with an Error). With `ms` <= 0 it rejects at once.
 */
export function withTimeout<T>(promise: PromiseLike<T>, ms: number, timeoutError: () => Error, options: DeadlineOptions<T> = {}): Promise<T> {
  return race<T, never>(promise, ms, options, (_resolve, reject) => reject(timeoutError()));
}

function race<T, U>(
  promise: PromiseLike<T>,
  ms: number,
  options: DeadlineOptions<T>,
  expire: (resolve: (value: U) => void, reject: (error: Error) => void) => void,
): Promise<T | U> {
  const onLate = options.onLate;
  if (!(ms > 0)) {
    // Already past: nobody waits for the answer, but a late one may still need handling.
    promise.then(onLate, () => {});
    return new Promise<U>(expire);
  }
  return new Promise<T | U>((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      expire(resolve, reject);
    }, ms);
    if (options.ref !== true) timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (!expired) resolve(value);
        else onLate?.(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (!expired) reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
