/**
 * Shape of the compiled built-in price data, `data/prices.json`, written by
 * `scripts/build-prices.ts` (and compiled the same way at start-up from a genai-prices
 * data file named by `TOLLGATE_PRICES`). Rates are USD per million tokens.
 *
 * A model's top-level rates are its base price; `when` lists the source's dated prices
 * and time-of-day windows, resolved at a call's start time by {@link resolveWhen}'s rule
 * (see src/pricing/README.md and /PRICE-FORMAT: the Go collector reads the same file).
 */
import type { MatchRule } from './match.ts';
import type { PriceTier, PriceWhen, Rates, ServiceTierRates } from './types.ts';

/** One model of the compiled data. */
export interface PriceDataModel extends Rates {
  readonly id: string;
  readonly match: MatchRule;
  readonly batchDiscount?: number;
  readonly tiers?: readonly PriceTier[];
  readonly maxOutputTokens?: number;
  readonly contextWindow?: number;
  /** Constrained prices, in source order: the LAST one whose constraint holds at the call's start wins. */
  readonly when?: readonly PriceWhen[];
  /** Rates of the provider's service tiers (`flex`, `priority`), which replace the time-resolved rates. */
  readonly serviceTiers?: Readonly<Record<string, ServiceTierRates>>;
}

/** One provider of the compiled data, models in upstream order (first match wins). */
export interface PriceDataProvider {
  readonly id: string;
  /** Names this provider's models when no model rule matches (e.g. `contains: claude`); used to pick a fallback. */
  readonly modelMatch?: MatchRule;
  readonly models: readonly PriceDataModel[];
}

/** The whole compiled file. */
export interface PriceData {
  readonly version: 1;
  /** Where the rates came from, e.g. `@pydantic/genai-prices 0.1.8`. */
  readonly source: string;
  /** Build date (UTC, YYYY-MM-DD): the start-up warning fires when it is more than 60 days old. */
  readonly asOf: string;
  readonly providers: readonly PriceDataProvider[];
}
