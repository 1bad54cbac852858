/**
 * Token usage of one call, in the GenAI semantic-convention shape:
 * `inputTokens` INCLUDES cache reads and cache writes, `outputTokens` INCLUDES
 * reasoning tokens. Sub-counts are parts of those totals, never additions.
 */
export interface Usage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Part of inputTokens read from the prompt cache. */
  readonly cacheReadTokens?: number;
  /** Part of inputTokens written to the prompt cache (all TTLs). */
  readonly cacheWriteTokens?: number;
  /** Part of cacheWriteTokens written with a 1-hour TTL (Anthropic); the rest is 5-minute. */
  readonly cacheWrite1hTokens?: number;
  /** Part of outputTokens spent on reasoning. */
  readonly reasoningTokens?: number;
  /** The call went through a batch API. */
  readonly batch?: boolean;
}

/** Rates in USD per million tokens, as pricing pages print them. */
export interface Rates {
  readonly input: number;
  readonly output: number;
  readonly cacheRead?: number;
  readonly cacheWrite?: number;
  readonly cacheWrite1h?: number;
  readonly reasoning?: number;
}

/** A long-context tier: applies when the request's input tokens are strictly above `aboveInputTokens`. */
export interface PriceTier extends Rates {
  readonly aboveInputTokens: number;
}

/** The price of one model. */
export interface ModelPrice extends Rates {
  readonly provider: string;
  readonly model: string;
  /** Multiplier for batch calls, e.g. 0.5. */
  readonly batchDiscount?: number;
  readonly tiers?: readonly PriceTier[];
  /** Largest output a call may produce, when known (used to bound a call that sets no max_tokens). */
  readonly maxOutputTokens?: number;
  /** Override entries only: model-name globs (`*` = any run of characters) this price also applies to. */
  readonly match?: readonly string[];
  /** Largest context (input + output tokens), when known. */
  readonly contextWindow?: number;
}

/** Cost of one call in USD. `totalUsd` is the sum of the four parts. */
export interface CostBreakdown {
  readonly inputUsd: number;
  readonly outputUsd: number;
  readonly cacheReadUsd: number;
  readonly cacheWriteUsd: number;
  readonly totalUsd: number;
}

/** Where a price came from. */
export type PriceSource = 'table' | 'override' | 'fallback';

/** A resolved price for a model name as seen on a span or request. */
export interface PriceLookup {
  readonly price: ModelPrice;
  readonly source: PriceSource;
}

/**
 * The effective price table (built-in data + overrides), compiled once so that a
 * lookup is a map hit. Lookups never return nothing: a model no table knows is
 * priced with the provider's most expensive known rates, flagged `fallback`.
 */
export interface PriceTable {
  /** Resolves a model name as seen on a request or span (dated snapshots, provider prefixes, Bedrock / Vertex ids are normalised). */
  lookup(model: string, provider?: string): PriceLookup;
  /** Resolves without falling back; undefined for an unknown model. */
  find(model: string, provider?: string): PriceLookup | undefined;
  /** Every price in the table (overrides first), for `tollgate prices` and the collector config generator. */
  entries(): readonly PriceLookup[];
}
