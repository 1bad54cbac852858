/**
 * The cost and GenAI client instruments the processor records. Task ids never
 * become attributes (unbounded cardinality); task types do.
 */
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import {
  METRIC_COST_SAVED_USD,
  METRIC_COST_USD,
  METRIC_GEN_AI_OPERATION_DURATION,
  METRIC_GEN_AI_TOKEN_USAGE,
  METRIC_UNPRICED_CALLS,
} from '../semconv.ts';

/** GenAI conventions: `gen_ai.client.token.usage` buckets, 1 to 4^13. */
export const TOKEN_BUCKETS: readonly number[] = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
/** GenAI conventions: `gen_ai.client.operation.duration` buckets in seconds, 0.01 doubling to 81.92. */
export const DURATION_BUCKETS: readonly number[] = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

/** The instruments, created once per processor. */
export class CostInstruments {
  readonly cost: Counter;
  readonly saved: Counter;
  readonly tokens: Histogram;
  readonly duration: Histogram;
  readonly fallback: Counter;

  constructor(meter: Meter) {
    this.cost = meter.createCounter(METRIC_COST_USD, {
      description: 'Cost of LLM calls in USD, by agent, provider, priced model, operation and task type',
      unit: '{USD}',
    });
    this.saved = meter.createCounter(METRIC_COST_SAVED_USD, {
      description: 'USD saved: prompt-cache reads (cache), model routing (routing), max_tokens clamps (max_tokens)',
      unit: '{USD}',
    });
    this.tokens = meter.createHistogram(METRIC_GEN_AI_TOKEN_USAGE, {
      description: 'Measures number of input and output tokens used',
      unit: '{token}',
      advice: { explicitBucketBoundaries: [...TOKEN_BUCKETS] },
    });
    this.duration = meter.createHistogram(METRIC_GEN_AI_OPERATION_DURATION, {
      description: 'GenAI operation duration',
      unit: 's',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS] },
    });
    this.fallback = meter.createCounter(METRIC_UNPRICED_CALLS, {
      description: 'Calls to models no price table knows, priced at the provider\'s most expensive known rates',
      unit: '{call}',
    });
  }
}

/** Copies `attrs` without undefined values (the metrics SDK keys series on every attribute present). */
export function defined(attrs: Record<string, string | number | undefined>): Attributes {
  const out: Attributes = {};
  for (const k in attrs) {
    const v = attrs[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}
