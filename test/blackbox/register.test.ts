/**
 * Black box: a child process run as `node --import tollgate/register app` exports
 * OTLP/HTTP JSON to a local receiver; the spans carry the attributes of docs/telemetry.md and
 * costs. Uses the built package (dist/), as a user would.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startStandinServer, type StandinServer } from '../../src/standin/server.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { anthropicRoutes } from '../../src/standin/anthropic.ts';
import { computeCost, defaultPriceTable } from '../../src/pricing/index.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
let standin: StandinServer;
let receiver: OtlpReceiver;

before(async () => {
  standin = await startStandinServer({ routes: [...openaiRoutes(), ...anthropicRoutes()] });
  receiver = await startOtlpReceiver();
});
after(async () => {
  await standin.close();
  await receiver.close();
});

function run(app: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tollgate/register', app], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        STANDIN_URL: standin.url,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_METRIC_EXPORT_INTERVAL: '600000',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function spansOf(service: string): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.resource['service.name'] === service);
}

function expectedCost(model: string, input: number, output: number, cacheRead = 0): number {
  const { price } = defaultPriceTable().lookup(model);
  return computeCost({ inputTokens: input, outputTokens: output, cacheReadTokens: cacheRead }, price).totalUsd;
}

test('ESM app: every OpenAI and Anthropic call becomes a priced CLIENT span exported over OTLP/HTTP JSON', async () => {
  const r = await run('test/blackbox/app.mjs', {
    OTEL_SERVICE_NAME: 'blackbox-esm',
    OTEL_RESOURCE_ATTRIBUTES: 'gen_ai.agent.name=writer,tollgate.budget.daily_usd=5',
  });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { chat: string; streamed: string; anthropic: string };
  assert.ok(out.chat.length > 0 && out.streamed.length > 0 && out.anthropic.length > 0);

  const spans = spansOf('blackbox-esm').filter((s) => s.attributes['gen_ai.operation.name'] === 'chat');
  assert.equal(spans.length, 3, `spans: ${spans.map((s) => s.name).join(', ')}`);
  for (const s of spans) {
    assert.equal(s.kind, 3, 'CLIENT');
    assert.equal(s.attributes['gen_ai.agent.name'], 'writer');
    const input = s.attributes['gen_ai.usage.input_tokens'] as number;
    const output = s.attributes['gen_ai.usage.output_tokens'] as number;
    const cacheRead = (s.attributes['gen_ai.usage.cache_read.input_tokens'] as number | undefined) ?? 0;
    assert.ok(input > 0 && output > 0);
    const model = s.attributes['gen_ai.response.model'] as string;
    assert.equal(s.attributes['tollgate.cost.usd'], expectedCost(model, input, output, cacheRead));
    assert.equal(s.attributes['gen_ai.usage.cost'], s.attributes['tollgate.cost.usd']);
    assert.equal(s.attributes['tollgate.cost.source'], 'table');
    assert.equal(s.attributes['server.address'], '127.0.0.1');
    assert.equal(s.attributes['tollgate.policy.action'], 'allow');
  }
  const names = spans.map((s) => s.name).sort();
  assert.deepEqual(names, ['chat claude-sonnet-4-5', 'chat gpt-4o-mini', 'chat gpt-4o-mini']);
  const providers = new Set(spans.map((s) => s.attributes['gen_ai.provider.name']));
  assert.deepEqual([...providers].sort(), ['anthropic', 'openai']);
  const streamed = spans.find((s) => s.attributes['gen_ai.request.stream'] === true);
  assert.ok(streamed !== undefined, 'the streamed call has a span');
  assert.notEqual(streamed.attributes['tollgate.usage.estimated'], true, 'stream usage came from the provider (include_usage)');
  // Message content is off by default.
  assert.ok(spans.every((s) => s.attributes['gen_ai.input.messages'] === undefined));
  // The stand-in received the stream_options tollgate added, and nothing else changed.
  const streamReq = standin.requests.find((q) => (q.body as { stream?: boolean } | undefined)?.stream === true);
  assert.deepEqual((streamReq?.body as { stream_options?: unknown }).stream_options, { include_usage: true });
  assert.ok(r.stderr.includes('tollgate') === false || !/error/i.test(r.stderr), r.stderr);
});

test('CommonJS app: require(openai) is instrumented too; http/protobuf export works', async () => {
  const before = receiver.contentTypes.length;
  const r = await run('test/blackbox/app.cjs', { OTEL_SERVICE_NAME: 'blackbox-cjs', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(receiver.contentTypes.slice(before).some((t) => t.includes('protobuf')), 'spans went out as protobuf');
});

test('CommonJS app over http/json: the embeddings call is priced', async () => {
  const r = await run('test/blackbox/app.cjs', { OTEL_SERVICE_NAME: 'blackbox-cjs-json' });
  assert.equal(r.code, 0, r.stderr);
  const spans = spansOf('blackbox-cjs-json');
  const emb = spans.find((s) => s.attributes['gen_ai.operation.name'] === 'embeddings');
  assert.ok(emb !== undefined, `spans: ${spans.map((s) => s.name).join(', ')}`);
  assert.equal(emb.name, 'embeddings text-embedding-3-small');
  const input = emb.attributes['gen_ai.usage.input_tokens'] as number;
  assert.ok(input > 0);
  assert.equal(emb.attributes['tollgate.cost.usd'], expectedCost('text-embedding-3-small', input, 0));
});

test('a bad resource attribute fails the process at start-up with a ConfigError naming source and value', async () => {
  const r = await run('test/blackbox/app.mjs', {
    OTEL_SERVICE_NAME: 'blackbox-bad',
    OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.daily_usd=five',
  });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /ConfigError/);
  assert.match(r.stderr, /tollgate\.budget\.daily_usd/);
  assert.match(r.stderr, /"five"/);
  assert.equal(spansOf('blackbox-bad').length, 0);
  assert.equal(standin.requests.filter((q) => (q.body as { messages?: { content?: string }[] } | undefined)?.messages?.[0]?.content === 'Say hello to the black box.').length, 1, 'the bad process sent nothing');
});
