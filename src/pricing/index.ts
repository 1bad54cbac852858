/**
 * Pricing: usage -> USD. `computeCost` is the pure arithmetic; the price table
 * resolves a model name (normalised, overrides first, conservative fallback).
 */
export { computeCost, priceCall, ratesFor, type PricedCall } from './cost.ts';
export { writeCostAttributes, type AttributeSink } from './attributes.ts';
export { MAX_CALL_DURATION_MS } from './when.ts';
export { createPriceTable, defaultPriceTable, priceInForce, warnIfPricesStale, STALE_PRICES_DAYS, BUILTIN_PRICES_INFO, type PriceTableOptions } from './table.ts';
export { loadPriceOverrides, parsePriceOverrides } from './overrides.ts';
export type { Usage, Rates, PriceTier, PriceWhen, ServiceTierRates, ModelPrice, CostBreakdown, PriceSource, PriceLookup, PriceTable } from './types.ts';
