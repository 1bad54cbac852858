// Machine instructions per call, counted by valgrind (callgrind), for the modes of
// instrumentation.bench.ts: a measure of the work each instrumentation does that the noise of a
// shared 2-core VM cannot move (timings there wander by 10-20 us between processes).
//
// `npm run bench:instructions` (opt-in: about 35 min on the 2-core machine with 3 seeds, BENCH_SEEDS=1 for a quick look; needs
// valgrind, `apt-get install valgrind`).
//
// - Each mode runs bench/instrumentation-worker.ts (in-memory `fetch`, no-op exporters, one user
//   message, non-streaming chat.completions.create on openai 6) under
//   `valgrind --tool=callgrind`, with V8 single-threaded (below) so JIT compilation and GC run
//   on the counted thread in a repeatable order.
// - Instructions per call = (total of a run of one batch of WARM + CALLS calls - total of a run
//   of one batch of WARM calls) / CALLS: start-up, module loading and the warm-up cancel out, and
//   the one flush + forced GC at the end of each run is paid by both. One batch, not a warm-up
//   batch then a counted one: the worker's flush + forced GC between batches let V8 drop type
//   feedback and optimised code (maps that died, "embedded weak objects cleared"), so the counted
//   calls re-warmed the code and were counted mostly as tiering, not as steady-state work
//   (measured 2026-12-03 on one tree, seed 1: tollgate instrumentation 1009.7k per call counted
//   after a forced GC, 724.1k without it; see docs/performance.md).
// - V8 runs with `--predictable --random-seed=<seed>`: single-threaded, and none of its time- or
//   randomness-driven decisions (GC scheduling, JIT tiering, Math.random, hence span ids) vary from
//   run to run, so the same code and seed give the same count (measured: within 0.1k per call; with
//   `--single-threaded` alone, runs of the same code differed by 5-60k per call). But a change
//   anywhere (even the checkout's path) moves V8's GC and tiering decisions, and with them the
//   count: by up to ~25k per call when the counted calls followed a forced GC, and by up to ~19k
//   without it (between seeds of one checkout, or one seed in two checkouts; docs/performance.md).
//   So each mode is counted under BENCH_SEEDS seeds (default 3), and the table gives the mean and
//   the spread between seeds. The A/A line (the same seeds twice) shows only that the method
//   repeats; a difference under ~20k per call between two versions of the code is not a finding.
//   The runs are independent: two at a time.
// - `bare A` and `bare B` are the same code: their difference is the A/A noise of the method.
// - Counts are work, not time: they miss cache misses and stalls, which the timed benchmark keeps.
// - `BENCH_SUITE=clients`: the same count for the client table of bench/clients.bench.ts (its
//   workers, modes `bare A`, `tollgate`, `bare B` per client; BENCH_CLIENTS picks the clients,
//   default `openai,bedrock`; 1-2 min per mode and seed on the 2-core machine): tollgate's added
//   instructions per client and their ratio to the openai row's.
import { spawn, spawnSync } from 'node:child_process';
import type { BatchResult } from './instrumentation-worker.ts';

const WARM = Number(process.env['BENCH_WARM'] ?? 2000);
const SEEDS = Array.from({ length: Number(process.env['BENCH_SEEDS'] ?? 3) }, (_, i) => i + 1);
const CALLS = Number(process.env['BENCH_CALLS'] ?? 2000);
const ALL_MODES = ['bare A', 'official', 'hand-made span', 'tollgate instr', 'tollgate', 'bare B'] as const;
type Mode = (typeof ALL_MODES)[number];
/** `BENCH_MODES=tollgate instr,hand-made span` counts only those (ratios needing a missing mode print NaN). */
const only = process.env['BENCH_MODES']?.split(',').map((m) => m.trim());
const MODES = only === undefined ? ALL_MODES : ALL_MODES.filter((m) => only.includes(m));

if (spawnSync('valgrind', ['--version']).status !== 0) {
  console.error('bench:instructions needs valgrind on the PATH (Debian: apt-get install valgrind)');
  process.exit(1);
}

/** Total instructions of one worker process that makes `calls` calls in one batch and exits. */
async function totalInstructions(mode: string, calls: number, seed: number, client?: string): Promise<number> {
  const worker = new URL(client === undefined ? './instrumentation-worker.ts' : './clients.bench.ts', import.meta.url).pathname;
  const env = client === undefined ? { BENCH_WORKER: JSON.stringify({ mode, messages: 'single', exportInCpu: false }) } : { BENCH_CLIENT_WORKER: JSON.stringify({ client, mode }) };
  const child = spawn('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, '--predictable', `--random-seed=${seed}`, '--expose-gc', worker], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const next = () =>
    new Promise<{ ready?: boolean; result?: BatchResult; error?: string }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { ready?: boolean; result?: BatchResult; error?: string }));
      void exited.then((code) => reject(new Error(`worker ${mode} exited with ${String(code)}:\n${stderr.slice(-2000)}`)));
    });
  await next(); // ready
  child.send({ batch: calls, stream: false });
  const m = await next();
  if (m.error !== undefined) throw new Error(`worker ${mode}: ${m.error}`);
  child.disconnect();
  await exited;
  // callgrind's summary line: "==pid== Collected : 1234"
  const match = /Collected\s*:\s*(\d+)/.exec(stderr);
  if (match?.[1] === undefined) throw new Error(`no callgrind summary for ${mode}:\n${stderr.slice(-2000)}`);
  return Number(match[1]);
}

/** Instructions per call of one worker under one seed: a run of WARM + CALLS calls minus one of WARM calls (the two run side by side). */
async function perCallSeeded(mode: string, seed: number, client?: string): Promise<number> {
  const [base, full] = await Promise.all([totalInstructions(mode, WARM, seed, client), totalInstructions(mode, WARM + CALLS, seed, client)]);
  return (full - base) / CALLS;
}

/** Spread (max - min) of each mode's per-call counts over the seeds. */
const spreads = new Map<string, number>();

/** Instructions per call of one worker: the mean over the seeds (their spread kept in `spreads`). */
async function perCallOf(mode: string, client?: string): Promise<number> {
  const counts: number[] = [];
  for (const seed of SEEDS) counts.push(await perCallSeeded(mode, seed, client));
  spreads.set(`${client ?? ''}/${mode}`, Math.max(...counts) - Math.min(...counts));
  return counts.reduce((a, b) => a + b, 0) / counts.length;
}

if (process.env['BENCH_SUITE'] === 'clients') {
  const clients = (process.env['BENCH_CLIENTS'] ?? 'openai,bedrock').split(',').map((c) => c.trim());
  if (!clients.includes('openai')) clients.unshift('openai');
  const k = (x: number) => `${(x / 1000).toFixed(1)}k`.padStart(9);
  const added = new Map<string, number>();
  console.log(`instructions per call (callgrind, V8 --predictable), bench/clients.bench.ts workers; ${WARM} warm-up + ${CALLS} counted calls`);
  console.log('client        bare A   bare B tollgate    added      A/A  added / openai added');
  for (const client of clients) {
    const [a, t, b] = [await perCallOf('bare A', client), await perCallOf('tollgate', client), await perCallOf('bare B', client)];
    added.set(client, t - (a + b) / 2);
    const ratio = (added.get(client) ?? NaN) / (added.get('openai') ?? NaN);
    console.log(`${client.padEnd(10)}${k(a)}${k(b)}${k(t)}${k(t - (a + b) / 2)}${k(Math.abs(a - b))}  ${ratio.toFixed(2)}x`);
  }
  process.exit(0);
}

const perCall = new Map<Mode, number>();
for (const mode of MODES) {
  perCall.set(mode, await perCallOf(mode));
  console.error(`${mode}: ${((perCall.get(mode) ?? NaN) / 1000).toFixed(1)}k instructions per call (spread over ${SEEDS.length} seeds ${((spreads.get(`/${mode}`) ?? NaN) / 1000).toFixed(1)}k)`);
}

const k = (x: number) => `${(x / 1000).toFixed(1)}k`.padStart(9);
const get = (m: Mode) => perCall.get(m) ?? NaN;
const bare = (get('bare A') + get('bare B')) / 2;
const official = get('official') - bare;
console.log(`\ninstructions per call (callgrind, V8 --predictable), openai-v6 non-streaming, in-memory fetch, no-op export; ${WARM} warm-up + ${CALLS} counted calls; mean of seeds ${SEEDS.join(', ')}`);
console.log('mode              instr/call    added   /official added   spread over seeds');
console.log(`${'bare (A+B)/2'.padEnd(17)}${k(bare)}`);
for (const m of MODES) {
  if (m === 'bare A' || m === 'bare B') continue;
  const added = get(m) - bare;
  console.log(`${m.padEnd(17)}${k(get(m))}${k(added)}   ${(added / official).toFixed(2)}x${k(spreads.get(`/${m}`) ?? NaN)}`);
}
console.log(`A/A noise        |bare A - bare B| = ${k(Math.abs(get('bare A') - get('bare B'))).trim()} per call`);
const hand = get('hand-made span') - bare;
console.log(`tollgate instr over the hand-made floor: ${((get('tollgate instr') - bare) / hand).toFixed(2)}x; the floor over the official instrumentation: ${(hand / official).toFixed(2)}x`);
