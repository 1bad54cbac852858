/**
 * The default ledger: counters in this process's memory. Fast (a map hit per
 * scope) and exact, but forgotten on restart and not shared between processes;
 * use `sqlite:` (one host) or `redis://` (a fleet) for that.
 */
import { boundedNanos, MAX_COUNTER_NANOS, type BudgetScope, type Ledger, type Reservation, type ReserveRequest, type ReserveResult, type ScopeSpend, type SyncLedgerOps } from './types.ts';

/** Options of {@link MemoryLedger}. */
export interface MemoryLedgerOptions {
  /** Clock in epoch milliseconds; inject a fake one in tests. @default Date.now */
  readonly now?: () => number;
  /**
   * How long a task counter (a scope with `resetAt: null`) is kept after its last
   * use. Windowed counters are dropped once their window is over.
   * @default 604_800_000 (7 days)
   */
  readonly idleCounterTtlMillis?: number;
  /** Most counters kept; the least recently created beyond it are dropped. @default 100_000 */
  readonly maxCounters?: number;
}

interface Counter {
  spent: number;
  reserved: number;
  /** Epoch ms after which the counter may be dropped. */
  expiresAt: number;
}

interface Hold {
  readonly counters: Counter[];
  readonly amount: number;
  readonly expiresAt: number;
}

const EMPTY: ScopeSpend = Object.freeze({ spentNanos: 0, reservedNanos: 0 });

/** In-process {@link Ledger}. Every operation completes synchronously, so reserve is trivially atomic. */
export class MemoryLedger implements Ledger {
  readonly description = 'memory';
  readonly #now: () => number;
  readonly #idleTtl: number;
  readonly #maxCounters: number;
  readonly #counters = new Map<string, Counter>();
  readonly #holds = new Map<string, Hold>();
  #seq = 0;
  /** Earliest expiresAt among live holds; a sweep is due once now reaches it. */
  #nextHoldExpiry = Infinity;
  #nextCounterSweep = 0;

  /** Every operation completes synchronously: see {@link Ledger.sync}. */
  readonly sync: SyncLedgerOps = {
    reserve: (request) => this.reserveSync(request),
    settle: (reservation, actualNanos) => this.settleSync(reservation, actualNanos),
    release: (reservation) => this.releaseSync(reservation),
  };

  constructor(options: MemoryLedgerOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#idleTtl = options.idleCounterTtlMillis ?? 604_800_000;
    this.#maxCounters = options.maxCounters ?? 100_000;
  }

  reserve(request: ReserveRequest): Promise<ReserveResult> {
    return Promise.resolve(this.reserveSync(request));
  }

  /** Synchronous form of {@link reserve}, for callers on a hot path that know the ledger is in memory. */
  reserveSync(request: ReserveRequest): ReserveResult {
    const now = this.#now();
    this.#sweep(now);
    const { scopes, amountNanos } = request;
    const counters: Counter[] = new Array<Counter>(scopes.length);
    for (let i = 0; i < scopes.length; i++) {
      const s = scopes[i]!;
      const c = this.#counter(s, now);
      if (s.limitNanos !== null && c.spent + c.reserved + amountNanos > s.limitNanos) {
        return { ok: false, scope: s, spentNanos: c.spent, reservedNanos: c.reserved };
      }
      counters[i] = c;
    }
    const remaining: (number | null)[] = new Array<number | null>(scopes.length);
    for (let i = 0; i < scopes.length; i++) {
      const c = counters[i]!;
      c.reserved += amountNanos;
      const limit = scopes[i]!.limitNanos;
      remaining[i] = limit === null ? null : limit - c.spent - c.reserved;
    }
    const expiresAt = now + request.ttlMillis;
    const id = `m${(++this.#seq).toString(36)}`;
    this.#holds.set(id, { counters, amount: amountNanos, expiresAt });
    if (expiresAt < this.#nextHoldExpiry) this.#nextHoldExpiry = expiresAt;
    const reservation: Reservation = { id, scopes, amountNanos, expiresAt };
    return { ok: true, reservation, remainingNanos: remaining };
  }

  settle(reservation: Reservation, actualNanos: number): Promise<void> {
    this.settleSync(reservation, actualNanos);
    return Promise.resolve();
  }

  /** Synchronous form of {@link settle}. */
  settleSync(reservation: Reservation, actualNanos: number): void {
    const now = this.#now();
    this.#sweep(now);
    const hold = this.#holds.get(reservation.id);
    if (hold !== undefined) {
      this.#holds.delete(reservation.id);
      for (const c of hold.counters) c.reserved -= hold.amount;
    }
    // The hold may have expired (a very long stream): the cost is real, so it is recorded anyway.
    const amount = boundedNanos(actualNanos);
    for (const s of reservation.scopes) charge(this.#counter(s, now), amount);
  }

  release(reservation: Reservation): Promise<void> {
    this.releaseSync(reservation);
    return Promise.resolve();
  }

  /** Synchronous form of {@link release}. */
  releaseSync(reservation: Reservation): void {
    const hold = this.#holds.get(reservation.id);
    if (hold === undefined) return;
    this.#holds.delete(reservation.id);
    for (const c of hold.counters) c.reserved -= hold.amount;
  }

  record(scopes: readonly BudgetScope[], amountNanos: number): Promise<void> {
    const now = this.#now();
    this.#sweep(now);
    const amount = boundedNanos(amountNanos);
    for (const s of scopes) charge(this.#counter(s, now), amount);
    return Promise.resolve();
  }

  spent(scopes: readonly BudgetScope[]): Promise<ScopeSpend[]> {
    this.#sweep(this.#now());
    const out: ScopeSpend[] = [];
    for (const s of scopes) {
      const c = this.#counters.get(counterKey(s));
      out.push(c === undefined ? EMPTY : { spentNanos: c.spent, reservedNanos: c.reserved });
    }
    return Promise.resolve(out);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #counter(s: BudgetScope, now: number): Counter {
    const k = counterKey(s);
    let c = this.#counters.get(k);
    const expiresAt = s.resetAt ?? now + this.#idleTtl;
    if (c === undefined) {
      if (this.#counters.size >= this.#maxCounters) {
        // Map iteration is insertion order: drop the oldest counter.
        const oldest = this.#counters.keys().next();
        if (oldest.done !== true) this.#counters.delete(oldest.value);
      }
      c = { spent: 0, reserved: 0, expiresAt };
      this.#counters.set(k, c);
    } else if (s.resetAt === null) {
      c.expiresAt = expiresAt;
    }
    return c;
  }

  #sweep(now: number): void {
    if (now >= this.#nextHoldExpiry) {
      let next = Infinity;
      for (const [id, h] of this.#holds) {
        if (h.expiresAt <= now) {
          this.#holds.delete(id);
          for (const c of h.counters) c.reserved -= h.amount;
        } else if (h.expiresAt < next) {
          next = h.expiresAt;
        }
      }
      this.#nextHoldExpiry = next;
    }
    if (now >= this.#nextCounterSweep) {
      // Window counters whose window is over, and idle task counters, are dead weight.
      this.#nextCounterSweep = now + 60_000;
      for (const [k, c] of this.#counters) {
        if (c.expiresAt <= now && c.reserved === 0) this.#counters.delete(k);
      }
    }
  }
}

/** Adds spend, saturating at MAX_COUNTER_NANOS like the other ledgers. */
function charge(c: Counter, nanos: number): void {
  const v = c.spent + nanos;
  c.spent = v > MAX_COUNTER_NANOS ? MAX_COUNTER_NANOS : v;
}

function counterKey(s: BudgetScope): string {
  return `${s.agent}\u0000${s.key}`;
}
