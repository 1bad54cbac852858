// Bad input from the provider (500, 429, malformed SSE, no usage, cut stream) and the budget gate
// (rewrite, block, retries), agent/task attribution, content capture and Azure detection.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { context, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { onlySpan, startHarness } from '../standin/harness.ts';
import type { Harness } from '../standin/harness.ts';
import { countTokens } from '../../src/tokens/index.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import { withAgent, withTask } from '../../src/context.ts';
import type { CallDescription, CallGate, CallOutcome, GateDecision } from '../../src/gate.ts';

const PROMPT = 'Hello there';
const body = (extra: Record<string, unknown> = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }], ...extra });

/** A scripted gate that records what it saw. */
class ScriptedGate implements CallGate {
  decision: GateDecision = { action: 'allow', ticket: 't1' };
  admitted: CallDescription[] = [];
  completed: { ticket: unknown; outcome: CallOutcome }[] = [];
  aborted: unknown[] = [];
  admit(call: CallDescription): Promise<GateDecision> {
    this.admitted.push(call);
    return Promise.resolve(this.decision);
  }
  complete(ticket: unknown, outcome: CallOutcome): void {
    this.completed.push({ ticket, outcome });
  }
  abort(ticket: unknown): void {
    this.aborted.push(ticket);
  }
}

const gate = new ScriptedGate();
let h: Harness;
before(async () => {
  h = await startHarness({ gate, captureMessageContent: false });
});
after(async () => {
  await h.close();
});
beforeEach(() => {
  h.reset();
  gate.decision = { action: 'allow', ticket: 't1' };
  gate.admitted = [];
  gate.completed = [];
  gate.aborted = [];
});

for (const pkg of ['openai', 'openai-v4']) {
  void describe(`provider faults (${pkg})`, () => {
    void test('HTTP 500: ERROR span, error.type = SDK class, no cost, reservation released', async () => {
      h.server.injectFault({ kind: 'status', status: 500 });
      await assert.rejects(h.client(pkg).chat.completions.create(body()), { status: 500 });
      const span = await onlySpan(h);
      assert.equal(span.status.code, SpanStatusCode.ERROR);
      assert.equal(span.attributes['error.type'], 'InternalServerError');
      assert.equal(span.attributes['tollgate.cost.usd'], undefined);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], undefined);
      assert.deepEqual(gate.aborted, ['t1']);
      assert.deepEqual(gate.completed, []);
    });

    void test('HTTP 429: RateLimitError; with a retry the call succeeds, is admitted once and counts 2 attempts', async () => {
      h.server.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 0 });
      await assert.rejects(h.client(pkg).chat.completions.create(body()), { status: 429 });
      const failed = await onlySpan(h);
      assert.equal(failed.attributes['error.type'], 'RateLimitError');
      assert.equal(failed.attributes['tollgate.cost.usd'], undefined);

      h.reset();
      gate.admitted = [];
      h.server.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 0 });
      const ok = await h.client(pkg, { maxRetries: 1 }).chat.completions.create(body());
      assert.equal(ok.usage.prompt_tokens, 6);
      assert.equal(h.server.requests.length, 2);
      const span = await onlySpan(h);
      assert.equal(span.status.code, SpanStatusCode.UNSET);
      assert.equal(span.attributes['tollgate.attempts'], 2);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], 6);
      assert.equal(gate.admitted.length, 1);
      assert.equal(gate.completed.length, 1);
    });

    void test('a request made inside the call (by a custom fetch) is neither gated as the call nor counted as its attempt', async () => {
      // The call's hooks find it in the active context; a user's fetch runs in that context too.
      let side = 0;
      let sideError: unknown;
      const client = h.client(pkg, {
        fetch: async (url: string, init: RequestInit) => {
          if (side++ === 0) await client.models.list().catch((error: unknown) => (sideError = error));
          return fetch(url, init);
        },
      });
      const ok = await client.chat.completions.create(body());
      assert.equal(ok.usage.prompt_tokens, 6);
      assert.equal(side, 2, 'the side request went through the same fetch');
      assert.notEqual(sideError, undefined, 'the stand-in has no /models route: the side request fails on its own');
      const span = await onlySpan(h);
      assert.equal(span.attributes['tollgate.attempts'], undefined);
      assert.equal(gate.admitted.length, 1);
      assert.equal(gate.completed.length, 1);
    });

    void test('malformed SSE: the stream throws, span ERROR, tokens seen so far estimated', async () => {
      h.server.injectFault({ kind: 'malformed-sse', afterEvents: 3 });
      const stream = await h.client(pkg).chat.completions.create(body({ stream: true }));
      await assert.rejects(async () => {
        for await (const _ of stream) void _;
      });
      const span = await onlySpan(h);
      assert.equal(span.status.code, SpanStatusCode.ERROR);
      assert.equal(span.attributes['error.type'], 'SyntaxError');
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], countTokens('The stand-in', 'gpt-4o-mini'));
    });

    void test('a response without usage: counted locally and flagged estimated', async () => {
      h.server.injectFault({ kind: 'no-usage' });
      const completion = await h.client(pkg).chat.completions.create(body());
      assert.equal(completion.usage, undefined);
      const span = await onlySpan(h);
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assert.equal(span.attributes['gen_ai.usage.input_tokens'], countTokens(PROMPT, 'gpt-4o-mini'));
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], countTokens(completion.choices[0].message.content, 'gpt-4o-mini'));
      assert.equal(gate.completed[0]?.outcome.costUsd, span.attributes['tollgate.cost.usd']);
    });

    void test('a stream cut short: the span ends with estimated usage', async () => {
      h.server.injectFault({ kind: 'cut-stream', afterEvents: 4 });
      const stream = await h.client(pkg).chat.completions.create(body({ stream: true }));
      let text = '';
      try {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      } catch {
        // Depending on the major, a dropped connection ends the stream or throws.
      }
      assert.equal(text, 'The stand-in provider');
      const span = await onlySpan(h);
      assert.equal(span.attributes['tollgate.usage.estimated'], true);
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], countTokens(text, 'gpt-4o-mini'));
    });
  });
}

void describe('budget gate', () => {
  void test('rewrite: the provider receives the new model and ceiling; the caller body is untouched', async () => {
    gate.decision = { action: 'rewrite', model: 'gpt-4.1-nano', maxTokens: 5, reason: 'downgrade: daily budget 90% used', remainingUsd: 1.5, ticket: 't2' };
    const callerBody = body({ max_tokens: 100 });
    const snapshot = structuredClone(callerBody);
    await h.client('openai').chat.completions.create(callerBody);
    assert.deepEqual(callerBody, snapshot);
    const sent = h.server.requests[0]?.body as Record<string, unknown>;
    assert.equal(sent['model'], 'gpt-4.1-nano');
    assert.equal(sent['max_tokens'], 5);
    const span = await onlySpan(h);
    assert.equal(span.name, 'chat gpt-4.1-nano');
    const a = span.attributes;
    assert.equal(a['tollgate.policy.action'], 'rewrite');
    assert.equal(a['tollgate.policy.original_model'], 'gpt-4o-mini');
    assert.equal(a['tollgate.policy.original_max_tokens'], 100);
    assert.equal(a['tollgate.policy.reason'], 'downgrade: daily budget 90% used');
    assert.equal(a['tollgate.budget.remaining_usd'], 1.5);
    assert.equal(a['gen_ai.request.model'], 'gpt-4.1-nano');
    assert.equal(a['gen_ai.request.max_tokens'], 5);
    assert.equal(a['gen_ai.usage.output_tokens'], 5);
    assert.equal(gate.admitted[0]?.model, 'gpt-4o-mini');
    assert.equal(gate.admitted[0]?.maxTokens, 100);
    assert.deepEqual(gate.completed, [{ ticket: 't2', outcome: { costUsd: a['tollgate.cost.usd'], model: 'gpt-4.1-nano' } }]);
  });

  void test('responses: the ceiling is rewritten as max_output_tokens', async () => {
    gate.decision = { action: 'allow', maxTokens: 7 };
    await h.client('openai-v6').responses.create({ model: 'gpt-4o-mini', input: PROMPT });
    assert.equal((h.server.requests[0]?.body as Record<string, unknown>)['max_output_tokens'], 7);
  });

  void test('block: nothing is sent, the caller gets the BudgetExceededError, the span says why', async () => {
    const error = new BudgetExceededError({ scope: 'agent.daily', agent: 'triage', taskId: null, limitUsd: 1, spentUsd: 0.99, reservedUsd: 0, estimatedUsd: 0.05, resetAt: '2026-11-26T00:00:00.000Z' });
    gate.decision = { action: 'block', error, reason: 'daily budget exhausted' };
    for (const pkg of ['openai', 'openai-v6', 'openai-v4']) {
      h.reset();
      await assert.rejects(h.client(pkg, { maxRetries: 2 }).chat.completions.create(body()), (e) => e === error);
      assert.equal(h.server.requests.length, 0, `${pkg}: nothing reached the provider`);
      const span = await onlySpan(h);
      assert.equal(span.status.code, SpanStatusCode.ERROR);
      assert.equal(span.attributes['error.type'], 'tollgate.budget_exceeded');
      assert.equal(span.attributes['tollgate.policy.action'], 'block');
      assert.equal(span.attributes['tollgate.cost.usd'], undefined);
      assert.deepEqual(
        span.events.map((e) => [e.name, e.attributes?.['tollgate.budget.scope']]),
        [['tollgate.call.blocked', 'agent.daily']],
      );
    }
    assert.deepEqual(gate.aborted, []);
  });

  void test('without a context manager the gate still runs: the call marks its request options', async () => {
    const error = new BudgetExceededError({ scope: 'agent.daily', agent: 'triage', taskId: null, limitUsd: 1, spentUsd: 1, reservedUsd: 0, estimatedUsd: 0.05, resetAt: null });
    gate.decision = { action: 'block', error };
    // The API's no-op context manager: context.with() does not make its context active.
    context.disable();
    try {
      for (const pkg of ['openai', 'openai-v6', 'openai-v4']) {
        h.reset();
        gate.admitted = [];
        await assert.rejects(h.client(pkg).chat.completions.create(body()), (e) => e === error);
        assert.equal(h.server.requests.length, 0, `${pkg}: nothing reached the provider`);
        assert.equal(gate.admitted.length, 1, `${pkg}: admitted once`);
      }
      gate.decision = { action: 'allow', ticket: 't1' };
      h.reset();
      gate.admitted = [];
      h.server.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 0 });
      await h.client('openai', { maxRetries: 1 }).chat.completions.create(body());
      assert.equal((await onlySpan(h)).attributes['tollgate.attempts'], 2);
      assert.equal(gate.admitted.length, 1);
    } finally {
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    }
  });

  void test('a gate that throws an unexpected error does not break the call', async () => {
    const broken: CallGate = { admit: () => Promise.reject(new Error('policy bug')), complete: () => {}, abort: () => {} };
    const config = h.instrumentation.getConfig();
    h.instrumentation.setConfig({ ...config, gate: broken });
    try {
      const completion = await h.client('openai-v6').chat.completions.create(body());
      assert.equal(completion.usage.prompt_tokens, 6);
      assert.equal((await onlySpan(h)).attributes['tollgate.policy.action'], 'allow');
    } finally {
      h.instrumentation.setConfig(config);
    }
  });
});

void describe('attribution, content, Azure', () => {
  void test('withAgent / withTask reach the span and the gate', async () => {
    await withAgent('triage', () => withTask({ id: 'T-1', type: 'ticket' }, () => h.client('openai').chat.completions.create(body())));
    const a = (await onlySpan(h)).attributes;
    assert.equal(a['gen_ai.agent.name'], 'triage');
    assert.equal(a['tollgate.task.id'], 'T-1');
    assert.equal(a['tollgate.task.type'], 'ticket');
    assert.equal(gate.admitted[0]?.agent, 'triage');
    assert.deepEqual(gate.admitted[0]?.task, { id: 'T-1', type: 'ticket' });
  });

  void test('message content is recorded only when capture is on', async () => {
    const config = h.instrumentation.getConfig();
    await h.client('openai').chat.completions.create(body());
    assert.equal((await onlySpan(h)).attributes['gen_ai.input.messages'], undefined);
    h.reset();
    h.instrumentation.setConfig({ ...config, captureMessageContent: 'SPAN_ONLY' });
    try {
      await h.client('openai').chat.completions.create(body());
      const a = (await onlySpan(h)).attributes;
      assert.deepEqual(JSON.parse(String(a['gen_ai.input.messages'])), [{ role: 'user', parts: [{ type: 'text', content: PROMPT }] }]);
      assert.match(String(a['gen_ai.output.messages']), /The stand-in provider/);
    } finally {
      h.instrumentation.setConfig(config);
    }
  });

  void test('AzureOpenAI: provider azure.ai.openai, Azure usage-only chunk hidden, priced by response model', async () => {
    const mod = h.require('openai') as { AzureOpenAI: new (o: object) => { chat: { completions: { create(b: object): Promise<AsyncIterable<{ choices: unknown[] }>> } } } };
    const azure = new mod.AzureOpenAI({ endpoint: h.server.url, apiKey: 'k', apiVersion: '2025-01-01-preview', deployment: 'gpt-4o-mini', maxRetries: 0 });
    const stream = await azure.chat.completions.create(body({ stream: true }));
    let chunks = 0;
    for await (const _ of stream) chunks++;
    assert.equal(chunks, 16, 'the content-filter chunk (choices: []) is passed through; the usage chunk is hidden');
    assert.equal(h.server.requests[0]?.path, '/openai/deployments/gpt-4o-mini/chat/completions');
    const a = (await onlySpan(h)).attributes;
    assert.equal(a['gen_ai.provider.name'], 'azure.ai.openai');
    assert.equal(a['gen_ai.response.model'], 'gpt-4o-mini');
    assert.equal(a['gen_ai.usage.input_tokens'], 6);
    assert.equal(a['tollgate.cost.source'], 'table');
  });
});
