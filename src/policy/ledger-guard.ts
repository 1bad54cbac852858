/**
 * The policy's side of the ledger: every ledger call the policy makes goes through here.
 *
 * - Timeouts: a reserve or read that does not answer within `timeoutMillis` fails the call
 *   (LedgerUnavailableError); a reserve answered after that is released at once, so a hold
 *   nobody uses never blocks budget until its TTL. A synchronous ledger (`Ledger.sync`, the
 *   memory ledger) is called directly: no promise, no timer.
 * - Fail-fast window: after a failure, or a hold the ledger answered without checking it
 *   (`unchecked`, a remote ledger with failure=open), calls skip the ledger for
 *   `retryMillis`, so an outage costs one timeout per window, not one per call.
 * - Writes: settle / release / record are handed to the ledger ONCE, with the hold id. The
 *   ledger owns the one write buffer (ledger/write-buffer.ts) and retries there with the hold
 *   id, idempotently; the policy never replays a write, so a settle that lands late is never
 *   charged twice. Writes are not timed out here: nobody waits for them.
 * - Room notifications: every settle / release that completes wakes the waiters of the wait
 *   option (see waiters.ts).
 */
import { LedgerUnavailableError } from '../errors.ts';
import { withTimeout } from '../internal/deadline.ts';
import type { BudgetScope, Ledger, Reservation, ReserveResult, ScopeSpend } from '../ledger/types.ts';

/** Options of {@link LedgerGuard}. */
export interface LedgerGuardOptions {
  /** Longest wait for a reserve / read answer, ms. */
  readonly timeoutMillis: number;
  /** Fail-fast window after a failure, ms. */
  readonly retryMillis: number;
  /** How long a hold lives without settle / release, ms. */
  readonly ttlMillis: number;
  /** Clock in epoch ms. */
  readonly now: () => number;
  /** Reports a fault once per key (the policy's warn-once). */
  readonly warn: (key: string, message: string, err?: unknown) => void;
}

/** See the module comment. */
export class LedgerGuard {
  readonly ledger: Ledger;
  readonly #o: LedgerGuardOptions;
  #downUntil = 0;
  readonly #inflight = new Set<Promise<void>>();
  readonly #listeners = new Set<() => void>();

  constructor(ledger: Ledger, options: LedgerGuardOptions) {
    this.ledger = ledger;
    this.#o = options;
  }

  /** The ledger's description (no credentials). */
  get description(): string {
    return this.ledger.description;
  }

  /** Whether calls are skipping the ledger (fail-fast window). */
  isDown(now: number): boolean {
    return now < this.#downUntil;
  }

  /** Starts the fail-fast window. */
  markDown(): void {
    this.#downUntil = this.#o.now() + this.#o.retryMillis;
  }

  /** Reserves `amountNanos` on every scope; synchronous for a synchronous ledger. */
  reserve(scopes: readonly BudgetScope[], amountNanos: number): ReserveResult | Promise<ReserveResult> {
    const request = { scopes, amountNanos, ttlMillis: this.#o.ttlMillis };
    const sync = this.ledger.sync;
    if (sync !== undefined) return sync.reserve(request);
    return this.#timed(this.ledger.reserve(request), (late) => {
      // Answered after we gave up: the hold would block budget until it expires.
      if (late.ok) this.release(late.reservation);
    }).then((r) => {
      if (r.ok && r.unchecked === true) this.markDown();
      return r;
    });
  }

  /** Reads counters, bounded by the timeout. */
  spent(scopes: readonly BudgetScope[]): Promise<ScopeSpend[]> {
    return this.#timed(this.ledger.spent(scopes));
  }

  /** Replaces a hold with the real cost; never throws, never waits. */
  settle(reservation: Reservation, actualNanos: number): void {
    const sync = this.ledger.sync;
    if (sync !== undefined) {
      sync.settle(reservation, actualNanos);
      this.#notify();
      return;
    }
    this.#track(this.ledger.settle(reservation, actualNanos), 'settle', 'tollgate: the ledger refused a settle; that call is not counted');
  }

  /** Drops a hold; never throws, never waits. */
  release(reservation: Reservation): void {
    const sync = this.ledger.sync;
    if (sync !== undefined) {
      sync.release(reservation);
      this.#notify();
      return;
    }
    this.#track(this.ledger.release(reservation), 'release', 'tollgate: could not release a reservation; it expires by itself');
  }

  /** Adds spend with no hold; never throws, never waits. */
  record(scopes: readonly BudgetScope[], amountNanos: number): void {
    this.#track(this.ledger.record(scopes, amountNanos), 'record', 'tollgate: the ledger refused to record spend; it is not counted');
  }

  /** Writes still buffered by the ledger (0 when it has no buffer). */
  get pendingWrites(): number {
    return this.ledger.pendingWrites ?? 0;
  }

  /** Waits for writes in flight, then asks the ledger to write what it buffered; resolves with what is still buffered. */
  async flush(): Promise<number> {
    if (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    return this.ledger.flush === undefined ? 0 : this.ledger.flush();
  }

  /** Calls `fn` after every settle / release this process completes; returns the unsubscribe function. */
  onRoom(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #track(p: Promise<void>, key: string, message: string): void {
    const tracked = p.then(
      () => {
        this.#inflight.delete(tracked);
        this.#notify();
      },
      (err: unknown) => {
        this.#inflight.delete(tracked);
        this.#o.warn(key, message, err);
        this.#notify();
      },
    );
    this.#inflight.add(tracked);
  }

  #notify(): void {
    for (const fn of this.#listeners) fn();
  }

  #timed<T>(p: Promise<T>, onLate?: (value: T) => void): Promise<T> {
    const ms = this.#o.timeoutMillis;
    return withTimeout(p, ms, () => new LedgerUnavailableError(this.ledger.description, `no answer within ${ms} ms`), onLate === undefined ? {} : { onLate });
  }
}
