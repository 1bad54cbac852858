/**
 * The one write buffer for spend. A ledger whose store can be away (Redis down, SQLite
 * locked by another process for too long) puts the settle / release / record it could not
 * write here, and the buffer writes them when the store is back. The policy keeps no buffer
 * of its own: it hands every write to the ledger once, with the hold id, so a write whose
 * first attempt landed late is never turned into a second charge (see `Write.retry`).
 *
 * Bounded: beyond `maxWrites` the oldest write is dropped and the spend at stake is
 * reported (once per outage, and again when the store is back).
 */
import { context, diag, ROOT_CONTEXT } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { nanosToUsd } from '../internal/money.ts';

/** A write the buffer holds. */
export interface BufferedWrite {
  /** The hold it settles or releases (`''` for a record): at most one write per hold is kept. */
  readonly holdId: string;
  /** Spend at stake, nano-USD, reported if the write is ever dropped. */
  readonly actualNanos: number;
  /**
   * Set by the ledger when a previous attempt may have landed (sent, reply lost): the store
   * must then apply the write only where the hold is still found, so it never counts twice.
   */
  retry: boolean;
}

/** Options of {@link WriteBuffer}. */
export interface WriteBufferOptions<W extends BufferedWrite> {
  /** The ledger, for messages (no credentials). */
  readonly description: string;
  /** Most writes kept; the oldest are dropped beyond it. */
  readonly maxWrites: number;
  /** How often a retry is attempted while writes are buffered, ms. */
  readonly retryMillis: number;
  /** Whether the store can be written to now (a retry is skipped while it is not). */
  readonly ready: () => boolean;
  /** Writes one buffered write; rejects when it could not. */
  readonly send: (w: W) => Promise<unknown>;
  /** Whether a failure is worth retrying (the store was away) rather than final. */
  readonly transient: (err: unknown) => boolean;
  /** Whether the failed attempt may have been applied (sent, reply lost); it then retries with `retry`. */
  readonly mayHaveLanded: (err: unknown) => boolean;
  /** Writes sent at once by one flush round. @default 256 */
  readonly batch?: number;
}

/** See the module comment. */
export class WriteBuffer<W extends BufferedWrite> {
  readonly #o: WriteBufferOptions<W>;
  readonly #pending: W[] = [];
  /** Hold ids with a buffered write: a second write for the same hold replaces nothing and is dropped. */
  readonly #holds = new Set<string>();
  #flushing: Promise<number> | undefined;
  /** Writes taken out for a flush round and not yet answered. */
  #sending = 0;
  #timer: NodeJS.Timeout | undefined;
  #droppedWrites = 0;
  #droppedNanos = 0;
  #closed = false;

  constructor(options: WriteBufferOptions<W>) {
    this.#o = options;
  }

  /** Writes not yet written (waiting, or being sent by a flush). */
  get size(): number {
    return this.#pending.length + this.#sending;
  }

  /** Spend (nano-USD) of the writes waiting. */
  get pendingNanos(): number {
    let n = 0;
    for (const w of this.#pending) n += w.actualNanos;
    return n;
  }

  /** Keeps `w` for a later attempt (idempotent per hold: a hold already buffered is not added twice). */
  add(w: W): void {
    if (w.holdId !== '') {
      if (this.#holds.has(w.holdId)) return;
      this.#holds.add(w.holdId);
    }
    if (this.#pending.length >= this.#o.maxWrites) {
      const dropped = this.#pending.shift()!;
      this.#holds.delete(dropped.holdId);
      if (this.#droppedWrites === 0) {
        diag.error(
          `tollgate: ledger ${this.#o.description} is unreachable and its write buffer is full (maxBufferedWrites=${this.#o.maxWrites}): ` +
            'dropping the oldest buffered spend; its counters will read low. Restore the ledger or raise maxBufferedWrites.',
        );
      }
      this.#droppedWrites++;
      this.#droppedNanos += dropped.actualNanos;
    }
    this.#pending.push(w);
    if (this.#timer === undefined && !this.#closed) {
      this.#timer = setInterval(() => {
        if (this.#o.ready()) void this.flush();
      }, this.#o.retryMillis);
      this.#timer.unref();
    }
  }

  /** Records the outcome of a failed first attempt: buffered when worth retrying, else rethrown. */
  failed(w: W, err: unknown): void {
    if (!this.#o.transient(err)) throw err;
    if (this.#o.mayHaveLanded(err)) w.retry = true;
    this.add(w);
  }

  /**
   * Writes what is buffered while the store is ready; resolves with the number still buffered.
   * Runs with tracing suppressed, outside any caller's span: a background write is tollgate's own
   * traffic, and a Redis or HTTP instrumentation must not turn it into spans of a user's trace.
   */
  flush(): Promise<number> {
    this.#flushing ??= context.with(suppressTracing(ROOT_CONTEXT), () => this.#drain()).finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /** Stops retrying; resolves with the writes given up on (reported as lost). */
  close(): { writes: number; nanos: number } {
    this.#closed = true;
    this.#stop();
    const lost = { writes: this.#pending.length, nanos: this.pendingNanos };
    if (lost.writes > 0) {
      diag.error(`tollgate: ledger ${this.#o.description} closed with ${lost.writes} writes not written (spend $${nanosToUsd(lost.nanos)}): it was unreachable`);
    }
    this.#pending.length = 0;
    this.#holds.clear();
    return lost;
  }

  /** Resolves once a flush in progress (if any) is over. */
  async settled(): Promise<void> {
    if (this.#flushing !== undefined) await this.#flushing;
  }

  async #drain(): Promise<number> {
    const batchSize = this.#o.batch ?? 256;
    while (this.#pending.length > 0 && this.#o.ready()) {
      const batch = this.#pending.splice(0, batchSize);
      this.#sending = batch.length;
      const results = await Promise.allSettled(batch.map((w) => this.#o.send(w)));
      this.#sending = 0;
      const again: W[] = [];
      for (let i = 0; i < batch.length; i++) {
        const r = results[i]!;
        const w = batch[i]!;
        if (r.status === 'fulfilled') {
          this.#holds.delete(w.holdId);
          continue;
        }
        if (this.#o.transient(r.reason)) {
          if (this.#o.mayHaveLanded(r.reason)) w.retry = true;
          again.push(w);
        } else {
          this.#holds.delete(w.holdId);
          diag.error(`tollgate: ledger ${this.#o.description} refused a buffered write (spend $${nanosToUsd(w.actualNanos)} lost)`, r.reason);
        }
      }
      if (again.length > 0) {
        this.#pending.unshift(...again);
        break;
      }
    }
    if (this.#pending.length === 0) {
      this.#stop();
      if (this.#droppedWrites > 0) {
        diag.error(
          `tollgate: ledger ${this.#o.description} is back; ${this.#droppedWrites} buffered writes (spend $${nanosToUsd(this.#droppedNanos)}) were dropped while it was away`,
        );
        this.#droppedWrites = 0;
        this.#droppedNanos = 0;
      }
    }
    return this.size;
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
