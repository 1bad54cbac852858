import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { createLedger, parseLedgerSpec } from '../../src/ledger/index.ts';
import { ConfigError } from '../../src/errors.ts';
import { runLedgerContract, fakeClock } from './contract.ts';

runLedgerContract('memory', ({ now }) => new MemoryLedger({ now }));

void describe('MemoryLedger', () => {
  void it('drops a window counter once its window is over', async () => {
    const clock = fakeClock(Date.UTC(2026, 10, 25, 23, 0));
    const ledger = new MemoryLedger({ now: clock.now });
    const day = { scope: 'agent.daily', agent: 'a', key: 'day:2026-11-25', limitNanos: 10, resetAt: Date.UTC(2026, 10, 26) };
    await ledger.record([day], 7);
    assert.deepEqual(await ledger.spent([day]), [{ spentNanos: 7, reservedNanos: 0 }]);
    clock.set(Date.UTC(2026, 10, 26, 0, 1));
    assert.deepEqual(await ledger.spent([day]), [{ spentNanos: 0, reservedNanos: 0 }]);
  });

  void it('keeps at most maxCounters counters', async () => {
    const ledger = new MemoryLedger({ maxCounters: 3 });
    const s = (k: string) => ({ scope: 'task', agent: 'a', key: k, limitNanos: null, resetAt: null });
    for (const k of ['t1', 't2', 't3', 't4']) await ledger.record([s(k)], 1);
    assert.deepEqual(await ledger.spent([s('t1'), s('t2'), s('t4')]), [
      { spentNanos: 0, reservedNanos: 0 },
      { spentNanos: 1, reservedNanos: 0 },
      { spentNanos: 1, reservedNanos: 0 },
    ]);
  });
});

void describe('createLedger', () => {
  void it('opens the memory ledger for `memory`', async () => {
    const ledger = await createLedger('memory');
    assert.ok(ledger instanceof MemoryLedger);
    assert.equal(ledger.description, 'memory');
  });

  void it('rejects a spec of no known form with a ConfigError naming its source', async () => {
    for (const spec of ['', 'mem', 'sqlite:', 'postgres://db', 'file:/x.db']) {
      await assert.rejects(createLedger(spec, { source: 'TOLLGATE_LEDGER' }), (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.source, 'TOLLGATE_LEDGER');
        assert.equal(e.value, spec);
        assert.ok(
          e.expected.startsWith('`memory`, `sqlite:<file path>`, or a `redis://…` / `rediss://…` URL (also `redis+cluster://host:port,…` for Redis Cluster, `redis+sentinel://host:port,…/<master>` for Sentinel)'),
          e.expected,
        );
        return true;
      });
    }
  });

  void it('parses specs without opening anything', () => {
    assert.deepEqual(parseLedgerSpec('memory'), { kind: 'memory' });
    assert.deepEqual(parseLedgerSpec('sqlite:/var/lib/t.db'), { kind: 'sqlite', path: '/var/lib/t.db' });
    assert.deepEqual(parseLedgerSpec(' rediss://h:6380/2 '), { kind: 'redis', url: 'rediss://h:6380/2' });
  });
});
