/**
 * The wait option (`tollgate.policy.wait_ms`, config `waitMs`): a call refused only because
 * other calls' reservations are in flight (its worst case fits the settled spend) waits, at
 * most `waitMs`, for them to settle, then is admitted, or refused on settled spend.
 *
 * Waiters queue per agent, first come first served. The queue is tried again when a settle
 * or release of this process completes (the ledger guard tells us), and every `pollMillis`
 * for room freed by other processes sharing the ledger. Each round tries waiters in order
 * and stops at the first that still does not fit, so one freed hold costs one or a few
 * reserve attempts, not one per waiter. A waiter whose worst case no longer fits the settled
 * spend alone is refused at once; one still waiting at its deadline is refused with the last
 * answer. Timers are ref'd while someone waits: a waiting call keeps the process alive as
 * any pending request would, for at most `waitMs`.
 */
import type { BudgetScope, ReserveResult } from '../ledger/types.ts';
import { TIMED_OUT, within } from '../internal/deadline.ts';
import type { LedgerGuard } from './ledger-guard.ts';

interface Waiter {
  readonly scopes: readonly BudgetScope[];
  readonly amount: number;
  last: ReserveResult;
  done: boolean;
  resolve: (r: ReserveResult) => void;
}

/** See the module comment. */
export class RoomWaiters {
  readonly #guard: LedgerGuard;
  readonly #pollMillis: number;
  readonly #queues = new Map<string, Waiter[]>();
  #count = 0;
  #unsubscribe: (() => void) | undefined;
  #poll: NodeJS.Timeout | undefined;
  #pumping = false;
  #again = false;
  #scheduled = false;

  constructor(guard: LedgerGuard, pollMillis: number) {
    this.#guard = guard;
    this.#pollMillis = pollMillis;
  }

  /** Waits for room for `amount` on `scopes` (see the module comment); `refused` is the answer that made the call wait. */
  wait(agent: string, scopes: readonly BudgetScope[], amount: number, waitMs: number, refused: ReserveResult): Promise<ReserveResult> {
    const w: Waiter = { scopes, amount, last: refused, done: false, resolve: () => {} };
    const answered = new Promise<ReserveResult>((resolve) => (w.resolve = resolve));
    let q = this.#queues.get(agent);
    if (q === undefined) this.#queues.set(agent, (q = []));
    q.push(w);
    if (this.#count++ === 0) this.#start();
    // At the deadline, the last answer stands; a hold that arrives after it is nobody's.
    const onLate = (r: ReserveResult): void => {
      if (r.ok) this.#guard.release(r.reservation);
    };
    return within(answered, waitMs, { ref: true, onLate }).then((r) => (r === TIMED_OUT ? this.#finish(agent, w, w.last) : r));
  }

  /** Refuses every waiter with its last answer (the policy is closing). */
  close(): void {
    for (const [agent, q] of this.#queues) for (const w of [...q]) this.#finish(agent, w, w.last);
  }

  #start(): void {
    this.#unsubscribe = this.#guard.onRoom(() => this.#schedule());
    this.#poll = setInterval(() => this.#schedule(), this.#pollMillis);
  }

  #stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
  }

  /** Ends a wait with `r` (returned); a hold taken for a waiter already gone is released. */
  #finish(agent: string, w: Waiter, r: ReserveResult): ReserveResult {
    if (w.done) {
      // Admitted after its deadline fired: the hold is nobody's.
      if (r.ok) this.#guard.release(r.reservation);
      return r;
    }
    w.done = true;
    const q = this.#queues.get(agent);
    if (q !== undefined) {
      const i = q.indexOf(w);
      if (i >= 0) q.splice(i, 1);
      if (q.length === 0) this.#queues.delete(agent);
    }
    if (--this.#count === 0) this.#stop();
    w.resolve(r);
    return r;
  }

  /** Many settles in one turn make one round. */
  #schedule(): void {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#pump();
    });
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        for (const [agent, q] of [...this.#queues]) {
          for (const w of [...q]) {
            if (w.done) continue;
            let r: ReserveResult;
            try {
              r = await this.#guard.reserve(w.scopes, w.amount);
            } catch {
              break; // the ledger is away: the deadline decides
            }
            if (r.ok) {
              this.#finish(agent, w, r);
              continue;
            }
            w.last = r;
            // Settled spend alone leaves no room: waiting cannot help.
            if (r.spentNanos + w.amount > (r.scope.limitNanos ?? Infinity)) {
              this.#finish(agent, w, r);
              continue;
            }
            break;
          }
        }
      } while (this.#again && this.#count > 0);
    } finally {
      this.#pumping = false;
    }
  }
}
