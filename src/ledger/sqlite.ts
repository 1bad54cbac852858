/**
 * A ledger in one SQLite file through `node:sqlite` (no native addon): durable on
 * one host, so a restart or a crash does not reset a daily cap, and shared by
 * every process on the host that opens the same file.
 *
 * - WAL journal: readers never block the writer and a crash mid-write loses nothing
 *   committed.
 * - Every write runs in `BEGIN IMMEDIATE`, which takes the database's write lock up
 *   front, so the check-then-hold of `reserve` is atomic across processes.
 * - Waiting for that lock never blocks the event loop: SQLite's own busy wait is kept
 *   to `lockSpinMillis` (2 ms), and a write that still finds the lock taken is retried
 *   asynchronously (backing off 1-32 ms) until `busyTimeoutMillis`. A settle / release /
 *   record that cannot get the lock by then goes to the ledger's write buffer and is
 *   written later; a failed transaction wrote nothing, so the retry is exact.
 * - Live holds are summed from the reservations table filtered by `expires_at`, so
 *   an expired hold stops counting the moment it expires, even when its holder
 *   crashed; expired rows are purged from time to time.
 *
 * `node:sqlite` is synchronous: each call blocks the event loop for one short
 * transaction (tens of microseconds, at most `lockSpinMillis` more under contention).
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import { WriteBuffer, type BufferedWrite } from './write-buffer.ts';
import { boundedNanos, MAX_COUNTER_NANOS, type BudgetScope, type Ledger, type Reservation, type ReserveRequest, type ReserveResult, type ScopeSpend } from './types.ts';

/** Options of {@link SqliteLedger}. */
export interface SqliteLedgerOptions {
  /** Clock in epoch milliseconds; inject a fake one in tests. @default Date.now */
  readonly now?: () => number;
  /**
   * How long an operation keeps retrying (asynchronously) while another process holds the
   * write lock; then a reserve fails and a settle / release / record is buffered. @default 5000
   */
  readonly busyTimeoutMillis?: number;
  /** SQLite's own (event-loop blocking) wait for the lock per attempt. @default 2 */
  readonly lockSpinMillis?: number;
  /** Most writes buffered while the lock cannot be had. @default 100_000 */
  readonly maxBufferedWrites?: number;
  /** Where the path came from, named in a ConfigError when the file cannot be opened. @default 'SqliteLedger path' */
  readonly source?: string;
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
  readonly #busyTimeout: number;
  readonly #buffer: WriteBuffer<SqliteWrite>;
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
    const busy = Math.max(0, Math.floor(options.busyTimeoutMillis ?? 5000));
    this.#busyTimeout = busy;
    try {
      this.#db = new DatabaseSync(path);
      // Start-up may wait for the lock (once, before any call); calls never do (see the module comment).
      this.#db.exec(`PRAGMA busy_timeout = ${busy}`);
      this.#db.exec('PRAGMA journal_mode = WAL');
      this.#db.exec(`PRAGMA synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      this.#write(() => this.#db.exec(SCHEMA));
      this.#db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.lockSpinMillis ?? 2))}`);
    } catch (err) {
      throw new ConfigError(
        options.source ?? 'SqliteLedger path',
        `sqlite:${path}`,
        `sqlite:<path> of a SQLite file tollgate can create or open read-write (its directory must exist and be writable); opening ${path} failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    this.#buffer = new WriteBuffer<SqliteWrite>({
      description: this.description,
      maxWrites: Math.max(1, options.maxBufferedWrites ?? 100_000),
      retryMillis: 250,
      ready: () => !this.#closed,
      send: (w) => this.#withLock(w.apply),
      transient: isBusy,
      // A transaction that failed was rolled back: nothing of it landed.
      mayHaveLanded: () => false,
    });
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
          // Saturates like the other ledgers: an absurd usage report never overflows a JS number on read.
          `ON CONFLICT (agent, key) DO UPDATE SET spent = min(spent + excluded.spent, ${MAX_COUNTER_NANOS}), expires_at = max(expires_at, excluded.expires_at)`,
      ),
      purgeHoldScopes: this.#db.prepare(
        'DELETE FROM tollgate_reservation_scopes WHERE id IN (SELECT id FROM tollgate_reservations WHERE expires_at <= ?)',
      ),
      purgeHolds: this.#db.prepare('DELETE FROM tollgate_reservations WHERE expires_at <= ?'),
      purgeCounters: this.#db.prepare('DELETE FROM tollgate_counters WHERE expires_at <= ?'),
    };
  }

  /** Writes buffered while the lock could not be had. */
  get pendingWrites(): number {
    return this.#buffer.size;
  }

  /** Writes buffered writes now; resolves with the number still buffered. */
  flush(): Promise<number> {
    return this.#buffer.flush();
  }

  reserve(request: ReserveRequest): Promise<ReserveResult> {
    return this.#withLock(() => {
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
    const amount = boundedNanos(actualNanos);
    return this.#writeOrBuffer(reservation.id, amount, () => {
      const now = this.#now();
      this.#write(() => {
        this.#q.deleteHold.run(reservation.id);
        this.#q.deleteHoldScopes.run(reservation.id);
        // Recorded even when the hold already expired: the call happened.
        this.#add(reservation.scopes, amount, now);
      });
    });
  }

  release(reservation: Reservation): Promise<void> {
    return this.#writeOrBuffer(reservation.id, 0, () => {
      this.#write(() => {
        this.#q.deleteHold.run(reservation.id);
        this.#q.deleteHoldScopes.run(reservation.id);
      });
    });
  }

  record(scopes: readonly BudgetScope[], amountNanos: number): Promise<void> {
    const amount = boundedNanos(amountNanos);
    return this.#writeOrBuffer('', amount, () => {
      const now = this.#now();
      this.#write(() => this.#add(scopes, amount, now));
    });
  }

  spent(scopes: readonly BudgetScope[]): Promise<ScopeSpend[]> {
    return this.#withLock(() => {
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

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#buffer.size > 0) await this.#buffer.flush();
    this.#closed = true;
    this.#buffer.close();
    this.#db.close();
  }

  #read(s: BudgetScope, now: number): ScopeSpend {
    const row = this.#q.spent.get(s.agent, s.key, now) as { spent: number } | undefined;
    const held = this.#q.held.get(s.agent, s.key, now) as { held: number };
    return { spentNanos: row?.spent ?? 0, reservedNanos: held.held };
  }

  #add(scopes: readonly BudgetScope[], amountNanos: number, now: number): void {
    if (amountNanos === 0) return;
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

  /**
   * Runs `fn` now; when the write lock is taken (SQLITE_BUSY), again after an asynchronous
   * back-off (1-32 ms, jittered) until `busyTimeoutMillis`, so waiting never blocks the loop.
   * Other errors, and the last busy one, reject.
   */
  #withLock<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      if (!isBusy(err) || this.#busyTimeout === 0) return Promise.reject(asError(err));
    }
    const deadline = Date.now() + this.#busyTimeout;
    return new Promise<T>((resolve, reject) => {
      let delay = 1;
      const attempt = (): void => {
        try {
          resolve(fn());
        } catch (err) {
          if (!isBusy(err) || Date.now() >= deadline || this.#closed) {
            reject(asError(err));
            return;
          }
          delay = Math.min(32, delay * 2);
          setTimeout(attempt, Math.max(0, Math.min(delay * (0.5 + Math.random()), deadline - Date.now())));
        }
      };
      setTimeout(attempt, Math.random() * 2);
    });
  }

  /** A write that must not be lost: buffered when the lock cannot be had in time. */
  async #writeOrBuffer(holdId: string, actualNanos: number, apply: () => void): Promise<void> {
    if (this.#closed) throw new Error(`tollgate: ledger ${this.description} is closed`);
    try {
      await this.#withLock(apply);
    } catch (err) {
      this.#buffer.failed({ holdId, actualNanos, retry: false, apply }, err);
    }
  }
}

/** A buffered settle / release / record: the transaction to run again. */
interface SqliteWrite extends BufferedWrite {
  readonly apply: () => void;
}

/** SQLITE_BUSY (5) or SQLITE_LOCKED (6): another connection holds the lock. */
function isBusy(err: unknown): boolean {
  const e = err as { errcode?: number; message?: string } | null;
  if (e === null || typeof e !== 'object') return false;
  const code = typeof e.errcode === 'number' ? e.errcode & 0xff : undefined;
  return code === 5 || code === 6 || /database (?:table )?is locked/.test(e.message ?? '');
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
