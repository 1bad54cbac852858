/**
 * Issue #17: under a burst of 1,000 calls at once with random real costs, at least 90 % of a
 * daily cap is used and the cap is never overshot, on every ledger, in one process and across
 * 4 processes sharing the ledger (SQLite file, Redis; the memory ledger is per process).
 *
 * - Tight: max_tokens 1-13 (the stand-in answers up to 13 tokens, so the output bound is the
 *   real output) and the exact input count: each call holds what it can cost.
 * - Wait option: max_tokens 1-500, so a call holds up to ~40x what it costs; without waiting a
 *   burst would use a small share of the cap. With `waitMs`, calls refused only because of
 *   in-flight holds wait for them to settle and then go, or are refused on settled spend.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createLedger } from '../../src/ledger/index.ts';
import { windowsAt } from '../../src/policy/windows.ts';
import { startRedisServer, type RedisServer } from '../support/redis-server.ts';
import { closeBurstHarness, runBurst, type BurstResult, type BurstSpec } from './burst.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tollgate-burst-'));
let redis: RedisServer;
before(async () => {
  redis = await startRedisServer({ appendOnly: false });
});
after(async () => {
  await closeBurstHarness();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
const ledgers: Record<string, () => string> = {
  memory: () => 'memory',
  sqlite: () => `sqlite:${join(dir, `b${n++}.db`)}`,
  redis: () => `${redis.url}/${(n++ % 15) + 1}`,
};

const TIGHT = { calls: 1000, dailyUsd: 0.05, maxTokensUpTo: 13, waitMs: 0 };
const WAIT = { calls: 1000, dailyUsd: 0.1, maxTokensUpTo: 500, waitMs: 20_000 };

/** Checks a burst's outcome against the cap, and that the ledger recorded exactly what went out. */
async function check(spec: string, agent: string, capUsd: number, results: BurstResult[]): Promise<string> {
  const cost = results.reduce((s, r) => s + r.costNanos, 0);
  const admitted = results.reduce((s, r) => s + r.admitted, 0);
  const refused = results.reduce((s, r) => s + r.refused, 0);
  for (const r of results) assert.deepEqual(r.otherErrors, []);
  assert.equal(admitted + refused, 1000);
  const cap = capUsd * 1e9;
  assert.ok(cost <= cap, `overshoot: $${cost / 1e9} > $${capUsd}`);
  assert.ok(cost >= 0.9 * cap, `only ${((100 * cost) / cap).toFixed(1)} % of the cap used (${admitted} calls went out)`);
  if (spec !== 'memory') {
    const ledger = await createLedger(spec);
    const w = windowsAt(Date.now());
    const [day] = await ledger.spent([{ scope: 'agent.daily', agent, key: w.dayKey, limitNanos: cap, resetAt: w.dayReset }]);
    await ledger.close();
    assert.deepEqual(day, { spentNanos: cost, reservedNanos: 0 });
  }
  return `${((100 * cost) / cap).toFixed(1)} % of the cap used by ${admitted} calls, ${refused} refused`;
}

for (const [label, mode] of [['tight estimates', TIGHT], ['wait option', WAIT]] as const) {
  void describe(`burst of 1,000 calls, ${label}`, () => {
    for (const [name, make] of Object.entries(ledgers)) {
      it(`${name}, one process: never above the cap, >= 90 % used`, async (t) => {
        const spec = make();
        const ledger = await createLedger(spec);
        const agent = `one-${name}-${mode.waitMs}`;
        const result = await runBurst(ledger, { ...mode, seed: 7, agent });
        await ledger.close();
        t.diagnostic(await check(spec, agent, mode.dailyUsd, [result]));
      });
    }
    for (const name of ['sqlite', 'redis']) {
      it(`${name}, 4 processes x 250 calls: never above the cap, >= 90 % used`, async (t) => {
        const spec = ledgers[name]!();
        const agent = `fleet-${name}-${mode.waitMs}`;
        const child = fileURLToPath(new URL('./burst-child.ts', import.meta.url));
        const results = await Promise.all(
          [1, 2, 3, 4].map(async (i) => {
            const b: BurstSpec = { ...mode, calls: 250, seed: i, agent };
            const { stdout } = await run(process.execPath, [child, spec, JSON.stringify(b)], { timeout: 120_000 });
            return JSON.parse(stdout) as BurstResult;
          }),
        );
        t.diagnostic(await check(spec, agent, mode.dailyUsd, results));
      });
    }
  });
}
