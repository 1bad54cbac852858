/**
 * src/internal/deadline.ts: the one way tollgate bounds a wait (ledger answers, waiters, a Redis
 * connection, the flush at exit).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TIMED_OUT, within, withTimeout } from '../../src/internal/deadline.ts';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Timers currently keeping the event loop alive. */
function refTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

test('within: the value when it comes in time, TIMED_OUT when it does not, and the late value goes to onLate', async () => {
  assert.equal(await within(Promise.resolve(7), 1000), 7);
  const slow = deferred<number>();
  const late: number[] = [];
  const outcome = await within(slow.promise, 10, { onLate: (v) => late.push(v) });
  assert.equal(outcome, TIMED_OUT);
  slow.resolve(3);
  await sleep(1);
  assert.deepEqual(late, [3]);
});

test('within / withTimeout reject as the promise does, always with an Error', async () => {
  await assert.rejects(within(Promise.reject(new RangeError('boom')), 1000), RangeError);
  await assert.rejects(within(Promise.reject('text'), 1000), (e: unknown) => e instanceof Error && e.message === 'text');
  await assert.rejects(withTimeout(Promise.reject(new TypeError('x')), 1000, () => new Error('late')), TypeError);
});

test('withTimeout rejects with the given error at the deadline; a rejection after it is swallowed', async () => {
  const slow = deferred<string>();
  await assert.rejects(withTimeout(slow.promise, 10, () => new Error('no answer within 10 ms')), /no answer within 10 ms/);
  slow.reject(new Error('too late to matter'));
  await sleep(1);
});

test('a deadline already past expires at once, and a late answer still reaches onLate', async () => {
  const slow = deferred<number>();
  const late: number[] = [];
  const started = performance.now();
  assert.equal(await within(slow.promise, 0, { onLate: (v) => late.push(v) }), TIMED_OUT);
  await assert.rejects(withTimeout(new Promise<never>(() => {}), -5, () => new Error('past')), /past/);
  assert.ok(performance.now() - started < 50);
  slow.resolve(1);
  await sleep(1);
  assert.deepEqual(late, [1]);
});

test("the timer is unref'd unless ref is asked for, and cleared as soon as the promise settles", async () => {
  const before = refTimers();
  const a = deferred<void>();
  const unrefd = within(a.promise, 60_000);
  assert.equal(refTimers(), before, "an unref'd deadline does not keep the process alive");
  const b = deferred<void>();
  const refd = within(b.promise, 60_000, { ref: true });
  assert.equal(refTimers(), before + 1, "a ref'd deadline does");
  b.resolve();
  await refd;
  assert.equal(refTimers(), before, 'settled: the timer is gone');
  a.resolve();
  await unrefd;
});
