/**
 * `@openai/agents` (real package, default retry settings) on the instrumented `openai` SDK against
 * the stand-in: one agent turn is one priced span; a turn refused by the budget rejects at once
 * with BudgetExceededError, nothing sent, the gate asked once (no retry).
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetExceededError } from '../../src/errors.ts';
import { RefusingGate } from '../support/gates.ts';
import { startHarness, type Harness } from '../standin/harness.ts';

const gate = new RefusingGate();

let h: Harness;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let agents: any;

before(async () => {
  h = await startHarness({ gate });
  agents = h.require('@openai/agents');
  agents.setTracingDisabled(true);
  agents.setOpenAIAPI('chat_completions');
  // The SDK's default retries (maxRetries 2) are left as they are.
  agents.setDefaultOpenAIClient(h.client('openai', { maxRetries: undefined }));
});
after(async () => {
  await h.close();
});
beforeEach(() => {
  h.reset();
  gate.refuse = false;
  gate.admitted = 0;
});

function tollgateSpans(): ReturnType<Harness['spans']> {
  return h.spans().filter((s) => s.instrumentationScope.name === 'tollgate-instrumentation-openai');
}

void describe('@openai/agents', () => {
  void it('an agent turn is priced once', async () => {
    const agent = new agents.Agent({ name: 'greeter', instructions: 'Be brief.', model: 'gpt-4o-mini' });
    const result = await agents.run(agent, 'Say hello.');
    assert.ok(String(result.finalOutput).length > 0);
    const spans = tollgateSpans();
    assert.equal(spans.length, 1);
    assert.ok(Number(spans[0]?.attributes['tollgate.cost.usd']) > 0);
    assert.equal(h.server.requests.length, 1);
  });

  void it('a refused turn rejects at once, nothing sent, not retried', async () => {
    gate.refuse = true;
    const agent = new agents.Agent({ name: 'greeter', instructions: 'Be brief.', model: 'gpt-4o-mini' });
    const started = performance.now();
    await assert.rejects(agents.run(agent, 'Say hello.'), BudgetExceededError);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 500, `rejected after ${elapsed.toFixed(0)} ms`);
    assert.equal(h.server.requests.length, 0);
    assert.equal(gate.admitted, 1);
    assert.equal(tollgateSpans()[0]?.attributes['error.type'], 'tollgate.budget_exceeded');
  });
});
