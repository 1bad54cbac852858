/**
 * A ledger in one SQLite file through `node:sqlite` (no native addon): durable on
 * one host, so a restart or a crash does not reset a daily cap, and shared by
 * every process on the host that opens the same file.
 *
 * - WAL journal: readers never block the writer and a crash mid-write loses nothing
 *   committed.
 * - Every write runs in `BEGIN IMMEDIATE`, which takes the database's write lock up
 *   front, so the check-then-hold of `reserve` is atomic across processes. Waiting
 *   for the lock is bounded by `busy_timeout`.
 * - Live holds are summed from the reservations table filtered by `expires_at`, so
 *   an expired hold stops counting the moment it expires, even when its holder
 *   crashed; expired rows are purged from time to time.
 *
 * `node:sqlite` is synchronous: each call blocks the event loop for one short
 * transaction (tens of microseconds, up to busy_timeout under heavy contention).
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { randomBytes } from 'node:crypto';
import type { BudgetScope, Ledger, Reservation, ReserveRequest, ReserveResult, ScopeSpend } from './types.ts';

/** Options of {@link SqliteLedger}. */
export interface SqliteLedgerOptions {
  /** Clock in epoch milliseconds; inject a fake one in tests. @default Date.now */
  readonly now?: () => number;
  /** How long a writer waits for another process's transaction before failing. @default 5000 */
  readonly busyTimeoutMillis?: number;
  /** How long a task counter (scope with `resetAt: null`) is kept after its last write. @default 2_592_000_000 (30 days) */
  readonly idleCounterTtlMillis?: number;
  /** `normal` survives a process crash; `full` also survives a power loss, at a cost per commit. @default 'normal' */
  readonly synchronous?: 'normal' | 'full';
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tollgate_counters (
  agent TEXT NOT NULL,
  key TEXT NOT NULL,
  spent INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (agent, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tollgate_reservations (
  id TEXT PRIMARY KEY,
  amount INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tollgate_reservations_expiry ON tollgate_reservations (expires_at);
CREATE TABLE IF NOT EXISTS tollgate_reservation_scopes (
  id TEXT NOT NULL,
  agent TEXT NOT NULL,
  key TEXT NOT NULL,
  PRIMARY KEY (id, agent, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tollgate_reservation_scopes_counter ON tollgate_reservation_scopes (agent, key);
`;

/** A {@link Ledger} in a SQLite file, shared by the processes of one host. */
export class SqliteLedger implements Ledger {
  readonly description: string;
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #idleTtl: number;
  readonly #idPrefix = randomBytes(6).toString('hex');
  #seq = 0;
  #nextPurge = 0;
  #closed = false;
  readonly #q: {
    readonly spent: StatementSync;
    readonly held: StatementSync;
    readonly insertHold: StatementSync;
    readonly insertHoldScope: StatementSync;
    readonly deleteHold: StatementSync;
    readonly deleteHoldScopes: StatementSync;
    readonly addSpent: StatementSync;
    readonly purgeHoldScopes: StatementSync;
    readonly purgeHolds: StatementSync;
    readonly purgeCounters: StatementSync;
  };

  /** Opens (creating if needed) the ledger file at `path`. */
  constructor(path: string, options: SqliteLedgerOptions = {}) {
    this.description = `sqlite:${path}`;
    this.#now = options.now ?? Date.now;
    this.#idleTtl = options.idleCounterTtlMillis ?? 2_592_000_000;
    this.#db = new DatabaseSync(path);
    const busy = Math.max(0, Math.floor(options.busyTimeoutMillis ?? 5000));
    this.#db.exec(`PRAGMA busy_timeout = ${busy}`);
    this.#db.exec('PRAGMA journal_mode = WAL');
    this.#db.exec(`PRAGMA synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.#write(() => this.#db.exec(SCHEMA));
    this.#q = {
      spent: this.#db.prepare('SELECT spent FROM tollgate_counters WHERE agent = ? AND key = ? AND expires_at > ?'),
      held: this.#db.prepare(
        'SELECT COALESCE(SUM(r.amount), 0) AS held FROM tollgate_reservation_scopes s JOIN tollgate_reservations r ON r.id = s.id ' +
          'WHERE s.agent = ? AND s.key = ? AND r.expires_at > ?',
      ),
      insertHold: this.#db.prepare('INSERT INTO tollgate_reservations (id, amount, expires_at) VALUES (?, ?, ?)'),
      insertHoldScope: this.#db.prepare('INSERT OR IGNORE INTO tollgate_reservation_scopes (id, agent, key) VALUES (?, ?, ?)'),
      deleteHold: this.#db.prepare('DELETE FROM tollgate_reservations WHERE id = ?'),
      deleteHoldScopes: this.#db.prepare('DELETE FROM tollgate_reservation_scopes WHERE id = ?'),
      addSpent: this.#db.prepare(
        'INSERT INTO tollgate_counters (agent, key, spent, expires_at) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT (agent, key) DO UPDATE SET spent = spent + excluded.spent, expires_at = max(expires_at, excluded.expires_at)',
      ),
      purgeHoldScopes: this.#db.prepare(
        'DELETE FROM tollgate_reservation_scopes WHERE id IN (SELECT id FROM tollgate_reservations WHERE expires_at <= ?)',
      ),
      purgeHolds: this.#db.prepare('DELETE FROM tollgate_reservations WHERE expires_at <= ?'),
      purgeCounters: this.#db.prepare('DELETE FROM tollgate_counters WHERE expires_at <= ?'),
    };
  }

  reserve(request: ReserveRequest): Promise<ReserveResult> {
    return this.#async(() => {
      const now = this.#now();
      return this.#write(() => {
        this.#maybePurge(now);
        const { scopes, amountNanos } = request;
        const remaining: (number | null)[] = [];
        for (const s of scopes) {
          if (s.limitNanos === null) {
            remaining.push(null);
            continue;
          }
          const { spentNanos, reservedNanos } = this.#read(s, now);
          if (spentNanos + reservedNanos + amountNanos > s.limitNanos) {
            return { ok: false, scope: s, spentNanos, reservedNanos } as const;
          }
          remaining.push(s.limitNanos - spentNanos - reservedNanos - amountNanos);
        }
        const id = `${this.#idPrefix}-${(++this.#seq).toString(36)}`;
        const expiresAt = now + request.ttlMillis;
        this.#q.insertHold.run(id, amountNanos, expiresAt);
        for (const s of scopes) this.#q.insertHoldScope.run(id, s.agent, s.key);
        const reservation: Reservation = { id, scopes, amountNanos, expiresAt };
        return { ok: true, reservation, remainingNanos: remaining } as const;
      });
    });
  }

  settle(reservation: Reservation, actualNanos: number): Promise<void> {
    return this.#async(() => {
      const now = this.#now();
      this.#write(() => {
        this.#q.deleteHold.run(reservation.id);
        this.#q.deleteHoldScopes.run(reservation.id);
        // Recorded even when the hold already expired: the call happened.
        this.#add(reservation.scopes, actualNanos, now);
      });
    });
  }

  release(reservation: Reservation): Promise<void> {
    return this.#async(() => {
      this.#write(() => {
        this.#q.deleteHold.run(reservation.id);
        this.#q.deleteHoldScopes.run(reservation.id);
      });
    });
  }

  record(scopes: readonly BudgetScope[], amountNanos: number): Promise<void> {
    return this.#async(() => {
      const now = this.#now();
      this.#write(() => this.#add(scopes, amountNanos, now));
    });
  }

  spent(scopes: readonly BudgetScope[]): Promise<ScopeSpend[]> {
    return this.#async(() => {
      const now = this.#now();
      // A read transaction, so every scope is read from the same snapshot.
      this.#db.exec('BEGIN');
      try {
        return scopes.map((s) => this.#read(s, now));
      } finally {
        this.#db.exec('COMMIT');
      }
    });
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }

  #read(s: BudgetScope, now: number): ScopeSpend {
    const row = this.#q.spent.get(s.agent, s.key, now) as { spent: number } | undefined;
    const held = this.#q.held.get(s.agent, s.key, now) as { held: number };
    return { spentNanos: row?.spent ?? 0, reservedNanos: held.held };
  }

  #add(scopes: readonly BudgetScope[], amountNanos: number, now: number): void {
    for (const s of scopes) this.#q.addSpent.run(s.agent, s.key, amountNanos, s.resetAt ?? now + this.#idleTtl);
  }

  #maybePurge(now: number): void {
    if (now < this.#nextPurge) return;
    this.#nextPurge = now + 60_000;
    this.#q.purgeHoldScopes.run(now);
    this.#q.purgeHolds.run(now);
    this.#q.purgeCounters.run(now);
  }

  /** Runs `fn` inside BEGIN IMMEDIATE: the write lock is taken before anything is read. */
  #write<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    let result: T;
    try {
      result = fn();
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    this.#db.exec('COMMIT');
    return result;
  }

  /** Turns a synchronous throw (SQLITE_BUSY, closed database) into a rejected promise. */
  #async<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
