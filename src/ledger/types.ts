/**
 * The spend ledger: where reservations and settled spend live. Implementations:
 * memory (default), sqlite (one host, durable), redis (a fleet).
 *
 * Money is integer nano-USD (1e-9 USD) everywhere in a ledger: exact sums, no
 * float drift, and Redis INCRBY-compatible. One write charges at most
 * {@link MAX_CHARGE_NANOS} ($1M) and a counter saturates at {@link MAX_COUNTER_NANOS}
 * (about $4.5M), so an absurd usage report (1e12 tokens, 1e308, Infinity) is recorded
 * as the same bounded amount by every ledger and never overflows a JavaScript number.
 */

export { NANOS_PER_USD, nanosToUsd, usdToNanos, usdToNanosCeil } from '../internal/money.ts';

/** Most one settle / record charges: $1M. An amount above it is an absurd usage report. */
export const MAX_CHARGE_NANOS = 1e15;

/** Where a counter saturates: 2^52 nano-USD (about $4.5M), far above any real window and exact as a double. */
export const MAX_COUNTER_NANOS = 2 ** 52;

/**
 * The amount a ledger writes for a requested charge: a whole number in [0, MAX_CHARGE_NANOS].
 * Every ledger applies it, so the same input is recorded identically by memory, SQLite and
 * Redis. Infinity and values above the bound give the bound; NaN and negatives give 0 (the
 * caller, which knows what the call held, decides what to charge instead: see the policy).
 */
export function boundedNanos(nanos: number): number {
  if (!(nanos > 0)) return 0;
  if (nanos >= MAX_CHARGE_NANOS) return MAX_CHARGE_NANOS;
  return Math.round(nanos);
}

/** A budget counter and, optionally, its cap. */
export interface BudgetScope {
  /** What the scope is, as reported in BudgetExceededError.scope: `task`, `agent.daily`, `agent.monthly`, or a config-defined name. */
  readonly scope: string;
  /** The agent whose money it is. Redis keeps all of one agent's keys in one cluster slot. */
  readonly agent: string;
  /** The counter's key within the agent, unique per window, e.g. `day:2026-11-25`, `month:2026-11`, `task:<id>`. */
  readonly key: string;
  /** Cap in nano-USD; null when the counter only records (no cap). */
  readonly limitNanos: number | null;
  /** End of the window (epoch ms) after which the counter is no longer needed; null for task counters (kept by TTL). */
  readonly resetAt: number | null;
}

/** The state of one counter. */
export interface ScopeSpend {
  readonly spentNanos: number;
  /** Sum of live (unexpired, unsettled) reservations. */
  readonly reservedNanos: number;
}

/** A live hold on budget, returned by reserve and passed to settle or release. */
export interface Reservation {
  readonly id: string;
  readonly scopes: readonly BudgetScope[];
  readonly amountNanos: number;
  /** Epoch ms after which the ledger drops the hold by itself (a crashed holder cannot lock a budget). */
  readonly expiresAt: number;
}

export interface ReserveRequest {
  /** Every counter the call is charged to; the reservation is all-or-nothing across them. */
  readonly scopes: readonly BudgetScope[];
  /** Worst-case cost of the call. */
  readonly amountNanos: number;
  /** How long the hold lives without settle / release. */
  readonly ttlMillis: number;
}

export type ReserveResult =
  | {
      readonly ok: true;
      readonly reservation: Reservation;
      /** Room left per scope after this reservation, same order as the request's scopes (null when uncapped). */
      readonly remainingNanos: readonly (number | null)[];
      /**
       * True when the ledger could not be reached and answered with a local hold that checked
       * nothing (a remote ledger with failure=open). The caller treats the ledger as down.
       */
      readonly unchecked?: boolean;
    }
  | {
      readonly ok: false;
      /** The first scope without room. */
      readonly scope: BudgetScope;
      readonly spentNanos: number;
      readonly reservedNanos: number;
    };

/**
 * Reserve / settle / release against budget counters. Every method is safe to
 * call concurrently; reserve is atomic across all the scopes it names.
 */
export interface Ledger {
  /** A short description without credentials, e.g. `memory`, `sqlite:/var/lib/tollgate.db`, `redis://host:6379/0`. */
  readonly description: string;
  /** Holds `amountNanos` on every scope if all have room (spent + reserved + amount <= limit), else holds nothing. */
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  /** Replaces the hold with the real cost (which may be above or below the hold). */
  settle(reservation: Reservation, actualNanos: number): Promise<void>;
  /** Drops the hold: the call failed before it cost anything. */
  release(reservation: Reservation): Promise<void>;
  /** Adds spend with no reservation (calls priced after the fact, e.g. from another instrumentation's span). */
  record(scopes: readonly BudgetScope[], amountNanos: number): Promise<void>;
  /** Reads counters; missing counters read as zero. */
  spent(scopes: readonly BudgetScope[]): Promise<ScopeSpend[]>;
  /** Flushes and closes connections. */
  close(): Promise<void>;
  /**
   * Present when every operation completes synchronously (the memory ledger): callers on a hot
   * path use these to skip a promise per call, and need no timeout.
   */
  readonly sync?: SyncLedgerOps;
  /** Writes not yet written because the store was away (0 or absent when there is no buffer). */
  readonly pendingWrites?: number;
  /** Writes buffered writes now; resolves with the number still buffered. */
  flush?(): Promise<number>;
}

/** The synchronous operations of a ledger that has them ({@link Ledger.sync}). */
export interface SyncLedgerOps {
  reserve(request: ReserveRequest): ReserveResult;
  settle(reservation: Reservation, actualNanos: number): void;
  release(reservation: Reservation): void;
}
