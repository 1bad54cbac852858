/**
 * The displaced-create gate on the other openai majors: openai 7 (whose resources pass request
 * options as a promise and whose APIPromises carry their own `_thenUnwrap`) and openai 4. tollgate
 * patches the module, then a plain wrapper around the SDK's own `create` replaces tollgate's on
 * Chat Completions, Responses and Embeddings (what an instrumentation enabled later leaves).
 * Legacy `/completions`, which tollgate has no `create` wrapper for, is gated the same way.
 * Real clients, the stand-in provider, the real BudgetPolicy: nothing over the cap is sent,
 * reservations settle at the real cost, a bare `.asResponse()` still settles.
 */
import { after, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { resolveConfig } from '../../src/config/index.ts';
import { withTask } from '../../src/context.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import { ALLOW_ALL } from '../../src/gate.ts';
import type { CallDescription, CallGate, CallOutcome, GateDecision } from '../../src/gate.ts';
import { OpenAIInstrumentation } from '../../src/instrumentation/openai/index.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import type { BudgetScope, ReserveRequest, ReserveResult } from '../../src/ledger/types.ts';
import { createBudgetPolicy } from '../../src/policy/index.ts';
import type { BudgetPolicy } from '../../src/policy/index.ts';
import { computeCost } from '../../src/pricing/index.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { sendJson, startStandinServer } from '../../src/standin/server.ts';
import type { StandinRoute } from '../../src/standin/server.ts';
import { harness, nanos, PRICES } from '../processor/harness.ts';

/** Legacy Completions (the stand-in has no route for it): 7 prompt tokens, 5 completion tokens. */
const legacyCompletions: StandinRoute = {
  method: 'POST',
  path: (p) => p.endsWith('/completions') && !p.endsWith('/chat/completions'),
  handle(ctx) {
    const model = (ctx.request.body as { model?: string }).model ?? '';
    sendJson(ctx.res, 200, {
      id: 'cmpl-1',
      object: 'text_completion',
      model,
      choices: [{ index: 0, text: ' and so on', finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 },
    });
  },
};
const server = await startStandinServer({ routes: [legacyCompletions, ...openaiRoutes()] });
after(() => server.close());

const MODEL = 'gpt-4o-mini';
const LEGACY = 'gpt-3.5-turbo-instruct';
const messages = [{ role: 'user' as const, content: 'Hello there' }];
const SCOPE = 'tollgate-instrumentation-openai';

const seen = { admitted: [] as CallDescription[], completed: [] as CallOutcome[] };
let current: CallGate = ALLOW_ALL;
const gate: CallGate = {
  admit(call) {
    seen.admitted.push(call);
    return current.admit(call);
  },
  complete(ticket, outcome) {
    seen.completed.push(outcome);
    current.complete(ticket, outcome);
  },
  abort(ticket) {
    current.abort(ticket);
  },
};
const h = harness({ prices: PRICES });

type Proto = Record<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyClient = any;
const require = createRequire(import.meta.url);
const instrumentation = new OpenAIInstrumentation({ enabled: false, moduleNames: ['openai-v4'], prices: PRICES, gate });
instrumentation.setTracerProvider(h.provider);

function patchThenDisplace(pkg: string, version: string): new (options: object) => AnyClient {
  const mod = require(pkg) as { OpenAI: (new (options: object) => AnyClient) & Record<string, { prototype: Proto } & Record<string, { prototype: Proto }>> };
  const O = mod.OpenAI;
  const protos = [O['Chat']!['Completions']!.prototype, O['Responses']!.prototype, O['Embeddings']!.prototype];
  const sdkCreates = protos.map((p) => p['create'] as (...args: unknown[]) => unknown);
  const def = instrumentation.getModuleDefinitions().find((d) => d.name === pkg && d.supportedVersions.some((r) => r.includes('>=4')))!;
  def.patch!(mod, version);
  protos.forEach((proto, i) => {
    assert.notEqual(proto['create'], sdkCreates[i], 'tollgate wrapped create');
    const sdkCreate = sdkCreates[i]!;
    proto['create'] = function otherInstrumentationCreate(this: unknown, ...args: unknown[]) {
      return sdkCreate.apply(this, args);
    };
  });
  return O;
}

const SDKS = [
  { pkg: 'openai', version: '7.57.0' },
  { pkg: 'openai-v4', version: '4.104.0' },
] as const;
const classes = new Map(SDKS.map(({ pkg, version }) => [pkg, patchThenDisplace(pkg, version)]));

beforeEach(() => {
  server.reset();
  h.exporter.reset();
  seen.admitted.length = 0;
  seen.completed.length = 0;
  current = ALLOW_ALL;
});

function budgetError(): BudgetExceededError {
  return new BudgetExceededError({ scope: 'task', agent: 'svc', taskId: 'T', limitUsd: 0.01, spentUsd: 0.0099, reservedUsd: 0, estimatedUsd: 0.001, resetAt: null });
}

class ReadableLedger extends MemoryLedger {
  scopes: readonly BudgetScope[] = [];
  override reserveSync(request: ReserveRequest): ReserveResult {
    this.scopes = request.scopes;
    return super.reserveSync(request);
  }
}

const usd = (model: string, input: number, output: number): number => computeCost({ inputTokens: input, outputTokens: output }, PRICES.lookup(model, 'openai').price).totalUsd;

for (const { pkg } of SDKS) {
  const OpenAI = classes.get(pkg)!;
  const client = (): AnyClient => new OpenAI({ apiKey: 'k', baseURL: `${server.url}/v1`, maxRetries: 0 });

  void describe(`${pkg} with tollgate's create wrappers displaced`, () => {
    it('a blocking gate: chat (plain and stream), responses, embeddings and legacy completions send nothing', async () => {
      const error = budgetError();
      current = { admit: (): Promise<GateDecision> => Promise.resolve({ action: 'block', error }), complete() {}, abort() {} };
      const c = client();
      await assert.rejects(c.chat.completions.create({ model: MODEL, messages }) as Promise<unknown>, (e: unknown) => e === error);
      await assert.rejects(c.chat.completions.create({ model: MODEL, messages, stream: true }) as Promise<unknown>, (e: unknown) => e === error);
      await assert.rejects(c.responses.create({ model: MODEL, input: 'Hello there' }) as Promise<unknown>, (e: unknown) => e === error);
      await assert.rejects(c.embeddings.create({ model: 'text-embedding-3-small', input: 'Hello there' }) as Promise<unknown>, (e: unknown) => e === error);
      await assert.rejects(c.completions.create({ model: LEGACY, prompt: 'Once upon a time', max_tokens: 20 }) as Promise<unknown>, (e: unknown) => e === error);
      assert.equal(server.requests.length, 0);
      assert.deepEqual(
        seen.admitted.map((a) => [a.operation, a.model, a.stream]),
        [
          ['chat', MODEL, false],
          ['chat', MODEL, true],
          ['chat', MODEL, false],
          ['embeddings', 'text-embedding-3-small', false],
          ['text_completion', LEGACY, false],
        ],
      );
    });

    it('the real policy: every kind of call settles at its real cost; nothing stays reserved', async () => {
      const config = resolveConfig({ env: { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.task_usd=0.05' }, overrides: { agent: 'svc' } });
      const ledger = new ReadableLedger();
      const policy: BudgetPolicy = await createBudgetPolicy({ config, ledger, prices: PRICES, meter: h.meterProvider.getMeter('tollgate') });
      current = policy;
      const c = client();
      await withTask({ id: `T-${pkg}`, type: 'displaced' }, async () => {
        const chat = (await c.chat.completions.create({ model: MODEL, messages, max_tokens: 100 })) as { usage: { prompt_tokens: number } };
        assert.equal(chat.usage.prompt_tokens, 6);
        let chunks = 0;
        for await (const chunk of (await c.chat.completions.create({ model: MODEL, messages, max_tokens: 100, stream: true })) as AsyncIterable<{ choices: unknown[] }>) {
          assert.equal(chunk.choices.length, 1, 'no usage-only chunk reaches the caller');
          chunks++;
        }
        assert.ok(chunks > 1);
        await c.responses.create({ model: MODEL, input: 'Hello there', max_output_tokens: 100 });
        await c.embeddings.create({ model: 'text-embedding-3-small', input: 'Hello there' });
        const legacy = (await c.completions.create({ model: LEGACY, prompt: 'Once upon a time', max_tokens: 20 })) as { choices: { text: string }[] };
        assert.equal(legacy.choices[0]!.text, ' and so on');
        // Only the raw Response: the call is still settled (from a clone of the body).
        const raw = (await c.chat.completions.create({ model: MODEL, messages, max_tokens: 100 }).asResponse()) as Response;
        assert.equal(((await raw.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens, 13);
        await assert.rejects(
          c.chat.completions.create({ model: MODEL, messages, max_tokens: 1_000_000 }) as Promise<unknown>,
          (e: unknown) => e instanceof BudgetExceededError && e.scope === 'task',
        );
      });
      assert.equal(server.requests.length, 6, 'the over-cap call sent nothing');
      assert.equal(seen.admitted.length, 7);
      // The settle of the raw-only call waits for its body clone.
      for (let i = 0; i < 50 && seen.completed.length < 6; i++) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(seen.completed.length, 6);
      const legacyOutcome = seen.completed.find((o) => o.model === LEGACY)!;
      assert.equal(nanos(legacyOutcome.costUsd), nanos(usd(LEGACY, 7, 5)));
      const total = seen.completed.reduce((n, o) => n + nanos(o.costUsd), 0);
      assert.ok(seen.completed.every((o) => o.costUsd > 0));
      const [task] = await ledger.spent([ledger.scopes.find((s) => s.scope === 'task')!]);
      assert.deepEqual(task, { spentNanos: total, reservedNanos: 0 });
      await h.provider.forceFlush();
      const spans = h.spans().filter((s) => s.instrumentationScope.name === SCOPE && s.attributes['tollgate.policy.action'] === 'allow');
      assert.equal(spans.reduce((n, s) => n + nanos(s.attributes['tollgate.cost.usd']), 0), total);
      const legacySpan = spans.find((s) => s.attributes['gen_ai.operation.name'] === 'text_completion')!;
      assert.equal(legacySpan.name, `text_completion ${LEGACY}`);
      assert.equal(legacySpan.attributes['gen_ai.usage.input_tokens'], 7);
      assert.equal(legacySpan.attributes['gen_ai.usage.output_tokens'], 5);
    });
  });
}
