/**
 * The behaviour every Ledger implementation must have, as one reusable suite.
 *
 *   import { runLedgerContract } from './contract.ts';
 *   runLedgerContract('memory', ({ now }) => new MemoryLedger({ now }));
 *
 * The factory receives a fake clock: a ledger MUST take "now" from it (reservation
 * expiry, window expiry), so expiry is tested without sleeping. Every test uses
 * fresh random agent names, so a shared backing store (one Redis, one SQLite file)
 * can serve all tests; each ledger the factory returns is closed by the suite.
 *
 * Semantics pinned here (implementations must agree):
 * - reserve holds `amountNanos` on EVERY scope iff each capped scope satisfies
 *   spent + live reserved + amount <= limit; otherwise it holds nothing anywhere and
 *   reports the FIRST scope (request order) without room with its spent / reserved.
 * - a scope with `limitNanos: null` always has room and reports remaining null.
 * - remainingNanos[i] = limit - spent - reserved (after this hold) for capped scopes.
 * - a reservation stops counting once `now >= expiresAt` (expiresAt = now + ttlMillis).
 * - settle removes the hold and adds the actual cost to spent on every scope, also
 *   when the hold already expired (the call happened, its cost is real).
 * - release removes the hold; releasing twice, or after expiry, changes nothing.
 * - record adds spend without a hold, and that spend counts against caps.
 * - counters are per (agent, key): the same key under another agent is independent.
 */
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { BudgetScope, Ledger } from '../../src/ledger/types.ts';
import { NANOS_PER_USD } from '../../src/ledger/types.ts';

/** A settable clock shared by a ledger and the test. */
export interface FakeClock {
  readonly now: () => number;
  set(epochMillis: number): void;
  advance(millis: number): void;
}

export function fakeClock(start = Date.UTC(2026, 10, 25, 12, 0, 0)): FakeClock {
  let t = start;
  return {
    now: () => t,
    set: (ms) => {
      t = ms;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

export type LedgerFactory = (ctx: { readonly now: () => number }) => Ledger | Promise<Ledger>;

/** Registers the shared contract tests for one Ledger implementation. */
export function runLedgerContract(name: string, makeLedger: LedgerFactory): void {
  void describe(`Ledger contract: ${name}`, () => {
    let clock: FakeClock;
    let ledger: Ledger;
    let agent: string;
    let other: string;

    const scope = (key: string, limitUsd: number | null, who = agent, scopeName = 'agent.daily'): BudgetScope => ({
      scope: scopeName,
      agent: who,
      key,
      limitNanos: limitUsd === null ? null : Math.round(limitUsd * NANOS_PER_USD),
      resetAt: null,
    });

    beforeEach(async () => {
      clock = fakeClock();
      ledger = await makeLedger({ now: clock.now });
      agent = `a-${randomUUID()}`;
      other = `b-${randomUUID()}`;
    });

    afterEach(async () => {
      await ledger.close();
    });

    void it('reads missing counters as zero', async () => {
      const got = await ledger.spent([scope('day:2026-11-25', 1), scope('task:x', null)]);
      assert.deepEqual(got, [
        { spentNanos: 0, reservedNanos: 0 },
        { spentNanos: 0, reservedNanos: 0 },
      ]);
    });

    void it('has a non-empty description', () => {
      assert.equal(typeof ledger.description, 'string');
      assert.ok(ledger.description.length > 0);
    });

    void it('reserves within the cap, counts the hold, and reports the room left per scope', async () => {
      const day = scope('day:2026-11-25', 1);
      const task = scope('task:t1', null, agent, 'task');
      const r = await ledger.reserve({ scopes: [day, task], amountNanos: 300_000_000, ttlMillis: 60_000 });
      assert.equal(r.ok, true);
      if (!r.ok) return;
      assert.deepEqual(r.remainingNanos, [700_000_000, null]);
      assert.equal(r.reservation.amountNanos, 300_000_000);
      assert.equal(r.reservation.expiresAt, clock.now() + 60_000);
      assert.equal(typeof r.reservation.id, 'string');
      assert.deepEqual(await ledger.spent([day, task]), [
        { spentNanos: 0, reservedNanos: 300_000_000 },
        { spentNanos: 0, reservedNanos: 300_000_000 },
      ]);
    });

    void it('accepts a reservation that fills the cap exactly and refuses one nano more', async () => {
      const day = scope('day:2026-11-25', 1);
      const a = await ledger.reserve({ scopes: [day], amountNanos: 600_000_000, ttlMillis: 60_000 });
      assert.equal(a.ok, true);
      const over = await ledger.reserve({ scopes: [day], amountNanos: 400_000_001, ttlMillis: 60_000 });
      assert.equal(over.ok, false);
      const exact = await ledger.reserve({ scopes: [day], amountNanos: 400_000_000, ttlMillis: 60_000 });
      assert.equal(exact.ok, true);
      if (exact.ok) assert.deepEqual(exact.remainingNanos, [0]);
    });

    void it('is all-or-nothing: a refusal names the first full scope and holds nothing anywhere', async () => {
      const month = scope('month:2026-11', 10, agent, 'agent.monthly');
      const day = scope('day:2026-11-25', 1);
      const task = scope('task:t1', 0.5, agent, 'task');
      await ledger.record([day], 800_000_000);
      const first = await ledger.reserve({ scopes: [month, day, task], amountNanos: 100_000_000, ttlMillis: 60_000 });
      assert.equal(first.ok, true);
      const r = await ledger.reserve({ scopes: [month, day, task], amountNanos: 150_000_000, ttlMillis: 60_000 });
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.deepEqual(r.scope, day);
      assert.equal(r.spentNanos, 800_000_000);
      assert.equal(r.reservedNanos, 100_000_000);
      assert.deepEqual(await ledger.spent([month, day, task]), [
        { spentNanos: 0, reservedNanos: 100_000_000 },
        { spentNanos: 800_000_000, reservedNanos: 100_000_000 },
        { spentNanos: 0, reservedNanos: 100_000_000 },
      ]);
    });

    void it('never limits an uncapped scope', async () => {
      const free = scope('day:2026-11-25', null);
      const r = await ledger.reserve({ scopes: [free], amountNanos: 5_000 * NANOS_PER_USD, ttlMillis: 60_000 });
      assert.equal(r.ok, true);
      if (r.ok) assert.deepEqual(r.remainingNanos, [null]);
    });

    void it('settle replaces the hold with the real cost, below or above the hold', async () => {
      const day = scope('day:2026-11-25', 1);
      const a = await ledger.reserve({ scopes: [day], amountNanos: 300_000_000, ttlMillis: 60_000 });
      const b = await ledger.reserve({ scopes: [day], amountNanos: 200_000_000, ttlMillis: 60_000 });
      assert.ok(a.ok && b.ok);
      await ledger.settle(a.reservation, 120_000_001);
      assert.deepEqual(await ledger.spent([day]), [{ spentNanos: 120_000_001, reservedNanos: 200_000_000 }]);
      await ledger.settle(b.reservation, 250_000_000);
      assert.deepEqual(await ledger.spent([day]), [{ spentNanos: 370_000_001, reservedNanos: 0 }]);
    });

    void it('release drops the hold; a second release changes nothing', async () => {
      const day = scope('day:2026-11-25', 1);
      const a = await ledger.reserve({ scopes: [day], amountNanos: 300_000_000, ttlMillis: 60_000 });
      const b = await ledger.reserve({ scopes: [day], amountNanos: 100_000_000, ttlMillis: 60_000 });
      assert.ok(a.ok && b.ok);
      await ledger.release(a.reservation);
      await ledger.release(a.reservation);
      assert.deepEqual(await ledger.spent([day]), [{ spentNanos: 0, reservedNanos: 100_000_000 }]);
    });

    void it('drops an expired hold by itself, so a crashed holder cannot lock a budget', async () => {
      const day = scope('day:2026-11-25', 1);
      const a = await ledger.reserve({ scopes: [day], amountNanos: 1 * NANOS_PER_USD, ttlMillis: 30_000 });
      assert.equal(a.ok, true);
      assert.equal((await ledger.reserve({ scopes: [day], amountNanos: 1, ttlMillis: 30_000 })).ok, false);
      clock.advance(29_999);
      assert.deepEqual(await ledger.spent([day]), [{ spentNanos: 0, reservedNanos: 1 * NANOS_PER_USD }]);
      clock.advance(1);
      assert.deepEqual(await ledger.spent([day]), [{ spentNanos: 0, reservedNanos: 0 }]);
      const b = await ledger.reserve({ scopes: [day], amountNanos: 1 * NANOS_PER_USD, ttlMillis: 30_000 });
      assert.equal(b.ok, true);
    });

    void it('settle after the hold expired still records the real cost; release after expiry is a no-op', async () => {
      const day = scope('day:2026-11-25', 1);
      const a = await ledger.reserve({ scopes: [day], amountNanos: 500_000_000, ttlMillis: 1_000 });
      const b = await ledger.reserve({ scopes: [day], amountNanos: 200_000_000, ttlMillis: 1_000 });
      assert.ok(a.ok && b.ok);
      clock.advance(5_000);
      await ledger.settle(a.reservation, 400_000_000);
      await ledger.release(b.reservation);
      assert.deepEqual(await ledger.spent([day]), [{ spentNanos: 400_000_000, reservedNanos: 0 }]);
    });

    void it('record adds spend without a hold, and it counts against the cap', async () => {
      const day = scope('day:2026-11-25', 1);
      await ledger.record([day, scope('task:t9', null, agent, 'task')], 900_000_000);
      assert.deepEqual(await ledger.spent([day]), [{ spentNanos: 900_000_000, reservedNanos: 0 }]);
      assert.equal((await ledger.reserve({ scopes: [day], amountNanos: 100_000_001, ttlMillis: 1_000 })).ok, false);
      assert.equal((await ledger.reserve({ scopes: [day], amountNanos: 100_000_000, ttlMillis: 1_000 })).ok, true);
    });

    void it('keeps counters apart per agent and per key', async () => {
      const mine = scope('day:2026-11-25', 1);
      const theirs = scope('day:2026-11-25', 1, other);
      const tomorrow = scope('day:2026-11-26', 1);
      await ledger.record([mine], 1 * NANOS_PER_USD);
      assert.equal((await ledger.reserve({ scopes: [theirs], amountNanos: 1 * NANOS_PER_USD, ttlMillis: 1_000 })).ok, true);
      assert.equal((await ledger.reserve({ scopes: [tomorrow], amountNanos: 1 * NANOS_PER_USD, ttlMillis: 1_000 })).ok, true);
      assert.deepEqual(await ledger.spent([mine, theirs, tomorrow]), [
        { spentNanos: 1 * NANOS_PER_USD, reservedNanos: 0 },
        { spentNanos: 0, reservedNanos: 1 * NANOS_PER_USD },
        { spentNanos: 0, reservedNanos: 1 * NANOS_PER_USD },
      ]);
    });

    void it('sums money exactly in integers (no float drift)', async () => {
      const day = scope('day:2026-11-25', null);
      for (let i = 0; i < 10; i++) await ledger.record([day], 100_000_000); // 10 x $0.1
      assert.deepEqual(await ledger.spent([day]), [{ spentNanos: 1 * NANOS_PER_USD, reservedNanos: 0 }]);
    });

    void it('admits exactly as many concurrent reservations as the cap holds', async () => {
      const day = scope('day:2026-11-25', 1);
      const task = scope('task:c', 0.75, agent, 'task');
      const results = await Promise.all(
        Array.from({ length: 200 }, () => ledger.reserve({ scopes: [day, task], amountNanos: 10_000_000, ttlMillis: 60_000 })),
      );
      const ok = results.filter((r) => r.ok);
      assert.equal(ok.length, 75);
      for (const r of results) if (!r.ok) assert.equal(r.scope.scope, 'task');
      assert.deepEqual(await ledger.spent([day, task]), [
        { spentNanos: 0, reservedNanos: 750_000_000 },
        { spentNanos: 0, reservedNanos: 750_000_000 },
      ]);
      await Promise.all(ok.map((r) => (r.ok ? ledger.settle(r.reservation, 10_000_000) : Promise.resolve())));
      assert.deepEqual(await ledger.spent([day, task]), [
        { spentNanos: 750_000_000, reservedNanos: 0 },
        { spentNanos: 750_000_000, reservedNanos: 0 },
      ]);
    });

    void it('gives every reservation its own id', async () => {
      const day = scope('day:2026-11-25', null);
      const ids = new Set<string>();
      for (let i = 0; i < 50; i++) {
        const r = await ledger.reserve({ scopes: [day], amountNanos: 1, ttlMillis: 1_000 });
        assert.ok(r.ok);
        ids.add(r.reservation.id);
      }
      assert.equal(ids.size, 50);
    });
  });
}
