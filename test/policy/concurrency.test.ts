/**
 * 500 concurrent admits + completes against a task cap and an agent daily cap, on the
 * memory and the SQLite ledger: the real costs of the admitted calls never sum above the
 * cap, and every refused call carries a BudgetExceededError with the right fields.
 * Also: spend survives a restart with `sqlite:`.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BudgetExceededError } from '../../src/errors.ts';
import { createLedger } from '../../src/ledger/index.ts';
import type { Ledger } from '../../src/ledger/types.ts';
import { call, clock, errorOf, harness, type Clock } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const yieldTimes = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

interface Outcome {
  admitted: number;
  realCostNanos: number;
  errors: BudgetExceededError[];
}

/**
 * Fires `n` calls at once. Each admitted call "runs" for a random number of event-loop
 * turns and settles at a random real cost between 20 % and 100 % of its $0.04 worst case.
 */
async function storm(ledgerFor: (c: Clock) => Ledger | Promise<Ledger>, limits: { taskUsd?: number; dailyUsd?: number }, taskOf: (i: number) => string): Promise<Outcome> {
  const c = clock();
  const ledger = await ledgerFor(c);
  const { policy } = harness({ clock: c, ledger, limits });
  const random = rng(42);
  const out: Outcome = { admitted: 0, realCostNanos: 0, errors: [] };
  await Promise.all(
    Array.from({ length: 500 }, async (_, i) => {
      await yieldTimes(Math.floor(random() * 3));
      const d = await policy.admit(call({ task: { id: taskOf(i), type: 'storm' } }));
      if (d.action === 'block') {
        const error = errorOf(d);
        assert.ok(error instanceof BudgetExceededError, String(error));
        out.errors.push(error);
        return;
      }
      assert.equal(d.action, 'allow');
      out.admitted++;
      await yieldTimes(1 + Math.floor(random() * 4));
      // Whole nano-USD so the sum below is exact.
      const costNanos = Math.round((0.2 + 0.8 * random()) * 40_000_000);
      out.realCostNanos += costNanos;
      policy.complete(d.ticket, { costUsd: costNanos / 1e9, model: 'big' });
    }),
  );
  await ledger.close();
  return out;
}

function checkRefusals(o: Outcome, scope: string, limitUsd: number, resetAt: string | null, taskId: ((id: string | null) => boolean) | null): void {
  assert.equal(o.admitted + o.errors.length, 500);
  for (const e of o.errors) {
    assert.equal(e.code, 'BUDGET_EXCEEDED');
    assert.equal(e.scope, scope);
    assert.equal(e.agent, 'main');
    if (taskId !== null) assert.ok(taskId(e.taskId), `taskId ${e.taskId}`);
    assert.equal(e.limitUsd, limitUsd);
    assert.equal(e.estimatedUsd, 0.04);
    assert.equal(e.resetAt, resetAt);
    // The refusal was justified, and the reported state was within the cap.
    assert.ok(e.spentUsd + e.reservedUsd + e.estimatedUsd > limitUsd + 1e-12, `refused with room: ${e.message}`);
    assert.ok(e.spentUsd + e.reservedUsd <= limitUsd + 1e-12, `cap already exceeded: ${e.message}`);
  }
}

const ledgers: [string, (c: Clock) => Ledger | Promise<Ledger>][] = [
  ['memory', (c) => createLedger('memory', { now: c.now })],
  ['sqlite', (c) => createLedger(`sqlite:${join(dir, `storm-${Math.random().toString(36).slice(2)}.db`)}`, { now: c.now })],
];

for (const [name, make] of ledgers) {
  void describe(`500 concurrent calls (${name} ledger)`, () => {
    void it('never exceed a task cap', async () => {
      const o = await storm(make, { taskUsd: 1 }, () => 'T');
      assert.ok(o.realCostNanos <= 1_000_000_000, `spent ${o.realCostNanos} nano-USD`);
      assert.ok(o.admitted >= 25, `only ${o.admitted} admitted`);
      assert.ok(o.errors.length > 0);
      checkRefusals(o, 'task', 1, null, (id) => id === 'T');
    });

    void it('never exceed an agent daily cap across tasks', async () => {
      const o = await storm(make, { dailyUsd: 2 }, (i) => `task-${i % 37}`);
      assert.ok(o.realCostNanos <= 2_000_000_000, `spent ${o.realCostNanos} nano-USD`);
      assert.ok(o.admitted >= 50, `only ${o.admitted} admitted`);
      assert.ok(o.errors.length > 0);
      checkRefusals(o, 'agent.daily', 2, '2026-11-26T00:00:00.000Z', (id) => id !== null && id.startsWith('task-'));
    });
  });
}

void describe('restart with sqlite', () => {
  void it('keeps the day’s spend, so a restart does not reset a daily cap', async () => {
    const spec = `sqlite:${join(dir, 'restart.db')}`;
    const c = clock();
    const first = harness({ clock: c, ledger: await createLedger(spec, { now: c.now }), limits: { dailyUsd: 0.1 } });
    for (let i = 0; i < 2; i++) {
      const d = await first.policy.admit(call());
      first.policy.complete(d.ticket, { costUsd: 0.035, model: 'big' });
    }
    // An in-flight call at "crash" time: its hold stays until it expires.
    const inflight = await first.policy.admit(call({ maxTokens: 100 }));
    assert.equal(inflight.action, 'allow');
    await first.ledger.close();

    c.advance(60_000);
    const second = harness({ clock: c, ledger: await createLedger(spec, { now: c.now }), limits: { dailyUsd: 0.1 } });
    const status = await second.policy.getAgentStatus('main');
    assert.equal(status.budgets[0]!.spentUsd, 0.07);
    assert.equal(status.budgets[0]!.reservedUsd, 0.013);
    const e = errorOf(await second.policy.admit(call()));
    assert.ok(e instanceof BudgetExceededError);
    assert.equal(e.spentUsd, 0.07);
    // Once the crashed holder's reservation expires (10 min TTL), its room comes back.
    c.advance(600_000);
    assert.equal((await second.policy.getAgentStatus('main')).budgets[0]!.reservedUsd, 0);
    assert.equal((await second.policy.admit(call({ maxTokens: 500 }))).action, 'allow');
    await second.ledger.close();
  });
});
