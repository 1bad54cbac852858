/**
 * Shape of the compiled built-in price data, `data/prices.json`, written by
 * `scripts/build-prices.ts`. Rates are USD per million tokens; the dates are
 * already resolved, so every model has exactly one current price.
 */
import type { MatchRule } from './match.ts';
import type { PriceTier, Rates } from './types.ts';

/** One model of the compiled data. */
export interface PriceDataModel extends Rates {
  readonly id: string;
  readonly match: MatchRule;
  readonly batchDiscount?: number;
  readonly tiers?: readonly PriceTier[];
  readonly maxOutputTokens?: number;
  readonly contextWindow?: number;
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
  /** Date (UTC, YYYY-MM-DD) at which date-conditional prices were resolved. */
  readonly asOf: string;
  readonly providers: readonly PriceDataProvider[];
}
