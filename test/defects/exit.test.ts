/**
 * Defect 8 of issue #17: `process.exit(0)` right after a call lost its spend on Redis (SQLite
 * kept it: its writes are synchronous). The settle is now written to the Redis socket before
 * the call's promise resolves to the caller (no auto-pipelining delay), so an exit in the
 * caller's continuation still leaves it on the wire: the spend is recorded, the hold gone.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedisLedger } from '../../src/ledger/redis.ts';
import { windowsAt } from '../../src/policy/windows.ts';
import { startRedisServer, type RedisServer } from '../support/redis-server.ts';

let redis: RedisServer;
const dir = mkdtempSync(join(tmpdir(), 'tollgate-exit-'));
before(async () => {
  redis = await startRedisServer({ appendOnly: false });
});
after(async () => {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

void it('process.exit(0) right after a call keeps its spend on Redis', async () => {
  const child = fileURLToPath(new URL('./exit-child.ts', import.meta.url));
  const costFile = join(dir, 'cost');
  for (let i = 0; i < 3; i++) execFileSync(process.execPath, [child, `${redis.url}/4`, costFile], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
  const cost = Number(readFileSync(costFile, 'utf8'));
  assert.ok(cost > 0);
  const ledger = new RedisLedger({ url: `${redis.url}/4` });
  const w = windowsAt(Date.now());
  const [day] = await ledger.spent([{ scope: 'agent.daily', agent: 'exit-job', key: w.dayKey, limitNanos: 5e9, resetAt: w.dayReset }]);
  await ledger.close();
  assert.deepEqual(day, { spentNanos: Math.round(cost * 1e9) * 3, reservedNanos: 0 });
});
