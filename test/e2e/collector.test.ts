/**
 * End to end with the real programs: the gateway collector (built with ocb from the Go
 * module proxy), Jaeger v2, Debian's Prometheus and headless Chromium, all on loopback.
 * An instrumented Node workload (the real openai / Anthropic clients against the provider
 * stand-in, tollgate started with `--import src/register.ts`, OTLP/HTTP JSON) and a foreign workload (GenAI spans without cost, as a Python service sends them) go through
 * the committed collector-config/ files; the test then reads what Jaeger and Prometheus
 * hold, runs every dashboard query, and renders the key queries to a PNG.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { anthropicRoutes } from '../../src/standin/anthropic.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { startStandinServer, type StandinServer } from '../../src/standin/server.ts';
import { FOREIGN_AGENT, FOREIGN_CALLS, FOREIGN_ROUNDS, FOREIGN_SERVICE, NODE_SERVICE, WRITER_DAILY_USD, expectedForeignCost } from './scenario.ts';
import { REPO_ROOT, readExportedSpans, requireProgram, startStack, type Stack } from './stack.ts';
import { PRE_PRICED, sendForeignRound } from './workloads/foreign.ts';

let stack: Stack | undefined;
let standin: StandinServer | undefined;
let ledger: Record<string, number> = {};
const foreignTraceIds: string[] = [];

function s(): Stack {
  assert.ok(stack, 'the stack did not start');
  return stack;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${url} answered ${String(res.status)}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

interface PromVector {
  status: string;
  error?: string;
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

async function promQuery(expr: string): Promise<PromVector> {
  const url = `${s().prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as PromVector;
  assert.equal(body.status, 'success', `PromQL failed: ${expr}\n${body.error ?? ''}`);
  return body;
}

/** Polls until `check` passes (data flows through batching and remote write asynchronously). */
async function eventually<T>(what: string, check: () => Promise<T>, timeoutMillis = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMillis;
  let last: unknown;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} did not happen within ${String(timeoutMillis)} ms: ${last instanceof Error ? last.message : String(last)}\n${await s().logs()}`);
    }
    await delay(250);
  }
}

/** Runs the instrumented workload as a user runs tollgate: `--import` register, configured by env vars only. */
async function runNodeWorkload(collectorUrl: string, standinUrl: string, dir: string): Promise<Record<string, number>> {
  const config = join(dir, 'tollgate-config.json');
  await writeFile(config, JSON.stringify({ version: 1, agents: { writer: { dailyUsd: WRITER_DAILY_USD, onExceed: 'block' } } }));
  const child = spawn(process.execPath, ['--import', join(REPO_ROOT, 'src/register.ts'), join(REPO_ROOT, 'test/e2e/workloads/tollgate-workload.ts')], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env['PATH'] ?? '',
      STANDIN_URL: standinUrl,
      OTEL_SERVICE_NAME: NODE_SERVICE,
      OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      TOLLGATE_CONFIG: config,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, `the Node workload failed:\n${err}`);
  const parsed = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { ledger: Record<string, number>; blocked: number };
  assert.equal(parsed.blocked, 1, 'the writer\'s cap refused exactly one call');
  return parsed.ledger;
}

before(async () => {
  requireProgram('chromium', 'apt-get install chromium');
  stack = await startStack();
  standin = await startStandinServer({ routes: [...openaiRoutes(), ...anthropicRoutes()] });
  const collectorUrl = stack.collectorOtlpHttpUrl;
  const [nodeLedger] = await Promise.all([
    runNodeWorkload(collectorUrl, standin.url, stack.dir),
    (async () => {
      for (let round = 0; round < FOREIGN_ROUNDS; round++) {
        foreignTraceIds.push(await sendForeignRound(collectorUrl, round));
        // Rounds apart (> the collector's 200 ms batch timeout): each derived series gets two samples.
        await delay(1200);
      }
    })(),
  ]);
  ledger = nodeLedger;
});

after(async () => {
  await standin?.close();
  await stack?.stop();
});

/** Expected spend per agent: the Node workload's ledger plus every foreign call priced by computeCost. */
function expectedSpendByAgent(): Map<string, number> {
  const expected = new Map(Object.entries(ledger));
  for (const call of FOREIGN_CALLS) {
    const agent = call.agent ?? FOREIGN_AGENT;
    expected.set(agent, (expected.get(agent) ?? 0) + FOREIGN_ROUNDS * expectedForeignCost(call).totalUsd);
  }
  return expected;
}

void test('the collector prices foreign spans exactly as computeCost does, and leaves tollgate-priced spans alone', async () => {
  const spans = await eventually('all foreign spans in the file export', async () => {
    const all = (await readExportedSpans(s().spansFile)).filter((x) => x.service === FOREIGN_SERVICE);
    assert.equal(all.length, FOREIGN_CALLS.length * FOREIGN_ROUNDS + 1);
    return all;
  });
  for (const call of FOREIGN_CALLS) {
    const expected = expectedForeignCost(call);
    const got = spans.filter((x) => x.name === call.spanName);
    assert.equal(got.length, FOREIGN_ROUNDS, call.spanName);
    for (const span of got) {
      const a = span.attributes;
      assert.deepEqual(
        {
          usd: a['tollgate.cost.usd'],
          cost: a['gen_ai.usage.cost'],
          input: a['tollgate.cost.input_usd'],
          output: a['tollgate.cost.output_usd'],
          cacheRead: a['tollgate.cost.cache_read_usd'],
          cacheWrite: a['tollgate.cost.cache_write_usd'],
          source: a['tollgate.cost.source'],
          pricedBy: a['tollgate.cost.priced_by'],
          agent: a['gen_ai.agent.name'],
        },
        {
          usd: expected.totalUsd,
          cost: expected.totalUsd,
          input: expected.inputUsd,
          output: expected.outputUsd,
          cacheRead: expected.cacheReadUsd,
          cacheWrite: expected.cacheWriteUsd,
          source: call.source,
          pricedBy: 'collector',
          agent: call.agent ?? FOREIGN_AGENT,
        },
        `${call.spanName} (${call.model})`,
      );
    }
  }
  const prePriced = spans.find((x) => x.name === `chat ${PRE_PRICED.model}`);
  assert.ok(prePriced);
  assert.equal(prePriced.attributes['tollgate.cost.usd'], PRE_PRICED.costUsd);
  assert.equal(prePriced.attributes['tollgate.cost.priced_by'], undefined);
  assert.equal(prePriced.attributes['tollgate.cost.source'], 'override');
});

interface JaegerTrace {
  traceID: string;
  spans: { operationName: string; tags: { key: string; type: string; value: unknown }[]; processID: string }[];
  processes: Record<string, { serviceName: string }>;
}

void test("Jaeger's query API returns the traces with their cost attributes", async () => {
  const services = await eventually('both services in Jaeger', async () => {
    const body = await getJson<{ data: string[] }>(`${s().jaegerQueryUrl}/api/services`);
    assert.ok(body.data.includes(NODE_SERVICE) && body.data.includes(FOREIGN_SERVICE), `services: ${body.data.join(', ')}`);
    return body.data;
  });
  assert.ok(services.includes(FOREIGN_SERVICE));

  // Node workload: tollgate-priced spans, found by tag; the collector did not touch them.
  const writer = await eventually('the writer agent\'s traces', async () => {
    const tags = encodeURIComponent(JSON.stringify({ 'gen_ai.agent.name': 'writer' }));
    const body = await getJson<{ data: JaegerTrace[] }>(`${s().jaegerQueryUrl}/api/traces?service=${NODE_SERVICE}&tags=${tags}&limit=100`);
    const spans = body.data.flatMap((t) => t.spans);
    assert.equal(spans.length, 3);
    return spans;
  });
  const tag = (span: JaegerTrace['spans'][number], key: string): unknown => span.tags.find((t) => t.key === key)?.value;
  const blocked = writer.filter((sp) => tag(sp, 'error.type') === 'tollgate.budget_exceeded');
  const priced = writer.filter((sp) => tag(sp, 'error.type') === undefined);
  assert.equal(blocked.length, 1);
  assert.equal(priced.length, 2);
  const writerUsd = priced.reduce((sum, sp) => sum + Number(tag(sp, 'tollgate.cost.usd')), 0);
  assert.ok(Math.abs(writerUsd - (ledger['writer'] ?? Number.NaN)) < 1e-12, `writer spans ${String(writerUsd)} vs ledger ${String(ledger['writer'])}`);
  for (const sp of priced) assert.equal(tag(sp, 'tollgate.cost.priced_by'), undefined);

  // Foreign workload: every span carries the collector's price; fetch a trace by id as a person would.
  for (const traceId of foreignTraceIds) {
    const body = await eventually(`foreign trace ${traceId}`, async () => {
      const b = await getJson<{ data: JaegerTrace[] }>(`${s().jaegerQueryUrl}/api/traces/${traceId}`);
      assert.equal(b.data[0]?.spans.length, FOREIGN_CALLS.length + (traceId === foreignTraceIds[0] ? 1 : 0));
      return b;
    });
    for (const sp of body.data[0]?.spans ?? []) {
      const call = FOREIGN_CALLS.find((c) => c.spanName === sp.operationName);
      if (call === undefined) continue; // the pre-priced span
      assert.equal(tag(sp, 'tollgate.cost.usd'), expectedForeignCost(call).totalUsd, sp.operationName);
      assert.equal(tag(sp, 'tollgate.cost.priced_by'), 'collector');
    }
  }
});

void test("Prometheus' total spend per agent equals the workloads' ledgers (no double counting)", async () => {
  const expected = expectedSpendByAgent();
  await eventually('spend per agent in Prometheus', async () => {
    const body = await promQuery('sum by (gen_ai_agent_name) (tollgate_cost_usd_total)');
    const got = new Map(body.data.result.map((r) => [r.metric['gen_ai_agent_name'] ?? '', Number(r.value[1])]));
    assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort(), 'agents');
    for (const [agent, usd] of expected) {
      const actual = got.get(agent) ?? Number.NaN;
      assert.ok(Math.abs(actual - usd) <= 1e-9 * Math.max(1, usd), `${agent}: Prometheus ${String(actual)} vs expected ${String(usd)}`);
    }
  });
  // The writer's cap tripped once, and its budget gauge made it through too.
  const blocked = await promQuery('sum by (tollgate_budget_scope) (tollgate_calls_blocked_total{gen_ai_agent_name="writer"})');
  assert.deepEqual(blocked.data.result.map((r) => [r.metric['tollgate_budget_scope'], Number(r.value[1])]), [['agent.daily', 1]]);
  const utilisation = await promQuery('tollgate_budget_utilization_ratio{gen_ai_agent_name="writer",tollgate_budget_scope="agent.daily"}');
  assert.ok(utilisation.data.result.length === 1 && Number(utilisation.data.result[0]?.value[1]) > 0);
  // The pre-priced span was neither repriced nor counted by the collector.
  const pre = await promQuery(`tollgate_cost_usd_total{gen_ai_agent_name="${PRE_PRICED.agent}"}`);
  assert.equal(pre.data.result.length, 0);
});

interface DashboardTarget {
  expr?: string;
  queryType?: string;
  service?: string;
  tags?: string;
  limit?: number;
}
interface DashboardPanel {
  title: string;
  type: string;
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}
interface Dashboard {
  uid: string;
  schemaVersion: number;
  templating: { list: { name: string; type: string; query?: unknown }[] };
  panels: DashboardPanel[];
}

async function dashboards(): Promise<{ file: string; dashboard: Dashboard; text: string }[]> {
  const dir = join(REPO_ROOT, 'dashboards');
  const files = (await import('node:fs/promises')).readdir(dir);
  const out = [];
  for (const f of (await files).filter((x) => x.endsWith('.json')).sort()) {
    const text = await readFile(join(dir, f), 'utf8');
    out.push({ file: f, dashboard: JSON.parse(text) as Dashboard, text });
  }
  return out;
}

/** Grafana's variables, as Grafana would expand them for "All" over the last 15 minutes. */
function expand(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '15m').replaceAll('$agent', '.*');
}

void test('every PromQL expression of every dashboard panel parses and returns data; the Jaeger panel finds traces', async () => {
  const all = await dashboards();
  assert.ok(all.length > 0);
  let promQueries = 0;
  let jaegerQueries = 0;
  for (const { file, dashboard, text } of all) {
    assert.ok(dashboard.schemaVersion >= 39, `${file}: schemaVersion ${String(dashboard.schemaVersion)}`);
    assert.ok(!text.includes('${DS_'), `${file}: import-only \${DS_...} placeholder`);
    assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'), `${file}: no datasource variable`);
    const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
    for (const panel of panels) {
      assert.ok((panel.targets ?? []).length > 0, `${file}: panel "${panel.title}" has no query`);
      for (const target of panel.targets ?? []) {
        if (target.expr !== undefined) {
          const expr = expand(target.expr);
          const body = await promQuery(expr);
          assert.ok(body.data.result.length > 0, `${file}: panel "${panel.title}" returned no data: ${expr}`);
          promQueries++;
        } else {
          assert.equal(target.queryType, 'search', `${file}: panel "${panel.title}": unknown target`);
          const [key, value] = (target.tags ?? '').split('=');
          const tags = encodeURIComponent(JSON.stringify({ [key ?? '']: value }));
          for (const service of [NODE_SERVICE, FOREIGN_SERVICE]) {
            assert.equal(target.service, '$service');
            const body = await getJson<{ data: JaegerTrace[] }>(`${s().jaegerQueryUrl}/api/traces?service=${service}&tags=${tags}&limit=${String(target.limit ?? 20)}`);
            assert.ok(body.data.length > 0, `${file}: Jaeger panel "${panel.title}" found no trace of ${service}`);
          }
          jaegerQueries++;
        }
      }
    }
  }
  assert.ok(promQueries >= 15 && jaegerQueries >= 1, `${String(promQueries)} PromQL, ${String(jaegerQueries)} Jaeger queries`);
  // The variables' own queries return values too.
  const agents = await getJson<{ data: string[] }>(`${s().prometheusUrl}/api/v1/label/gen_ai_agent_name/values?match[]=tollgate_cost_usd_total`);
  assert.deepEqual(agents.data.sort(), [...expectedSpendByAgent().keys()].sort());
});

void test("renders the main dashboard's key queries through Prometheus' web UI in headless Chromium (PNG artifact)", async () => {
  const chromium = requireProgram('chromium', 'apt-get install chromium');
  const key = [
    'sum by (gen_ai_agent_name) (rate(tollgate_cost_usd_total[1m])) * 3600',
    'sum by (gen_ai_agent_name) (tollgate_cost_usd_total)',
    'max by (gen_ai_agent_name, tollgate_budget_scope) (tollgate_budget_utilization_ratio)',
  ];
  const params = key.flatMap((expr, i) => [`g${String(i)}.expr=${encodeURIComponent(expr)}`, `g${String(i)}.tab=${i === 0 ? '0' : '1'}`, `g${String(i)}.range_input=1m`]).join('&');
  const url = `${s().prometheusUrl}/graph?${params}`;
  const outDir = join(REPO_ROOT, 'test-artifacts');
  await mkdir(outDir, { recursive: true });
  const png = join(outDir, 'collector-e2e-prometheus.png');
  await rm(png, { force: true });
  const profile = await mkdtemp(join(tmpdir(), 'tollgate-chromium-'));
  try {
    const r = spawnSync(
      chromium,
      [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--hide-scrollbars', `--user-data-dir=${profile}`,
        '--window-size=1400,1600', '--virtual-time-budget=8000', `--screenshot=${png}`, url,
      ],
      { encoding: 'utf8', timeout: 90_000 },
    );
    assert.equal(r.status, 0, `chromium failed: ${r.stderr.slice(-2000)}`);
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
  const bytes = await readFile(png);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.ok((await stat(png)).size > 20_000, 'the screenshot is too small to show the page');
});
