import type { CostBreakdown, ModelPrice, PriceLookup, PriceSource, PriceTable, Rates, Usage } from './types.ts';

const MILLION = 1e6; // rates are USD per million tokens; dividing (not x 1e-6) keeps 2.5/1e6 exact to the last bit

/**
 * A token count as given, made safe: NaN, negative and non-finite values count as 0. Unlike
 * internal/values `count`, not capped: the cost of an absurd count stays absurd (and the policy
 * charges its bound), never quietly smaller.
 */
function tokensOrZero(n: number | undefined): number {
  return n !== undefined && n > 0 && Number.isFinite(n) ? n : 0;
}

/** A rate made safe: a missing or broken rate never yields a negative or NaN cost. */
function rate(r: number | undefined, fallback: number): number {
  return r !== undefined && r >= 0 && Number.isFinite(r) ? r : fallback;
}

/**
 * The rates a request pays: the highest tier whose threshold the request's input
 * strictly exceeds, else the base rates. A tier reprices the whole request.
 */
export function ratesFor(price: ModelPrice, inputTokens: number): Rates {
  const tiers = price.tiers;
  if (tiers === undefined) return price;
  let chosen: Rates = price;
  let threshold = -1;
  for (const tier of tiers) {
    if (inputTokens > tier.aboveInputTokens && tier.aboveInputTokens > threshold) {
      chosen = tier;
      threshold = tier.aboveInputTokens;
    }
  }
  return chosen;
}

/**
 * Cost of one call in USD. Pure, O(tiers), one allocation (the result).
 *
 * Semantics (docs/pricing.md "Price override file"):
 * - `usage.inputTokens` INCLUDES cache reads and writes, `outputTokens` INCLUDES reasoning;
 *   each sub-count is billed once, at its own rate, and the remainder at the plain rate.
 * - a tier applies when input tokens are strictly above its `aboveInputTokens` and then
 *   prices everything (input, output, cache) at its rates.
 * - `cacheWrite1h` absent: 2 x input. `reasoning` absent: the output rate.
 * - `cacheRead` / `cacheWrite` absent: the input rate. A model that publishes no cache rate
 *   gives no discount we know of, and billing a write at the plain input rate never
 *   under-counts a model without a write surcharge (Anthropic's 1.25x always comes with its rate).
 * - `usage.batch`: every part x `price.batchDiscount` (no discount when the price has none).
 *
 * Bad counts are clamped, never trusted: negative / NaN counts are 0, sub-counts are capped
 * at what is left of their total (cache read first, then cache write; 1-hour writes within
 * cache writes; reasoning within output), so a cost is never negative nor double-counted.
 */
export function computeCost(usage: Usage, price: ModelPrice): CostBreakdown {
  const input = tokensOrZero(usage.inputTokens);
  const output = tokensOrZero(usage.outputTokens);
  const cacheRead = Math.min(tokensOrZero(usage.cacheReadTokens), input);
  const cacheWrite = Math.min(tokensOrZero(usage.cacheWriteTokens), input - cacheRead);
  const cacheWrite1h = Math.min(tokensOrZero(usage.cacheWrite1hTokens), cacheWrite);
  const reasoning = Math.min(tokensOrZero(usage.reasoningTokens), output);

  const r = ratesFor(price, input);
  const inRate = rate(r.input, 0);
  const outRate = rate(r.output, 0);
  const discount = usage.batch === true && price.batchDiscount !== undefined ? rate(price.batchDiscount, 1) : 1;

  const inputUsd = ((input - cacheRead - cacheWrite) * inRate * discount) / MILLION;
  const cacheReadUsd = (cacheRead * rate(r.cacheRead, inRate) * discount) / MILLION;
  const cacheWriteUsd =
    (((cacheWrite - cacheWrite1h) * rate(r.cacheWrite, inRate) + cacheWrite1h * rate(r.cacheWrite1h, 2 * inRate)) * discount) / MILLION;
  const outputUsd = (((output - reasoning) * outRate + reasoning * rate(r.reasoning, outRate)) * discount) / MILLION;
  return { inputUsd, outputUsd, cacheReadUsd, cacheWriteUsd, totalUsd: inputUsd + outputUsd + cacheReadUsd + cacheWriteUsd };
}

/** A call priced: its cost, where the figure came from, and the table price it was checked against. */
export interface PricedCall {
  readonly cost: CostBreakdown;
  readonly source: PriceSource;
  /** The table's price in force at the call's start (also for provider-reported costs: it splits the breakdown). */
  readonly lookup: PriceLookup;
  /** The table's own figure (equals `cost.totalUsd` unless the provider reported the cost). */
  readonly tableUsd: number;
}

/**
 * Prices one call: the table's price in force at `startMs` (the call's start, epoch ms) on the
 * call's service tier (`usage.serviceTier`, else `requestTier`). When the provider reported the
 * cost (`usage.costUsd`, a finite number >= 0) that figure is the total and the source is
 * `provider`; the breakdown is the table's, scaled so its parts add up to the reported total
 * (dashboards sum the parts), and all zero when the table's total is zero.
 */
export function priceCall(table: PriceTable, usage: Usage, model: string, provider: string | undefined, startMs: number, requestTier?: string): PricedCall {
  const lookup = table.lookup(model, provider, startMs, usage.serviceTier ?? requestTier);
  const cost = computeCost(usage, lookup.price);
  const reported = usage.costUsd;
  if (reported === undefined || !(reported >= 0) || !Number.isFinite(reported)) return { cost, source: lookup.source, lookup, tableUsd: cost.totalUsd };
  const scale = cost.totalUsd > 0 ? reported / cost.totalUsd : 0;
  return {
    cost: {
      inputUsd: cost.inputUsd * scale,
      outputUsd: cost.outputUsd * scale,
      cacheReadUsd: cost.cacheReadUsd * scale,
      cacheWriteUsd: cost.cacheWriteUsd * scale,
      totalUsd: reported,
    },
    source: 'provider',
    lookup,
    tableUsd: cost.totalUsd,
  };
}
