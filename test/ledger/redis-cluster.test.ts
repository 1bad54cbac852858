/**
 * The Redis ledger on a real 3-node Redis Cluster the test starts (redis-server in cluster
 * mode x 3, slots assigned by `redis-cli --cluster create`), and on Sentinel: the ledger
 * contract, agents spread over the nodes, and a shared config scope whose counter lives in
 * another slot than the agents charged to it, under concurrent calls from two agents.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { resolveConfig } from '../../src/config/index.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import { RedisLedger } from '../../src/ledger/redis.ts';
import { parseRedisUrl } from '../../src/ledger/redis-url.ts';
import type { BudgetScope, ReserveResult } from '../../src/ledger/types.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { BudgetPolicy } from '../../src/policy/index.ts';
import { ConfigError } from '../../src/errors.ts';
import { freePort, startRedisServer, type RedisServer } from '../support/redis-server.ts';
import { runLedgerContract } from './contract.ts';
import { errorOf, fixedEstimator } from '../policy/helpers.ts';

const run = promisify(execFile);
const nodes: RedisServer[] = [];
let url = '';

before(async () => {
  for (let i = 0; i < 3; i++) nodes.push(await startRedisServer({ cluster: true, appendOnly: false }));
  await run('/usr/bin/redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
  const deadline = Date.now() + 20_000;
  for (const n of nodes) {
    const admin = new Redis({ port: n.port, host: '127.0.0.1', lazyConnect: true });
    await admin.connect();
    while (!String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
      assert.ok(Date.now() < deadline, 'cluster did not become ok');
      await new Promise((r) => setTimeout(r, 100));
    }
    admin.disconnect();
  }
  url = `redis+cluster://127.0.0.1:${nodes[0]!.port},127.0.0.1:${nodes[1]!.port}`;
});
after(async () => {
  for (const n of nodes) await n.stop();
});

runLedgerContract('redis cluster (3 nodes)', ({ now }) => new RedisLedger({ url, now }));

void describe('Redis Cluster', () => {
  it('parses redis+cluster:// and redis+sentinel:// URLs, and rejects a db on a cluster', () => {
    const c = parseRedisUrl('redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2:7001?prefix=prod:');
    assert.equal(c.mode, 'cluster');
    assert.deepEqual(c.nodes, [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }]);
    assert.equal(c.password, 'p@ss');
    assert.equal(c.keyPrefix, 'prod:');
    assert.equal(c.description, 'redis+cluster://10.0.0.1:7000,10.0.0.2:7001');
    const s = parseRedisUrl('rediss+sentinel://s1,s2:26380/mymaster/2');
    assert.equal(s.mode, 'sentinel');
    assert.deepEqual(s.nodes, [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }]);
    assert.equal(s.masterName, 'mymaster');
    assert.equal(s.db, 2);
    assert.equal(s.tls, true);
    assert.throws(() => parseRedisUrl('redis+cluster://a:1/3', 'TOLLGATE_LEDGER'), (e: unknown) => e instanceof ConfigError && /no database index/.test(e.message));
    assert.throws(() => parseRedisUrl('redis+sentinel://a:1', 'TOLLGATE_LEDGER'), (e: unknown) => e instanceof ConfigError && /master name/.test(e.message));
  });

  it('20 calls waiting for the first connection: all answered, no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const ledger = new RedisLedger({ url });
      const scope: BudgetScope = { scope: 'agent.daily', agent: 'waiters', key: 'day:2026-12-03', limitNanos: 1000, resetAt: Date.now() + 3_600_000 };
      const results = await Promise.all(Array.from({ length: 20 }, () => ledger.reserve({ scopes: [scope], amountNanos: 10, ttlMillis: 60_000 })));
      assert.equal(results.filter((r) => r.ok).length, 20);
      await ledger.close();
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message}`), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("keeps each agent's keys in its own slot, agents spread over the three nodes", async () => {
    const ledger = new RedisLedger({ url });
    for (let i = 0; i < 30; i++) {
      const scope: BudgetScope = { scope: 'agent.daily', agent: `spread-${i}`, key: 'day:2026-12-03', limitNanos: 1000, resetAt: Date.now() + 3_600_000 };
      const r = await ledger.reserve({ scopes: [scope], amountNanos: 10, ttlMillis: 60_000 });
      assert.ok(r.ok);
      await ledger.settle(r.reservation, 7);
      assert.deepEqual(await ledger.spent([scope]), [{ spentNanos: 7, reservedNanos: 0 }]);
    }
    await ledger.close();
    for (const n of nodes) {
      const admin = new Redis({ port: n.port, host: '127.0.0.1' });
      assert.ok((await admin.dbsize()) > 0, `node ${n.port} holds no counter`);
      admin.disconnect();
    }
  });

  it('one tick of reserves and settles for two agents on two nodes: a batch per slot, each exact against its own cap', async () => {
    const ledger = new RedisLedger({ url });
    // Two agents whose hash tags live on different nodes.
    const admin = new Redis({ port: nodes[0]!.port, host: '127.0.0.1' });
    const owner = async (agent: string): Promise<string> => {
      const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', `{${agent}}`));
      const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      const r = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)!;
      return String(r[2][1]);
    };
    const agents = ['batch-a', 'batch-b', 'batch-c', 'batch-d', 'batch-e'];
    const a = agents[0]!;
    let b: string | undefined;
    for (const other of agents.slice(1)) if ((await owner(other)) !== (await owner(a))) b ??= other;
    admin.disconnect();
    assert.ok(b !== undefined, 'no two agents on different nodes');
    const scope = (agent: string, cap: number): BudgetScope => ({ scope: 'agent.daily', agent, key: `day:batch-${Date.now()}`, limitNanos: cap, resetAt: Date.now() + 3_600_000 });
    const sa = [scope(a, 95)];
    const sb = [scope(b, 130)];
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => ledger.reserve({ scopes: i % 2 === 0 ? sa : sb, amountNanos: 10, ttlMillis: 60_000 })));
    const admitted = (even: number): Extract<ReserveResult, { ok: true }>[] =>
      results.filter((r, i): r is Extract<ReserveResult, { ok: true }> => r.ok && i % 2 === even);
    assert.equal(admitted(0).length, 9);
    assert.equal(admitted(1).length, 13);
    for (const r of results) if (!r.ok) assert.equal(r.scope.agent, r.spentNanos === 0 && r.reservedNanos === 90 ? a : b);
    await Promise.all([...admitted(0), ...admitted(1)].map((r) => ledger.settle(r.reservation, 4)));
    assert.deepEqual(await ledger.spent(sa), [{ spentNanos: 36, reservedNanos: 0 }]);
    assert.deepEqual(await ledger.spent(sb), [{ spentNanos: 52, reservedNanos: 0 }]);
    await ledger.close();
  });

  it('a shared config scope in another slot than its agents: never above its cap under concurrent calls of two agents', async () => {
    const ledger = new RedisLedger({ url });
    const config = resolveConfig({
      env: {},
      overrides: { agent: 'alpha', configFile: { version: 1, agents: { alpha: { dailyUsd: 1 }, beta: { dailyUsd: 1 } }, scopes: [{ name: 'team', agents: ['alpha', 'beta'], period: 'day', limitUsd: 0.2 }] } },
    });
    const prices = createPriceTable({ overrides: [{ provider: 'openai', model: 'big', input: 10, output: 30 }] });
    const policy = new BudgetPolicy({ config, ledger, prices, estimator: fixedEstimator(100) });
    let spent = 0;
    let refused = 0;
    // worst case: 100 x 10,000 + 100 x 30,000 nano-USD = $0.004; real cost $0.003
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const d = await policy.admit({ provider: 'openai', operation: 'chat', model: 'big', maxTokens: 100, stream: false, body: {}, agent: i % 2 === 0 ? 'alpha' : 'beta', task: undefined, attempt: 1 });
        if (d.action === 'block') {
          const error = errorOf(d);
          assert.ok(error instanceof BudgetExceededError, String(error));
          assert.equal(error.scope, 'team');
          refused++;
          return;
        }
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        spent += 3_000_000;
        policy.complete(d.ticket, { costUsd: 0.003, model: 'big' });
      }),
    );
    await policy.flush();
    assert.ok(spent <= 200_000_000, `overshoot: ${spent}`);
    assert.ok(refused > 0);
    const alpha = await policy.getAgentStatus('alpha');
    const beta = await policy.getAgentStatus('beta');
    const team = alpha.budgets.find((b) => b.scope === 'team')!;
    assert.equal(Math.round(team.spentUsd * 1e9), spent);
    assert.equal(team.reservedUsd, 0);
    const own = (st: typeof alpha): number => Math.round(st.budgets.find((b) => b.scope === 'agent.daily')!.spentUsd * 1e9);
    assert.equal(own(alpha) + own(beta), spent);
    await ledger.close();
  });
});

void describe('Redis Sentinel', () => {
  let master: RedisServer;
  let sentinel: ChildProcess | undefined;
  let sentinelPort = 0;
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-sentinel-'));
  before(async () => {
    master = await startRedisServer({ appendOnly: false });
    sentinelPort = await freePort();
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\nsentinel monitor tg 127.0.0.1 ${master.port} 1\nsentinel resolve-hostnames yes\n`);
    sentinel = spawn('/usr/bin/redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const s = new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        s.on('error', () => {});
        await s.connect();
        const m = (await s.call('SENTINEL', 'get-master-addr-by-name', 'tg')) as string[] | null;
        s.disconnect();
        if (m !== null) break;
      } catch {
        // not up yet
      }
      assert.ok(Date.now() < deadline, 'sentinel did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    sentinel?.kill('SIGKILL');
    await master.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reserves and settles on the master the Sentinel names', async () => {
    const ledger = await RedisLedger.connect({ url: `redis+sentinel://127.0.0.1:${sentinelPort}/tg/5` });
    const scope: BudgetScope = { scope: 'agent.daily', agent: 'sent', key: 'day:x', limitNanos: 100, resetAt: Date.now() + 3_600_000 };
    const r = await ledger.reserve({ scopes: [scope], amountNanos: 60, ttlMillis: 60_000 });
    assert.ok(r.ok);
    const r2 = await ledger.reserve({ scopes: [scope], amountNanos: 60, ttlMillis: 60_000 });
    assert.equal(r2.ok, false);
    await ledger.settle(r.reservation, 50);
    assert.deepEqual(await ledger.spent([scope]), [{ spentNanos: 50, reservedNanos: 0 }]);
    await ledger.close();
    const direct = new Redis({ port: master.port, host: '127.0.0.1', db: 5 });
    assert.equal(await direct.hget('tollgate:{sent}:c:day:x', 's'), '50');
    direct.disconnect();
  });
});
