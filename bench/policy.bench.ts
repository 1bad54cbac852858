// The budget policy's cost, in one run:
//
// 1. Per call: the instrumented `openai` SDK (openai 6, in-memory `fetch` returning a canned
//    Response, no sockets) with tollgate WITHOUT a policy vs WITH the BudgetPolicy on the
//    memory ledger (daily + monthly + task caps, so every call reserves on 3 scopes and
//    settles). Modes alternate in rounds: none A, policy, none B; p50 latency and CPU per
//    call, the added cost over the mean of the two no-policy series, and the A/A noise floor
//    (none A vs none B). Target: <= 30 us p50 added.
//    Also the policy alone (admit + complete, no SDK), as p50 per call.
// 2. Pre-call estimation of a ~100k-token conversation whose last message is the only new
//    one: the fast upper bound, the exact count (per-message cache), and a full admit that
//    needs the exact count (the bound does not fit the cap). Baseline: one naive full
//    tokenizer pass over the same text. Target: < 2 ms.
import { createRequire } from 'node:module';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { OpenAIInstrumentation } from '../src/instrumentation/openai/index.ts';
import { defaultPriceTable } from '../src/pricing/index.ts';
import { createInputEstimator, countTokens } from '../src/tokens/index.ts';
import { resolveConfig } from '../src/config/index.ts';
import { MemoryLedger } from '../src/ledger/memory.ts';
import { BudgetPolicy } from '../src/policy/index.ts';
import { withAgent, withTask } from '../src/context.ts';
import type { CallDescription } from '../src/gate.ts';
import { cannedFetch } from './canned.ts';

const require = createRequire(import.meta.url);
const SDK = 'openai-v6';
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 12);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 250);

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const noop: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve() };
const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter: noop, maxQueueSize: 1 << 16 })] });
const prices = defaultPriceTable();
const estimator = createInputEstimator();

const config = resolveConfig({
  env: {},
  overrides: { agent: 'bench', limits: { dailyUsd: 1_000_000, monthlyUsd: 10_000_000, taskUsd: 100_000 } },
});
const policy = new BudgetPolicy({ config, ledger: new MemoryLedger(), prices, estimator });

const baseConfig = { moduleNames: [SDK], prices };
const inst = new OpenAIInstrumentation({ ...baseConfig, enabled: false });
inst.setTracerProvider(provider);
inst.enable();

const sdk = require(SDK) as { OpenAI: new (o: object) => BenchClient };
interface BenchClient {
  chat: { completions: { create(body: object): Promise<unknown> } };
}
const inMemoryFetch = cannedFetch();
const client = new sdk.OpenAI({ apiKey: 'sk-bench', baseURL: 'http://bench.invalid/v1', maxRetries: 0, fetch: inMemoryFetch });
const messages = [{ role: 'user', content: 'Answer in up to 3 words: Which ocean contains Bouvet Island?' }];

type Mode = 'none A' | 'policy' | 'none B';
const MODES: Mode[] = ['none A', 'policy', 'none B'];

function p50(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}
const f = (x: number, w = 8) => x.toFixed(1).padStart(w);

async function batch(mode: Mode, samples: number[], cpu: { micros: number; calls: number }): Promise<void> {
  inst.setConfig(mode === 'policy' ? { ...baseConfig, gate: policy } : baseConfig);
  await withAgent('bench', () =>
    withTask({ id: 'bench-task', type: 'bench' }, async () => {
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < BATCH; i++) {
        const t0 = process.hrtime.bigint();
        await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 50 });
        samples.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      const used = process.cpuUsage(cpu0);
      cpu.micros += used.user + used.system;
      cpu.calls += BATCH;
    }),
  );
  await provider.forceFlush();
}

async function perCall(): Promise<void> {
  const samples = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  const cpu = new Map<Mode, { micros: number; calls: number }>(MODES.map((m) => [m, { micros: 0, calls: 0 }]));
  for (const m of MODES) await batch(m, [], { micros: 0, calls: 0 });
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < MODES.length; k++) {
      const m = MODES[(k + r) % MODES.length]!;
      await batch(m, samples.get(m)!, cpu.get(m)!);
    }
  }
  const stat = (m: Mode) => ({ p50: p50(samples.get(m)!), cpu: cpu.get(m)!.micros / cpu.get(m)!.calls });
  const a = stat('none A');
  const b = stat('none B');
  const none = { p50: (a.p50 + b.p50) / 2, cpu: (a.cpu + b.cpu) / 2 };
  const p = stat('policy');
  console.log(`\n1. per call: instrumented ${SDK} chat.completions.create, in-memory fetch, ${ROUNDS} rounds x ${BATCH} calls per mode`);
  console.log('mode                 p50 us   +p50 us    CPU us   +CPU us');
  console.log(`no policy (A+B)/2  ${f(none.p50)}          ${f(none.cpu)}`);
  console.log(`policy + memory    ${f(p.p50)}  ${f(p.p50 - none.p50)}  ${f(p.cpu)}  ${f(p.cpu - none.cpu)}   (target <= 30 us p50 added)`);
  console.log(`A/A noise          |none A - none B| = ${Math.abs(a.p50 - b.p50).toFixed(1)} us p50, ${Math.abs(a.cpu - b.cpu).toFixed(1)} us CPU`);
  console.log(`ratio policy / no policy: p50 ${(p.p50 / none.p50).toFixed(3)}x, CPU ${(p.cpu / none.cpu).toFixed(3)}x`);

  // The policy alone: admit + complete, no SDK, no span.
  const call: CallDescription = {
    provider: 'openai',
    operation: 'chat',
    model: 'gpt-4o-mini',
    maxTokens: 50,
    stream: false,
    body: { model: 'gpt-4o-mini', messages, max_tokens: 50 },
    agent: 'bench',
    task: { id: 'bench-task', type: 'bench' },
    attempt: 1,
  };
  const alone: number[] = [];
  const cpu0 = process.cpuUsage();
  const N = 20_000;
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    const d = await policy.admit(call);
    policy.complete(d.ticket, { costUsd: 0.00001, model: 'gpt-4o-mini' });
    alone.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  const used = process.cpuUsage(cpu0);
  console.log(`policy alone (admit + complete, 3 scopes, memory ledger): p50 ${p50(alone).toFixed(2)} us, CPU ${((used.user + used.system) / N).toFixed(2)} us per call`);
}

async function estimation(): Promise<void> {
  // ~100k tokens: 200 messages of ~500 tokens (125 words) of varied words.
  const words = Array.from({ length: 4000 }, (_, i) => `w${(i * 7919) % 100_003}x`);
  const text = (seed: number, n: number) => Array.from({ length: n }, (_, j) => words[(seed * 31 + j * 17) % words.length]).join(' ');
  const history = Array.from({ length: 200 }, (_, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: text(i, 125) }));
  const full = history.map((m) => m.content).join('\n');
  const t0 = process.hrtime.bigint();
  const total = countTokens(full, 'gpt-4o');
  const naiveMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const naive: number[] = [];
  for (let r = 0; r < 3; r++) {
    const s = process.hrtime.bigint();
    countTokens(full + String(r), 'gpt-4o');
    naive.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  // Warm the per-message cache with the conversation so far (as the previous turns did).
  estimator.count('openai', { model: 'gpt-4o', messages: history });

  // A cap the fast bound does not fit but the exact count does: forces the exact path.
  const exactTokens = estimator.count('openai', { model: 'gpt-4o', messages: [...history, { role: 'user', content: text(999, 100) }] });
  const tight = resolveConfig({ env: {}, overrides: { agent: 'est', limits: { dailyUsd: ((exactTokens + 200) * 2.5 + 100 * 10) / 1e6 } } });
  const tightPolicy = new BudgetPolicy({ config: tight, ledger: new MemoryLedger(), prices, estimator });

  const ub: number[] = [];
  const exact: number[] = [];
  const admit: number[] = [];
  let exactRuns = 0;
  let admitted = 0;
  const R = 60;
  for (let k = 0; k < R; k++) {
    const last = { role: 'user', content: text(1000 + k * 3, 100) };
    const body = { model: 'gpt-4o', messages: [...history, last], max_tokens: 100 };
    let s = process.hrtime.bigint();
    const bound = estimator.upperBound('openai', body);
    ub.push(Number(process.hrtime.bigint() - s) / 1e6);
    const body2 = { model: 'gpt-4o', messages: [...history, { role: 'user', content: text(5000 + k * 3, 100) }], max_tokens: 100 };
    s = process.hrtime.bigint();
    const n = estimator.count('openai', body2);
    exact.push(Number(process.hrtime.bigint() - s) / 1e6);
    if (n < bound) exactRuns++;
    const body3 = { model: 'gpt-4o', messages: [...history, { role: 'user', content: text(9000 + k * 3, 100) }], max_tokens: 100 };
    const call: CallDescription = {
      provider: 'openai', operation: 'chat', model: 'gpt-4o', maxTokens: 100, stream: false, body: body3, agent: 'est', task: undefined, attempt: 1,
    };
    s = process.hrtime.bigint();
    const d = await tightPolicy.admit(call);
    admit.push(Number(process.hrtime.bigint() - s) / 1e6);
    if (d.action !== 'block') admitted++;
    tightPolicy.abort(d.ticket);
  }
  console.log(`\n2. pre-call estimation, ${history.length + 1} messages, ${total} tokens (o200k_base), last message new, ${R} runs`);
  console.log(`naive full tokenizer pass:        ${naiveMs.toFixed(1)} ms first, ${p50(naive).toFixed(1)} ms p50 warm (baseline)`);
  console.log(`fast upper bound (bytes):         p50 ${p50(ub).toFixed(3)} ms`);
  console.log(`exact count, per-message cache:   p50 ${p50(exact).toFixed(3)} ms   (${(p50(naive) / p50(exact)).toFixed(0)}x faster than the naive pass; target < 2 ms)`);
  console.log(`admit needing the exact count:    p50 ${p50(admit).toFixed(3)} ms (bound above exact in ${exactRuns}/${R} runs; admitted ${admitted}/${R})`);
}

await perCall();
await estimation();
await new Promise((r) => setImmediate(r));
await provider.shutdown();
