/**
 * The built gateway collector with an operator's price override file (TOLLGATE_PRICES, read by
 * the tollgate processor's `prices_file`): a bad file stops it at start naming the path and
 * field; a good one prices with the override, as the SDK would.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { computeCost, createPriceTable } from '../../src/pricing/index.ts';
import { ensureBinaries, readExportedSpans, REPO_ROOT } from './stack.ts';

let otelcol = '';
let dir = '';

before(async () => {
  otelcol = ensureBinaries().otelcol;
  dir = await mkdtemp(join(tmpdir(), 'tollgate-e2e-prices-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const GATEWAY = join(REPO_ROOT, 'collector-config/gateway.yaml');

void test('a malformed or missing TOLLGATE_PRICES file stops the gateway at start, naming the file and the field', async () => {
  const bad = join(dir, 'bad.json');
  await writeFile(bad, JSON.stringify({ version: 1, models: [{ provider: 'openai', model: 'acme', input: 'cheap', output: 1 }] }));
  for (const [file, want] of [
    [bad, `${bad} $.models[0].input: got "cheap", expected a finite number >= 0 (USD per million tokens)`],
    [join(dir, 'missing.json'), `${join(dir, 'missing.json')}: got "${join(dir, 'missing.json')}", expected a readable price override file`],
  ] as const) {
    const r = spawnSync(otelcol, ['--config', GATEWAY], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TOLLGATE_PRICES: file, TOLLGATE_OTLP_GRPC_ENDPOINT: '127.0.0.1:0', TOLLGATE_OTLP_HTTP_ENDPOINT: '127.0.0.1:0' } });
    assert.notEqual(r.status, 0, `the collector started with ${file}`);
    assert.ok(r.stderr.includes(`processors::tollgate: tollgate: invalid configuration at ${want}`), r.stderr.slice(-1500));
  }
});

void test('the override file prices a foreign span, source override, exactly as the SDK prices it with the same file', async () => {
  const prices = join(dir, 'prices.json');
  await writeFile(prices, JSON.stringify({ version: 1, models: [{ provider: 'openai', model: 'acme-large', match: ['acme-large-*'], input: 2.5, output: 10, cacheRead: 0.25 }] }));
  const spansFile = join(dir, 'spans.jsonl');
  const port = 40_000 + Math.floor(Math.random() * 20_000);
  const cfg = join(dir, 'pipeline.yaml');
  await writeFile(cfg, `receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:${String(port)}\nprocessors:\n  tollgate:\n    prices_file: \${env:TOLLGATE_PRICES:-}\nexporters:\n  file:\n    path: ${spansFile}\nservice:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [tollgate]\n      exporters: [file]\n`);
  const child = spawn(otelcol, ['--config', cfg], { env: { ...process.env, TOLLGATE_PRICES: prices }, stdio: 'ignore' });
  try {
    const body = JSON.stringify({
      resourceSpans: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'py-svc' } }] },
        scopeSpans: [{ spans: [{
          traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'chat acme-large-2', kind: 3,
          startTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n), endTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
          attributes: [
            { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
            { key: 'gen_ai.provider.name', value: { stringValue: 'openai' } },
            { key: 'gen_ai.request.model', value: { stringValue: 'acme-large-2' } },
            { key: 'gen_ai.usage.input_tokens', value: { intValue: '12000' } },
            { key: 'gen_ai.usage.output_tokens', value: { intValue: '800' } },
            { key: 'gen_ai.usage.cache_read.input_tokens', value: { intValue: '4000' } },
          ],
        }] }],
      }],
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${String(port)}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.ok, () => false);
      if (ok) break;
      assert.ok(Date.now() < deadline, 'the collector did not accept the span');
      await delay(200);
    }
    let spans: Awaited<ReturnType<typeof readExportedSpans>> = [];
    while (spans.length === 0 && Date.now() < deadline) {
      await delay(200);
      spans = await readExportedSpans(spansFile);
    }
    assert.equal(spans.length, 1, await readFile(spansFile, 'utf8').catch(() => 'no file'));
    const want = computeCost({ inputTokens: 12000, outputTokens: 800, cacheReadTokens: 4000 }, createPriceTable({ overridesPath: prices }).lookup('acme-large-2', 'openai').price);
    const a = spans[0]?.attributes ?? {};
    assert.deepEqual(
      [a['tollgate.cost.usd'], a['tollgate.cost.input_usd'], a['tollgate.cost.output_usd'], a['tollgate.cost.cache_read_usd'], a['tollgate.cost.source'], a['tollgate.cost.price_id'], a['tollgate.cost.priced_by'], a['gen_ai.agent.name']],
      [want.totalUsd, want.inputUsd, want.outputUsd, want.cacheReadUsd, 'override', 'override:openai/acme-large', 'collector', 'py-svc'],
    );
  } finally {
    child.kill('SIGTERM');
  }
});
