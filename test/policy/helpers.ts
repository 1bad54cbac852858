/**
 * Shared set-up for the policy tests: a real price table with test models, a real
 * MeterProvider read on demand, a settable clock, and a counting estimator.
 */
import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import type { Attributes } from '@opentelemetry/api';
import { resolveConfig, type AgentLimits } from '../../src/config/index.ts';
import { refusalError } from '../../src/errors.ts';
import type { CallDescription, GateDecision } from '../../src/gate.ts';
import type { TaskInfo } from '../../src/context.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import type { Ledger } from '../../src/ledger/types.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { BudgetPolicy, type BudgetPolicyOptions, type InputEstimator } from '../../src/policy/index.ts';

/**
 * Test models, USD per million tokens. In nano-USD per token: big 10_000 in / 30_000 out,
 * mid 2_000 / 8_000, small 500 / 1_000.
 */
export const PRICES = createPriceTable({
  overrides: [
    { provider: 'openai', model: 'big', input: 10, output: 30, maxOutputTokens: 8000 },
    { provider: 'openai', model: 'mid', input: 2, output: 8, maxOutputTokens: 8000 },
    { provider: 'openai', model: 'small', input: 0.5, output: 1 },
    { provider: 'anthropic', model: 'claude-test', input: 3, output: 15, cacheWrite: 3.75, cacheWrite1h: 6, maxOutputTokens: 64000 },
  ],
});

/** 2026-11-25 12:00 UTC */
export const NOON = Date.UTC(2026, 10, 25, 12, 0, 0);

/** The error a decision throws into the call: built from its refusal (as the instrumentation does), or undefined when it does not block. */
export function errorOf(d: GateDecision): Error | undefined {
  return d.refusal === undefined ? d.error : refusalError(d.refusal);
}

export interface Clock {
  now: () => number;
  set(ms: number): void;
  advance(ms: number): void;
}

export function clock(start = NOON): Clock {
  let t = start;
  return { now: () => t, set: (ms) => (t = ms), advance: (ms) => (t += ms) };
}

/** An estimator with fixed answers that counts how often the exact count ran. */
export function fixedEstimator(upper: number, exact = upper): InputEstimator & { exactCalls: number } {
  const e = {
    exactCalls: 0,
    upperBound: () => upper,
    count: () => {
      e.exactCalls++;
      return exact;
    },
  };
  return e;
}

export class TestReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Data points of one instrument, as { attributes, value }. */
  async points(name: string): Promise<{ attributes: Attributes; value: number }[]> {
    const { resourceMetrics } = await this.collect();
    const out: { attributes: Attributes; value: number }[] = [];
    for (const sm of resourceMetrics.scopeMetrics) {
      for (const m of sm.metrics) {
        if (m.descriptor.name !== name) continue;
        for (const dp of m.dataPoints as DataPoint<number>[]) out.push({ attributes: dp.attributes, value: dp.value });
      }
    }
    return out;
  }
}

export interface Harness {
  readonly policy: BudgetPolicy;
  readonly ledger: Ledger;
  readonly clock: Clock;
  readonly reader: TestReader;
}

export interface HarnessOptions {
  readonly limits?: AgentLimits;
  readonly file?: Record<string, unknown>;
  readonly ledger?: Ledger;
  readonly clock?: Clock;
  readonly estimator?: InputEstimator;
  readonly ledgerFailure?: 'closed' | 'open';
  readonly policy?: Partial<Omit<BudgetPolicyOptions, 'config' | 'ledger' | 'prices' | 'estimator'>>;
}

export function harness(o: HarnessOptions = {}): Harness {
  const c = o.clock ?? clock();
  const config = resolveConfig({
    env: {},
    overrides: {
      agent: 'main',
      ...(o.limits !== undefined ? { limits: o.limits } : {}),
      ...(o.file !== undefined ? { configFile: { version: 1, ...o.file } } : {}),
      ...(o.ledgerFailure !== undefined ? { ledgerFailure: o.ledgerFailure } : {}),
    },
  });
  const ledger = o.ledger ?? new MemoryLedger({ now: c.now });
  const reader = new TestReader();
  const meter = new MeterProvider({ readers: [reader] }).getMeter('tollgate');
  const policy = new BudgetPolicy({
    config,
    ledger,
    prices: PRICES,
    estimator: o.estimator ?? fixedEstimator(1000),
    now: c.now,
    meter,
    ...o.policy,
  });
  return { policy, ledger, clock: c, reader };
}

/** A call description with defaults. */
export function call(over: Partial<Omit<CallDescription, 'task'>> & { task?: TaskInfo | undefined } = {}): CallDescription {
  return {
    provider: 'openai',
    operation: 'chat',
    model: 'big',
    maxTokens: 1000,
    stream: false,
    body: { model: over.model ?? 'big', messages: [{ role: 'user', content: 'hi' }] },
    agent: undefined,
    task: undefined,
    attempt: 1,
    ...over,
  };
}
