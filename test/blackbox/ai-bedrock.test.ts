/**
 * Black box for the AI SDK and Bedrock instrumentations: a child process run as
 * `node --import tollgate/register app` (the built package, as a user runs it) with a daily cap
 * in OTEL_RESOURCE_ATTRIBUTES. The first call is priced and exported; the calls after the cap are
 * refused with BudgetExceededError at once (the AI SDK's default retries do not retry it), the
 * stand-in receives nothing after the refusal, and the app exits by itself.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bedrockRoutes } from '../../src/standin/bedrock.ts';
import { mistralRoutes } from '../../src/standin/mistral.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { startStandinServer, type StandinServer } from '../../src/standin/server.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.ts';
import { lastJsonLine, runRegisteredApp } from '../support/registered-app.ts';

let standin: StandinServer;
let mistralStandin: StandinServer;
let receiver: OtlpReceiver;

before(async () => {
  standin = await startStandinServer({ routes: [...openaiRoutes(), ...bedrockRoutes()] });
  mistralStandin = await startStandinServer({ routes: mistralRoutes() });
  receiver = await startOtlpReceiver();
});
after(async () => {
  await standin.close();
  await mistralStandin.close();
  await receiver.close();
});

interface Outcome {
  readonly ok: boolean;
  readonly error?: string;
  readonly ms: number;
}

/**
 * Runs `app` under a daily cap of `dailyUsd` against `server`, and checks what every client here
 * must do: the app exits by itself, its `first` call goes through, each of `refused` is refused with
 * BudgetExceededError in well under a second, and nothing reaches the provider after the refusal.
 */
async function runCapped(app: string, service: string, dailyUsd: string, server: StandinServer, refused: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<void> {
  const r = await runRegisteredApp(app, {
    ...env,
    STANDIN_URL: server.url,
    OTEL_SERVICE_NAME: service,
    OTEL_RESOURCE_ATTRIBUTES: `gen_ai.agent.name=writer,tollgate.budget.daily_usd=${dailyUsd}`,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_METRIC_EXPORT_INTERVAL: '600000',
  });
  assert.equal(r.signal, null, `the app did not exit by itself: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  const out = lastJsonLine<Record<string, Outcome>>(r);
  assert.equal(out['first']?.ok, true, JSON.stringify(out));
  for (const name of refused) {
    assert.equal(out[name]?.ok, false, `${name}: ${JSON.stringify(out[name])}`);
    assert.equal(out[name]?.error, 'BudgetExceededError', name);
    assert.ok((out[name]?.ms ?? Infinity) < 1000, `${name} refused in ${out[name]?.ms} ms`);
  }
  assert.equal(server.requests.length, 1, 'nothing reached the provider after the refusal');
}

void test('AI SDK + Bedrock under a daily cap: priced, then refused before sending; the app exits by itself', async () => {
  // gpt-4o-mini ($0.15 / $0.60 per 1M): the first call (6 in, 13 out = $0.0000087) fits a
  // $0.00002 cap with its 20-token ceiling reserved; after it, no 20-token call fits.
  await runCapped('test/blackbox/app-ai-bedrock.mjs', 'blackbox-ai-bedrock', '0.00002', standin, ['second', 'streamed', 'bedrock']);
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

void test('Mistral under a daily cap: priced, then refused before sending, not retried by its backoff policy; the app exits by itself', async () => {
  // mistral-small-latest ($0.10 / $0.30 per 1M): the first call (6 in, 13 out = $0.0000045)
  // fits a $0.00001 cap with its 20-token ceiling reserved; after it, no 20-token call fits.
  // MISTRAL_SDK_TELEMETRY=global: the SDK's own spans go to tollgate's (global) provider too.
  await runCapped('test/blackbox/app-mistral.mjs', 'blackbox-mistral', '0.00001', mistralStandin, ['second', 'streamed', 'fim'], { MISTRAL_SDK_TELEMETRY: 'global' });
  const service = receiver.spans.filter((s) => s.resource['service.name'] === 'blackbox-mistral' && s.attributes['gen_ai.provider.name'] === 'mistral_ai');
  const own = service.filter((s) => s.scope === 'mistralai_sdk_tracer');
  assert.equal(own.length, 1, "the SDK's span of the one call that was sent");
  assert.equal(own[0]?.attributes['gen_ai.usage.input_tokens'], 6);
  assert.equal(own[0]?.attributes['tollgate.cost.usd'], undefined, "counted once: by tollgate's span, its parent");
  const spans = service.filter((s) => s.scope !== 'mistralai_sdk_tracer');
  assert.deepEqual(
    spans.map((s) => [s.attributes['gen_ai.operation.name'], s.attributes['tollgate.policy.action']]),
    [
      ['chat', 'allow'],
      ['chat', 'block'],
      ['chat', 'block'],
      ['text_completion', 'block'],
    ],
  );
  assert.equal(own[0]?.parentSpanId, spans[0]?.spanId);
  assert.equal(spans[0]?.attributes['gen_ai.usage.input_tokens'], 6);
  assert.equal(spans[0]?.attributes['gen_ai.usage.output_tokens'], 13);
  assert.ok(Math.abs((spans[0]?.attributes['tollgate.cost.usd'] as number) - (6 * 0.1 + 13 * 0.3) / 1e6) < 1e-15);
});
