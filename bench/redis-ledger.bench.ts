/**
 * RedisLedger reserve + settle against a redis-server this benchmark starts (loopback,
 * no persistence): latency p50 / p99, pairs per second from one process at
 * concurrency 64, commands per pair (counted by the server: the ledger's reserves and settles
 * of one tick go as one script call each, docs/ledgers.md "Batching", so a pair costs a fraction
 * of a command; every call still waits for 2 round trips), CPU per pair.
 *
 * Baseline, measured in the same run with the same client settings: a pair of two bare
 * HINCRBY round trips (the floor for "2 round trips"). Rounds alternate A/B; the A/A
 * noise floor is the spread between baseline rounds.
 */
import { Redis } from 'ioredis';
import { RedisLedger } from '../src/ledger/redis.ts';
import type { BudgetScope } from '../src/ledger/types.ts';
import { startRedisServer } from '../test/support/redis-server.ts';

const CONCURRENCY = 64;
const PAIRS = 20_000;
const ROUNDS = 3;

interface Round {
  readonly pairsPerSec: number;
  readonly p50Micros: number;
  readonly p99Micros: number;
  readonly cpuMicrosPerPair: number;
  readonly serverCpuMicrosPerPair: number;
  /** Commands the client sent (EVALSHA / EVAL, or HINCRBY), per pair. */
  readonly commandsPerPair: number;
  /** Time Redis spent running the commands the client sent (commandstats usec, scripts' redis.calls included). */
  readonly commandMicrosPerPair: number;
  /** redis.call's run inside the scripts per pair (0 for the baseline). */
  readonly innerCallsPerPair: number;
}

const server = await startRedisServer({ appendOnly: false });
const admin = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true });
await admin.connect();

async function serverStats(commands: RegExp): Promise<{ cpuMicros: number; calls: number; usec: number; all: number }> {
  const info = String(await admin.info('all'));
  const num = (re: RegExp): number => Number(re.exec(info)?.[1] ?? 0);
  const cpu = num(/used_cpu_user:([\d.]+)/) + num(/used_cpu_sys:([\d.]+)/);
  let calls = 0;
  let usec = 0;
  let all = 0;
  // Commands the client sent; redis.call inside a script is counted under its own name, so the
  // ledger counts EVALSHA / EVAL only and the baseline HINCRBY only.
  for (const m of info.matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+)/g)) {
    if (m[1] === 'info') continue;
    all += Number(m[2]);
    if (!commands.test(m[1]!)) continue;
    calls += Number(m[2]);
    usec += Number(m[3]);
  }
  return { cpuMicros: cpu * 1e6, calls, usec, all };
}

async function measure(pair: () => Promise<void>, commands: RegExp): Promise<Round> {
  for (let i = 0; i < 500; i++) await pair(); // warm up
  const latencies = new Float64Array(PAIRS);
  let next = 0;
  const before = await serverStats(commands);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < PAIRS; i = next++) {
        const s = performance.now();
        await pair();
        latencies[i] = performance.now() - s;
      }
    }),
  );
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const after = await serverStats(commands);
  latencies.sort();
  return {
    pairsPerSec: (PAIRS / elapsed) * 1000,
    p50Micros: latencies[Math.floor(PAIRS * 0.5)]! * 1000,
    p99Micros: latencies[Math.floor(PAIRS * 0.99)]! * 1000,
    cpuMicrosPerPair: (cpu.user + cpu.system) / PAIRS,
    serverCpuMicrosPerPair: (after.cpuMicros - before.cpuMicros) / PAIRS,
    // Counted by the server (EVALSHA / EVAL / HINCRBY calls), between the two INFO reads.
    commandsPerPair: (after.calls - before.calls) / PAIRS,
    commandMicrosPerPair: (after.usec - before.usec) / PAIRS,
    innerCallsPerPair: (after.all - before.all - (after.calls - before.calls)) / PAIRS,
  };
}

const agent = `bench-${process.pid}`;
const scopes: BudgetScope[] = [
  { scope: 'agent.monthly', agent, key: 'month:2026-11', limitNanos: 9e15, resetAt: Date.UTC(2026, 11, 1) },
  { scope: 'agent.daily', agent, key: 'day:2026-11-25', limitNanos: 9e15, resetAt: Date.UTC(2026, 10, 26) },
];
const ledger = await RedisLedger.connect({ url: server.url, keyPrefix: `bench:${process.pid}:` });
const ledgerPair = async (): Promise<void> => {
  const r = await ledger.reserve({ scopes, amountNanos: 12_345, ttlMillis: 60_000 });
  if (!r.ok) throw new Error('unexpected refusal');
  await ledger.settle(r.reservation, 10_000);
};

const bare = new Redis({ host: '127.0.0.1', port: server.port, enableAutoPipelining: true, enableOfflineQueue: false });
await new Promise<void>((r) => bare.once('ready', () => r()));
const barePair = async (): Promise<void> => {
  await bare.hincrby('bench:bare', 'r', 12_345);
  await bare.hincrby('bench:bare', 's', 10_000);
};

const ledgerRounds: Round[] = [];
const bareRounds: Round[] = [];
// One discarded round of each first: without it the first baseline round ran at half the speed
// of the others (JIT warm-up at concurrency), which showed as an A/A spread of 60-120 %.
await measure(barePair, /^hincrby$/);
await measure(ledgerPair, /^eval(sha)?$/);
for (let i = 0; i < ROUNDS; i++) {
  bareRounds.push(await measure(barePair, /^hincrby$/));
  ledgerRounds.push(await measure(ledgerPair, /^eval(sha)?$/));
}
// The counters must add up: every settle landed once.
const [, daySpend] = await ledger.spent(scopes);
const expected = ((ROUNDS + 1) * (PAIRS + 500)) * 10_000;
if (daySpend!.spentNanos !== expected || daySpend!.reservedNanos !== 0) {
  throw new Error(`ledger totals off: ${JSON.stringify(daySpend)} expected spent ${expected}`);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pick = (rs: Round[], k: keyof Round): number => median(rs.map((r) => r[k]));
const fmt = (n: number, d = 0): string => n.toFixed(d);

console.log(`RedisLedger reserve+settle, concurrency ${CONCURRENCY}, ${PAIRS} pairs x ${ROUNDS} rounds (median), redis-server ${server.url}`);
console.log(
  '| variant | pairs/s | p50 µs | p99 µs | client CPU µs/pair | server CPU µs/pair | commandstats µs/pair | commands/pair | redis.calls/pair |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const [name, rs] of [
  ['baseline: 2 x HINCRBY', bareRounds],
  ['RedisLedger reserve + settle', ledgerRounds],
] as const) {
  console.log(
    `| ${name} | ${fmt(pick(rs, 'pairsPerSec'))} | ${fmt(pick(rs, 'p50Micros'))} | ${fmt(pick(rs, 'p99Micros'))} | ` +
      `${fmt(pick(rs, 'cpuMicrosPerPair'), 1)} | ${fmt(pick(rs, 'serverCpuMicrosPerPair'), 1)} | ${fmt(pick(rs, 'commandMicrosPerPair'), 1)} | ` +
      `${fmt(pick(rs, 'commandsPerPair'), 2)} | ${fmt(pick(rs, 'innerCallsPerPair'), 1)} |`,
  );
}
const bareRates = bareRounds.map((r) => r.pairsPerSec);
const noise = (Math.max(...bareRates) - Math.min(...bareRates)) / median(bareRates);
console.log(
  `ratio ledger/baseline throughput: ${(pick(ledgerRounds, 'pairsPerSec') / pick(bareRounds, 'pairsPerSec')).toFixed(2)}x; ` +
    `A/A noise floor (baseline rounds spread): ${(noise * 100).toFixed(1)} %`,
);
console.log(`rounds (pairs/s) baseline: ${bareRates.map((r) => fmt(r)).join(', ')}; ledger: ${ledgerRounds.map((r) => fmt(r.pairsPerSec)).join(', ')}`);
const target = pick(ledgerRounds, 'pairsPerSec') >= 10_000 ? 'meets' : 'MISSES';
console.log(`target >= 10,000 pairs/s with <= 2 round trips per call: ${target}`);
const ratios = ledgerRounds.map((r, i) => r.pairsPerSec / bareRounds[i]!.pairsPerSec);
console.log(
  `per-round ratios (ledger / the baseline round before it): ${ratios.map((r) => r.toFixed(2)).join(', ')}; ` +
    `target >= 0.5x: ${median(ratios) >= 0.5 ? 'meets' : 'MISSES'}`,
);

await ledger.close();
bare.disconnect();
admin.disconnect();
await server.stop();
