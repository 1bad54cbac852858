/**
 * Utilization of a daily cap under a burst (issue #17): 1,000 chat calls at once through the
 * real openai SDK, tollgate's instrumentation and the budget policy, against the stand-in
 * provider, per ledger (memory, SQLite file, redis-server), in one process and in 4
 * processes x 250 calls sharing the ledger. Each call's real cost is random (prompt 20-200
 * words, max_tokens drawn per call). Printed: the share of the cap the calls that went out
 * really cost (never above 100 %: the run fails if it is), calls out / refused, wall time.
 *
 * Rows, each against the baseline measured in the same run:
 * - `fast bound` (baseline): the input priced by its byte length unless that does not fit
 *   (what tollgate did before), max_tokens 1-13 (the stand-in's answers are at most 13 tokens);
 * - `tight`: the same calls, the exact input count whenever it is a noticeable share of the room;
 * - `no wait` (baseline): max_tokens 1-500, so a call holds up to ~40x what it costs;
 * - `wait 20 s`: the same calls with the wait option.
 * Counts are deterministic (seeded); the wall times are the only noisy figures.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createLedger } from '../src/ledger/index.ts';
import { closeBurstHarness, runBurst, type BurstResult, type BurstSpec } from '../test/policy/burst.ts';
import { startRedisServer } from '../test/support/redis-server.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tollgate-util-bench-'));
const redis = await startRedisServer({ appendOnly: false });
let db = 0;
const LEDGERS: Record<string, () => string> = {
  memory: () => 'memory',
  sqlite: () => `sqlite:${join(dir, `u${db++}.db`)}`,
  redis: () => `${redis.url}/${(db++ % 15) + 1}`,
};
const MODES: [string, Omit<BurstSpec, 'seed' | 'agent' | 'calls'>][] = [
  ['fast bound (baseline), max_tokens 1-13', { dailyUsd: 0.05, maxTokensUpTo: 13, waitMs: 0, exactCountShare: Infinity }],
  ['tight, max_tokens 1-13', { dailyUsd: 0.05, maxTokensUpTo: 13, waitMs: 0 }],
  ['no wait (baseline), max_tokens 1-500', { dailyUsd: 0.1, maxTokensUpTo: 500, waitMs: 0 }],
  ['wait 20 s, max_tokens 1-500', { dailyUsd: 0.1, maxTokensUpTo: 500, waitMs: 20_000 }],
];
const child = fileURLToPath(new URL('../test/policy/burst-child.ts', import.meta.url));

function row(ledger: string, procs: number, mode: string, cap: number, rs: BurstResult[], ms: number): string {
  const cost = rs.reduce((s, r) => s + r.costNanos, 0);
  const out = rs.reduce((s, r) => s + r.admitted, 0);
  const refused = rs.reduce((s, r) => s + r.refused, 0);
  if (cost > cap * 1e9) throw new Error(`overshoot: ${ledger} ${mode}: $${cost / 1e9} > $${cap}`);
  return `| ${ledger} | ${procs} | ${mode} | ${((100 * cost) / (cap * 1e9)).toFixed(1)} % | ${out} / ${refused} | ${ms.toFixed(0)} |`;
}

console.log('Utilization of a daily cap under a burst of 1,000 calls (real openai SDK, stand-in provider)');
console.log('| ledger | processes | mode | cap used | calls out / refused | wall ms |');
console.log('|---|---:|---|---:|---:|---:|');
for (const [name, make] of Object.entries(LEDGERS)) {
  for (const [mode, m] of MODES) {
    const spec = make();
    const ledger = await createLedger(spec);
    const t0 = performance.now();
    const r = await runBurst(ledger, { ...m, calls: 1000, seed: 7, agent: `u1-${db}` });
    const ms = performance.now() - t0;
    await ledger.close();
    console.log(row(name, 1, mode, m.dailyUsd, [r], ms));
  }
  if (name === 'memory') continue; // a memory ledger is per process
  for (const [mode, m] of MODES) {
    const spec = make();
    const agent = `u4-${db}`;
    const t0 = performance.now();
    const rs = await Promise.all(
      [1, 2, 3, 4].map(async (i) => {
        const b = { ...m, calls: 250, seed: i, agent, ...(m.exactCountShare === Infinity ? { exactCountShare: null } : {}) };
        const { stdout } = await run(process.execPath, [child, spec, JSON.stringify(b)], { timeout: 180_000 });
        return JSON.parse(stdout) as BurstResult;
      }),
    );
    console.log(row(name, 4, mode, m.dailyUsd, rs, performance.now() - t0));
  }
}
await closeBurstHarness();
await redis.stop();
rmSync(dir, { recursive: true, force: true });
