/**
 * The pre-call policy gate through the real Anthropic SDKs: a blocking gate
 * stops the request before anything reaches the provider and the SDK's own
 * promise (or stream helper) rejects with the gate's error; a rewriting gate
 * changes the model / max_tokens the provider receives without touching the
 * caller's object; the gate hears the real cost, or an abort.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { BudgetExceededError } from '../../src/errors.ts';
import type { CallDescription, CallGate, CallOutcome, GateDecision } from '../../src/gate.ts';
import { computeCost } from '../../src/pricing/index.ts';
import { STANDIN_REPLY_TEXT, standinTokens } from '../../src/standin/anthropic.ts';
import { SDKS, onlySpan, startHarness, userMessage } from './anthropic-harness.ts';
import type { AnthropicClient, Harness } from './anthropic-harness.ts';

const MODEL = 'claude-sonnet-4-6';
const CHEAP = 'claude-haiku-4-5';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});
beforeEach(() => h.reset());

/** A fake gate that answers with a fixed decision and records what it was told. */
function fakeGate(decision: GateDecision) {
  const seen = { admitted: [] as CallDescription[], completed: [] as [unknown, CallOutcome][], aborted: [] as unknown[] };
  const gate: CallGate = {
    admit(call) {
      seen.admitted.push(call);
      return Promise.resolve(decision);
    },
    complete(ticket, outcome) {
      seen.completed.push([ticket, outcome]);
    },
    abort(ticket) {
      seen.aborted.push(ticket);
    },
  };
  return { gate, seen };
}

function budgetError(): BudgetExceededError {
  return new BudgetExceededError({
    scope: 'agent.daily',
    agent: 'researcher',
    taskId: null,
    limitUsd: 1,
    spentUsd: 0.99,
    reservedUsd: 0,
    estimatedUsd: 0.05,
    resetAt: '2026-11-26T00:00:00.000Z',
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

for (const { pkg } of SDKS) {
  void describe(`${pkg}: blocking gate`, () => {
    const kinds = ['create', 'create stream', 'stream() helper'] as const;
    for (const kind of kinds) {
      void it(`${kind}: nothing reaches the provider, the call rejects with the gate's error, the span says blocked`, async () => {
        const error = budgetError();
        const { gate, seen } = fakeGate({ action: 'block', error, reason: 'daily cap reached' });
        h.gate.current = gate;
        const client: AnthropicClient = h.client(pkg);
        const params = { model: MODEL, max_tokens: 100, messages: [userMessage('Hello there')] };
        const pending =
          kind === 'create'
            ? client.messages.create(params)
            : kind === 'create stream'
              ? client.messages.create({ ...params, stream: true })
              : client.messages.stream(params).finalMessage();
        const rejected = await rejection(pending);
        // The stream helper wraps every error that is not the SDK's own in an AnthropicError (SDK
        // behaviour, MessageStream#handleError); the gate's error is then its `cause`.
        assert.equal(kind === 'stream() helper' ? (rejected as Error).cause : rejected, error);
        assert.equal(h.server.requests.length, 0);
        assert.equal(seen.admitted.length, 1);
        assert.equal(seen.admitted[0]?.model, MODEL);
        assert.equal(seen.admitted[0]?.provider, 'anthropic');
        assert.equal(seen.admitted[0]?.maxTokens, 100);
        assert.equal(seen.admitted[0]?.stream, kind !== 'create');
        const span = await onlySpan(h);
        assert.equal(span.status.code, SpanStatusCode.ERROR);
        assert.equal(span.attributes['error.type'], 'tollgate.budget_exceeded');
        assert.equal(span.attributes['tollgate.policy.action'], 'block');
        assert.equal(span.attributes['tollgate.policy.reason'], 'daily cap reached');
        assert.equal(span.attributes['tollgate.cost.usd'], undefined);
      });
    }
  });

  void describe(`${pkg}: rewriting gate`, () => {
    for (const stream of [false, true]) {
      void it(`${stream ? 'stream() helper' : 'create'}: the provider receives the rewritten model and max_tokens; the caller's body is untouched`, async () => {
        const { gate, seen } = fakeGate({ action: 'rewrite', model: CHEAP, maxTokens: 20, reason: 'downgrade at 80%', ticket: 'ticket-1' });
        h.gate.current = gate;
        const client: AnthropicClient = h.client(pkg);
        const params = { model: MODEL, max_tokens: 100, messages: [userMessage('Hello there')] };
        const snapshot = structuredClone(params);
        const message = stream ? await client.messages.stream(params).finalMessage() : await client.messages.create(params);
        assert.equal(message.model, CHEAP);
        assert.deepEqual(params, snapshot);
        assert.equal(h.server.requests.length, 1);
        const sent = h.server.requests[0]?.body as Record<string, unknown>;
        assert.equal(sent['model'], CHEAP);
        assert.equal(sent['max_tokens'], 20);
        const span = await onlySpan(h);
        assert.equal(span.name, `chat ${CHEAP}`);
        assert.equal(span.attributes['tollgate.policy.action'], 'rewrite');
        assert.equal(span.attributes['tollgate.policy.original_model'], MODEL);
        assert.equal(span.attributes['tollgate.policy.original_max_tokens'], 100);
        assert.equal(span.attributes['tollgate.policy.reason'], 'downgrade at 80%');
        assert.equal(span.attributes['gen_ai.request.model'], CHEAP);
        assert.equal(span.attributes['gen_ai.request.max_tokens'], 20);
        // Priced as the model that answered, and the gate is told that cost with its ticket.
        const cost = computeCost({ inputTokens: 3, outputTokens: standinTokens(STANDIN_REPLY_TEXT), cacheReadTokens: 0, cacheWriteTokens: 0 }, h.prices.lookup(CHEAP, 'anthropic').price);
        assert.equal(span.attributes['tollgate.cost.usd'], cost.totalUsd);
        assert.deepEqual(seen.completed, [['ticket-1', { costUsd: cost.totalUsd, model: CHEAP }]]);
      });
    }

    void it('a call that fails without usage aborts the ticket', async () => {
      const { gate, seen } = fakeGate({ action: 'allow', ticket: 'ticket-2' });
      h.gate.current = gate;
      const client: AnthropicClient = h.client(pkg);
      await rejection(client.messages.create({ model: MODEL, max_tokens: 10, messages: [userMessage('Hi')] }, { headers: { 'x-standin-fault': '500' } }));
      await onlySpan(h);
      assert.deepEqual(seen.aborted, ['ticket-2']);
      assert.deepEqual(seen.completed, []);
    });
  });
}

void describe("a gate's synchronous decideNow", () => {
  const pkg = SDKS[SDKS.length - 1]!.pkg;
  const params = () => ({ model: MODEL, max_tokens: 100, messages: [userMessage('Hello there')] });

  void it('its decision is applied without awaiting admit: a rewrite reaches the provider and the ticket is settled', async () => {
    const { gate, seen } = fakeGate({ action: 'block', error: budgetError() });
    const decided: CallDescription[] = [];
    h.gate.current = {
      ...gate,
      decideNow(call) {
        decided.push(call);
        return { action: 'rewrite', model: CHEAP, reason: 'fast path', ticket: 'now-1' };
      },
    };
    const message = await h.client(pkg).messages.create(params());
    assert.equal(message.model, CHEAP);
    assert.equal(seen.admitted.length, 0, 'admit is not asked when decideNow decided');
    assert.equal(decided.length, 1);
    assert.equal(decided[0]?.model, MODEL);
    assert.equal((h.server.requests[0]?.body as Record<string, unknown>)['model'], CHEAP);
    const span = await onlySpan(h);
    assert.equal(span.attributes['tollgate.policy.action'], 'rewrite');
    assert.equal(span.attributes['tollgate.policy.reason'], 'fast path');
    assert.equal(seen.completed.length, 1);
    assert.equal(seen.completed[0]?.[0], 'now-1');
  });

  void it('a block from decideNow sends nothing and rejects with its error', async () => {
    const { gate } = fakeGate({ action: 'allow' });
    const error = budgetError();
    h.gate.current = { ...gate, decideNow: () => ({ action: 'block', error }) };
    assert.equal(await rejection(h.client(pkg).messages.create(params())), error);
    assert.equal(h.server.requests.length, 0);
    const span = await onlySpan(h);
    assert.equal(span.attributes['error.type'], 'tollgate.budget_exceeded');
  });

  void it('undefined, or a throw, from decideNow falls back to admit', async () => {
    for (const decideNow of [() => undefined, () => { throw new Error('policy bug'); }]) {
      h.reset();
      const { gate, seen } = fakeGate({ action: 'allow', ticket: 'slow-1' });
      h.gate.current = { ...gate, decideNow };
      const message = await h.client(pkg).messages.create(params());
      assert.equal(message.model, MODEL);
      assert.equal(seen.admitted.length, 1);
      assert.equal(h.server.requests.length, 1);
      assert.deepEqual(seen.completed.map(([t]) => t), ['slow-1']);
    }
  });
});
