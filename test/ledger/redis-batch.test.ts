/**
 * Group commit in the Redis ledger (docs/ledgers.md, "Batching"): reserves issued in the same
 * tick go as one RESERVE call, settles / releases / records as one SETTLE call, and each item is
 * processed exactly as a call of its own would be, in order.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisLedger, type RedisLedgerOptions } from '../../src/ledger/redis.ts';
import { SETTLE_BATCH } from '../../src/ledger/redis-scripts.ts';
import type { BudgetScope, ReserveResult } from '../../src/ledger/types.ts';
import { startRedisServer, type RedisServer } from '../support/redis-server.ts';

let server: RedisServer;
let raw: Redis;
const open: RedisLedger[] = [];

before(async () => {
  server = await startRedisServer({ appendOnly: false });
  raw = new Redis({ port: server.port, host: '127.0.0.1', db: 2, lazyConnect: true });
  await raw.connect();
});

after(async () => {
  for (const l of open) await l.close();
  raw.disconnect();
  await server.stop();
});

async function ledger(options: Partial<RedisLedgerOptions> = {}): Promise<RedisLedger> {
  const l = await RedisLedger.connect({ url: `${server.url}/2`, ...options });
  open.push(l);
  return l;
}

function scopesOf(agent: string, dayCap: number | null, monthCap: number | null = null): BudgetScope[] {
  return [
    { scope: 'agent.monthly', agent, key: 'month:2026-12', limitNanos: monthCap, resetAt: Date.UTC(2027, 0, 1) },
    { scope: 'agent.daily', agent, key: 'day:2026-12-03', limitNanos: dayCap, resetAt: Date.UTC(2026, 11, 4) },
  ];
}

/** Script calls Redis ran since `RESETSTAT` (EVALSHA and EVAL). */
async function scriptCalls(): Promise<number> {
  const stats = String(await raw.info('commandstats'));
  let n = 0;
  for (const m of stats.matchAll(/cmdstat_(evalsha|eval):calls=(\d+),/g)) n += Number(m[2]);
  return n;
}

void describe('RedisLedger batches', () => {
  void it('many reserves in one tick against a cap: one script call, exactly the items that fit in order, the rest refused naming the full scope', async () => {
    const l = await ledger();
    const agent = `b-${randomUUID()}`;
    // Monthly generous, daily tight: refusals must name the daily scope (index 2), with its counters.
    const scopes = scopesOf(agent, 1_000, 1_000_000);
    await l.spent(scopes); // connected, scripts loaded
    await raw.config('RESETSTAT');
    const amounts = Array.from({ length: 120 }, (_, i) => 7 + ((i * 37) % 41));
    const results = await Promise.all(amounts.map((amountNanos) => l.reserve({ scopes, amountNanos, ttlMillis: 60_000 })));
    assert.equal(await scriptCalls(), 1, 'one RESERVE for the whole tick');
    // The model: items in issue order, each against the holds of those before it.
    let held = 0;
    let admitted = 0;
    results.forEach((r, i) => {
      const amount = amounts[i]!;
      if (held + amount <= 1_000) {
        held += amount;
        admitted++;
        assert.ok(r.ok, `item ${i} (${amount}) fits after ${held - amount}`);
        assert.deepEqual(r.remainingNanos, [1_000_000 - held, 1_000 - held]);
      } else {
        assert.ok(!r.ok, `item ${i} (${amount}) does not fit after ${held}`);
        assert.equal(r.scope, scopes[1]);
        assert.deepEqual([r.spentNanos, r.reservedNanos], [0, held]);
      }
    });
    assert.ok(admitted > 20 && admitted < 120, String(admitted));
    assert.ok(held > 1_000 - 47, `the cap is used up to the last item that fits: ${held}`);
    assert.deepEqual(await l.spent(scopes), [
      { spentNanos: 0, reservedNanos: held },
      { spentNanos: 0, reservedNanos: held },
    ]);
    // Every admitted hold is a field of both counters.
    for (const key of ['month:2026-12', 'day:2026-12-03']) {
      const fields = Object.keys(await raw.hgetall(`tollgate:{${agent}}:c:${key}`)).filter((f) => f.includes('|'));
      assert.equal(fields.length, admitted);
    }
    // Settle them all in one tick: one SETTLE, the counters exact.
    await raw.config('RESETSTAT');
    const ok = results.filter((r): r is Extract<ReserveResult, { ok: true }> => r.ok);
    await Promise.all(ok.map((r) => l.settle(r.reservation, 5)));
    assert.equal(await scriptCalls(), 1, 'one SETTLE for the whole tick');
    assert.deepEqual(await l.spent(scopes), [
      { spentNanos: 5 * admitted, reservedNanos: 0 },
      { spentNanos: 5 * admitted, reservedNanos: 0 },
    ]);
    const { t: _table, ...c } = await raw.hgetall(`tollgate:{${agent}}:c:day:2026-12-03`);
    assert.deepEqual(c, { s: String(5 * admitted), r: '0' }, 'no hold left, no sweep due');
  });

  void it('a counter given 16 holds or more by one batch is kept as a hash table (no linear scans); fewer leave it a listpack', async () => {
    const l = await ledger();
    const busy = scopesOf(`h-${randomUUID()}`, 1_000);
    const quiet = scopesOf(`l-${randomUUID()}`, 1_000);
    const [a, b] = await Promise.all([
      Promise.all(Array.from({ length: 40 }, () => l.reserve({ scopes: busy, amountNanos: 1, ttlMillis: 60_000 }))),
      Promise.all(Array.from({ length: 10 }, () => l.reserve({ scopes: quiet, amountNanos: 1, ttlMillis: 60_000 }))),
    ]);
    const key = (s: BudgetScope[]): string => `tollgate:{${s[1]!.agent}}:c:${s[1]!.key}`;
    assert.equal(await raw.object('ENCODING', key(busy)), 'hashtable');
    assert.equal(await raw.object('ENCODING', key(quiet)), 'listpack');
    // The field that converts it is neither a hold nor a counter: reads and settles ignore it.
    await Promise.all([...a, ...b].map((r) => (r.ok ? l.settle(r.reservation, 1) : Promise.reject(new Error('refused')))));
    assert.deepEqual((await l.spent(busy))[1], { spentNanos: 40, reservedNanos: 0 });
    assert.deepEqual(Object.keys(await raw.hgetall(key(busy))).sort(), ['r', 's', 't']);
  });

  void it('more items than one batch holds: split over several calls, still exact', async () => {
    const l = await ledger();
    const agent = `m-${randomUUID()}`;
    const scopes = scopesOf(agent, 700);
    const results = await Promise.all(Array.from({ length: 600 }, () => l.reserve({ scopes, amountNanos: 1, ttlMillis: 60_000 })));
    assert.equal(results.filter((r) => r.ok).length, 600);
    const more = await Promise.all(Array.from({ length: 300 }, () => l.reserve({ scopes, amountNanos: 1, ttlMillis: 60_000 })));
    assert.equal(more.filter((r) => r.ok).length, 100);
    assert.deepEqual((await l.spent(scopes))[1], { spentNanos: 0, reservedNanos: 700 });
  });

  void it('mixed in one tick: settles, releases and records land before the reserves of the same tick, in one call each', async () => {
    const l = await ledger();
    const agent = `x-${randomUUID()}`;
    const scopes = scopesOf(agent, 1_000);
    const a = await l.reserve({ scopes, amountNanos: 500, ttlMillis: 60_000 });
    const b = await l.reserve({ scopes, amountNanos: 300, ttlMillis: 60_000 });
    assert.ok(a.ok && b.ok);
    await raw.config('RESETSTAT');
    // One tick: a settled below its hold, b released, a record, then two reserves that fit only
    // once a's and b's room is back (spent 100 + 40, nothing held: 860 free).
    const [, , , c, d] = await Promise.all([
      l.settle(a.reservation, 100),
      l.release(b.reservation),
      l.record(scopes, 40),
      l.reserve({ scopes, amountNanos: 800, ttlMillis: 60_000 }),
      l.reserve({ scopes, amountNanos: 61, ttlMillis: 60_000 }),
    ]);
    assert.equal(await scriptCalls(), 2, 'one SETTLE and one RESERVE');
    assert.ok(c.ok);
    assert.ok(!d.ok);
    assert.deepEqual([d.spentNanos, d.reservedNanos], [140, 800]);
    assert.deepEqual(await l.spent(scopes), [
      { spentNanos: 140, reservedNanos: 800 },
      { spentNanos: 140, reservedNanos: 800 },
    ]);
  });

  void it('the same hold twice in one tick: settle and release (or two releases) take it off once, charged once', async () => {
    const l = await ledger();
    const agent = `d-${randomUUID()}`;
    const scopes = scopesOf(agent, 1_000);
    const a = await l.reserve({ scopes, amountNanos: 400, ttlMillis: 60_000 });
    const b = await l.reserve({ scopes, amountNanos: 200, ttlMillis: 60_000 });
    assert.ok(a.ok && b.ok);
    await Promise.all([l.settle(a.reservation, 250), l.release(a.reservation), l.release(b.reservation), l.release(b.reservation)]);
    assert.deepEqual((await l.spent(scopes))[1], { spentNanos: 250, reservedNanos: 0 });
  });

  void it('SETTLE script: a retry of a settle in the same batch as its first attempt, and a record id twice, each count once', async () => {
    const l = await ledger();
    const agent = `r-${randomUUID()}`;
    const scope = scopesOf(agent, 1_000)[1]!;
    const a = await l.reserve({ scopes: [scope], amountNanos: 300, ttlMillis: 60_000 });
    assert.ok(a.ok);
    const base = `tollgate:{${agent}}:`;
    const keys = [`${base}c:${scope.key}`, `${base}h:${scope.key}`, `${base}x:${scope.key}`];
    const resetAt = String(scope.resetAt);
    const id = a.reservation.id;
    // ARGV: now, grace, idle, 2 sets (first attempts; retries) of the one counter, then the items:
    // the settle, its retry, the settle's retry again, a record, the same record again.
    const argv = ['', '3600000', '604800000', '2', '0', '1', '1', resetAt, '1', '1', '1', resetAt];
    const hold = `${id}|300`;
    argv.push('1', hold, '300', '120', '2', hold, '300', '120', '2', hold, '300', '120', '1', '!rec.1', '0', '30', '2', '!rec.1', '0', '30');
    const charged = await raw.eval(SETTLE_BATCH.lua, 3, ...keys, ...argv);
    assert.equal(charged, 2, 'the settle once, the record once');
    assert.deepEqual(await l.spent([scope]), [{ spentNanos: 150, reservedNanos: 0 }]);
    assert.equal(await raw.hexists(keys[0]!, `${id}|300`), 0);
  });

  void it('a batch of writes that times out: each write is buffered as a retry and charged once when Redis is back', async () => {
    const s = await startRedisServer({ appendOnly: false });
    try {
      const l = await RedisLedger.connect({ url: s.url, commandTimeoutMillis: 150 });
      const agent = `t-${randomUUID()}`;
      const scopes = scopesOf(agent, 10_000);
      const holds = await Promise.all(Array.from({ length: 8 }, () => l.reserve({ scopes, amountNanos: 100, ttlMillis: 60_000 })));
      s.pause();
      // One SETTLE for the 8 settles and 2 records, written to the socket before Redis stopped answering.
      await Promise.all([...holds.map((h) => (h.ok ? l.settle(h.reservation, 60) : Promise.reject(new Error('refused')))), l.record(scopes, 7), l.record(scopes, 9)]);
      assert.equal(l.pendingWrites, 10);
      s.resume();
      assert.equal(await l.flush(), 0);
      // The first attempt ran once Redis resumed; the retries found the holds gone and the records' ids applied.
      assert.deepEqual((await l.spent(scopes))[1], { spentNanos: 8 * 60 + 16, reservedNanos: 0 });
      await l.close();
    } finally {
      await s.stop();
    }
  });

  void it('holds of the earlier layout (sorted set h) count in a batch until they expire, then their room comes back', async () => {
    let t = Date.UTC(2026, 11, 3, 12);
    const l = await ledger({ now: () => t });
    const agent = `v-${randomUUID()}`;
    const scope = scopesOf(agent, 100)[1]!;
    const c = `tollgate:{${agent}}:c:${scope.key}`;
    // What a process of an earlier version leaves: spent and held in c, its hold in h.
    await raw.hset(c, 's', '30', 'r', '50');
    await raw.zadd(`tollgate:{${agent}}:h:${scope.key}`, String(t + 120_000), 'old.1|50');
    const first = await Promise.all(Array.from({ length: 5 }, () => l.reserve({ scopes: [scope], amountNanos: 5, ttlMillis: 600_000 })));
    assert.deepEqual(first.map((r) => r.ok), [true, true, true, true, false]);
    t += 120_000;
    const second = await Promise.all(Array.from({ length: 12 }, () => l.reserve({ scopes: [scope], amountNanos: 5, ttlMillis: 600_000 })));
    assert.equal(second.filter((r) => r.ok).length, 10, 'the earlier hold expired: 50 more room');
    assert.deepEqual(await l.spent([scope]), [{ spentNanos: 30, reservedNanos: 70 }]);
    assert.equal(await raw.zscore(`tollgate:{${agent}}:x:${scope.key}`, 'old.1|50'), String(t));
  });

  void it('a call with no scopes: admitted and settled, alone or in a batch', async () => {
    const l = await ledger();
    const lone = await l.reserve({ scopes: [], amountNanos: 5, ttlMillis: 1_000 });
    assert.ok(lone.ok);
    assert.deepEqual(lone.remainingNanos, []);
    const two = await Promise.all([l.reserve({ scopes: [], amountNanos: 5, ttlMillis: 1_000 }), l.reserve({ scopes: [], amountNanos: 6, ttlMillis: 1_000 })]);
    assert.ok(two[0].ok && two[1].ok);
    await l.settle(lone.reservation, 3);
    await Promise.all([l.settle(two[0].reservation, 1), l.release(two[1].reservation), l.record([], 4)]);
    assert.equal(l.pendingWrites, 0);
  });

  void it('agents in one tick go as one call per agent (hash tag), each against its own counters', async () => {
    const l = await ledger();
    const agents = [`p-${randomUUID()}`, `q-${randomUUID()}`];
    await l.spent(scopesOf(agents[0]!, 1));
    await raw.config('RESETSTAT');
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => l.reserve({ scopes: scopesOf(agents[i % 2]!, i % 2 === 0 ? 100 : 150), amountNanos: 10, ttlMillis: 60_000 })),
    );
    assert.equal(await scriptCalls(), 2);
    assert.equal(results.filter((r, i) => r.ok && i % 2 === 0).length, 10);
    assert.equal(results.filter((r, i) => r.ok && i % 2 === 1).length, 15);
  });
});
