/**
 * The budget gate holds for Anthropic when something replaced tollgate's `create` wrapper.
 *
 * No published instrumentation displaces it today, but any that patches
 * `Messages.prototype.create` after tollgate through `InstrumentationBase._wrap` would (it
 * unwraps the wrapper it finds). Simulated here as such an instrumentation leaves things: a plain
 * wrapper around the SDK's own `create`, assigned after tollgate patched the module. Through the
 * real clients (1.x and the 0.x alias, plain and beta Messages, the `stream()` helper) against the
 * stand-in provider: a blocked call sends nothing, a rewrite is what the provider receives, and the
 * real BudgetPolicy's ledger ends with nothing reserved and exactly the real cost spent. The
 * tracer provider is registered globally, so SDK 1.x's own call span is live: tollgate's span
 * nests in it and the span processor counts the call once.
 */
import { after, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { trace } from '@opentelemetry/api';
import { resolveConfig } from '../../src/config/index.ts';
import { withTask } from '../../src/context.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import { ALLOW_ALL } from '../../src/gate.ts';
import type { CallDescription, CallGate, CallOutcome, GateDecision } from '../../src/gate.ts';
import { AnthropicInstrumentation } from '../../src/instrumentation/anthropic/index.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import type { BudgetScope, ReserveRequest, ReserveResult } from '../../src/ledger/types.ts';
import { createBudgetPolicy } from '../../src/policy/index.ts';
import type { BudgetPolicy } from '../../src/policy/index.ts';
import { anthropicRoutes } from '../../src/standin/anthropic.ts';
import { startStandinServer } from '../../src/standin/server.ts';
import type { ForeignSpend } from '../../src/processor/index.ts';
import { harness, nanos, PRICES } from '../processor/harness.ts';

const server = await startStandinServer({ routes: anthropicRoutes() });
after(() => server.close());

const MODEL = 'claude-sonnet-4-6';
const CHEAP = 'claude-haiku-4-5';
const SCOPE = 'tollgate-instrumentation-anthropic';
const messages = [{ role: 'user' as const, content: 'Hello there, stand-in.' }];

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

let policy: BudgetPolicy | undefined;
const foreign: ForeignSpend[] = [];
const h = harness({
  prices: PRICES,
  onForeignSpend: (spend) => {
    foreign.push(spend);
    void policy?.recordForeign(spend);
  },
});
// Global on purpose: @anthropic-ai/sdk >= 0.134 then starts its own call span.
trace.setGlobalTracerProvider(h.provider);

type Proto = Record<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyClient = any;
const require = createRequire(import.meta.url);
const instrumentation = new AnthropicInstrumentation({ enabled: false, moduleNames: ['anthropic-v0'], prices: PRICES, gate });
instrumentation.setTracerProvider(h.provider);

/** Patches `pkg` with tollgate, then displaces tollgate's `create` wrappers with plain ones around the SDK's own. */
function patchThenDisplace(pkg: string, version: string): new (options: object) => AnyClient {
  const mod = require(pkg) as { Anthropic: (new (options: object) => AnyClient) & { Messages: { prototype: Proto }; Beta: { Messages: { prototype: Proto } } } };
  const protos = [mod.Anthropic.Messages.prototype, mod.Anthropic.Beta.Messages.prototype];
  const sdkCreates = protos.map((p) => p['create'] as (...args: unknown[]) => unknown);
  const def = instrumentation.getModuleDefinitions().find((d) => d.name === pkg && d.supportedVersions.some((r) => r.includes('>=0.20')))!;
  def.patch!(mod, version);
  protos.forEach((proto, i) => {
    assert.notEqual(proto['create'], sdkCreates[i], 'tollgate wrapped create');
    const sdkCreate = sdkCreates[i]!;
    proto['create'] = function otherInstrumentationCreate(this: unknown, ...args: unknown[]) {
      return sdkCreate.apply(this, args);
    };
  });
  return mod.Anthropic;
}

const SDKS = [
  { pkg: '@anthropic-ai/sdk', version: '1.14.0' },
  { pkg: 'anthropic-v0', version: '0.137.0' },
] as const;
const clients = new Map(SDKS.map(({ pkg, version }) => [pkg, patchThenDisplace(pkg, version)]));

beforeEach(() => {
  server.reset();
  h.exporter.reset();
  seen.admitted.length = 0;
  seen.completed.length = 0;
  foreign.length = 0;
  current = ALLOW_ALL;
  policy = undefined;
});

function fixed(decision: GateDecision): CallGate {
  return { admit: () => Promise.resolve(decision), complete() {}, abort() {} };
}

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

for (const { pkg } of SDKS) {
  const Anthropic = clients.get(pkg)!;
  const client = (): AnyClient => new Anthropic({ apiKey: 'sk-ant-test', baseURL: server.url, maxRetries: 0 });

  void describe(`${pkg} with tollgate's create wrapper displaced`, () => {
    it('a blocking gate: messages.create, beta.messages.create and messages.stream() send nothing and reject with its error', async () => {
      const error = budgetError();
      current = fixed({ action: 'block', error });
      const c = client();
      const body = { model: MODEL, max_tokens: 100, messages };
      await assert.rejects(c.messages.create(body) as Promise<unknown>, (e: unknown) => e === error);
      await assert.rejects(c.beta.messages.create(body) as Promise<unknown>, (e: unknown) => e === error);
      // The helper wraps what the request rejected with.
      await assert.rejects(c.messages.stream(body).finalMessage() as Promise<unknown>, (e: unknown) => e === error || (e as { cause?: unknown }).cause === error);
      assert.equal(server.requests.length, 0, 'nothing reached the provider');
      assert.deepEqual(
        seen.admitted.map((a) => [a.provider, a.operation, a.model, a.maxTokens, a.stream, a.attempt]),
        [
          ['anthropic', 'chat', MODEL, 100, false, 1],
          ['anthropic', 'chat', MODEL, 100, false, 1],
          ['anthropic', 'chat', MODEL, 100, true, 1],
        ],
      );
      await h.provider.forceFlush();
      const own = h.spans().filter((s) => s.instrumentationScope.name === SCOPE);
      assert.deepEqual(own.map((s) => s.attributes['error.type']), Array(3).fill('tollgate.budget_exceeded'));
    });

    it('a rewriting gate: the provider receives the rewritten model and max_tokens', async () => {
      current = fixed({ action: 'rewrite', model: CHEAP, maxTokens: 32 });
      const body = { model: MODEL, max_tokens: 500, messages };
      const answer = (await client().messages.create(body)) as { model: string };
      assert.deepEqual(body, { model: MODEL, max_tokens: 500, messages }, "the caller's object is untouched");
      assert.equal(server.requests.length, 1);
      const sent = server.requests[0]!.body as Record<string, unknown>;
      assert.deepEqual([sent['model'], sent['max_tokens']], [CHEAP, 32]);
      assert.equal(answer.model, CHEAP);
      assert.equal(seen.completed.length, 1);
      assert.equal(seen.completed[0]!.model, CHEAP);
    });

    it('count_tokens is not an inference call: not gated', async () => {
      current = fixed({ action: 'block', error: budgetError() });
      const counted = (await client().messages.countTokens({ model: MODEL, messages })) as { input_tokens: number };
      assert.equal(typeof counted.input_tokens, 'number');
      assert.equal(seen.admitted.length, 0);
    });

    it('the real policy with a task cap: exact settle, the over-cap call sends nothing, the call is counted once', async () => {
      const config = resolveConfig({ env: { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.task_usd=0.01' }, overrides: { agent: 'svc' } });
      const ledger = new ReadableLedger();
      policy = await createBudgetPolicy({ config, ledger, prices: PRICES, meter: h.meterProvider.getMeter('tollgate') });
      current = policy;
      const before = h.processor.getSpend().total;
      const c = client();
      const inTask = <T>(fn: () => T): T => withTask({ id: `T-${pkg}`, type: 'displaced' }, fn);

      await inTask(() => c.messages.create({ model: MODEL, max_tokens: 200, messages }));
      const streamed = await inTask(() => c.beta.messages.stream({ model: MODEL, max_tokens: 200, messages }).finalMessage());
      assert.equal((streamed as { stop_reason: string }).stop_reason, 'end_turn');
      assert.equal(server.requests.length, 2);
      // claude-sonnet-4-6 output is $15 per M: 1,000 output tokens alone are $0.015, over the $0.01 cap.
      await assert.rejects(
        inTask(() => c.messages.create({ model: MODEL, max_tokens: 1000, messages }) as Promise<unknown>),
        (e: unknown) => e instanceof BudgetExceededError && e.scope === 'task' && e.limitUsd === 0.01,
      );
      assert.equal(server.requests.length, 2, 'the blocked call sent nothing');

      await h.provider.forceFlush();
      const own = h.spans().filter((s) => s.instrumentationScope.name === SCOPE && s.attributes['tollgate.policy.action'] === 'allow');
      assert.equal(own.length, 2);
      const costs = own.map((s) => nanos(s.attributes['tollgate.cost.usd']));
      assert.ok(costs.every((n) => n > 0));
      const task = ledger.scopes.find((s) => s.scope === 'task')!;
      const [state] = await ledger.spent([task]);
      assert.deepEqual(state, { spentNanos: costs[0]! + costs[1]!, reservedNanos: 0 }, 'nothing reserved, exactly the real cost spent');
      assert.deepEqual(foreign, [], 'no span is counted again as foreign spend');
      const after = h.processor.getSpend().total;
      assert.equal(after.calls - before.calls, 2, 'each sent call counted once by the processor');
      assert.equal(nanos(after.costUsd - before.costUsd), costs[0]! + costs[1]!);
      if (pkg === '@anthropic-ai/sdk') {
        // SDK 1.x's own call span is the parent of tollgate's span.
        const sdkSpans = h.spans().filter((s) => s.name === 'anthropic.messages.create' || s.name === 'anthropic.beta.messages.create');
        assert.equal(sdkSpans.length, 3);
        for (const s of own) assert.ok(sdkSpans.some((p) => p.spanContext().spanId === s.parentSpanContext?.spanId));
      }
    });
  });
}
