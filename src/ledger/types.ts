/**
 * The spend ledger: where reservations and settled spend live. Implementations:
 * memory (default), sqlite (one host, durable), redis (a fleet).
 *
 * Money is integer nano-USD (1e-9 USD) everywhere in a ledger: exact sums, no
 * float drift, and Redis INCRBY-compatible. A counter holds at most 2^53 nano-USD
 * (about $9M), far above any per-agent window.
 */

/** One nano-USD per USD. */
export const NANOS_PER_USD = 1_000_000_000;

/** Converts USD to integer nano-USD, rounding up so a reservation never undershoots. */
export function usdToNanosCeil(usd: number): number {
  return Math.ceil(usd * NANOS_PER_USD - 1e-6);
}

/** Converts USD to integer nano-USD, rounding to nearest (for settled costs). */
export function usdToNanos(usd: number): number {
  return Math.round(usd * NANOS_PER_USD);
}

export function nanosToUsd(nanos: number): number {
  return nanos / NANOS_PER_USD;
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
}
