/**
 * Black box for the AI SDK and Bedrock instrumentations: a child process run as
 * `node --import tollgate/register app` (the built package, as a user runs it) with a daily cap
 * in OTEL_RESOURCE_ATTRIBUTES. The first call is priced and exported; the calls after the cap are
 * refused with BudgetExceededError at once (the AI SDK's default retries do not retry it), the
 * stand-in receives nothing after the refusal, and the app exits by itself.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bedrockRoutes } from '../../src/standin/bedrock.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { startStandinServer, type StandinServer } from '../../src/standin/server.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
let standin: StandinServer;
let receiver: OtlpReceiver;

before(async () => {
  standin = await startStandinServer({ routes: [...openaiRoutes(), ...bedrockRoutes()] });
  receiver = await startOtlpReceiver();
});
after(async () => {
  await standin.close();
  await receiver.close();
});

interface Outcome {
  readonly ok: boolean;
  readonly error?: string;
  readonly ms: number;
}

void test('AI SDK + Bedrock under a daily cap: priced, then refused before sending; the app exits by itself', async () => {
  const r = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tollgate/register', 'test/blackbox/app-ai-bedrock.mjs'], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        STANDIN_URL: standin.url,
        OTEL_SERVICE_NAME: 'blackbox-ai-bedrock',
        // gpt-4o-mini ($0.15 / $0.60 per 1M): the first call (6 in, 13 out = $0.0000087) fits a
        // $0.00002 cap with its 20-token ceiling reserved; after it, no 20-token call fits.
        OTEL_RESOURCE_ATTRIBUTES: 'gen_ai.agent.name=writer,tollgate.budget.daily_usd=0.00002',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_METRIC_EXPORT_INTERVAL: '600000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A process that does not exit by itself is killed here, and the assertion below fails.
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  assert.equal(r.signal, null, `the app did not exit by itself: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, Outcome>;
  assert.equal(out['first']?.ok, true, JSON.stringify(out));
  for (const name of ['second', 'streamed', 'bedrock']) {
    assert.equal(out[name]?.ok, false, `${name}: ${JSON.stringify(out[name])}`);
    assert.equal(out[name]?.error, 'BudgetExceededError', name);
    assert.ok((out[name]?.ms ?? Infinity) < 1000, `${name} refused in ${out[name]?.ms} ms`);
  }
  assert.equal(standin.requests.length, 1, 'nothing reached the provider after the refusal');
  const spans = receiver.spans.filter((s) => s.resource['service.name'] === 'blackbox-ai-bedrock' && s.attributes['gen_ai.operation.name'] === 'chat');
  assert.deepEqual(
    spans.map((s) => [s.attributes['gen_ai.provider.name'], s.attributes['tollgate.policy.action']]),
    [
      ['openai', 'allow'],
      ['openai', 'block'],
      ['openai', 'block'],
      ['aws.bedrock', 'block'],
    ],
  );
  assert.ok(Math.abs((spans[0]?.attributes['tollgate.cost.usd'] as number) - (6 * 0.15 + 13 * 0.6) / 1e6) < 1e-15);
});
