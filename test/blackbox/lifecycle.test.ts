/**
 * A process with tollgate lives and dies like one without it. A one-call script run as
 * `node --import tollgate/register` exits by itself, within 2 s of finishing its work,
 * with every ledger and with the OTLP endpoint up, refusing connections or never
 * answering; its spans are flushed at beforeExit; SIGTERM / SIGINT flush spans and spend
 * and then end the process as the signal would have. Uses the built package (dist/).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createLedger } from '../../src/ledger/index.ts';
import { usdToNanos } from '../../src/ledger/types.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { startStandinServer, type StandinServer } from '../../src/standin/server.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';
import { freePort, startRedisServer, type RedisServer } from '../support/redis-server.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** The bound: a finished script is gone within 2 s. */
const EXIT_BOUND_MS = 2000;

let standin: StandinServer;
let receiver: OtlpReceiver;
let redis: RedisServer;
let refusedUrl: string;
let silent: Server;
let silentUrl: string;
const silentSockets = new Set<Socket>();
let dir: string;

before(async () => {
  standin = await startStandinServer({ routes: openaiRoutes() });
  receiver = await startOtlpReceiver();
  redis = await startRedisServer({ appendOnly: false });
  refusedUrl = `http://127.0.0.1:${String(await freePort())}`;
  // An endpoint that accepts connections and never answers: the worst case for an exporter.
  silent = createServer((s) => {
    silentSockets.add(s);
    s.on('close', () => silentSockets.delete(s));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentUrl = `http://127.0.0.1:${String((silent.address() as { port: number }).port)}`;
  dir = mkdtempSync(join(tmpdir(), 'tollgate-lifecycle-'));
});
after(async () => {
  for (const s of silentSockets) s.destroy();
  await new Promise((resolve) => silent.close(resolve));
  await standin.close();
  await receiver.close();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from the app's `done` line to the process's exit. */
  exitAfterDoneMs: number;
}

/**
 * Runs test/blackbox/one-call.mjs (with tollgate unless `bare`). `onDone` runs when the app
 * prints `done` (e.g. to signal it).
 */
function run(env: Record<string, string>, options: { bare?: boolean; onDone?: (pid: number) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const args = options.bare === true ? ['test/blackbox/one-call.mjs'] : ['--import', 'tollgate/register', 'test/blackbox/one-call.mjs'];
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        STANDIN_URL: standin.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_METRIC_EXPORT_INTERVAL: '600000',
        // Spans leave only when flushed: the batch timer alone would not send them in time.
        OTEL_BSP_SCHEDULE_DELAY: '600000',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let doneAt: number | undefined;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (doneAt === undefined && /^done /m.test(stdout)) {
        doneAt = performance.now();
        options.onDone?.(child.pid ?? 0);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const exitedAt = performance.now();
      clearTimeout(killer);
      child.on('close', () => resolve({ code, signal, stdout, stderr, exitAfterDoneMs: doneAt === undefined ? Infinity : exitedAt - doneAt }));
    });
  });
}

function chatSpans(service: string): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.resource['service.name'] === service && s.attributes['gen_ai.operation.name'] === 'chat');
}

/** The agent's spend today in a ledger, in nano-USD. */
async function spentToday(spec: string, agent: string): Promise<number> {
  const ledger = await createLedger(spec);
  try {
    const key = `day:${new Date().toISOString().slice(0, 10)}`;
    const [s] = await ledger.spent([{ scope: 'agent.daily', agent, key, limitNanos: null, resetAt: null }]);
    return s?.spentNanos ?? -1;
  } finally {
    await ledger.close();
  }
}

const EXIT_WARNING = /\[TOLLGATE_EXIT_TIMEOUT\] TollgateWarning: tollgate: the flush at exit did not finish within 1500 ms/g;

const ledgers = (): Record<string, string> => ({ memory: 'memory', sqlite: `sqlite:${join(dir, 'ledger.db')}`, redis: redis.url });

for (const kind of ['memory', 'sqlite', 'redis'] as const) {
  void test(`${kind} ledger, OTLP endpoint up: a one-call app exits by itself within 2 s, its span flushed at beforeExit`, async () => {
    const service = `lifecycle-${kind}-up`;
    const r = await run({ TOLLGATE_LEDGER: ledgers()[kind]!, OTEL_SERVICE_NAME: service, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.daily_usd=5' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^done ok 8 13$/m);
    assert.ok(r.exitAfterDoneMs < EXIT_BOUND_MS, `exited ${r.exitAfterDoneMs.toFixed(0)} ms after its work was done`);
    const spans = chatSpans(service);
    assert.equal(spans.length, 1);
    assert.equal(typeof spans[0]?.attributes['tollgate.cost.usd'], 'number');
    assert.doesNotMatch(r.stderr, EXIT_WARNING);
  });

  for (const [down, url] of [['refusing connections', () => refusedUrl], ['accepting and never answering', () => silentUrl]] as const) {
    void test(`${kind} ledger, OTLP endpoint ${down}: exits within 2 s, with one warning that spans were lost`, async () => {
      const r = await run({ TOLLGATE_LEDGER: ledgers()[kind]!, OTEL_SERVICE_NAME: `lifecycle-${kind}-down`, OTEL_EXPORTER_OTLP_ENDPOINT: url() });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^done ok 8 13$/m);
      assert.ok(r.exitAfterDoneMs < EXIT_BOUND_MS, `exited ${r.exitAfterDoneMs.toFixed(0)} ms after its work was done`);
      assert.equal(r.stderr.match(EXIT_WARNING)?.length, 1, r.stderr);
    });
  }
}

void test('Redis down, no cap: the call goes on and the app exits within 2 s', async () => {
  const dead = `redis://127.0.0.1:${String(await freePort())}`;
  const r = await run({ TOLLGATE_LEDGER: dead, OTEL_SERVICE_NAME: 'lifecycle-redis-down', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^done ok 8 13$/m);
  assert.ok(r.exitAfterDoneMs < EXIT_BOUND_MS, `exited ${r.exitAfterDoneMs.toFixed(0)} ms after its work was done`);
});

void test('Redis Cluster unreachable, no cap: the call goes on and the app exits within 2 s (the Cluster client reconnects without holding the loop)', async () => {
  const dead = `redis+cluster://127.0.0.1:${String(await freePort())},127.0.0.1:${String(await freePort())}`;
  const r = await run({ TOLLGATE_LEDGER: dead, OTEL_SERVICE_NAME: 'lifecycle-cluster-down', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^done ok 8 13$/m);
  assert.ok(r.exitAfterDoneMs < EXIT_BOUND_MS, `exited ${r.exitAfterDoneMs.toFixed(0)} ms after its work was done`);
});

void test('Redis down with a cap (failure=closed): the call is refused within the command timeout and the app exits within 2 s', async () => {
  const dead = `redis://127.0.0.1:${String(await freePort())}`;
  const r = await run({ TOLLGATE_LEDGER: dead, OTEL_SERVICE_NAME: 'lifecycle-redis-down-cap', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.daily_usd=5' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^done error LedgerUnavailableError$/m);
  assert.ok(r.exitAfterDoneMs < EXIT_BOUND_MS, `exited ${r.exitAfterDoneMs.toFixed(0)} ms after its work was done`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  void test(`${signal} to a waiting app: spans reach the collector, spend reaches the Redis ledger, and the process ends by ${signal} as it would without tollgate`, async () => {
    const service = `lifecycle-${signal.toLowerCase()}`;
    const env = { LIFECYCLE_WAIT: '1', TOLLGATE_LEDGER: redis.url, OTEL_SERVICE_NAME: service, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.daily_usd=5' };
    const bare = await run(env, { bare: true, onDone: (pid) => process.kill(pid, signal) });
    const r = await run(env, { onDone: (pid) => process.kill(pid, signal) });
    assert.deepEqual([r.code, r.signal], [bare.code, bare.signal]);
    assert.deepEqual([r.code, r.signal], [null, signal], r.stderr);
    assert.ok(r.exitAfterDoneMs < EXIT_BOUND_MS, `exited ${r.exitAfterDoneMs.toFixed(0)} ms after the signal`);
    const spans = chatSpans(service);
    assert.equal(spans.length, 1);
    const cost = spans[0]?.attributes['tollgate.cost.usd'] as number;
    assert.ok(cost > 0);
    assert.equal(await spentToday(redis.url, service), usdToNanos(cost));
  });
}

void test('an unknown model is reported once on stderr by default (a process warning), however many calls use it', async () => {
  const service = 'lifecycle-unknown-model';
  const r = await run({ LIFECYCLE_MODEL: 'gpt-99-lifecycle', LIFECYCLE_CALLS: '3', TOLLGATE_LEDGER: 'memory', OTEL_SERVICE_NAME: service, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.includes('TOLLGATE_UNKNOWN_MODEL'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', /\[TOLLGATE_UNKNOWN_MODEL\] TollgateWarning: tollgate: no price for model "gpt-99-lifecycle" \(provider openai\); pricing it at openai's most expensive known rates/);
  const spans = chatSpans(service);
  assert.equal(spans.length, 3);
  assert.ok(spans.every((s) => s.attributes['tollgate.cost.source'] === 'fallback'));
});

void test('tollgate variables set to the empty string are unset: the app starts, prices and exports as with none set', async () => {
  const service = 'lifecycle-empty-vars';
  const empty = Object.fromEntries(['TOLLGATE_PRICES', 'TOLLGATE_CONFIG', 'TOLLGATE_LEDGER', 'TOLLGATE_LEDGER_FAILURE', 'TOLLGATE_EXIT_TIMEOUT_MILLIS', 'OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'].map((v) => [v, '']));
  const r = await run({ ...empty, OTEL_SERVICE_NAME: service, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^done ok 8 13$/m);
  const spans = chatSpans(service);
  assert.equal(spans.length, 1);
  assert.equal(spans[0]?.attributes['tollgate.cost.source'], 'table');
});

void test('a SIGTERM that arrives while the exit flush is stuck on a silent collector still ends the process by SIGTERM, within the bound', async () => {
  const r = await run(
    { TOLLGATE_LEDGER: 'memory', OTEL_SERVICE_NAME: 'lifecycle-signal-during-flush', OTEL_EXPORTER_OTLP_ENDPOINT: silentUrl },
    { onDone: (pid) => setTimeout(() => process.kill(pid, 'SIGTERM'), 300) },
  );
  assert.deepEqual([r.code, r.signal], [null, 'SIGTERM'], r.stderr);
  assert.ok(r.exitAfterDoneMs < EXIT_BOUND_MS, `exited ${r.exitAfterDoneMs.toFixed(0)} ms after its work was done`);
  assert.equal(r.stderr.match(EXIT_WARNING)?.length, 1, r.stderr);
});

void test("an app with its own SIGTERM handler keeps control: tollgate flushes, the app's handler decides the exit", async () => {
  const service = 'lifecycle-own-handler';
  const env = { LIFECYCLE_WAIT: '1', LIFECYCLE_OWN_HANDLER: '1', TOLLGATE_LEDGER: 'memory', OTEL_SERVICE_NAME: service, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url };
  const bare = await run(env, { bare: true, onDone: (pid) => process.kill(pid, 'SIGTERM') });
  const r = await run(env, { onDone: (pid) => process.kill(pid, 'SIGTERM') });
  assert.deepEqual([r.code, r.signal], [bare.code, bare.signal]);
  assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
  assert.match(r.stdout, /^app handler$/m);
  assert.equal(chatSpans(service).length, 1);
});
