// Per-call cost of instrumenting the `openai` SDK: tollgate vs the official
// @opentelemetry/instrumentation-openai, over the bare SDK, in one run, with the OTel pipelines a
// user really runs (NodeSDK-style), not the global no-ops.
//
// - SDK: openai 6 (`openai-v6`), the newest major both support (the official one declares
//   openai >=4.19 <7; it gives openai 7 no spans at all).
// - Three sections, one process, the same modes:
//   1. in-memory, no-op export: the client gets an in-memory `fetch` returning a canned Response
//      (no sockets) and every exporter is a no-op: the instrumentations' own cost on the call path.
//      One user message per call (the official instrumentation emits one log event per message).
//   2. in-memory, OTLP export (as deployed): the same, but spans and log records go through the
//      real OTLP/HTTP protobuf exporters (NodeSDK's default protocol) to a sink in a child
//      process, and each batch's flush (serialising and sending) is inside its CPU window, not its
//      latency window; the prompt is an agent turn of 6 messages (system, user, two tool calls and
//      their results). The official side runs as NodeSDK sets it up by default: with a
//      LoggerProvider exporting its per-message log events.
//   3. loopback: the real client over HTTP to the stand-in server (src/standin), which runs in a
//      child process so the CPU per call is the client's alone. What a user sees, but the A/A
//      noise of a ~0.5-1 ms socket round trip hides differences of tens of us: below the A/A
//      floor, a difference is not resolvable (rows under it are marked).
// - Modes (separate providers, so no mode sees another's spans):
//   - tollgate: OpenAIInstrumentation (default price table, no gate = ALLOW_ALL, no content
//     capture) + a TracerProvider with [CostSpanProcessor (rollups, gen_ai.client.* and
//     tollgate.cost metrics on the shared MeterProvider), BatchSpanProcessor], the span
//     processors `startTollgate` installs, without a budget.
//   - official: OpenAIInstrumentation from @opentelemetry/instrumentation-openai (defaults: no
//     content capture) + a TracerProvider with [BatchSpanProcessor] + its gen_ai.client.*
//     histograms (3 records a call) on the shared MeterProvider. Its per-message log events go to
//     a no-op LoggerProvider (the cheapest case for it); `official+logs` (a second instance) gives
//     them a real LoggerProvider with a BatchLogRecordProcessor, as NodeSDK does by default.
//   - tollgate instr (diagnostic): tollgate's instrumentation on a provider without the
//     CostSpanProcessor: the priced span alone ("span + pricing"), no rollups, no metrics.
//   - hand-made span (reference floor, non-streaming only): the smallest wrapper that gives a
//     priced span the way both instrumentations do: `startSpan` with the request attributes,
//     the SDK call run with the span active (`context.with`, so transport spans nest), one
//     `.then` that prices the usage and sets the response, usage and cost attributes tollgate's
//     instrumentation sets, then `end`. No content, no stream handling, no `.asResponse()` care,
//     no budget hook. What any instrumentation with an active span pays here at least.
//   - tollgate+policy (informational): what `startTollgate` wires with no limit configured.
//   - bare+usage (loopback streams, diagnostic): the bare SDK with `stream_options.include_usage`
//     set by the caller: what the usage chunk tollgate asks for costs by itself.
//   - in every worker: AsyncLocalStorageContextManager (as NodeSDK), a MeterProvider with a
//     PeriodicExportingMetricReader (no-op exporter, 60 s interval, NodeSDK's default), a resource.
// - Each mode runs in its own worker processes (bench/instrumentation-worker.ts), as a service runs
//   it: the SDK loaded once, patched once by at most one instrumentation, one OTel pipeline. No
//   mode shares a heap, a JIT state, inline caches or an HTTP pool with another. (Modes sharing
//   one process, patched and unpatched between batches or each on its own SDK copy, distorted the
//   loopback streaming rows by up to +150 us CPU for tollgate.)
// - Two processes per mode by default, a mode's rounds alternating between them: two processes
//   running the same code sit apart (JIT decisions, heap layout, the core they land on) by more
//   than the bare A/A shows, so each row pools both and the run prints the largest such process
//   spread next to the A/A. The workers are pinned to one CPU, the parent and its service children
//   to the others (see WORKER_CPU).
// - The parent runs one batch at a time, rotating the order each round; every batch checks its
//   mode ended one span per call. Between batches: span/log flush (inside the CPU window in
//   section 2, outside it otherwise) and a GC (outside the measured window), so no mode pays for
//   another's garbage or queue.
// - Streams are requested without stream_options (as most callers do): tollgate then adds
//   include_usage and hides the usage-only chunk, its costlier path.
// - Loopback streams: tollgate's added include_usage makes the stand-in send one more chunk (the
//   usage chunk), which is part of what tollgate costs a user there; bare and official get none.
// - Reports p50 latency per call and CPU per call (process.cpuUsage over each batch), the added
//   cost over the mean of the two bare series, the A/A noise floor (bare A vs bare B) and the
//   ratios tollgate added / official added, tollgate instr / official and hand-made / official.
//   Target (issue #2): tollgate (span + pricing, no budget) <= 0.5x the official.
// - Env: BENCH_TRANSPORT=memory|export|socket (comma list; default all), BENCH_ONLY=plain|stream,
//   BENCH_MODES (comma list), BENCH_WORKER_FLAGS (node flags for the workers), BENCH_PROCS (worker
//   processes per mode, default 2), BENCH_CPU (the workers' CPU, or off; default the last one),
//   BENCH_DEBUG=1 (each process's p50 / CPU per call), BENCH_ROUNDS / BENCH_BATCH (in-memory sections, default 12 x 200),
//   BENCH_SOCKET_ROUNDS / BENCH_SOCKET_BATCH (loopback, default 20 x 300), BENCH_WORDS (words of the
//   canned in-memory streamed answer, default 3; the stand-in streams 13). The whole file takes
//   about 4 min on 2 shared cores (each section starts its workers afresh).
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { BatchResult, WorkerConfig } from './instrumentation-worker.ts';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 12);
/** Worker processes per mode: one process's JIT and heap layout can sit ~10 us from another's running the same code. */
const PROCS = Math.max(1, Number(process.env['BENCH_PROCS'] ?? 2));
const BATCH = Number(process.env['BENCH_BATCH'] ?? 200);
const SOCKET_ROUNDS = Number(process.env['BENCH_SOCKET_ROUNDS'] ?? 20);
const SOCKET_BATCH = Number(process.env['BENCH_SOCKET_BATCH'] ?? 300);
/**
 * The CPU the workers run on (taskset), with this process and its service children (stand-in,
 * OTLP sink) kept on the others. Unpinned, two processes running the same code were up to 90 us
 * p50 apart on this 2-core VM (the scheduler placing them on different cores); pinned, ~10-20 us.
 * BENCH_CPU=off disables it; a number chooses the CPU; default: the last CPU, when taskset exists.
 */
const WORKER_CPU = workerCpu();
const ONLY = process.env['BENCH_ONLY']; // 'stream' | 'plain' | undefined (both)
const WORDS = process.env['BENCH_WORDS'] === undefined ? undefined : Number(process.env['BENCH_WORDS']);
const SDK_LABEL = 'openai-v6@6.49.0';

type Mode = 'bare A' | 'tollgate' | 'bare B' | 'official' | 'official+logs' | 'tollgate instr' | 'hand-made span' | 'tollgate+policy' | 'bare+usage';
const ALL_MODES: Mode[] = ['bare A', 'tollgate', 'bare B', 'official', 'official+logs', 'tollgate instr', 'hand-made span', 'tollgate+policy', 'bare+usage'];
// BENCH_MODES=tollgate (comma list) runs only those modes.
const MODES: Mode[] = process.env['BENCH_MODES'] === undefined ? ALL_MODES : ALL_MODES.filter((m) => process.env['BENCH_MODES']?.split(',').includes(m));

interface Cpu {
  micros: number;
  calls: number;
}

/** One mode's worker process. */
interface Worker {
  readonly child: ChildProcess;
  /** Runs one batch in the worker. */
  batch(n: number, stream: boolean): Promise<BatchResult>;
}

/** Starts a worker for `mode` and waits until it is ready. */
async function startWorker(config: WorkerConfig): Promise<Worker> {
  // BENCH_WORKER_FLAGS: extra node flags for the workers (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`).
  const flags = (process.env['BENCH_WORKER_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
  const argv = ['--expose-gc', ...flags, new URL('./instrumentation-worker.ts', import.meta.url).pathname];
  const child = spawn(WORKER_CPU === undefined ? process.execPath : 'taskset', WORKER_CPU === undefined ? argv : ['-c', String(WORKER_CPU), process.execPath, ...argv], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, BENCH_WORKER: JSON.stringify(config) },
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`bench worker ${config.mode} exited with ${String(code)}`)));
  });
  return {
    child,
    batch: (n, stream) =>
      new Promise<BatchResult>((resolve, reject) => {
        child.once('message', (m: { result?: BatchResult; error?: string }) => (m.result !== undefined ? resolve(m.result) : reject(new Error(m.error))));
        child.send({ batch: n, stream });
      }),
  };
}

/** One transport to measure over: the modes it runs (a worker each) and how long. */
interface Section {
  readonly title: string;
  /** Each mode's worker processes; a mode's batches rotate over them. */
  readonly workers: ReadonlyMap<Mode, readonly Worker[]>;
  readonly messages: number;
  readonly modes: readonly Mode[];
  /** The official instrumentation as compared: `official` (no-op logger) or `official+logs` (NodeSDK's default). */
  readonly officialMode: Mode;
  readonly rounds: number;
  readonly batch: number;
  readonly warmups: number;
  readonly socket: boolean;
}

/** Runs one batch of `mode` in its worker process number `proc` (modulo the mode's processes). */
async function batch(section: Section, mode: Mode, proc: number, stream: boolean, samples: number[], cpu: Cpu): Promise<void> {
  const ws = section.workers.get(mode);
  const worker = ws?.[proc % ws.length];
  if (worker === undefined) throw new Error(`no worker for mode ${mode}`);
  const r = await worker.batch(section.batch, stream);
  for (const x of r.samples) samples.push(x);
  cpu.micros += r.cpuMicros;
  cpu.calls += section.batch;
}

function p50(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function run(section: Section, stream: boolean): Promise<void> {
  // The hand-made reference has no stream handling; `bare+usage` only differs from bare on streams.
  const applies = (m: Mode) => !(stream && m === 'hand-made span') && !(!stream && m === 'bare+usage');
  const modes = section.modes.filter((m) => MODES.includes(m) && applies(m));
  const expected = section.modes.filter(applies);
  const samples = new Map<Mode, number[]>(modes.map((m) => [m, []]));
  const cpu = new Map<Mode, Cpu>(modes.map((m) => [m, { micros: 0, calls: 0 }]));
  const cpuRounds = new Map<Mode, number[]>(modes.map((m) => [m, []])); // CPU micros of each round's batch
  // Warm-up: JIT, the price table, both instrumentations' code paths (and the keep-alive socket).
  for (let w = 0; w < section.warmups; w++) {
    for (const m of modes) for (let p = 0; p < PROCS; p++) await batch(section, m, p, stream, [], { micros: 0, calls: 0 });
  }
  // Per process of each mode: its samples and CPU (for the process spread).
  const perProc = new Map<Mode, { samples: number[]; cpu: Cpu }[]>(
    modes.map((m) => [m, Array.from({ length: PROCS }, () => ({ samples: [] as number[], cpu: { micros: 0, calls: 0 } }))]),
  );
  for (let r = 0; r < section.rounds; r++) {
    // Rotate the order each round so no mode always follows the same neighbour; round r runs on process r % PROCS.
    for (let k = 0; k < modes.length; k++) {
      const m = modes[(k + r) % modes.length] as Mode;
      const c = cpu.get(m) ?? { micros: 0, calls: 0 };
      const before = c.micros;
      const own = perProc.get(m)?.[r % PROCS];
      const mine: number[] = [];
      await batch(section, m, r, stream, mine, c);
      for (const x of mine) samples.get(m)?.push(x);
      if (own !== undefined) {
        own.samples.push(...mine);
        own.cpu.micros += c.micros - before;
        own.cpu.calls += section.batch;
      }
      cpuRounds.get(m)?.push(c.micros - before);
    }
  }
  // Process spread: the largest gap between two processes running the same mode (the same code).
  const spread = { p50: 0, cpu: 0 };
  for (const [m, procs] of perProc) {
    if (process.env['BENCH_DEBUG'] !== undefined) console.log(`${m}: per process p50/CPU us`, procs.map((p) => `${p50(p.samples).toFixed(1)}/${(p.cpu.micros / p.cpu.calls).toFixed(1)}`).join(' '));
    if (procs.length < 2 || procs.some((p) => p.samples.length === 0)) continue;
    const p50s = procs.map((p) => p50(p.samples));
    const cpus = procs.map((p) => p.cpu.micros / p.cpu.calls);
    spread.p50 = Math.max(spread.p50, Math.max(...p50s) - Math.min(...p50s));
    spread.cpu = Math.max(spread.cpu, Math.max(...cpus) - Math.min(...cpus));
  }
  // A partial run (BENCH_MODES, e.g. profiling) prints what it can: it needs both bare series.
  if (!modes.includes('bare A') || !modes.includes('bare B')) return;
  if (modes.length < expected.length) console.log(`\n(partial run: ${modes.join(', ')})`);
  const stat = (m: Mode) => {
    const c = cpu.get(m) ?? { micros: 0, calls: 1 };
    return { p50: p50(samples.get(m) ?? []), cpu: c.micros / c.calls };
  };
  const a = stat('bare A');
  const b = stat('bare B');
  const bare = { p50: (a.p50 + b.p50) / 2, cpu: (a.cpu + b.cpu) / 2 };
  const noise = { p50: Math.abs(a.p50 - b.p50), cpu: Math.abs(a.cpu - b.cpu) };
  // One |A - B| is a single draw of the noise; over sockets take the largest of the pooled one and
  // those of the even and the odd rounds (each half noisier by ~sqrt 2: a conservative floor).
  const half = (m: Mode, parity: number) => {
    const xs = (samples.get(m) ?? []).filter((_, i) => Math.floor(i / section.batch) % 2 === parity);
    const cs = (cpuRounds.get(m) ?? []).filter((_, r) => r % 2 === parity);
    return { p50: p50(xs), cpu: cs.reduce((x, y) => x + y, 0) / (cs.length * section.batch) };
  };
  const floor = { ...noise };
  if (section.socket && section.rounds >= 2) {
    for (const parity of [0, 1]) {
      const ha = half('bare A', parity);
      const hb = half('bare B', parity);
      floor.p50 = Math.max(floor.p50, Math.abs(ha.p50 - hb.p50));
      floor.cpu = Math.max(floor.cpu, Math.abs(ha.cpu - hb.cpu));
    }
  }
  const f = (x: number) => x.toFixed(1).padStart(8);
  // Over sockets, an added cost within the A/A floor cannot be told from noise: mark it.
  const mark = (added: number, floor: number) => (section.socket && Math.abs(added) <= floor ? '*' : ' ');
  const row = (name: string, s: { p50: number; cpu: number }) =>
    console.log(
      `${name.padEnd(15)}${f(s.p50)}  ${f(s.p50 - bare.p50)}${mark(s.p50 - bare.p50, floor.p50)} ${f(s.cpu)}  ${f(s.cpu - bare.cpu)}${mark(s.cpu - bare.cpu, floor.cpu)}`,
    );
  console.log(
    `\n${section.title}: ${stream ? 'streaming' : 'non-streaming'} chat.completions.create, ${section.messages} message(s), ${SDK_LABEL}, ${section.rounds} rounds x ${section.batch} calls per mode, ${PROCS} process(es) per mode`,
  );
  console.log('mode             p50 us   +p50 us    CPU us   +CPU us');
  console.log(`${'bare (A+B)/2'.padEnd(15)}${f(bare.p50)}            ${f(bare.cpu)}`);
  for (const m of modes) if (m !== 'bare A' && m !== 'bare B') row(m, stat(m));
  console.log(`A/A noise      |bare A - bare B| = ${noise.p50.toFixed(1)} us p50, ${noise.cpu.toFixed(1)} us CPU`);
  if (section.socket) console.log(`A/A floor      max(all, even, odd rounds) = ${floor.p50.toFixed(1)} us p50, ${floor.cpu.toFixed(1)} us CPU`);
  if (PROCS > 1 && section.rounds >= PROCS) {
    console.log(`process spread max over modes of |process 1 - process 2| (same code) = ${spread.p50.toFixed(1)} us p50, ${spread.cpu.toFixed(1)} us CPU`);
  }
  const kind = `${section.socket ? 'loopback ' : ''}${stream ? 'stream' : 'non-stream'}`;
  const hasOfficial = modes.includes(section.officialMode);
  const o = stat(section.officialMode);
  const ratio = (m: Mode) => {
    const x = stat(m);
    return `p50 ${((x.p50 - bare.p50) / (o.p50 - bare.p50)).toFixed(2)}x, CPU ${((x.cpu - bare.cpu) / (o.cpu - bare.cpu)).toFixed(2)}x`;
  };
  const vs = `/${section.officialMode} added (${kind})`;
  if (hasOfficial && modes.includes('tollgate')) console.log(`tollgate${vs}: ${ratio('tollgate')} (target <= 0.50x)`);
  if (hasOfficial && modes.includes('tollgate instr')) console.log(`tollgate instr${vs}: ${ratio('tollgate instr')} (span + pricing, no processor)`);
  if (hasOfficial && modes.includes('hand-made span')) console.log(`hand-made span${vs}: ${ratio('hand-made span')} (the floor of an active priced span)`);
  if (!section.socket && modes.includes('tollgate instr') && modes.includes('hand-made span')) {
    const i = stat('tollgate instr');
    const h = stat('hand-made span');
    console.log(
      `tollgate instr/hand-made span added: p50 ${((i.p50 - bare.p50) / (h.p50 - bare.p50)).toFixed(2)}x, CPU ${((i.cpu - bare.cpu) / (h.cpu - bare.cpu)).toFixed(2)}x (the instrumentation over the floor)`,
    );
  }
  if (modes.includes('bare+usage')) {
    const u = stat('bare+usage');
    console.log(`bare+usage: the bare SDK asking for the usage chunk itself adds ${(u.p50 - bare.p50).toFixed(1)} us p50, ${(u.cpu - bare.cpu).toFixed(1)} us CPU (part of tollgate's rows)`);
  }
  if (section.officialMode === 'official' && hasOfficial && modes.includes('official+logs') && modes.includes('tollgate')) {
    const ol = stat('official+logs');
    const t = stat('tollgate');
    console.log(
      `tollgate/official+logs added (${kind}): p50 ${((t.p50 - bare.p50) / (ol.p50 - bare.p50)).toFixed(2)}x, CPU ${((t.cpu - bare.cpu) / (ol.cpu - bare.cpu)).toFixed(2)}x`,
    );
  }
  if (section.socket) {
    console.log(
      `note: over sockets, differences below the A/A floor (${floor.p50.toFixed(0)} us p50, ${floor.cpu.toFixed(0)} us CPU here; marked *) are not resolvable, ` +
        'and a ratio of two such differences is noise; the in-memory sections are the instrumentation\'s own cost.',
    );
  }
}

/** Starts a module's default export in a child process (so its CPU is not the client's); it sends back its URL. */
async function startChild(source: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--input-type=module', '--eval', source], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`bench child exited with ${String(code)}`)));
  });
  return { url, child };
}

/** The stand-in provider server, in a child process. */
function startStandinChild(): Promise<{ url: string; child: ChildProcess }> {
  const server = new URL('../src/standin/server.ts', import.meta.url).href;
  const routes = new URL('../src/standin/openai.ts', import.meta.url).href;
  return startChild(
    [
      `const { startStandinServer } = await import(${JSON.stringify(server)});`,
      `const { openaiRoutes } = await import(${JSON.stringify(routes)});`,
      // Keep one recorded request: the bench never reads them, and it keeps the server's memory flat.
      'const s = await startStandinServer({ routes: openaiRoutes(), maxRecordedRequests: 1 });',
      "process.once('disconnect', () => { void s.close().then(() => process.exit(0)); });",
      'process.send({ url: s.url });',
    ].join('\n'),
  );
}

/** An OTLP/HTTP sink in a child process: drains each export request and answers 200 with an empty (valid) protobuf body. */
function startOtlpSinkChild(): Promise<{ url: string; child: ChildProcess }> {
  return startChild(
    [
      "const { createServer } = await import('node:http');",
      "const s = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/x-protobuf' }); res.end(); }); });",
      "s.listen(0, '127.0.0.1', () => process.send({ url: `http://127.0.0.1:${s.address().port}` }));",
      "process.once('disconnect', () => { s.close(); process.exit(0); });",
    ].join('\n'),
  );
}

/** Starts PROCS workers per mode that applies to the section (sequentially: start-up is CPU-heavy). */
async function workers(modes: readonly Mode[], config: Omit<WorkerConfig, 'mode'>): Promise<Map<Mode, Worker[]>> {
  const out = new Map<Mode, Worker[]>();
  for (const mode of modes) {
    if (!MODES.includes(mode)) continue;
    const ws: Worker[] = [];
    for (let p = 0; p < PROCS; p++) ws.push(await startWorker({ ...config, mode }));
    out.set(mode, ws);
  }
  return out;
}

function workerCpu(): number | undefined {
  const env = process.env['BENCH_CPU'];
  const cpus = availableParallelism();
  if (env === 'off' || cpus < 2 || spawnSync('taskset', ['-V']).status !== 0) return undefined;
  const cpu = env === undefined ? cpus - 1 : Number(env);
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= cpus) throw new Error(`BENCH_CPU: expected off or a CPU number in 0..${cpus - 1}, got "${env ?? ''}"`);
  // This process and the children it starts (stand-in, sink) go to the other CPUs.
  const others = Array.from({ length: cpus }, (_, i) => i).filter((i) => i !== cpu);
  spawnSync('taskset', ['-a', '-p', '-c', others.join(','), String(process.pid)], { stdio: 'ignore' });
  return cpu;
}

console.log(
  WORKER_CPU === undefined
    ? 'workers not pinned (BENCH_CPU=off, one CPU, or no taskset)'
    : `workers pinned to CPU ${WORKER_CPU}; this process, the stand-in and the OTLP sink on the other CPUs (BENCH_CPU=off to disable)`,
);
const sections = new Set((process.env['BENCH_TRANSPORT'] ?? 'memory,export,socket').split(','));
const children: ChildProcess[] = [];
try {
  if (sections.has('memory')) {
    const modes = ALL_MODES.filter((m) => m !== 'bare+usage'); // the canned SSE carries the usage chunk either way
    const ws = await workers(modes, { messages: 'single', exportInCpu: false, ...(WORDS === undefined ? {} : { words: WORDS }) });
    children.push(...[...ws.values()].flat().map((w) => w.child));
    const section: Section = { title: 'in-memory fetch, no-op export', workers: ws, messages: 1, modes, officialMode: 'official', rounds: ROUNDS, batch: BATCH, warmups: 2, socket: false };
    if (ONLY !== 'stream') await run(section, false);
    if (ONLY !== 'plain') await run(section, true);
    for (const w of [...ws.values()].flat()) w.child.disconnect();
  }
  if (sections.has('export')) {
    const sink = await startOtlpSinkChild();
    children.push(sink.child);
    const modes: Mode[] = ['bare A', 'tollgate', 'bare B', 'official+logs', 'tollgate instr', 'hand-made span', 'tollgate+policy'];
    const ws = await workers(modes, { messages: 'agent', exportInCpu: true, sinkUrl: sink.url, ...(WORDS === undefined ? {} : { words: WORDS }) });
    children.push(...[...ws.values()].flat().map((w) => w.child));
    const section: Section = {
      title: 'in-memory fetch, OTLP export (as deployed)',
      workers: ws,
      messages: 6,
      modes,
      officialMode: 'official+logs',
      rounds: ROUNDS,
      batch: BATCH,
      warmups: 2,
      socket: false,
    };
    if (ONLY !== 'stream') await run(section, false);
    if (ONLY !== 'plain') await run(section, true);
    for (const w of [...ws.values()].flat()) w.child.disconnect();
    sink.child.disconnect();
  }
  if (sections.has('socket')) {
    const standin = await startStandinChild();
    children.push(standin.child);
    const modes: Mode[] = ['bare A', 'tollgate', 'bare B', 'official', 'tollgate instr', 'hand-made span', 'bare+usage'];
    const ws = await workers(modes, { messages: 'single', exportInCpu: false, standinUrl: standin.url });
    children.push(...[...ws.values()].flat().map((w) => w.child));
    const section: Section = {
      title: 'loopback HTTP to the stand-in server, no-op export',
      workers: ws,
      messages: 1,
      modes,
      officialMode: 'official',
      rounds: SOCKET_ROUNDS,
      batch: SOCKET_BATCH,
      warmups: 1,
      socket: true,
    };
    if (ONLY !== 'stream') await run(section, false);
    if (ONLY !== 'plain') await run(section, true);
  }
} finally {
  for (const c of children) if (c.connected) c.disconnect();
}
