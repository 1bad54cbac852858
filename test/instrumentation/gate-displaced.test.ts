/**
 * The budget gate holds when another instrumentation displaced tollgate's `create` wrapper.
 *
 * tollgate's OpenAIInstrumentation is enabled first, then the official
 * `@opentelemetry/instrumentation-openai` on the same openai 6 module (`openai-v6` alias).
 * The official `InstrumentationBase._wrap` unwraps tollgate's `create` wrapper before wrapping
 * the method itself, so calls reach the client unmarked; the gate must still run (from the
 * client's `request` / `prepareOptions`, which only tollgate patches), against the real SDK
 * client and the stand-in provider:
 * - a blocked call sends nothing and the SDK's promise rejects with the BudgetExceededError;
 * - a rewrite is what the provider receives;
 * - with the real BudgetPolicy (task cap from OTEL_RESOURCE_ATTRIBUTES through resolveConfig),
 *   the ledger ends with nothing reserved and exactly the real cost spent, also when the
 *   processor's foreign-spend path is wired to the policy as `startTollgate` does (no double count);
 * - SDK retries are admitted once.
 *
 * Both instrumentations are applied by calling their module definition's `patch` on the module
 * (the official one only hooks the package name `openai`), once for the file; each test swaps the gate.
 */
import { after, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { OpenAIInstrumentation as OfficialOpenAIInstrumentation } from '@opentelemetry/instrumentation-openai';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type * as OpenAIv6 from 'openai-v6';
import { resolveConfig } from '../../src/config/index.ts';
import { withTask } from '../../src/context.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import { ALLOW_ALL } from '../../src/gate.ts';
import type { CallDescription, CallGate, CallOutcome, GateDecision } from '../../src/gate.ts';
import { OpenAIInstrumentation } from '../../src/instrumentation/openai/index.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import type { BudgetScope, ReserveRequest, ReserveResult, ScopeSpend } from '../../src/ledger/types.ts';
import { createBudgetPolicy } from '../../src/policy/index.ts';
import type { BudgetPolicy } from '../../src/policy/index.ts';
import { computeCost } from '../../src/pricing/index.ts';
import type { ForeignSpend } from '../../src/processor/index.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';
import { startStandinServer } from '../../src/standin/server.ts';
import { harness, nanos, PRICES } from '../processor/harness.ts';

const server = await startStandinServer({ routes: openaiRoutes() });
after(() => server.close());

const require = createRequire(import.meta.url);
const openaiV6 = require('openai-v6') as typeof OpenAIv6;
const VERSION = '6.49.0';
const OFFICIAL_SCOPE = '@opentelemetry/instrumentation-openai';
const TOLLGATE_SCOPE = 'tollgate-instrumentation-openai';
const MODEL = 'gpt-4o-mini';
const CHEAP = 'gpt-4.1-nano';
const messages = [{ role: 'user' as const, content: 'Hello there' }];
/** stand-in: ceil(11 / 4) + 3 = 6 input tokens, 13 output tokens. */
const usd = (model: string): number => computeCost({ inputTokens: 6, outputTokens: 13 }, PRICES.lookup(model, 'openai').price).totalUsd;

/** A gate the current test sets; records what the instrumentation told it. */
const seen = { admitted: [] as CallDescription[], completed: [] as CallOutcome[], aborted: 0 };
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
    seen.aborted++;
    current.abort(ticket);
  },
};

/** The policy of the current test, fed foreign spend the way startTollgate wires the processor. */
let policy: BudgetPolicy | undefined;
const foreign: ForeignSpend[] = [];
const h = harness({
  onForeignSpend: (spend) => {
    foreign.push(spend);
    void policy?.recordForeign(spend);
  },
});

// tollgate first, the official instrumentation last: it displaces tollgate's create wrappers.
const tollgate = new OpenAIInstrumentation({ enabled: false, moduleNames: ['openai-v6'], prices: PRICES, gate });
tollgate.setTracerProvider(h.provider);
const tollgateDef = tollgate.getModuleDefinitions().find((d) => d.name === 'openai-v6' && d.supportedVersions.some((r) => r.includes('>=4')))!;
const official = new OfficialOpenAIInstrumentation();
official.setTracerProvider(h.provider);
official.setMeterProvider(h.meterProvider);
const officialDef = official.getModuleDefinitions()[0]!;
tollgateDef.patch!(openaiV6, VERSION);
officialDef.patch!(openaiV6, VERSION);
after(() => official.disable());

const client = (maxRetries = 0) => new openaiV6.OpenAI({ apiKey: 'k', baseURL: `${server.url}/v1`, maxRetries });

beforeEach(() => {
  server.reset();
  h.exporter.reset();
  seen.admitted.length = 0;
  seen.completed.length = 0;
  seen.aborted = 0;
  foreign.length = 0;
  current = ALLOW_ALL;
  policy = undefined;
});

function fixed(decision: GateDecision): CallGate {
  return { admit: () => Promise.resolve(decision), complete() {}, abort() {} };
}

function budgetError(): BudgetExceededError {
  return new BudgetExceededError({
    scope: 'task',
    agent: 'svc',
    taskId: 'T',
    limitUsd: 0.01,
    spentUsd: 0.0099,
    reservedUsd: 0,
    estimatedUsd: 0.001,
    resetAt: null,
  });
}

/** The memory ledger, remembering the scopes the policy reserved on so the test can read them. */
class ReadableLedger extends MemoryLedger {
  scopes: readonly BudgetScope[] = [];
  override reserveSync(request: ReserveRequest): ReserveResult {
    this.scopes = request.scopes;
    return super.reserveSync(request);
  }
  async state(scope: string): Promise<ScopeSpend> {
    const s = this.scopes.find((x) => x.scope === scope);
    assert.ok(s !== undefined, `no ${scope} scope reserved`);
    return (await this.spent([s]))[0]!;
  }
}

function byScope(scope: string): ReadableSpan[] {
  return h.spans().filter((s) => s.instrumentationScope.name === scope);
}

/** The one official span and the one tollgate span of the last call; tollgate's is nested in the official one. */
function callSpans(): { official: ReadableSpan; own: ReadableSpan } {
  const off = byScope(OFFICIAL_SCOPE);
  const own = byScope(TOLLGATE_SCOPE);
  assert.equal(off.length, 1, 'one official span');
  assert.equal(own.length, 1, 'one tollgate span');
  assert.equal(own[0]!.parentSpanContext?.spanId, off[0]!.spanContext().spanId, 'the tollgate span is a child of the official span');
  return { official: off[0]!, own: own[0]! };
}

test('a blocking gate: nothing is sent, the SDK promise rejects with the BudgetExceededError', async () => {
  const error = budgetError();
  current = fixed({ action: 'block', error, reason: 'budget task' });
  const body = { model: MODEL, messages, max_tokens: 50 };
  await assert.rejects(client().chat.completions.create(body), (e: unknown) => e === error);
  assert.equal(server.requests.length, 0, 'nothing reached the provider');
  assert.equal(seen.admitted.length, 1);
  const call = seen.admitted[0]!;
  assert.deepEqual(
    [call.provider, call.operation, call.model, call.maxTokens, call.stream, call.attempt],
    ['openai', 'chat', MODEL, 50, false, 1],
  );
  assert.deepEqual(call.body, body);
  await h.provider.forceFlush();
  const { official, own } = callSpans();
  assert.equal(own.attributes['tollgate.policy.action'], 'block');
  assert.equal(own.attributes['error.type'], 'tollgate.budget_exceeded');
  assert.equal(official.status.code, 2, 'the official span sees the rejection too');
  assert.deepEqual(seen.completed, []);
  assert.deepEqual(foreign, []);
});

test('a blocking gate stops streams, Responses and Embeddings too', async () => {
  const error = budgetError();
  current = fixed({ action: 'block', error });
  const c = client();
  await assert.rejects(c.chat.completions.create({ model: MODEL, messages, stream: true }), (e: unknown) => e === error);
  await assert.rejects(c.responses.create({ model: MODEL, input: 'Hello there' }), (e: unknown) => e === error);
  await assert.rejects(c.embeddings.create({ model: 'text-embedding-3-small', input: 'Hello there' }), (e: unknown) => e === error);
  assert.equal(server.requests.length, 0);
  assert.deepEqual(
    seen.admitted.map((c) => [c.operation, c.stream]),
    [
      ['chat', true],
      ['chat', false],
      ['embeddings', false],
    ],
  );
});

test('a rewriting gate: the provider receives the rewritten model and max_tokens; the caller object is untouched', async () => {
  current = fixed({ action: 'rewrite', model: CHEAP, maxTokens: 64, reason: 'budget task: downgrade' });
  const body = { model: MODEL, messages, max_tokens: 500 };
  const answer = await client().chat.completions.create(body);
  assert.deepEqual(body, { model: MODEL, messages, max_tokens: 500 });
  assert.equal(server.requests.length, 1);
  const sent = server.requests[0]!.body as Record<string, unknown>;
  assert.equal(sent['model'], CHEAP);
  assert.equal(sent['max_tokens'], 64);
  assert.equal(answer.model.startsWith(CHEAP), true);
  await h.provider.forceFlush();
  const { own } = callSpans();
  assert.equal(own.attributes['tollgate.policy.action'], 'rewrite');
  assert.equal(own.attributes['tollgate.policy.original_model'], MODEL);
  assert.equal(own.attributes['tollgate.policy.original_max_tokens'], 500);
  assert.equal(own.attributes['gen_ai.request.model'], CHEAP);
  assert.deepEqual(seen.completed.map((o) => [o.model.startsWith(CHEAP), nanos(o.costUsd)]), [[true, nanos(usd(CHEAP))]]);
});

test('the real policy with a task cap: a call within it is settled exactly, a call over it sends nothing', async () => {
  const config = resolveConfig({ env: { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.task_usd=0.0001' }, overrides: { agent: 'svc' } });
  const ledger = new ReadableLedger();
  policy = await createBudgetPolicy({ config, ledger, prices: PRICES, meter: h.meterProvider.getMeter('tollgate') });
  current = policy;
  const before = h.processor.getSpend().total;
  const c = client();

  // Worst case 6 input + 100 output tokens of gpt-4o-mini fits $0.0001; 10,000 output tokens do not.
  const answer = await withTask({ id: 'T1', type: 'displaced' }, () => c.chat.completions.create({ model: MODEL, messages, max_tokens: 100 }));
  assert.equal(answer.usage?.completion_tokens, 13);
  assert.equal(server.requests.length, 1);
  await assert.rejects(
    withTask({ id: 'T1', type: 'displaced' }, () => c.chat.completions.create({ model: MODEL, messages, max_tokens: 10_000 })),
    (e: unknown) => e instanceof BudgetExceededError && e.scope === 'task' && e.taskId === 'T1' && e.limitUsd === 0.0001 && nanos(e.spentUsd) === nanos(usd(MODEL)),
  );
  assert.equal(server.requests.length, 1, 'the blocked call sent nothing');

  // A stream (the official instrumentation wraps its iterator outside tollgate's).
  const stream = await withTask({ id: 'T1', type: 'displaced' }, () => c.chat.completions.create({ model: MODEL, messages, max_tokens: 100, stream: true }));
  let text = '';
  let usageChunks = 0;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    if (chunk.usage != null) usageChunks++;
  }
  assert.equal(text.length > 0, true);
  assert.equal(usageChunks, 0, 'the usage chunk tollgate asked for is hidden from the caller');
  assert.equal(server.requests.length, 2);
  assert.deepEqual((server.requests[1]!.body as Record<string, unknown>)['stream_options'], { include_usage: true });

  const task = await ledger.state('task');
  assert.equal(task.reservedNanos, 0, 'no reservation left');
  assert.equal(task.spentNanos, 2 * nanos(usd(MODEL)), 'spent = the real cost of the two calls that were sent, once');
  assert.deepEqual(foreign, [], 'the official spans are not counted again as foreign spend');

  await h.provider.forceFlush();
  const own = byScope(TOLLGATE_SCOPE);
  assert.deepEqual(
    own.map((s) => [s.attributes['tollgate.policy.action'], s.attributes['tollgate.cost.usd'] === undefined ? undefined : nanos(s.attributes['tollgate.cost.usd'])]),
    [
      ['allow', nanos(usd(MODEL))],
      ['block', undefined],
      ['allow', nanos(usd(MODEL))],
    ],
  );
  const after = h.processor.getSpend().total;
  assert.equal(after.calls - before.calls, 2, 'the processor counts each sent call once');
  assert.equal(nanos(after.costUsd - before.costUsd), 2 * nanos(usd(MODEL)));
});

test('an SDK retry is admitted once and settled once', async () => {
  server.injectFault({ kind: 'status', status: 500, retryAfterSeconds: 0 }, { times: 1 });
  const answer = await client(1).chat.completions.create({ model: MODEL, messages });
  assert.equal(answer.usage?.prompt_tokens, 6);
  assert.equal(server.requests.length, 2, 'two attempts reached the provider');
  assert.equal(seen.admitted.length, 1, 'one admission for the request');
  assert.deepEqual(seen.completed.map((o) => nanos(o.costUsd)), [nanos(usd(MODEL))]);
  await h.provider.forceFlush();
  const { own } = callSpans();
  assert.equal(own.attributes['tollgate.attempts'], 2);
});

test('requests that are not inference calls are left alone', async () => {
  await client().models.list().catch(() => undefined);
  await client().post('/chat/completions/abc', { body: { metadata: {} } }).catch(() => undefined);
  assert.equal(seen.admitted.length, 0);
  await h.provider.forceFlush();
  assert.deepEqual(byScope(TOLLGATE_SCOPE), []);
});
