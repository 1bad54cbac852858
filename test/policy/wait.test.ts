/**
 * The wait option (`waitMs`): a call refused only because of another call's in-flight hold
 * waits for it to settle, then goes or is refused on settled spend; bounded by waitMs.
 * Model `big`: 30,000 nano-USD per output token; the input estimate is 0 tokens.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BudgetExceededError } from '../../src/errors.ts';
import { call, errorOf, fixedEstimator, harness } from './helpers.ts';

const REAL = { now: Date.now, set(): void {}, advance(): void {} };
const A = call({ maxTokens: 2000 }); // holds $0.06
const B = call({ maxTokens: 1666 }); // needs $0.04998

function setup(waitMs: number) {
  return harness({ limits: { dailyUsd: 0.1, waitMs }, estimator: fixedEstimator(0), clock: REAL }).policy;
}

void describe('wait option', () => {
  it('off (default): refused at once while another call holds the room', async () => {
    const policy = setup(0);
    const a = await policy.admit(A);
    assert.equal(a.action, 'allow');
    const t0 = Date.now();
    const b = await policy.admit(B);
    assert.equal(b.action, 'block');
    assert.ok(Date.now() - t0 < 50);
    assert.equal((errorOf(b) as BudgetExceededError).reservedUsd, 0.06);
  });

  it('waits for the hold to settle, then goes on the settled spend', async () => {
    const policy = setup(5_000);
    const a = await policy.admit(A);
    const pending = policy.admit(B);
    setTimeout(() => policy.complete(a.ticket, { costUsd: 0.03, model: 'big' }), 100);
    const t0 = Date.now();
    const b = await pending;
    assert.equal(b.action, 'allow');
    assert.ok(Date.now() - t0 >= 80, 'it waited for the settle');
    assert.equal(b.remainingUsd, 0.02002);
  });

  it('refused as soon as the settled spend alone leaves no room, before its deadline', async () => {
    const policy = setup(5_000);
    const a = await policy.admit(A);
    const pending = policy.admit(B);
    setTimeout(() => policy.complete(a.ticket, { costUsd: 0.06, model: 'big' }), 50);
    const t0 = Date.now();
    const b = await pending;
    assert.equal(b.action, 'block');
    assert.ok(Date.now() - t0 < 2_000);
    const e = errorOf(b) as BudgetExceededError;
    assert.equal(e.scope, 'agent.daily');
    assert.equal(e.spentUsd, 0.06);
    assert.equal(e.reservedUsd, 0);
  });

  it('refused at its deadline when the hold is still in flight', async () => {
    const policy = setup(200);
    await policy.admit(A);
    const t0 = Date.now();
    const b = await policy.admit(B);
    const waited = Date.now() - t0;
    assert.equal(b.action, 'block');
    assert.ok(waited >= 190 && waited < 2_000, `waited ${waited} ms`);
    assert.equal((errorOf(b) as BudgetExceededError).reservedUsd, 0.06);
  });

  it('a call whose worst case exceeds the settled room does not wait at all', async () => {
    const policy = setup(5_000);
    const a = await policy.admit(A);
    policy.complete(a.ticket, { costUsd: 0.06, model: 'big' });
    const t0 = Date.now();
    const b = await policy.admit(B);
    assert.equal(b.action, 'block');
    assert.ok(Date.now() - t0 < 50);
  });
});
