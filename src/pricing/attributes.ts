/**
 * The one place the cost of a call is written on its span. The instrumentation writes it when
 * it priced its own call; the span processor writes it only for a span that arrived without a
 * cost (a foreign instrumentation's). Either way a call is priced once and its seven cost
 * attributes come from here, so the two sides cannot drift (docs/pricing.md).
 */
import type { AttributeValue } from '@opentelemetry/api';
import {
  ATTR_COST_CACHE_READ_USD,
  ATTR_COST_CACHE_WRITE_USD,
  ATTR_COST_INPUT_USD,
  ATTR_COST_OUTPUT_USD,
  ATTR_COST_SOURCE,
  ATTR_COST_USD,
  ATTR_GEN_AI_USAGE_COST,
} from '../semconv.ts';
import type { PricedCall } from './cost.ts';

/** Anything attributes are set on: a live span (`Span`), or a writable SDK span in `onEnding`. */
export interface AttributeSink {
  setAttribute(key: string, value: AttributeValue): unknown;
}

/**
 * Writes `tollgate.cost.usd` (and its `gen_ai.usage.cost` twin), the four parts of the breakdown
 * and `tollgate.cost.source` for a priced call. Returns the total in USD.
 */
export function writeCostAttributes(span: AttributeSink, priced: Pick<PricedCall, 'cost' | 'source'>): number {
  const cost = priced.cost;
  span.setAttribute(ATTR_COST_USD, cost.totalUsd);
  span.setAttribute(ATTR_GEN_AI_USAGE_COST, cost.totalUsd);
  span.setAttribute(ATTR_COST_INPUT_USD, cost.inputUsd);
  span.setAttribute(ATTR_COST_OUTPUT_USD, cost.outputUsd);
  span.setAttribute(ATTR_COST_CACHE_READ_USD, cost.cacheReadUsd);
  span.setAttribute(ATTR_COST_CACHE_WRITE_USD, cost.cacheWriteUsd);
  span.setAttribute(ATTR_COST_SOURCE, priced.source);
  return cost.totalUsd;
}
