/**
 * Machine instructions redis-server runs per RedisLedger reserve + settle pair, counted by
 * callgrind (valgrind) on the server process: unlike pairs/s and CPU time, this count does
 * not move with the load of a shared machine, so it is the number to compare script changes by.
 * `npm run bench:redis-instructions` (opt-in: needs valgrind, Debian's `valgrind` package;
 * about a minute).
 *
 * Each variant runs against its own redis-server under callgrind: nothing (start-up, idle,
 * shutdown: subtracted), the baseline (two bare HINCRBY round trips per pair), two EVALSHA of
 * a script that only returns, with the arguments of a lone pair (the floor of any two-script
 * pair), and the ledger: pairs 16 at a time, as a busy process issues them (reserves and settles
 * of the same tick go as one script call each: docs/ledgers.md, "Batching"), and one pair at a
 * time (every batch holds one item: the cost of a lone call).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisLedger } from '../src/ledger/redis.ts';
import type { BudgetScope } from '../src/ledger/types.ts';
import { freePort } from '../test/support/redis-server.ts';

const PAIRS = 2000;
const CONCURRENCY = 16;
type Pair = () => Promise<void>;

const agent = 'bench';
const scopes: BudgetScope[] = [
  { scope: 'agent.monthly', agent, key: 'month:2026-11', limitNanos: 9e15, resetAt: Date.UTC(2026, 11, 1) },
  { scope: 'agent.daily', agent, key: 'day:2026-11-25', limitNanos: 9e15, resetAt: Date.UTC(2026, 10, 26) },
];

/** Instructions redis-server ran in total while `setup`'s pairs ran PAIRS times, `concurrency` at a time. */
async function count(setup: (port: number) => Promise<{ pair: Pair; close: () => Promise<void> }>, concurrency = CONCURRENCY): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cg-'));
  const port = await freePort();
  const out = join(dir, 'callgrind.out');
  const server = spawn(
    'valgrind',
    ['--tool=callgrind', `--callgrind-out-file=${out}`, '/usr/bin/redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--hz', '1'],
    { stdio: 'ignore' },
  );
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore' });
        break;
      } catch {
        if (Date.now() > deadline) throw new Error('redis-server under valgrind did not start');
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const { pair, close } = await setup(port);
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next++ < PAIRS) await pair();
    }));
    await close();
    execFileSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave'], { stdio: 'ignore' });
    await new Promise((r) => server.once('exit', r));
    const total = /^(?:summary|totals): (\d+)/m.exec(readFileSync(out, 'utf8'));
    if (total === null) throw new Error('no callgrind totals');
    return Number(total[1]);
  } finally {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const none = await count(async () => ({ pair: async () => {}, close: async () => {} }));
const bare = await count(async (port) => {
  const r = new Redis({ port, host: '127.0.0.1', enableAutoPipelining: true });
  return {
    pair: async () => {
      await r.hincrby('bench:bare', 'r', 12_345);
      await r.hincrby('bench:bare', 's', 10_000);
    },
    close: async () => r.disconnect(),
  };
});
const floor = await count(async (port) => {
  const r = new Redis({ port, host: '127.0.0.1', enableAutoPipelining: true });
  const sha = String(await r.script('LOAD', 'return 1'));
  const base = `tollgate:{${agent}}:`;
  const keys = ['month:2026-11', 'day:2026-11-25'].flatMap((key) => ['c', 'h', 'x'].map((k) => `${base}${k}:${key}`));
  let seq = 0;
  return {
    pair: async () => {
      const id = `abcdefghijkl.${(seq++).toString(36)}`;
      const [m, d] = [String(scopes[0]!.resetAt), String(scopes[1]!.resetAt)];
      // RESERVE and SETTLE of a lone pair (layouts in src/ledger/redis-scripts.ts).
      await r.evalsha(sha, 6, ...keys, '', '60000', '12345', id, '3600000', '604800000', '86400000', '9000000000000000', m, '9000000000000000', d);
      await r.evalsha(sha, 6, ...keys, '', id, '12345', '10000', '0', '3600000', '604800000', m, d);
    },
    close: async () => r.disconnect(),
  };
});
const ledgerSetup = async (port: number): Promise<{ pair: Pair; close: () => Promise<void> }> => {
  const l = await RedisLedger.connect({ url: `redis://127.0.0.1:${port}`, commandTimeoutMillis: 30_000 });
  return {
    pair: async () => {
      const r = await l.reserve({ scopes, amountNanos: 12_345, ttlMillis: 60_000 });
      if (!r.ok) throw new Error('unexpected refusal');
      await l.settle(r.reservation, 10_000);
    },
    close: () => l.close(),
  };
};
const ledger = await count(ledgerSetup);
const lone = await count(ledgerSetup, 1);

const per = (n: number): number => Math.round((n - none) / PAIRS);
console.log(`redis-server instructions per pair (callgrind, ${PAIRS} pairs, ${CONCURRENCY} at a time unless said; start-up and idle subtracted):`);
console.log('| variant | instructions/pair | x baseline |');
console.log('|---|---:|---:|');
for (const [name, n] of [
  ['baseline: 2 x HINCRBY', bare],
  ['2 x EVALSHA of `return 1`, a lone pair\'s arguments (floor of a two-script pair)', floor],
  [`RedisLedger reserve + settle (2 scopes), ${CONCURRENCY} pairs at a time`, ledger],
  ['RedisLedger reserve + settle (2 scopes), one pair at a time (batches of 1)', lone],
] as const) {
  console.log(`| ${name} | ${per(n)} | ${(per(n) / per(bare)).toFixed(1)} |`);
}
