import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetExceededError, LedgerUnavailableError, TollgateError } from '../../src/errors.ts';
import type { GateDecision } from '../../src/gate.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import type { Ledger } from '../../src/ledger/types.ts';
import { WriteBuffer, type BufferedWrite } from '../../src/ledger/write-buffer.ts';
import { DEFAULT_MAX_TOKENS, createBudgetPolicy, type BudgetExceededEvent } from '../../src/policy/index.ts';
import { resolveConfig } from '../../src/config/index.ts';
import { NOON, call, clock, errorOf, fixedEstimator, harness } from './helpers.ts';

function blockedError(d: GateDecision): BudgetExceededError {
  assert.equal(d.action, 'block');
  const error = errorOf(d);
  assert.ok(error instanceof BudgetExceededError, `expected BudgetExceededError, got ${String(error)}`);
  return error;
}

void describe('BudgetPolicy: output ceiling', () => {
  void it('allows a call with no caps and leaves max_tokens alone when the model states its limit', async () => {
    const { policy } = harness();
    const d = await policy.admit(call({ maxTokens: undefined }));
    assert.equal(d.action, 'allow');
    assert.equal(d.maxTokens, undefined);
    assert.equal(d.model, undefined);
  });

  void it('sets the configured ceiling on a call that set none (allow + maxTokens)', async () => {
    const { policy } = harness({ limits: { maxTokens: 700 } });
    const d = await policy.admit(call({ maxTokens: undefined }));
    assert.equal(d.action, 'allow');
    assert.equal(d.maxTokens, 700);
  });

  void it('rewrites a max_tokens above the ceiling', async () => {
    const { policy } = harness({ limits: { maxTokens: 700 } });
    const d = await policy.admit(call({ maxTokens: 5000 }));
    assert.equal(d.action, 'rewrite');
    assert.equal(d.maxTokens, 700);
    assert.equal(d.reason, 'max_tokens ceiling 700');
  });

  void it('sets the documented default when neither call, config nor price table gives a limit', async () => {
    const { policy } = harness();
    const d = await policy.admit(call({ model: 'small', maxTokens: undefined }));
    assert.equal(d.action, 'allow');
    assert.equal(d.maxTokens, DEFAULT_MAX_TOKENS);
  });

  void it('prices the worst case with the model limit when the call sets none', async () => {
    // big: 1000 in x 10_000 + 8000 out x 30_000 nano-USD = $0.25; the cap holds $0.2499.
    const { policy } = harness({ limits: { dailyUsd: 0.2499 } });
    const e = blockedError(await policy.admit(call({ maxTokens: undefined })));
    assert.equal(e.estimatedUsd, 0.25);
  });
});

void describe('BudgetPolicy: reservations', () => {
  void it('reserves the worst case, settles the real cost, and reports the room left', async () => {
    const { policy } = harness({ limits: { dailyUsd: 1 } });
    const d = await policy.admit(call());
    assert.equal(d.action, 'allow');
    assert.equal(d.remainingUsd, 0.96); // $1 - (1000 x 10_000 + 1000 x 30_000) nano-USD
    let s = await policy.getAgentStatus('main');
    assert.deepEqual(s.budgets, [
      { scope: 'agent.daily', limitUsd: 1, spentUsd: 0, reservedUsd: 0.04, remainingUsd: 0.96, resetAt: '2026-11-26T00:00:00.000Z' },
    ]);
    policy.complete(d.ticket, { costUsd: 0.013, model: 'big' });
    s = await policy.getAgentStatus('main');
    assert.equal(s.budgets[0]!.spentUsd, 0.013);
    assert.equal(s.budgets[0]!.reservedUsd, 0);
    assert.equal(s.blocked, false);
    // A second complete of the same ticket is ignored.
    policy.complete(d.ticket, { costUsd: 0.013, model: 'big' });
    assert.equal((await policy.getAgentStatus('main')).budgets[0]!.spentUsd, 0.013);
  });

  void it('abort releases the hold', async () => {
    const { policy } = harness({ limits: { dailyUsd: 1 } });
    const d = await policy.admit(call());
    policy.abort(d.ticket);
    const s = await policy.getAgentStatus('main');
    assert.equal(s.budgets[0]!.reservedUsd, 0);
    assert.equal(s.budgets[0]!.spentUsd, 0);
  });

  void it('blocks with every BudgetExceededError field set when the daily cap lacks room', async () => {
    const { policy } = harness({ limits: { dailyUsd: 0.1, monthlyUsd: 10 } });
    const a = await policy.admit(call({ task: { id: 't1' } }));
    policy.complete(a.ticket, { costUsd: 0.035, model: 'big' });
    const b = await policy.admit(call({ task: { id: 't1' } }));
    assert.equal(b.action, 'allow');
    const e = blockedError(await policy.admit(call({ task: { id: 't1' } })));
    assert.equal(e.code, 'BUDGET_EXCEEDED');
    assert.equal(e.scope, 'agent.daily');
    assert.equal(e.agent, 'main');
    assert.equal(e.taskId, 't1');
    assert.equal(e.limitUsd, 0.1);
    assert.equal(e.spentUsd, 0.035);
    assert.equal(e.reservedUsd, 0.04);
    assert.equal(e.estimatedUsd, 0.04);
    assert.equal(e.resetAt, '2026-11-26T00:00:00.000Z');
    assert.match(e.message, /agent\.daily of agent "main" \(task t1\)/);
  });

  void it('blocks on the monthly cap with the month start as resetAt', async () => {
    const { policy } = harness({ limits: { dailyUsd: 100, monthlyUsd: 0.05 } });
    const e = blockedError(await policy.admit(call({ maxTokens: 2000 })));
    assert.equal(e.scope, 'agent.monthly');
    assert.equal(e.resetAt, '2026-12-01T00:00:00.000Z');
    assert.equal(e.estimatedUsd, 0.07);
  });

  void it('caps a task, with resetAt null, and leaves other tasks and the agent free', async () => {
    const { policy } = harness({ limits: { taskUsd: 0.05 } });
    const a = await policy.admit(call({ task: { id: 'A', type: 'research' } }));
    assert.equal(a.action, 'allow');
    const e = blockedError(await policy.admit(call({ task: { id: 'A', type: 'research' } })));
    assert.equal(e.scope, 'task');
    assert.equal(e.taskId, 'A');
    assert.equal(e.limitUsd, 0.05);
    assert.equal(e.reservedUsd, 0.04);
    assert.equal(e.resetAt, null);
    assert.equal((await policy.admit(call({ task: { id: 'B' } }))).action, 'allow');
    assert.equal((await policy.getAgentStatus('main')).blocked, false);
  });

  void it('counts exactly only when the fast bound does not fit', async () => {
    const est = fixedEstimator(3000, 1000);
    // bound: 3000 x 10_000 + 1000 x 30_000 = $0.06; exact: $0.04.
    const { policy } = harness({ limits: { dailyUsd: 0.05 }, estimator: est });
    const a = await policy.admit(call({ agent: 'x' }));
    assert.equal(a.action, 'allow');
    assert.equal(est.exactCalls, 0);
    const { policy: p2 } = harness({ limits: { dailyUsd: 0.05 }, estimator: est });
    const b = await p2.admit(call());
    assert.equal(b.action, 'allow');
    assert.equal(est.exactCalls, 1);
    assert.equal(b.remainingUsd, 0.01);
  });

  void it('settles above the hold when the real cost is higher (the cap is a reservation, the spend is real)', async () => {
    const { policy } = harness({ limits: { dailyUsd: 1 } });
    const d = await policy.admit(call());
    policy.complete(d.ticket, { costUsd: 0.05, model: 'big' });
    assert.equal((await policy.getAgentStatus('main')).budgets[0]!.spentUsd, 0.05);
  });
});

void describe('BudgetPolicy: windows (fake clock)', () => {
  void it('resets the daily cap at UTC midnight and the monthly cap at the month start', async () => {
    const c = clock(Date.UTC(2026, 10, 30, 23, 59, 0));
    const { policy } = harness({ clock: c, limits: { dailyUsd: 0.05, monthlyUsd: 0.09 } });
    const a = await policy.admit(call());
    policy.complete(a.ticket, { costUsd: 0.04, model: 'big' });
    assert.equal(blockedError(await policy.admit(call())).scope, 'agent.daily');
    let s = await policy.getAgentStatus('main');
    assert.equal(s.blocked, true);
    assert.equal(s.blockedScope, 'agent.daily');
    assert.equal(s.blockedUntil, '2026-12-01T00:00:00.000Z');

    c.set(Date.UTC(2026, 11, 1, 0, 0, 0) - 1);
    assert.equal(blockedError(await policy.admit(call())).scope, 'agent.daily');
    c.set(Date.UTC(2026, 11, 1, 0, 0, 0));
    // A new day and a new month: both counters start from zero.
    s = await policy.getAgentStatus('main');
    assert.equal(s.blocked, false);
    assert.deepEqual(
      s.budgets.map((b) => [b.scope, b.spentUsd, b.resetAt]),
      [
        ['agent.daily', 0, '2026-12-02T00:00:00.000Z'],
        ['agent.monthly', 0, '2027-01-01T00:00:00.000Z'],
      ],
    );
    const b = await policy.admit(call());
    assert.equal(b.action, 'allow');
    policy.complete(b.ticket, { costUsd: 0.04, model: 'big' });

    // Next day, same month: daily resets, monthly keeps counting.
    c.set(Date.UTC(2026, 11, 2, 0, 0, 1));
    const d = await policy.admit(call());
    policy.complete(d.ticket, { costUsd: 0.04, model: 'big' });
    c.set(Date.UTC(2026, 11, 3, 0, 0, 1));
    const e = blockedError(await policy.admit(call()));
    assert.equal(e.scope, 'agent.monthly');
    assert.equal(e.spentUsd, 0.08);
    assert.equal(e.resetAt, '2027-01-01T00:00:00.000Z');
  });
});

void describe('BudgetPolicy: downgrade', () => {
  const ladderFile = { ladders: { openai: ['big', 'mid', 'small'] }, maxTokensFloor: 300 };

  void it('clamps max_tokens to what the budget affords', async () => {
    // room $0.025: input 1000 x 10_000 = 10M; (25M - 10M - 1) / 30_000 = 499 tokens.
    const { policy } = harness({ limits: { dailyUsd: 0.025, onExceed: 'downgrade' }, file: ladderFile });
    const d = await policy.admit(call());
    assert.equal(d.action, 'rewrite');
    assert.equal(d.model, undefined);
    assert.equal(d.maxTokens, 499);
    assert.equal(d.reason, 'budget agent.daily: max_tokens 1000 -> 499');
    assert.equal(d.remainingUsd, 0.00003);
  });

  void it('walks the ladder when clamping would go below the floor', async () => {
    // room $0.012: big affords (12M - 10M)/30_000 = 66 < floor 300; mid costs 2M + 8M = $0.01.
    const { policy, reader } = harness({ limits: { dailyUsd: 0.012, onExceed: 'downgrade' }, file: ladderFile });
    const d = await policy.admit(call());
    assert.equal(d.action, 'rewrite');
    assert.equal(d.model, 'mid');
    assert.equal(d.maxTokens, undefined);
    assert.equal(d.reason, 'budget agent.daily: model big -> mid');
    policy.complete(d.ticket, { costUsd: 0.005, model: 'mid' });
    // Saving: worst case big $0.04 vs mid $0.01 -> 3 USD saved per USD spent.
    const saved = await reader.points('tollgate.cost.saved.usd');
    assert.deepEqual(saved, [
      { attributes: { 'gen_ai.agent.name': 'main', 'gen_ai.request.model': 'mid', 'tollgate.saving.kind': 'routing' }, value: 0.015 },
    ]);
  });

  void it('clamps on a cheaper model when its full ceiling does not fit either', async () => {
    // room $0.004: big and mid inputs alone cost 10M / 2M; mid affords (4M - 2M - 1)/8_000 = 249 < 300;
    // small: 0.5M + 1000 x 1000 = 1.5M fits whole.
    const { policy } = harness({ limits: { dailyUsd: 0.004, onExceed: 'downgrade' }, file: ladderFile });
    const d = await policy.admit(call());
    assert.equal(d.model, 'small');
    assert.equal(d.maxTokens, undefined);
    // room $0.0009: small affords (900_000 - 500_000 - 1)/1000 = 399 tokens.
    const { policy: p2 } = harness({ limits: { dailyUsd: 0.0009, onExceed: 'downgrade' }, file: ladderFile });
    const d2 = await p2.admit(call());
    assert.equal(d2.model, 'small');
    assert.equal(d2.maxTokens, 399);
    assert.equal(d2.reason, 'budget agent.daily: model big -> small; budget agent.daily: max_tokens 1000 -> 399');
  });

  void it('blocks when nothing on the ladder fits', async () => {
    const { policy } = harness({ limits: { dailyUsd: 0.0004, onExceed: 'downgrade' }, file: ladderFile });
    const e = blockedError(await policy.admit(call()));
    assert.equal(e.scope, 'agent.daily');
    assert.equal(e.estimatedUsd, 0.04);
    assert.equal(e.limitUsd, 0.0004);
  });

  void it('with on_exceed=block it never rewrites', async () => {
    const { policy } = harness({ limits: { dailyUsd: 0.025 }, file: ladderFile });
    assert.equal((await policy.admit(call())).action, 'block');
  });
});

void describe('BudgetPolicy: routing', () => {
  void it('applies a config rule by task type and records the routing saving', async () => {
    const { policy, reader } = harness({
      file: { routes: [{ name: 'triage', match: { taskType: 'triage', hasTools: false }, model: 'small' }] },
    });
    const d = await policy.admit(call({ task: { id: 't', type: 'triage' } }));
    assert.equal(d.action, 'rewrite');
    assert.equal(d.model, 'small');
    assert.equal(d.reason, 'route triage: big -> small');
    policy.complete(d.ticket, { costUsd: 0.001, model: 'small' });
    // worst case big $0.04 / small $0.0015 -> saved 0.001 x (0.04/0.0015 - 1)
    const [p] = await reader.points('tollgate.cost.saved.usd');
    assert.ok(p !== undefined);
    assert.ok(Math.abs(p.value - 0.001 * (0.04 / 0.0015 - 1)) < 1e-12);
    // Tools present: the rule does not match.
    const withTools = await policy.admit(call({ task: { id: 't', type: 'triage' }, body: { model: 'big', messages: [], tools: [{ type: 'function' }] } }));
    assert.equal(withTools.action, 'allow');
  });

  void it('asks the user function first, with the call features', async () => {
    const seen: unknown[] = [];
    const { policy } = harness({
      file: { routes: [{ match: { provider: 'openai' }, model: 'mid' }] },
      policy: {
        route: (input) => {
          seen.push([input.model, input.inputTokens, input.maxTokens, input.hasImages, input.taskType]);
          return input.hasImages ? undefined : 'small';
        },
      },
    });
    const d = await policy.admit(call({ task: { id: 't', type: 'x' } }));
    assert.equal(d.model, 'small');
    assert.equal(d.reason, 'route route(): big -> small');
    const img = await policy.admit(
      call({ body: { model: 'big', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:' } }] }] } }),
    );
    assert.equal(img.model, 'mid');
    assert.equal(img.reason, 'route routes[0]: big -> mid');
    assert.deepEqual(seen, [
      ['big', 1000, 1000, false, 'x'],
      ['big', 1000, 1000, true, undefined],
    ]);
  });

  void it('built-in small-prompt rule moves a small call to the cheapest ladder model, only when enabled', async () => {
    const file = { ladders: { openai: ['big', 'mid', 'small'] }, builtinRoutes: true };
    const { policy } = harness({ file, estimator: fixedEstimator(500) });
    assert.equal((await policy.admit(call({ maxTokens: 256 }))).model, 'small');
    assert.equal((await policy.admit(call({ maxTokens: 1024 }))).model, undefined);
    const { policy: off } = harness({ file: { ladders: file.ladders }, estimator: fixedEstimator(500) });
    assert.equal((await off.admit(call({ maxTokens: 256 }))).model, undefined);
  });
});

void describe('BudgetPolicy: unknown models', () => {
  void it('prices an unknown model at fallback rates by default', async () => {
    const { policy } = harness({ limits: { dailyUsd: 1000 } });
    const d = await policy.admit(call({ model: 'acme-unknown-9' }));
    assert.equal(d.action, 'allow');
    assert.equal(d.maxTokens, undefined);
  });

  void it('blocks an unknown model when the config says so', async () => {
    const { policy } = harness({ file: { unknownModel: 'block' } });
    const d = await policy.admit(call({ model: 'acme-unknown-9' }));
    assert.equal(d.action, 'block');
    assert.ok(errorOf(d) instanceof TollgateError);
    assert.equal((errorOf(d) as TollgateError).code, 'MODEL_UNPRICED');
  });
});

void describe('BudgetPolicy: runaway-loop guards and escalation', () => {
  void it('caps attempts per task without touching other tasks', async () => {
    const events: BudgetExceededEvent[] = [];
    const { policy, reader } = harness({ limits: { maxAttemptsPerTask: 3 }, policy: { onBudgetExceeded: (e) => events.push(e) } });
    for (let i = 0; i < 3; i++) assert.equal((await policy.admit(call({ task: { id: 'loop' } }))).action, 'allow');
    const e = blockedError(await policy.admit(call({ task: { id: 'loop' } })));
    assert.equal(e.scope, 'task.attempts');
    assert.equal(e.taskId, 'loop');
    assert.match(e.message, /made 4 LLM calls, more than maxAttemptsPerTask 3/);
    assert.equal((await policy.admit(call({ task: { id: 'other' } }))).action, 'allow');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.error, e);
    assert.equal(events[0]!.agent, 'main');
    assert.deepEqual(await reader.points('tollgate.calls.blocked'), [
      { attributes: { 'gen_ai.agent.name': 'main', 'gen_ai.request.model': 'big', 'tollgate.budget.scope': 'task.attempts' }, value: 1 },
    ]);
  });

  void it('blocks an agent spending faster than its USD/minute rate, only that agent, until the minute slides', async () => {
    const { policy, clock: c } = harness({
      file: { agents: { looper: { rateUsdPerMinute: 0.1 } } },
    });
    for (let i = 0; i < 5; i++) {
      const d = await policy.admit(call({ agent: 'looper' }));
      assert.equal(d.action, 'allow');
      policy.complete(d.ticket, { costUsd: 0.02, model: 'big' });
      c.advance(1000);
    }
    const e = blockedError(await policy.admit(call({ agent: 'looper' })));
    assert.equal(e.scope, 'agent.rate');
    assert.equal(e.limitUsd, 0.1);
    assert.ok(Math.abs(e.spentUsd - 0.1) < 1e-12);
    // The first $0.02 was spent at NOON; it slides out 60 s later.
    assert.equal(e.resetAt, new Date(NOON + 60_000).toISOString());
    assert.equal((await policy.admit(call({ agent: 'calm' }))).action, 'allow');
    const st = await policy.getAgentStatus('looper');
    assert.equal(st.blocked, true);
    assert.equal(st.blockedScope, 'agent.rate');
    c.set(NOON + 60_000);
    assert.equal((await policy.admit(call({ agent: 'looper' }))).action, 'allow');
    assert.equal((await policy.getAgentStatus('looper')).blocked, false);
  });

  void it('reports utilization per agent and scope', async () => {
    const { policy, reader } = harness({ limits: { dailyUsd: 0.1, monthlyUsd: 1 } });
    const d = await policy.admit(call());
    policy.complete(d.ticket, { costUsd: 0.04, model: 'big' });
    const pts = await reader.points('tollgate.budget.utilization');
    assert.deepEqual(
      pts.map((p) => [p.attributes['tollgate.budget.scope'], p.attributes['gen_ai.agent.name'], Math.round(p.value * 1000) / 1000]),
      [
        ['agent.daily', 'main', 0.4],
        ['agent.monthly', 'main', 0.04],
      ],
    );
  });

  void it('keeps going when the onBudgetExceeded callback throws', async () => {
    const { policy } = harness({
      limits: { dailyUsd: 0.01 },
      policy: {
        onBudgetExceeded: () => {
          throw new Error('pager down');
        },
      },
    });
    assert.equal(blockedError(await policy.admit(call())).scope, 'agent.daily');
  });
});

void describe('BudgetPolicy: task_usd=auto', () => {
  void it('has no task cap until 20 tasks of the type completed, then 3 x their median', async () => {
    const { policy } = harness({ limits: { taskUsd: 'auto' } });
    for (let i = 0; i < 19; i++) policy.observeCompletedTask({ type: 'summarise', costUsd: 0.01 + i * 0.001 });
    assert.equal(policy.autoTaskCapUsd('summarise'), undefined);
    assert.equal((await policy.admit(call({ task: { id: 'x', type: 'summarise' }, maxTokens: 4000 }))).action, 'allow');
    policy.observeCompletedTask({ type: 'summarise', costUsd: 0.5 });
    // 20 costs: 0.010 .. 0.028 and 0.5: median = (0.019 + 0.020) / 2.
    assert.ok(Math.abs(policy.autoTaskCapUsd('summarise')! - 3 * 0.0195) < 1e-12);
    assert.equal((await policy.admit(call({ task: { id: 'y', type: 'summarise' }, maxTokens: 1000 }))).action, 'allow');
    const e = blockedError(await policy.admit(call({ task: { id: 'w', type: 'summarise' }, maxTokens: 2000 })));
    assert.equal(e.scope, 'task');
    assert.equal(e.limitUsd, 0.0585);
    // Other types stay uncapped.
    assert.equal((await policy.admit(call({ task: { id: 'z', type: 'other' }, maxTokens: 4000 }))).action, 'allow');
  });
});

void describe('BudgetPolicy: foreign spend', () => {
  void it('recordForeign charges the agent and task without a reservation', async () => {
    const { policy } = harness({ limits: { dailyUsd: 0.05, taskUsd: 1 } });
    await policy.recordForeign({ agent: 'main', task: { id: 't' }, costUsd: 0.03 });
    const s = await policy.getAgentStatus('main');
    assert.equal(s.budgets[0]!.spentUsd, 0.03);
    assert.equal(blockedError(await policy.admit(call({ task: { id: 't' } }))).spentUsd, 0.03);
  });
});

/** A ledger that can be switched off (rejects every call) and back on. */
/**
 * A ledger over `inner` that can be down or hang. Like the Redis and SQLite ledgers, it owns
 * the one write buffer (WriteBuffer): a settle / record it cannot write is kept and written
 * when it is back; the policy keeps none of its own.
 */
function flakyLedger(inner: Ledger): Ledger & { down: boolean; hang: boolean; readonly pendingWrites: number; flush(): Promise<number> } {
  type W = BufferedWrite & { readonly apply: () => Promise<void> };
  const buffer = new WriteBuffer<W>({
    description: 'flaky',
    maxWrites: 100,
    retryMillis: 60_000,
    ready: () => !l.down && !l.hang,
    send: (w) => w.apply(),
    transient: () => true,
    mayHaveLanded: () => false,
  });
  const write = (holdId: string, actualNanos: number, apply: () => Promise<void>): Promise<void> => {
    if (l.down || l.hang) {
      buffer.add({ holdId, actualNanos, retry: false, apply });
      return Promise.resolve();
    }
    return apply();
  };
  const l = {
    down: false,
    hang: false,
    description: 'flaky',
    gate<T>(fn: () => Promise<T>): Promise<T> {
      if (l.hang) return new Promise<T>(() => {});
      return l.down ? Promise.reject(new Error('ECONNREFUSED')) : fn();
    },
    get pendingWrites() {
      return buffer.size;
    },
    flush: () => buffer.flush(),
    reserve: (r: Parameters<Ledger['reserve']>[0]) => l.gate(() => inner.reserve(r)),
    settle: (r: Parameters<Ledger['settle']>[0], n: number) => write(r.id, n, () => inner.settle(r, n)),
    release: (r: Parameters<Ledger['release']>[0]) => write(r.id, 0, () => inner.release(r)),
    record: (s: Parameters<Ledger['record']>[0], n: number) => write('', n, () => inner.record(s, n)),
    spent: (s: Parameters<Ledger['spent']>[0]) => l.gate(() => inner.spent(s)),
    close: () => inner.close(),
  };
  return l;
}

void describe('BudgetPolicy: ledger outage', () => {
  void it('failure=closed blocks with LedgerUnavailableError, then retries after the back-off', async () => {
    const c = clock();
    const flaky = flakyLedger(new MemoryLedger({ now: c.now }));
    const { policy, reader } = harness({ clock: c, ledger: flaky, limits: { dailyUsd: 1 }, policy: { ledgerRetryMillis: 5000 } });
    flaky.down = true;
    const d = await policy.admit(call());
    assert.equal(d.action, 'block');
    assert.ok(errorOf(d) instanceof LedgerUnavailableError);
    assert.equal((errorOf(d) as LedgerUnavailableError).ledger, 'flaky');
    flaky.down = false;
    // Still inside the back-off: fails fast without asking the ledger.
    assert.equal((await policy.admit(call())).action, 'block');
    c.advance(5000);
    assert.equal((await policy.admit(call())).action, 'allow');
    const blocked = await reader.points('tollgate.calls.blocked');
    assert.equal(blocked.length, 1);
    assert.equal(blocked[0]!.attributes['tollgate.budget.scope'], 'ledger.unavailable');
    assert.equal(blocked[0]!.value, 2);
    await policy.close();
  });

  void it('failure=open lets calls go, buffers their spend, and flushes it when the ledger is back', async () => {
    const c = clock();
    const inner = new MemoryLedger({ now: c.now });
    const flaky = flakyLedger(inner);
    const { policy } = harness({ clock: c, ledger: flaky, ledgerFailure: 'open', limits: { dailyUsd: 1 } });
    flaky.down = true;
    const d = await policy.admit(call());
    assert.equal(d.action, 'allow');
    assert.equal(d.reason, 'ledger unavailable: admitted unchecked (failure=open)');
    policy.complete(d.ticket, { costUsd: 0.02, model: 'big' });
    const d2 = await policy.admit(call());
    policy.complete(d2.ticket, { costUsd: 0.03, model: 'big' });
    assert.equal(policy.pendingWrites, 2);
    assert.equal(await policy.flush(), 2); // still down
    flaky.down = false;
    assert.equal(await policy.flush(), 0);
    const [day] = (await policy.getAgentStatus('main')).budgets;
    assert.equal(day!.spentUsd, 0.05);
    await policy.close();
  });

  void it('bounds a ledger call that never answers', async () => {
    const flaky = flakyLedger(new MemoryLedger());
    const { policy } = harness({ ledger: flaky, limits: { dailyUsd: 1 }, policy: { ledgerTimeoutMillis: 20 } });
    flaky.hang = true;
    const d = await policy.admit(call());
    assert.equal(d.action, 'block');
    assert.ok(errorOf(d) instanceof LedgerUnavailableError);
    assert.match(errorOf(d)!.message, /no answer within 20 ms/);
    await policy.close();
  });
});

void describe('BudgetPolicy: decision kinds', () => {
  void it('a budget clamp on a call without max_tokens is a rewrite, not an allow', async () => {
    // No max_tokens: big's limit 8000 bounds the estimate; room $0.025 affords 499 tokens.
    const { policy } = harness({ limits: { dailyUsd: 0.025, onExceed: 'downgrade' } });
    const d = await policy.admit(call({ maxTokens: undefined }));
    assert.equal(d.action, 'rewrite');
    assert.equal(d.maxTokens, 499);
    assert.equal(d.reason, 'budget agent.daily: max_tokens 8000 -> 499');
  });
});

void describe('createBudgetPolicy', () => {
  void it('builds the ledger, prices and estimator the config names', async () => {
    const config = resolveConfig({ env: { OTEL_RESOURCE_ATTRIBUTES: 'service.name=svc,tollgate.budget.daily_usd=0.00001' } });
    const policy = await createBudgetPolicy({ config });
    const e = blockedError(await policy.admit(call({ model: 'gpt-4o-mini', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } })));
    assert.equal(e.agent, 'svc');
    assert.equal(e.limitUsd, 0.00001);
    await policy.close();
  });
});
