/**
 * A fleet against one Redis ledger: several OS processes ("replicas") reserve, call
 * the provider (the stand-in server, which counts the real cost it received) and
 * settle, against one agent daily cap. Then the same with Redis killed and
 * restarted mid-run, and with a replica killed while it holds a reservation.
 *
 * The file is its own worker: spawned with TOLLGATE_REDIS_WORKER set, it runs one
 * replica instead of registering tests.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { RedisLedger } from '../../src/ledger/redis.ts';
import { LedgerUnavailableError } from '../../src/errors.ts';
import type { BudgetScope } from '../../src/ledger/types.ts';
import { startStandinServer, sendJson, type StandinServer } from '../../src/standin/server.ts';
import { startRedisServer } from '../support/redis-server.ts';

interface WorkerConfig {
  readonly url: string;
  readonly provider: string;
  readonly agent: string;
  readonly worker: number;
  readonly lanes: number;
  /** Calls per lane; 0 = until told to stop. */
  readonly callsPerLane: number;
  readonly dayCapNanos: number;
  readonly estimateNanos: number;
  readonly failure: 'closed' | 'open';
  readonly timeoutMillis: number;
  /** Only reserve once and report `held` (the SIGKILL test). */
  readonly holdOnly?: boolean;
  /** Offset added to Date.now() for the ledger's injected clock; absent = server TIME. */
  readonly clockOffsetMillis?: number;
  /** Decide through the real BudgetPolicy (admit / complete) instead of calling the ledger directly. */
  readonly policy?: boolean;
}

interface WorkerStats {
  admitted: number;
  costNanos: number;
  blocked: Record<string, number>;
  unavailable: number;
  /** Reservations answered locally (open mode, Redis away). */
  local: number;
  maxReserveMillis: number;
  errors: string[];
}

const DAY_RESET = Date.UTC(2026, 10, 26);

function scopesFor(agent: string, dayCapNanos: number): BudgetScope[] {
  return [
    // A generous monthly cap first: a refusal must name the daily scope, not the first one.
    { scope: 'agent.monthly', agent, key: 'month:2026-11', limitNanos: dayCapNanos * 30, resetAt: Date.UTC(2026, 11, 1) },
    { scope: 'agent.daily', agent, key: 'day:2026-11-25', limitNanos: dayCapNanos, resetAt: DAY_RESET },
  ];
}

/** The real cost of one call: 30-100 % of the estimate, fixed per (worker, lane, call). */
function actualCost(estimate: number, worker: number, lane: number, call: number): number {
  const h = (worker * 7919 + lane * 104729 + call * 1299709) % 71;
  return Math.floor((estimate * (30 + h)) / 100);
}

async function runWorker(cfg: WorkerConfig): Promise<void> {
  const emit = (msg: object): void => {
    process.stdout.write(JSON.stringify(msg) + '\n');
  };
  const offset = cfg.clockOffsetMillis;
  const ledger = await RedisLedger.connect({
    url: cfg.url,
    failure: cfg.failure,
    commandTimeoutMillis: cfg.timeoutMillis,
    ...(offset === undefined ? {} : { now: () => Date.now() + offset }),
  });
  const scopes = scopesFor(cfg.agent, cfg.dayCapNanos);
  if (cfg.holdOnly === true) {
    const r = await ledger.reserve({ scopes, amountNanos: cfg.estimateNanos, ttlMillis: 60_000 });
    emit({ t: 'held', ok: r.ok, expiresAt: r.ok ? r.reservation.expiresAt : null });
    await new Promise(() => {}); // wait to be killed
  }
  let stopping = false;
  const lines = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      if (line === 'go') resolve();
      if (line === 'stop') stopping = true;
    });
  });
  emit({ t: 'ready' });
  await go;
  const stats: WorkerStats = { admitted: 0, costNanos: 0, blocked: {}, unavailable: 0, local: 0, maxReserveMillis: 0, errors: [] };
  const once = new Set<string>();
  const event = (t: string): void => {
    if (once.has(t)) return;
    once.add(t);
    emit({ t });
  };
  if (cfg.policy === true) {
    await policyLanes(cfg, ledger, stats, event);
    await ledger.close();
    lines.close();
    process.stdin.destroy();
    emit({ t: 'done', stats });
    return;
  }
  const lane = async (l: number): Promise<void> => {
    for (let i = 0; cfg.callsPerLane === 0 ? !stopping : i < cfg.callsPerLane; i++) {
      const t0 = performance.now();
      let r;
      try {
        r = await ledger.reserve({ scopes, amountNanos: cfg.estimateNanos, ttlMillis: 60_000 });
      } catch (err) {
        stats.maxReserveMillis = Math.max(stats.maxReserveMillis, performance.now() - t0);
        if (err instanceof LedgerUnavailableError) {
          stats.unavailable++;
          event('unavailable');
        } else {
          stats.errors.push(String(err));
        }
        continue;
      }
      stats.maxReserveMillis = Math.max(stats.maxReserveMillis, performance.now() - t0);
      if (!r.ok) {
        stats.blocked[r.scope.scope] = (stats.blocked[r.scope.scope] ?? 0) + 1;
        if (r.scope.limitNanos !== null && r.spentNanos + r.reservedNanos + cfg.estimateNanos <= r.scope.limitNanos) {
          stats.errors.push(`refused with room: ${JSON.stringify(r)}`);
        }
        event('blocked');
        continue;
      }
      if (r.remainingNanos[1] === null) {
        stats.local++;
        event('local');
      }
      const actual = actualCost(cfg.estimateNanos, cfg.worker, l, i);
      const res = await fetch(`${cfg.provider}/v1/cost`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ nanos: actual, worker: cfg.worker, lane: l, call: i }),
      });
      await res.arrayBuffer();
      stats.admitted++;
      stats.costNanos += actual;
      await ledger.settle(r.reservation, actual);
    }
  };
  await Promise.all(Array.from({ length: cfg.lanes }, (_, l) => lane(l)));
  await ledger.close();
  lines.close();
  process.stdin.destroy();
  emit({ t: 'done', stats });
}

/**
 * The same calls through the real BudgetPolicy: `admit` reserves the worst case of a
 * 100-token prompt with max_tokens 300 on a $10 / $30 per M model ($0.01), a refusal
 * comes back as a BudgetExceededError, `complete` settles the real cost.
 */
async function policyLanes(cfg: WorkerConfig, ledger: RedisLedger, stats: WorkerStats, event: (t: string) => void): Promise<void> {
  const { resolveConfig } = await import('../../src/config/index.ts');
  const { BudgetPolicy } = await import('../../src/policy/index.ts');
  const { createPriceTable } = await import('../../src/pricing/index.ts');
  const { BudgetExceededError, refusalError } = await import('../../src/errors.ts');
  const config = resolveConfig({
    env: {},
    overrides: { agent: cfg.agent, limits: { dailyUsd: cfg.dayCapNanos / 1e9, monthlyUsd: (cfg.dayCapNanos * 30) / 1e9 } },
  });
  const policy = new BudgetPolicy({
    config,
    ledger,
    prices: createPriceTable({ overrides: [{ provider: 'openai', model: 'fleet-model', input: 10, output: 30 }] }),
    estimator: { upperBound: () => 100, count: () => 100 },
  });
  const lane = async (l: number): Promise<void> => {
    for (let i = 0; i < cfg.callsPerLane; i++) {
      const decision = await policy.admit({
        provider: 'openai',
        operation: 'chat',
        model: 'fleet-model',
        maxTokens: 300,
        stream: false,
        body: { model: 'fleet-model', max_tokens: 300, messages: [{ role: 'user', content: 'hi' }] },
        agent: undefined,
        task: undefined,
        attempt: 1,
      });
      if (decision.action === 'block') {
        const err = decision.refusal === undefined ? undefined : refusalError(decision.refusal);
        if (err instanceof BudgetExceededError) {
          stats.blocked[err.scope] = (stats.blocked[err.scope] ?? 0) + 1;
          if (err.agent !== cfg.agent || err.limitUsd !== cfg.dayCapNanos / 1e9 || err.spentUsd + err.reservedUsd + err.estimatedUsd <= err.limitUsd) {
            stats.errors.push(`wrong BudgetExceededError fields: ${JSON.stringify(err)}`);
          }
          event('blocked');
        } else {
          stats.errors.push(`blocked with ${String(err)}`);
        }
        continue;
      }
      const actual = actualCost(cfg.estimateNanos, cfg.worker, l, i);
      const res = await fetch(`${cfg.provider}/v1/cost`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ nanos: actual, worker: cfg.worker, lane: l, call: i }),
      });
      await res.arrayBuffer();
      stats.admitted++;
      stats.costNanos += actual;
      policy.complete(decision.ticket, { costUsd: actual / 1e9, model: 'fleet-model' });
    }
  };
  await Promise.all(Array.from({ length: cfg.lanes }, (_, l) => lane(l)));
}

/** A spawned replica and what it reported. */
interface Worker {
  readonly child: ChildProcess;
  readonly events: Set<string>;
  stats?: WorkerStats;
  held?: { ok: boolean; expiresAt: number | null };
  readonly exited: Promise<void>;
  readonly stderr: () => string;
}

function spawnWorker(cfg: WorkerConfig): Worker {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, TOLLGATE_REDIS_WORKER: JSON.stringify(cfg) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const w: Worker = {
    child,
    events: new Set(),
    exited: new Promise((r) => child.once('exit', () => r())),
    stderr: () => stderr,
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const msg = JSON.parse(line) as { t: string; stats?: WorkerStats; ok?: boolean; expiresAt?: number | null };
    w.events.add(msg.t);
    if (msg.t === 'done') w.stats = msg.stats!;
    if (msg.t === 'held') w.held = { ok: msg.ok!, expiresAt: msg.expiresAt ?? null };
  });
  return w;
}

/** Polls a condition about real processes (no fixed sleeps), failing after `millis`. */
async function until(what: string, cond: () => boolean, workers: readonly Worker[], millis = 15_000): Promise<void> {
  const deadline = Date.now() + millis;
  while (!cond()) {
    const dead = workers.find((w) => w.child.exitCode !== null && w.child.exitCode !== 0);
    if (dead !== undefined) throw new Error(`worker exited ${dead.child.exitCode}: ${dead.stderr()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${workers.map((w) => w.stderr()).join('\n')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function runFleet(workers: Worker[]): Promise<void> {
  await until('workers ready', () => workers.every((w) => w.events.has('ready')), workers);
  for (const w of workers) w.child.stdin!.write('go\n');
}

async function stopFleet(workers: Worker[]): Promise<WorkerStats[]> {
  for (const w of workers) w.child.stdin!.write('stop\n');
  await until('workers done', () => workers.every((w) => w.stats !== undefined), workers, 30_000);
  await Promise.all(workers.map((w) => w.exited));
  return workers.map((w) => w.stats!);
}

function providerCost(provider: StandinServer): { calls: number; nanos: number } {
  let nanos = 0;
  let calls = 0;
  for (const r of provider.requests) {
    if (r.path !== '/v1/cost') continue;
    calls++;
    nanos += (r.body as { nanos: number }).nanos;
  }
  return { calls, nanos };
}

async function redisSpent(url: string, agent: string, cap: number): Promise<{ spentNanos: number; reservedNanos: number }[]> {
  const l = await RedisLedger.connect({ url });
  try {
    return await l.spent(scopesFor(agent, cap));
  } finally {
    await l.close();
  }
}

const workerEnv = process.env['TOLLGATE_REDIS_WORKER'];
if (workerEnv !== undefined) {
  await runWorker(JSON.parse(workerEnv) as WorkerConfig);
} else {
  let provider: StandinServer;
  const children: Worker[] = [];
  const spawnTracked = (cfg: WorkerConfig): Worker => {
    const w = spawnWorker(cfg);
    children.push(w);
    return w;
  };

  before(async () => {
    provider = await startStandinServer({
      maxRecordedRequests: 100_000,
      routes: [
        {
          method: 'POST',
          path: '/v1/cost',
          // A few ms of "inference" so calls of all replicas overlap.
          handle: async ({ res }) => {
            await new Promise((r) => setTimeout(r, 3));
            sendJson(res, 200, { ok: true });
          },
        },
      ],
    });
  });

  after(async () => {
    for (const w of children) w.child.kill('SIGKILL');
    await provider.close();
  });

  void describe('RedisLedger fleet', () => {
    void it('4 processes x 100 concurrent calls never spend past one agent daily cap', async () => {
      const redis = await startRedisServer({ appendOnly: false });
      try {
        provider.reset();
        const agent = `fleet-${randomUUID()}`;
        const cap = 1_000_000_000; // $1
        const estimate = 10_000_000; // $0.01 worst case per call
        const workers = Array.from({ length: 4 }, (_, i) =>
          spawnTracked({ url: redis.url, provider: provider.url, agent, worker: i, lanes: 100, callsPerLane: 1, dayCapNanos: cap, estimateNanos: estimate, failure: 'closed', timeoutMillis: 5_000 }),
        );
        await runFleet(workers);
        await until('workers done', () => workers.every((w) => w.stats !== undefined), workers, 30_000);
        const stats = workers.map((w) => w.stats!);
        const sent = providerCost(provider);
        const admitted = stats.reduce((n, s) => n + s.admitted, 0);
        const blocked = stats.reduce((n, s) => n + (s.blocked['agent.daily'] ?? 0), 0);
        assert.deepEqual(stats.flatMap((s) => s.errors), []);
        assert.ok(stats.every((s) => Object.keys(s.blocked).every((k) => k === 'agent.daily')));
        assert.equal(admitted + blocked, 400);
        assert.equal(sent.calls, admitted);
        assert.ok(sent.nanos <= cap, `provider received $${sent.nanos / 1e9} > cap $1`);
        // The cap was really used (at least 100 worst-case holds fit), and something was refused.
        assert.ok(admitted >= 100, `only ${admitted} admitted`);
        assert.ok(blocked > 0);
        assert.deepEqual(await redisSpent(redis.url, agent, cap), [
          { spentNanos: sent.nanos, reservedNanos: 0 },
          { spentNanos: sent.nanos, reservedNanos: 0 },
        ]);
      } finally {
        await redis.stop();
      }
    });

    void it('4 processes x 100 concurrent calls through the real BudgetPolicy: within the cap, refusals are BudgetExceededError agent.daily', async () => {
      const redis = await startRedisServer({ appendOnly: false });
      try {
        provider.reset();
        const agent = `policy-${randomUUID()}`;
        const cap = 1_000_000_000;
        const workers = Array.from({ length: 4 }, (_, i) =>
          spawnTracked({ url: redis.url, provider: provider.url, agent, worker: i, lanes: 100, callsPerLane: 1, dayCapNanos: cap, estimateNanos: 10_000_000, failure: 'closed', timeoutMillis: 5_000, policy: true }),
        );
        await runFleet(workers);
        await until('workers done', () => workers.every((w) => w.stats !== undefined), workers, 30_000);
        const stats = workers.map((w) => w.stats!);
        const sent = providerCost(provider);
        const admitted = stats.reduce((n, s) => n + s.admitted, 0);
        const blocked = stats.reduce((n, s) => n + (s.blocked['agent.daily'] ?? 0), 0);
        assert.deepEqual(stats.flatMap((s) => s.errors), []);
        assert.equal(admitted + blocked, 400);
        assert.equal(sent.calls, admitted);
        assert.ok(sent.nanos <= cap, `provider received $${sent.nanos / 1e9} > cap $1`);
        assert.ok(admitted >= 100 && blocked > 0, `${admitted} admitted, ${blocked} blocked`);
        const raw = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true, retryStrategy: () => null });
        await raw.connect();
        try {
          const dayKeys = await raw.keys(`tollgate:{${agent}}:c:day:*`);
          assert.equal(dayKeys.length, 1);
          // t: the field that keeps a busy counter a hash table (docs/ledgers.md, "Redis key layout").
          const { t: _table, ...fields } = await raw.hgetall(dayKeys[0]!);
          assert.deepEqual(fields, { s: String(sent.nanos), r: '0' });
        } finally {
          raw.disconnect();
        }
      } finally {
        await redis.stop();
      }
    });

    void it('closed: Redis killed and restarted mid-run: no overspend, no call waits past the timeout, nothing lost', async () => {
      const redis = await startRedisServer();
      try {
        provider.reset();
        const agent = `closed-${randomUUID()}`;
        const cap = 600_000_000; // $0.60: reached only after the restart
        const estimate = 10_000_000;
        const timeoutMillis = 300;
        const workers = Array.from({ length: 2 }, (_, i) =>
          spawnTracked({ url: redis.url, provider: provider.url, agent, worker: i, lanes: 20, callsPerLane: 0, dayCapNanos: cap, estimateNanos: estimate, failure: 'closed', timeoutMillis }),
        );
        await runFleet(workers);
        await until('calls flowing', () => providerCost(provider).calls >= 20, workers);
        await redis.kill();
        const beforeRestart = providerCost(provider).calls;
        await until('every replica blocked by the outage', () => workers.every((w) => w.events.has('unavailable')), workers);
        await redis.start();
        await until('cap reached after the restart', () => workers.every((w) => w.events.has('blocked')), workers);
        const stats = await stopFleet(workers);
        const sent = providerCost(provider);
        assert.deepEqual(stats.flatMap((s) => s.errors), []);
        assert.ok(sent.calls > beforeRestart, 'calls resumed after the restart');
        assert.ok(sent.nanos <= cap, `provider received $${sent.nanos / 1e9} > cap`);
        assert.ok(stats.every((s) => s.unavailable > 0));
        for (const s of stats) assert.ok(s.maxReserveMillis < timeoutMillis + 700, `a reserve took ${s.maxReserveMillis} ms`);
        assert.deepEqual(await redisSpent(redis.url, agent, cap), [
          { spentNanos: sent.nanos, reservedNanos: 0 },
          { spentNanos: sent.nanos, reservedNanos: 0 },
        ]);
      } finally {
        await redis.stop();
      }
    });

    void it('open: Redis killed and restarted mid-run: calls go on, and every settled cost is in Redis after it is back', async () => {
      const redis = await startRedisServer();
      try {
        provider.reset();
        const agent = `open-${randomUUID()}`;
        const cap = 1_000 * 1_000_000_000; // not reached: this test is about losing nothing
        const estimate = 10_000_000;
        const workers = Array.from({ length: 2 }, (_, i) =>
          spawnTracked({ url: redis.url, provider: provider.url, agent, worker: i, lanes: 20, callsPerLane: 0, dayCapNanos: cap, estimateNanos: estimate, failure: 'open', timeoutMillis: 300 }),
        );
        await runFleet(workers);
        await until('calls flowing', () => providerCost(provider).calls >= 20, workers);
        await redis.kill();
        const atKill = providerCost(provider).calls;
        await until('every replica running unchecked', () => workers.every((w) => w.events.has('local')), workers);
        await until('calls go on during the outage', () => providerCost(provider).calls >= atKill + 40, workers);
        await redis.start();
        const atRestart = providerCost(provider).calls;
        await until('calls after the restart', () => providerCost(provider).calls >= atRestart + 40, workers);
        const stats = await stopFleet(workers);
        const sent = providerCost(provider);
        assert.deepEqual(stats.flatMap((s) => s.errors), []);
        assert.ok(stats.every((s) => s.local > 0 && s.unavailable === 0));
        assert.equal(sent.calls, stats.reduce((n, s) => n + s.admitted, 0));
        assert.deepEqual(await redisSpent(redis.url, agent, cap), [
          { spentNanos: sent.nanos, reservedNanos: 0 },
          { spentNanos: sent.nanos, reservedNanos: 0 },
        ]);
      } finally {
        await redis.stop();
      }
    });

    void it('a replica SIGKILLed while holding a reservation: the hold expires and the room comes back', async () => {
      const redis = await startRedisServer({ appendOnly: false });
      try {
        const agent = `crash-${randomUUID()}`;
        const cap = 50_000_000;
        // Both sides use an injected clock (real time + offset), so expiry is checked without waiting 60 s.
        const holder = spawnTracked({ url: redis.url, provider: provider.url, agent, worker: 0, lanes: 1, callsPerLane: 1, dayCapNanos: cap, estimateNanos: cap, failure: 'closed', timeoutMillis: 2_000, holdOnly: true, clockOffsetMillis: 0 });
        await until('reservation held', () => holder.held !== undefined, [holder]);
        assert.equal(holder.held!.ok, true);
        holder.child.kill('SIGKILL');
        await holder.exited;
        let offset = 0;
        const ledger = await RedisLedger.connect({ url: redis.url, now: () => Date.now() + offset });
        const scopes = scopesFor(agent, cap);
        try {
          assert.equal((await ledger.reserve({ scopes, amountNanos: 1, ttlMillis: 60_000 })).ok, false);
          assert.deepEqual((await ledger.spent(scopes))[1], { spentNanos: 0, reservedNanos: cap });
          offset = holder.held!.expiresAt! - Date.now(); // now == expiresAt: the hold stops counting
          assert.deepEqual((await ledger.spent(scopes))[1], { spentNanos: 0, reservedNanos: 0 });
          const again = await ledger.reserve({ scopes, amountNanos: cap, ttlMillis: 60_000 });
          assert.equal(again.ok, true);
        } finally {
          await ledger.close();
        }
      } finally {
        await redis.stop();
      }
    });
  });
}
