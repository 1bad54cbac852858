import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisLedger, type RedisLedgerOptions } from '../../src/ledger/redis.ts';
import { parseRedisUrl } from '../../src/ledger/redis-url.ts';
import { ConfigError, LedgerUnavailableError, TollgateError } from '../../src/errors.ts';
import type { BudgetScope } from '../../src/ledger/types.ts';
import { runLedgerContract, fakeClock } from './contract.ts';
import { startRedisServer, freePort, type RedisServer } from '../support/redis-server.ts';

let server: RedisServer;
let raw: Redis;
const open: RedisLedger[] = [];

before(async () => {
  server = await startRedisServer();
  raw = new Redis({ port: server.port, host: '127.0.0.1', db: 3, lazyConnect: true });
  await raw.connect();
});

after(async () => {
  for (const l of open) await l.close();
  raw.disconnect();
  await server.stop();
});

/** A ledger on the file's server, closed at the end. */
function ledger(options: Partial<RedisLedgerOptions> = {}): RedisLedger {
  const l = new RedisLedger({ url: `${server.url}/3`, ...options });
  open.push(l);
  return l;
}

function day(agent: string, limitNanos: number | null, resetAt: number | null = null): BudgetScope {
  return { scope: 'agent.daily', agent, key: 'day:2026-11-25', limitNanos, resetAt };
}

runLedgerContract('redis', ({ now }) => new RedisLedger({ url: `${server.url}/3`, now }));

void describe('parseRedisUrl', () => {
  void it('reads host, port, db, TLS, user, password and prefix', () => {
    assert.deepEqual(parseRedisUrl('rediss://app:p%40ss@cache.internal:6380/4?prefix=staging:'), {
      mode: 'single',
      nodes: [{ host: 'cache.internal', port: 6380 }],
      host: 'cache.internal',
      port: 6380,
      db: 4,
      tls: true,
      keyPrefix: 'staging:',
      username: 'app',
      password: 'p@ss',
      description: 'rediss://cache.internal:6380/4',
    });
    assert.deepEqual(parseRedisUrl('redis://localhost'), {
      mode: 'single',
      nodes: [{ host: 'localhost', port: 6379 }],
      host: 'localhost',
      port: 6379,
      db: 0,
      tls: false,
      keyPrefix: '',
      description: 'redis://localhost/0',
    });
    assert.equal(parseRedisUrl('redis://:only-pass@[::1]:7000/').host, '::1');
  });

  for (const [url, why] of [
    ['http://localhost:6379', 'scheme'],
    ['redis://:hunter2@host/abc', 'path'],
    ['redis://:hunter2@host/1?db=2', 'unknown query parameter db'],
    ['redis://:hunter2@host:99999', 'port'],
    ['not a url', ''],
    ['', ''],
  ] as const) {
    void it(`refuses ${JSON.stringify(url)} with a ConfigError that hides the password`, () => {
      assert.throws(
        () => parseRedisUrl(url, 'TOLLGATE_LEDGER'),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.equal(err.source, 'TOLLGATE_LEDGER');
          assert.ok(err.message.includes(why), err.message);
          assert.ok(!err.message.includes('hunter2'), err.message);
          assert.ok(!JSON.stringify(err.value).includes('hunter2'));
          assert.match(err.expected, /redis:\/\//);
          return true;
        },
      );
    });
  }

  void it('makes the constructor throw ConfigError for a bad URL or option', () => {
    assert.throws(() => new RedisLedger({ url: 'memcached://x' }), ConfigError);
    assert.throws(() => new RedisLedger({ url: server.url, commandTimeoutMillis: 0 }), ConfigError);
    assert.throws(() => new RedisLedger({ url: server.url, failure: 'maybe' as 'open' }), ConfigError);
  });
});

void describe('RedisLedger keys', () => {
  void it('namespaces keys as <prefix>tollgate:{agent}:… in the URL database, with the prefix from the URL or the option', async () => {
    const agent = `k-${randomUUID()}`;
    const fromUrl = ledger({ url: `${server.url}/3?prefix=p1:` });
    const fromOption = ledger({ url: `${server.url}/3?prefix=p1:`, keyPrefix: 'p2:' });
    await fromUrl.record([day(agent, null)], 5);
    await fromOption.record([day(agent, null)], 7);
    assert.deepEqual(await raw.hgetall(`p1:tollgate:{${agent}}:c:day:2026-11-25`), { s: '5' });
    assert.deepEqual(await raw.hgetall(`p2:tollgate:{${agent}}:c:day:2026-11-25`), { s: '7' });
    assert.deepEqual(await fromUrl.spent([day(agent, null)]), [{ spentNanos: 5, reservedNanos: 0 }]);
    const db0 = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true });
    await db0.connect();
    assert.equal(await db0.exists(`p1:tollgate:{${agent}}:c:day:2026-11-25`), 0);
    db0.disconnect();
  });

  void it('escapes braces and colons in agent names so the hash tag is always the whole agent', async () => {
    const l = ledger();
    const agent = `we{ir}d:${randomUUID()}`;
    await l.record([day(agent, null)], 1);
    const keys = await raw.keys(`tollgate:*${agent.slice(-36)}*`);
    // c: the counter; x: the record's applied-once marker (beside expired holds).
    assert.deepEqual(keys.sort(), [`tollgate:{we%7Bir%7Dd%3A${agent.slice(-36)}}:c:day:2026-11-25`, `tollgate:{we%7Bir%7Dd%3A${agent.slice(-36)}}:x:day:2026-11-25`]);
  });

  void it('expires a window counter at resetAt + grace, and a task counter after idleCounterTtlMillis', async () => {
    const clock = fakeClock();
    const l = ledger({ now: clock.now, windowGraceMillis: 600_000, idleCounterTtlMillis: 86_400_000 });
    const agent = `w-${randomUUID()}`;
    const resetAt = clock.now() + 3_600_000;
    const task: BudgetScope = { scope: 'task', agent, key: 'task:t1', limitNanos: null, resetAt: null };
    const r = await l.reserve({ scopes: [day(agent, 100, resetAt), task], amountNanos: 10, ttlMillis: 60_000 });
    assert.ok(r.ok);
    const windowTtl = await raw.pttl(`tollgate:{${agent}}:c:day:2026-11-25`);
    // The hold is a field of the counter's hash (redis-scripts.ts), so it lives as long as the
    // counter, whose TTL is checked below; no key of its own.
    assert.equal(await raw.hget(`tollgate:{${agent}}:c:day:2026-11-25`, `${r.reservation.id}|10`), String(r.reservation.expiresAt));
    assert.equal(await raw.exists(`tollgate:{${agent}}:h:day:2026-11-25`), 0);
    const taskTtl = await raw.pttl(`tollgate:{${agent}}:c:task:t1`);
    // PTTL counts down in real time between the script and the read: allow 1 s.
    assert.ok(windowTtl <= 4_200_000 && windowTtl > 4_199_000, String(windowTtl));
    assert.ok(taskTtl <= 86_400_000 && taskTtl > 86_399_000, String(taskTtl));
  });

  void it('keeps all of one agent in one cluster slot: the scripts run on a Redis in cluster mode', async () => {
    const cluster = await startRedisServer({ cluster: true, appendOnly: false });
    try {
      const admin = new Redis({ port: cluster.port, host: '127.0.0.1', lazyConnect: true });
      await admin.connect();
      await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      const deadline = Date.now() + 5_000;
      while (!String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
        assert.ok(Date.now() < deadline, 'cluster did not become ok');
        await new Promise((r) => setTimeout(r, 20));
      }
      const l = new RedisLedger({ url: cluster.url });
      const agent = `c-${randomUUID()}`;
      const scopes: BudgetScope[] = [
        { scope: 'agent.monthly', agent, key: 'month:2026-11', limitNanos: 1000, resetAt: null },
        day(agent, 500),
        { scope: 'task', agent, key: 'task:abc', limitNanos: 100, resetAt: null },
      ];
      const r = await l.reserve({ scopes, amountNanos: 60, ttlMillis: 60_000 });
      assert.ok(r.ok);
      await l.settle(r.reservation, 40);
      assert.deepEqual(await l.spent(scopes), [
        { spentNanos: 40, reservedNanos: 0 },
        { spentNanos: 40, reservedNanos: 0 },
        { spentNanos: 40, reservedNanos: 0 },
      ]);
      const slots = await Promise.all(
        (await admin.keys('tollgate:*')).map((k) => admin.call('CLUSTER', 'KEYSLOT', k)),
      );
      assert.equal(slots.length, 3);
      assert.equal(new Set(slots).size, 1);
      // Without the hash tag Redis would refuse the script: prove the check is live.
      await assert.rejects(admin.eval("return redis.call('GET', KEYS[1])", 2, 'a:1', 'b:2'), /CROSSSLOT/);
      await l.close();
      admin.disconnect();
    } finally {
      await cluster.stop();
    }
  });
});

void describe('RedisLedger scripts', () => {
  void it('uses one EVALSHA per reserve and per settle', async () => {
    const l = ledger();
    const agent = `s-${randomUUID()}`;
    await l.spent([day(agent, 1)]); // connected, scripts loaded
    await raw.config('RESETSTAT');
    for (let i = 0; i < 20; i++) {
      const r = await l.reserve({ scopes: [day(agent, 1000), { ...day(agent, null), key: 'month:2026-11' }], amountNanos: 10, ttlMillis: 60_000 });
      assert.ok(r.ok);
      await l.settle(r.reservation, 5);
    }
    const stats = String(await raw.info('commandstats'));
    assert.match(stats, /cmdstat_evalsha:calls=40,/);
    assert.doesNotMatch(stats, /cmdstat_eval:/);
  });

  void it('keeps working after SCRIPT FLUSH (falls back to EVAL, which caches the script again)', async () => {
    const l = ledger();
    const agent = `f-${randomUUID()}`;
    const a = await l.reserve({ scopes: [day(agent, 100)], amountNanos: 60, ttlMillis: 60_000 });
    assert.ok(a.ok);
    await raw.script('FLUSH');
    await raw.config('RESETSTAT');
    await l.settle(a.reservation, 50);
    const b = await l.reserve({ scopes: [day(agent, 100)], amountNanos: 60, ttlMillis: 60_000 });
    assert.equal(b.ok, false);
    const c = await l.reserve({ scopes: [day(agent, 100)], amountNanos: 50, ttlMillis: 60_000 });
    assert.ok(c.ok);
    assert.deepEqual(await l.spent([day(agent, 100)]), [{ spentNanos: 50, reservedNanos: 50 }]);
    const stats = String(await raw.info('commandstats'));
    // One EVAL per script after the flush (settle, reserve, read), then EVALSHA again.
    assert.match(stats, /cmdstat_eval:calls=3,/);
    assert.match(stats, /cmdstat_evalsha:calls=4,/);
  });

  void it('with the server clock, a hold expires by the server TIME', async () => {
    const l = ledger();
    const agent = `t-${randomUUID()}`;
    const r = await l.reserve({ scopes: [day(agent, 100)], amountNanos: 100, ttlMillis: 5 });
    assert.ok(r.ok);
    const [sec, micro] = (await raw.time()) as [number, number];
    assert.ok(Math.abs(r.reservation.expiresAt - (Number(sec) * 1000 + Math.floor(Number(micro) / 1000) + 5)) < 1_000);
    // Poll the server clock (no sleep) until it passes the hold's expiry.
    for (;;) {
      const [s, us] = (await raw.time()) as [number, number];
      if (Number(s) * 1000 + Math.floor(Number(us) / 1000) >= r.reservation.expiresAt) break;
    }
    assert.deepEqual(await l.spent([day(agent, 100)]), [{ spentNanos: 0, reservedNanos: 0 }]);
  });
});

void describe('RedisLedger connection errors', () => {
  void it('names the ledger and the cause for a wrong password, without the password', async () => {
    const secured = await startRedisServer({ password: 's3cret-pw', appendOnly: false });
    try {
      for (const url of [`redis://:wrong-pw@127.0.0.1:${secured.port}/1`, `redis://127.0.0.1:${secured.port}/1`]) {
        await assert.rejects(RedisLedger.connect({ url }), (err: unknown) => {
          assert.ok(err instanceof LedgerUnavailableError);
          assert.ok(err instanceof TollgateError);
          assert.equal(err.code, 'LEDGER_UNAVAILABLE');
          assert.equal(err.ledger, `redis://127.0.0.1:${secured.port}/1`);
          assert.match(err.message, new RegExp(`ledger redis://127\\.0\\.0\\.1:${secured.port}/1 unavailable: authentication failed`));
          assert.ok(!err.message.includes('wrong-pw'));
          return true;
        });
      }
      const ok = await RedisLedger.connect({ url: `redis://:s3cret-pw@127.0.0.1:${secured.port}/1` });
      assert.deepEqual(await ok.spent([day('x', 1)]), [{ spentNanos: 0, reservedNanos: 0 }]);
      await ok.close();
    } finally {
      await secured.stop();
    }
  });

  void it('names the ledger for an unreachable host, and reserve (closed) rejects within the timeout', async () => {
    const port = await freePort();
    await assert.rejects(RedisLedger.connect({ url: `redis://:pw@127.0.0.1:${port}` }), (err: unknown) => {
      assert.ok(err instanceof LedgerUnavailableError);
      assert.equal(err.message, `tollgate: ledger redis://127.0.0.1:${port}/0 unavailable: connection refused at 127.0.0.1:${port}`);
      return true;
    });
    const l = ledger({ url: `redis://127.0.0.1:${port}`, commandTimeoutMillis: 200 });
    const t0 = performance.now();
    await assert.rejects(l.reserve({ scopes: [day('x', 10)], amountNanos: 1, ttlMillis: 1000 }), LedgerUnavailableError);
    const took = performance.now() - t0;
    assert.ok(took < 400, `took ${took} ms`);
    await assert.rejects(l.spent([day('x', 10)]), LedgerUnavailableError);
  });

  void it('closed: a hung Redis (SIGSTOP) blocks reserve within the timeout; it works again once resumed', async () => {
    const s = await startRedisServer({ appendOnly: false });
    try {
      const l = await RedisLedger.connect({ url: s.url, commandTimeoutMillis: 150 });
      const agent = `h-${randomUUID()}`;
      const before = await l.reserve({ scopes: [day(agent, 100)], amountNanos: 30, ttlMillis: 60_000 });
      assert.ok(before.ok);
      s.pause();
      const t0 = performance.now();
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, () => l.reserve({ scopes: [day(agent, 100)], amountNanos: 1, ttlMillis: 60_000 })),
      );
      const took = performance.now() - t0;
      s.resume();
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.ok(r.reason instanceof LedgerUnavailableError);
        assert.match((r.reason as Error).message, /no answer within 150 ms/);
      }
      assert.ok(took < 400, `took ${took} ms`);
      // The 10 timed-out reserves may have run once the server resumed: the ledger releases those ghost holds itself.
      await l.settle(before.reservation, 20);
      assert.equal(await l.flush(), 0);
      assert.deepEqual(await l.spent([day(agent, 100)]), [{ spentNanos: 20, reservedNanos: 0 }]);
      await l.close();
    } finally {
      await s.stop();
    }
  });
});

void describe('RedisLedger key layout across versions', () => {
  void it('counts holds of the earlier layout (sorted set h) until they expire, then gives their room back', async () => {
    const clock = fakeClock();
    const l = ledger({ now: clock.now });
    const agent = `v-${randomUUID()}`;
    const c = `tollgate:{${agent}}:c:day:2026-11-25`;
    // What a process of the earlier version leaves behind: spent and held in c, its hold in h.
    await raw.hset(c, 's', '30', 'r', '50');
    await raw.zadd(`tollgate:{${agent}}:h:day:2026-11-25`, String(clock.now() + 120_000), 'old.1|50');
    assert.deepEqual(await l.spent([day(agent, 100)]), [{ spentNanos: 30, reservedNanos: 50 }]);
    const refused = await l.reserve({ scopes: [day(agent, 100)], amountNanos: 21, ttlMillis: 60_000 });
    assert.equal(refused.ok, false);
    const mine = await l.reserve({ scopes: [day(agent, 100)], amountNanos: 20, ttlMillis: 600_000 });
    assert.ok(mine.ok);
    clock.advance(120_000);
    assert.deepEqual(await l.spent([day(agent, 100)]), [{ spentNanos: 30, reservedNanos: 20 }]);
    assert.equal(await raw.zscore(`tollgate:{${agent}}:x:day:2026-11-25`, 'old.1|50'), String(clock.now()));
    await l.settle(mine.reservation, 15);
    assert.deepEqual(await l.spent([day(agent, 100)]), [{ spentNanos: 45, reservedNanos: 0 }]);
    assert.deepEqual(await raw.hmget(c, 's', 'r'), ['45', '0']);
  });
});

void describe('RedisLedger records', () => {
  void it('applies a record once per id: a retry of a record whose first attempt landed (reply lost) is not counted again', async () => {
    const s = await startRedisServer({ appendOnly: false });
    try {
      const l = await RedisLedger.connect({ url: s.url, commandTimeoutMillis: 150 });
      const agent = `r-${randomUUID()}`;
      const scopes = [day(agent, null), { ...day(agent, null), key: 'month:2026-11' }];
      await l.record(scopes, 7);
      // The next record is written to the socket, then Redis stops: no reply within the timeout,
      // so the ledger buffers it as a retry. Once Redis resumes it runs the first attempt AND the retry.
      s.pause();
      await l.record(scopes, 40);
      assert.equal(l.pendingWrites, 1);
      s.resume();
      assert.equal(await l.flush(), 0);
      assert.deepEqual(await l.spent(scopes), [
        { spentNanos: 47, reservedNanos: 0 },
        { spentNanos: 47, reservedNanos: 0 },
      ]);
      // Records with their own ids all count (the marker is per id, not per amount).
      await Promise.all([l.record(scopes, 40), l.record(scopes, 40)]);
      assert.deepEqual(await l.spent(scopes), [
        { spentNanos: 127, reservedNanos: 0 },
        { spentNanos: 127, reservedNanos: 0 },
      ]);
      await l.close();
    } finally {
      await s.stop();
    }
  });
});

void describe('RedisLedger outages', () => {
  void it('closed: blocks while Redis is down, buffers settles, loses nothing once it is back', async () => {
    const s = await startRedisServer();
    try {
      const l = await RedisLedger.connect({ url: s.url, commandTimeoutMillis: 200 });
      const agent = `o-${randomUUID()}`;
      const scope = day(agent, 1_000);
      const held = await l.reserve({ scopes: [scope], amountNanos: 400, ttlMillis: 600_000 });
      assert.ok(held.ok);
      await s.kill();
      await assert.rejects(l.reserve({ scopes: [scope], amountNanos: 1, ttlMillis: 1000 }), /unavailable/);
      await l.settle(held.reservation, 300); // resolves: buffered
      await l.record([scope], 11);
      assert.equal(l.pendingWrites, 2);
      await s.start();
      // The reconnect flushes the buffer; a reserve waits for the connection within its timeout.
      const deadline = Date.now() + 5_000;
      while (l.pendingWrites > 0 || (await l.flush()) > 0) {
        assert.ok(Date.now() < deadline, 'buffer not flushed');
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(await l.spent([scope]), [{ spentNanos: 311, reservedNanos: 0 }]);
      await l.close();
    } finally {
      await s.stop();
    }
  });

  void it('open: calls go on while Redis is down; every settled cost is in Redis once it is back', async () => {
    const s = await startRedisServer();
    try {
      const l = await RedisLedger.connect({ url: s.url, commandTimeoutMillis: 200, failure: 'open' });
      const agent = `p-${randomUUID()}`;
      const scope = day(agent, 1_000);
      const before = await l.reserve({ scopes: [scope], amountNanos: 400, ttlMillis: 600_000 });
      assert.ok(before.ok);
      await s.kill();
      const during = await l.reserve({ scopes: [scope], amountNanos: 5_000, ttlMillis: 600_000 });
      assert.ok(during.ok, 'open mode lets the call go');
      assert.deepEqual(during.remainingNanos, [null]);
      await l.settle(before.reservation, 300);
      await l.settle(during.reservation, 2_000);
      await l.release(during.reservation); // a local hold: nothing to release in Redis
      assert.equal(l.pendingWrites, 2);
      await s.start();
      const deadline = Date.now() + 5_000;
      while ((await l.flush()) > 0 || l.pendingWrites > 0) {
        assert.ok(Date.now() < deadline, 'buffer not flushed');
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(await l.spent([scope]), [{ spentNanos: 2_300, reservedNanos: 0 }]);
      await l.close();
    } finally {
      await s.stop();
    }
  });

  void it('open: a full buffer drops the oldest writes (bounded memory)', async () => {
    const port = await freePort();
    const l = ledger({ url: `redis://127.0.0.1:${port}`, failure: 'open', maxBufferedWrites: 3, commandTimeoutMillis: 50, closeTimeoutMillis: 50 });
    for (let i = 0; i < 5; i++) await l.record([day('z', null)], 1);
    assert.equal(l.pendingWrites, 3);
  });
});
