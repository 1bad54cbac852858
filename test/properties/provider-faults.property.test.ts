/**
 * Provider faults, property-based (fast-check), through the real openai SDK, tollgate's
 * instrumentation and the budget policy on a memory ledger, against the stand-in serving
 * random SSE streams: good chunks, a usage-only chunk with any usage, garbage lines, JSON cut
 * short, comments, and streams that end without `[DONE]`; plus hangs and connection resets.
 * Whatever the provider sends:
 * - the usage-only chunk tollgate asks for never reaches the app, whatever its usage holds,
 *   and nothing tollgate does throws a TypeError into the app;
 * - every hold is settled or released: nothing stays reserved after the call;
 * - the spend recorded is finite, >= 0 and bounded ($1M per call: a provider that reports
 *   1e12 tokens is charged the bound, and later calls are refused as over budget).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveConfig } from '../../src/config/index.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { MAX_CHARGE_NANOS } from '../../src/ledger/types.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { BudgetPolicy } from '../../src/policy/index.ts';
import { createInputEstimator } from '../../src/tokens/index.ts';
import type { CallDescription, CallGate, CallOutcome, GateDecision } from '../../src/gate.ts';
import { startHarness, type Harness } from '../standin/harness.ts';

class SwitchGate implements CallGate {
  policy: BudgetPolicy | undefined;
  admit(call: CallDescription): Promise<GateDecision> {
    return this.policy!.admit(call);
  }
  complete(ticket: unknown, outcome: CallOutcome): void {
    this.policy!.complete(ticket, outcome);
  }
  abort(ticket: unknown): void {
    this.policy!.abort(ticket);
  }
}
const gate = new SwitchGate();
let h: Harness;
before(async () => {
  h = await startHarness({ gate, captureMessageContent: false });
});
after(async () => {
  await h.close();
});

const count = fc.oneof(fc.nat({ max: 5000 }), fc.integer({ min: -5, max: -1 }), fc.constantFrom(1e12, 1e308, NaN, null, '7', undefined));
const usage = fc.oneof(fc.record({ prompt_tokens: count, completion_tokens: count, total_tokens: count }, { requiredKeys: [] }), fc.anything());
const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices, usage: null, ...extra })}\n\n`;
const frame = fc.oneof(
  { weight: 5, arbitrary: fc.string({ maxLength: 12 }).map((w) => chunk([{ index: 0, delta: { content: w }, finish_reason: null }])) },
  { weight: 1, arbitrary: fc.constant(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }])) },
  { weight: 1, arbitrary: usage.map((u) => { try { return chunk([], { usage: u }); } catch { return chunk([], { usage: 'x' }); } }) },
  { weight: 1, arbitrary: fc.constantFrom(': keep-alive\n\n', 'data: {"id":"c1","choi\n\n', 'data: not json\n\n', 'event: ping\ndata: {}\n\n', 'garbage without data\n\n', '\n\n') },
);
const stream = fc.record({ frames: fc.array(frame, { maxLength: 12 }), done: fc.boolean() });

void describe('provider faults, any stream', () => {
  it('the usage chunk tollgate asked for never reaches the app; every hold settled or released; spend finite, >= 0, bounded', async () => {
    await fc.assert(
      fc.asyncProperty(stream, async ({ frames, done }) => {
        const ledger = new MemoryLedger();
        const config = resolveConfig({ env: {}, overrides: { agent: 'prop', limits: { dailyUsd: 0.5 } } });
        gate.policy = new BudgetPolicy({ config, ledger, prices: createPriceTable(), estimator: createInputEstimator() });
        h.reset();
        const body = [chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]), ...frames, ...(done ? ['data: [DONE]\n\n'] : [])];
        h.server.setNextResponse({ headers: { 'content-type': 'text/event-stream' }, body });
        try {
          const s = await h.client('openai').chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true, max_tokens: 50 });
          for await (const c of s as AsyncIterable<{ choices: { delta?: unknown }[]; usage?: unknown }>) {
            // A chunk without choices reaches the app only when the provider sent one of its own
            // (as Azure does); the usage-only chunk tollgate asked for never does.
            if (Array.isArray(c.choices) && c.choices.length === 0) assert.ok(c.usage === null || c.usage === undefined, `tollgate's usage chunk reached the app: ${JSON.stringify(c.usage)}`);
          }
        } catch (err) {
          // The SDK may reject what the provider sent (a JSON error); tollgate never throws a TypeError of its own.
          assert.ok(!(err instanceof TypeError), `TypeError reached the app: ${String(err)}`);
        }
        await new Promise((r) => setTimeout(r, 5)); // estimated usage ends the span asynchronously
        const status = await gate.policy.getAgentStatus('prop');
        const day = status.budgets[0]!;
        assert.equal(day.reservedUsd, 0, 'a hold was left behind');
        assert.ok(Number.isFinite(day.spentUsd) && day.spentUsd >= 0 && day.spentUsd <= MAX_CHARGE_NANOS / 1e9, `spent ${day.spentUsd}`);
      }),
      { numRuns: 150 },
    );
  });

  it('a provider that hangs: the SDK times out, the hold is released', async () => {
    const ledger = new MemoryLedger();
    const config = resolveConfig({ env: {}, overrides: { agent: 'hang', limits: { dailyUsd: 0.5 } } });
    gate.policy = new BudgetPolicy({ config, ledger, prices: createPriceTable(), estimator: createInputEstimator() });
    // A provider that accepts the request and never answers.
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    const hang = h.client('openai', { timeout: 200, baseURL: `http://127.0.0.1:${port}/v1` }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    await assert.rejects(hang, /timed out/i);
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
    await new Promise((r) => setTimeout(r, 20));
    const day = (await gate.policy.getAgentStatus('hang')).budgets[0]!;
    assert.equal(day.reservedUsd, 0);
  });

  it('connection reset mid-stream: the estimated cost is charged, nothing stays held', async () => {
    const ledger = new MemoryLedger();
    const config = resolveConfig({ env: {}, overrides: { agent: 'reset', limits: { dailyUsd: 0.5 } } });
    gate.policy = new BudgetPolicy({ config, ledger, prices: createPriceTable(), estimator: createInputEstimator() });
    h.reset();
    h.server.injectFault({ kind: 'cut-stream', afterEvents: 3 });
    await assert.rejects(async () => {
      const s = await h.client('openai').chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true });
      for await (const c of s as AsyncIterable<unknown>) void c;
    });
    await new Promise((r) => setTimeout(r, 20));
    const day = (await gate.policy.getAgentStatus('reset')).budgets[0]!;
    assert.equal(day.reservedUsd, 0);
    assert.ok(day.spentUsd > 0, 'tokens generated before the reset are charged (estimated), never $0');
  });
});
