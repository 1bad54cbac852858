/**
 * A service that runs its own NodeSDK wires tollgate with two calls from the public API:
 * `tollgateSpanProcessors({ policy })` and `tollgateInstrumentations({ gate: policy })`. The
 * `policy` option is the SpendSink seam of gate.ts: spend the processor prices from another
 * instrumentation's spans reaches the same policy's ledger, so a budget counts every call.
 *
 * Here the foreign instrumentation is the official `@opentelemetry/instrumentation-openai` on
 * openai 6 (the `openai-v6` alias; its module definition only hooks the name `openai`, so it is
 * applied to the alias the way its require hook would apply it), and tollgate instruments
 * `@anthropic-ai/sdk` through NodeSDK's own require hook. Both talk to the stand-in server.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { OpenAIInstrumentation as OfficialOpenAIInstrumentation } from '@opentelemetry/instrumentation-openai';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import type * as OpenAIv6 from 'openai-v6';
import type * as AnthropicSdk from '@anthropic-ai/sdk';
import {
  BudgetExceededError,
  createBudgetPolicy,
  createPriceTable,
  MemoryLedger,
  resolveConfig,
  tollgateInstrumentations,
  tollgateSpanProcessors,
} from '../../src/index.ts';
import type { BudgetPolicy } from '../../src/index.ts';
import { anthropicRoutes } from '../../src/standin/anthropic.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { startStandinServer } from '../../src/standin/server.ts';

const server = await startStandinServer({ routes: [...openaiRoutes(), ...anthropicRoutes()] });
after(() => server.close());

/**
 * USD per million tokens, round enough that the sums are exact in the assertions. The stand-in
 * answers 'Hello there' with 6 input and 13 output tokens: 19 * $1,000 / 1M = $0.019.
 */
const prices = createPriceTable({
  overrides: [
    { provider: 'openai', model: 'gpt-4o-mini', input: 1000, output: 1000 },
    { provider: 'anthropic', model: 'claude-test', input: 3, output: 15, maxOutputTokens: 64000 },
  ],
});
const FOREIGN_CALL_USD = 0.019;
/** $0.02 a day: after the foreign call $0.001 is left, less than the Anthropic call's 1000-token ceiling ($0.015). */
const DAILY_USD = 0.02;

const require = createRequire(import.meta.url);
// The service exports spans through its own processor only; NodeSDK adds no log or metric pipeline.
process.env['OTEL_LOGS_EXPORTER'] = 'none';
process.env['OTEL_METRICS_EXPORTER'] = 'none';

interface Service {
  readonly policy: BudgetPolicy;
  readonly exporter: InMemorySpanExporter;
  readonly openai: InstanceType<typeof OpenAIv6.OpenAI>;
  readonly anthropic: InstanceType<typeof AnthropicSdk.Anthropic>;
  stop(): Promise<void>;
}

/** The service's start-up code, as its README quick start would have it. */
async function startService(wireSeam: boolean): Promise<Service> {
  const config = resolveConfig({ env: {}, overrides: { agent: 'svc', limits: { dailyUsd: DAILY_USD } } });
  const policy = await createBudgetPolicy({ config, ledger: new MemoryLedger(), prices });
  const exporter = new InMemorySpanExporter();
  const official = new OfficialOpenAIInstrumentation();
  const tollgate = tollgateInstrumentations({ gate: policy, prices });
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': 'svc' }),
    autoDetectResources: false,
    spanProcessors: [...tollgateSpanProcessors(wireSeam ? { policy, prices } : { prices }), new SimpleSpanProcessor({ exporter })],
    metricReaders: [],
    instrumentations: [official, ...tollgate],
  });
  sdk.start();
  const openaiV6 = require('openai-v6') as typeof OpenAIv6;
  const officialDef = official.getModuleDefinitions()[0]!;
  officialDef.patch!(openaiV6, '6.49.0');
  const { Anthropic } = require('@anthropic-ai/sdk') as typeof AnthropicSdk;
  return {
    policy,
    exporter,
    openai: new openaiV6.OpenAI({ apiKey: 'k', baseURL: `${server.url}/v1`, maxRetries: 0 }),
    anthropic: new Anthropic({ apiKey: 'k', baseURL: server.url, maxRetries: 0 }),
    async stop() {
      officialDef.unpatch!(openaiV6, '6.49.0');
      await sdk.shutdown();
      // NodeSDK.shutdown leaves instrumentations enabled; the next service of this process patches afresh.
      for (const instrumentation of [official, ...tollgate]) instrumentation.disable();
      await policy.close();
    },
  };
}

async function dailySpentUsd(policy: BudgetPolicy): Promise<number> {
  const status = await policy.getAgentStatus('svc');
  const daily = status.budgets.find((b) => b.scope === 'agent.daily');
  assert.ok(daily !== undefined, `agent.daily among ${JSON.stringify(status.budgets)}`);
  return daily.spentUsd;
}

const anthropicCall = { model: 'claude-test', max_tokens: 1000, messages: [{ role: 'user' as const, content: 'Hello there' }] };

test('tollgateSpanProcessors({ policy }): spend priced from a foreign span reaches the policy, and the budget then blocks a tollgate call', async () => {
  const svc = await startService(true);
  try {
    assert.equal(await dailySpentUsd(svc.policy), 0);
    await svc.openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there' }] });

    const foreign = svc.exporter.getFinishedSpans().filter((s) => s.instrumentationScope.name === '@opentelemetry/instrumentation-openai');
    assert.equal(foreign.length, 1);
    assert.equal(foreign[0]!.attributes['tollgate.cost.usd'], FOREIGN_CALL_USD);
    assert.equal(foreign[0]!.attributes['tollgate.cost.source'], 'override');
    // recordForeign charges the ledger before its promise settles; one turn lets it run.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await dailySpentUsd(svc.policy), FOREIGN_CALL_USD);

    const anthropicRequestsBefore = server.requests.filter((r) => r.path.startsWith('/v1/messages')).length;
    await assert.rejects(svc.anthropic.messages.create(anthropicCall), (error: unknown) => {
      assert.ok(error instanceof BudgetExceededError);
      assert.equal(error.scope, 'agent.daily');
      assert.equal(error.limitUsd, DAILY_USD);
      assert.equal(error.spentUsd, FOREIGN_CALL_USD);
      return true;
    });
    assert.equal(server.requests.filter((r) => r.path.startsWith('/v1/messages')).length, anthropicRequestsBefore, 'the blocked call sent nothing');
  } finally {
    await svc.stop();
  }
});

test('without the policy seam the same foreign spend never reaches the budget (the control)', async () => {
  const svc = await startService(false);
  try {
    await svc.openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there' }] });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await dailySpentUsd(svc.policy), 0);
    const message = await svc.anthropic.messages.create(anthropicCall);
    assert.equal(message.model, 'claude-test');
  } finally {
    await svc.stop();
  }
});
