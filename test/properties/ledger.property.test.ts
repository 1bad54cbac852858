/**
 * Ledger invariants under random operation sequences (fast-check), against the memory ledger,
 * a SQLite file and a real redis-server, all on one fake clock:
 * - spend never above the cap (every settle charges at most what its hold held);
 * - reserved = the sum of the holds that are live (neither settled, released nor expired);
 * - spent = the sum of what was settled and recorded: every hold is settled or expired once,
 *   a release after a settle or an expiry changes nothing;
 * - the three ledgers agree on every read;
 * - Redis given many calls in the same tick (group commit: one script call per batch,
 *   docs/ledgers.md "Batching") answers each exactly as the memory ledger does one call at a time.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { RedisLedger } from '../../src/ledger/redis.ts';
import { SqliteLedger } from '../../src/ledger/sqlite.ts';
import type { BudgetScope, Ledger, Reservation, ReserveResult } from '../../src/ledger/types.ts';
import { startRedisServer, type RedisServer } from '../support/redis-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-prop-'));
let redis: RedisServer;
let t = Date.UTC(2026, 10, 25, 12);
const now = (): number => t;
let ledgers: Ledger[] = [];
let batched: RedisLedger;
before(async () => {
  redis = await startRedisServer({ appendOnly: false });
  ledgers = [new MemoryLedger({ now }), new SqliteLedger(join(dir, 'p.db'), { now }), new RedisLedger({ url: `${redis.url}/6`, now })];
  batched = new RedisLedger({ url: `${redis.url}/7`, now });
});
after(async () => {
  for (const l of ledgers) await l.close();
  await batched.close();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Op =
  | { readonly kind: 'reserve'; readonly amount: number }
  | { readonly kind: 'settle'; readonly pick: number; readonly share: number }
  | { readonly kind: 'release'; readonly pick: number }
  | { readonly kind: 'record'; readonly amount: number }
  | { readonly kind: 'advance'; readonly ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('reserve' as const), amount: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(), share: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('record' as const), amount: fc.integer({ min: 0, max: 50 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40_000 }) }) },
);

const CAP = 1000;
const TTL = 60_000;

interface Hold {
  readonly r: Reservation[];
  readonly amount: number;
  readonly expiresAt: number;
  state: 'live' | 'settled' | 'released';
}

void describe('ledger invariants (memory, SQLite, Redis on one clock)', () => {
  it('hold, settle, release, record, expiry: never above the cap, every hold counted once, ledgers agree', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const agent = `p-${randomUUID()}`;
        const scope: BudgetScope = { scope: 'agent.daily', agent, key: 'day:2026-11-25', limitNanos: CAP, resetAt: Date.UTC(2026, 10, 27) };
        const holds: Hold[] = [];
        let spent = 0;
        for (const o of ops) {
          if (o.kind === 'reserve') {
            const res = await Promise.all(ledgers.map((l) => l.reserve({ scopes: [scope], amountNanos: o.amount, ttlMillis: TTL })));
            const live = holds.filter((h) => h.state === 'live' && h.expiresAt > t).reduce((s, h) => s + h.amount, 0);
            const fits = spent + live + o.amount <= CAP;
            for (const r of res) assert.equal(r.ok, fits, `reserve ${o.amount}: spent ${spent} live ${live}`);
            if (fits) holds.push({ r: res.map((r) => (r.ok ? r.reservation : undefined!)), amount: o.amount, expiresAt: t + TTL, state: 'live' });
          } else if (o.kind === 'settle' || o.kind === 'release') {
            const open = holds.filter((h) => h.state === 'live');
            if (open.length === 0) continue;
            const h = open[o.pick % open.length]!;
            if (o.kind === 'settle') {
              const actual = Math.floor(h.amount * o.share);
              await Promise.all(ledgers.map((l, i) => l.settle(h.r[i]!, actual)));
              spent += actual;
              h.state = 'settled';
            } else {
              await Promise.all(ledgers.map((l, i) => l.release(h.r[i]!)));
              h.state = 'released';
            }
            // Once resolved, a release changes nothing.
            await Promise.all(ledgers.map((l, i) => l.release(h.r[i]!)));
          } else if (o.kind === 'record') {
            // A record is spend that already happened and is never refused, so it may push spent + held
            // past the cap; the invariant is about what the ledger admits: keep records within the room.
            const held = holds.filter((h) => h.state === 'live' && h.expiresAt > t).reduce((s, h) => s + h.amount, 0);
            if (spent + held + o.amount > CAP) continue;
            await Promise.all(ledgers.map((l) => l.record([scope], o.amount)));
            spent += o.amount;
          } else {
            t += o.ms;
          }
          const live = holds.filter((h) => h.state === 'live' && h.expiresAt > t).reduce((s, h) => s + h.amount, 0);
          const reads = await Promise.all(ledgers.map((l) => l.spent([scope])));
          for (const [read] of reads) {
            assert.deepEqual(read, { spentNanos: spent, reservedNanos: live });
            assert.ok(read!.spentNanos + read!.reservedNanos <= CAP);
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});

type Write =
  | { readonly kind: 'settle'; readonly pick: number; readonly share: number }
  | { readonly kind: 'release'; readonly pick: number }
  | { readonly kind: 'record'; readonly amount: number; readonly task: boolean };

interface Tick {
  readonly writes: readonly Write[];
  readonly reserves: readonly { readonly amount: number; readonly task: boolean; readonly ttl: number }[];
  readonly advance: number;
}

const tick: fc.Arbitrary<Tick> = fc.record({
  writes: fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(), share: fc.double({ min: 0, max: 1.5, noNaN: true }) }),
      fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('record' as const), amount: fc.integer({ min: 0, max: 30 }), task: fc.boolean() }),
    ),
    { maxLength: 12 },
  ),
  reserves: fc.array(fc.record({ amount: fc.integer({ min: 0, max: 120 }), task: fc.boolean(), ttl: fc.constantFrom(10_000, 60_000) }), { maxLength: 30 }),
  advance: fc.integer({ min: 0, max: 40_000 }),
});

void describe('Redis batches against one call at a time', () => {
  it('a tick of writes then reserves, issued at once on Redis, one by one on memory: the same answers and counters', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(tick, { minLength: 1, maxLength: 8 }), fc.integer({ min: 200, max: 1500 }), fc.integer({ min: 200, max: 1500 }), async (ticks, dayCap, taskCap) => {
        const agent = `q-${randomUUID()}`;
        const memory = new MemoryLedger({ now });
        const day: BudgetScope = { scope: 'agent.daily', agent, key: 'day:2026-11-25', limitNanos: dayCap, resetAt: Date.UTC(2026, 10, 27) };
        const month: BudgetScope = { scope: 'agent.monthly', agent, key: 'month:2026-11', limitNanos: null, resetAt: Date.UTC(2026, 11, 1) };
        const task: BudgetScope = { scope: 'task', agent, key: 'task:t', limitNanos: taskCap, resetAt: null };
        // Two scope lists sharing the daily counter: one array reused (as the policy passes an
        // agent's scopes), one copied per call (as it passes a task's).
        const plain = [month, day];
        const withTask = [day, task];
        const holds: { readonly redis: Reservation; readonly memory: Reservation }[] = [];
        for (const tk of ticks) {
          const issue = (l: Ledger, side: 'redis' | 'memory'): Promise<unknown>[] => {
            const out: Promise<unknown>[] = [];
            for (const w of tk.writes) {
              if (w.kind === 'record') out.push(l.record(w.task ? withTask.slice() : plain, w.amount));
              else if (holds.length > 0) {
                const h = holds[w.pick % holds.length]![side];
                out.push(w.kind === 'settle' ? l.settle(h, Math.floor(h.amountNanos * w.share)) : l.release(h));
              }
            }
            for (const r of tk.reserves) out.push(l.reserve({ scopes: r.task ? withTask.slice() : plain, amountNanos: r.amount, ttlMillis: r.ttl }));
            return out;
          };
          // Redis: everything issued before anything is awaited (one SETTLE and one RESERVE batch);
          // memory: one call after the other, in the same order.
          const onRedis = await Promise.all(issue(batched, 'redis'));
          const onMemory: unknown[] = [];
          for (const p of issue(memory, 'memory')) onMemory.push(await p);
          const first = onRedis.length - tk.reserves.length;
          for (let i = first; i < onRedis.length; i++) {
            const a = onRedis[i] as ReserveResult;
            const b = onMemory[i] as ReserveResult;
            assert.equal(a.ok, b.ok, `reserve ${i - first} of the tick`);
            if (a.ok && b.ok) {
              assert.deepEqual(a.remainingNanos, b.remainingNanos);
              assert.equal(a.reservation.expiresAt, b.reservation.expiresAt);
              holds.push({ redis: a.reservation, memory: b.reservation });
            } else if (!a.ok && !b.ok) {
              assert.deepEqual([a.scope.scope, a.spentNanos, a.reservedNanos], [b.scope.scope, b.spentNanos, b.reservedNanos]);
            }
          }
          t += tk.advance;
          const scopes = [month, day, task];
          const [x, y] = await Promise.all([batched.spent(scopes), memory.spent(scopes)]);
          assert.deepEqual(x, y);
        }
        await memory.close();
      }),
      { numRuns: 40 },
    );
  });
});
