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
  /**
   * What the provider says the call cost, in USD, when its response reports it (OpenRouter's
   * `usage.cost`, gateways that do the same). Preferred over the table: `tollgate.cost.source=provider`.
   */
  readonly costUsd?: number;
  /** The service tier that billed the call (`flex`, `priority`, ...), as the response (else the request) names it. */
  readonly serviceTier?: string;
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

/** Rates of a service tier (`flex`, `priority`): they replace the model's rates for calls on that tier. */
export interface ServiceTierRates extends Rates {
  readonly tiers?: readonly PriceTier[];
}

/**
 * A constrained price of the source table. At most one kind of constraint is set:
 * `startDate` (in force from that UTC midnight on) or a UTC time-of-day window
 * `[startTime, endTime)` (`HH:MM:SS`; `endTime < startTime` wraps midnight).
 */
export interface PriceWhen extends Rates {
  readonly startDate?: string;
  readonly startTime?: string;
  readonly endTime?: string;
  readonly tiers?: readonly PriceTier[];
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
  /**
   * Dated prices and time-of-day windows, on table entries (`entries()`); the prices a lookup
   * returns are already resolved at the call's start and carry none.
   */
  readonly when?: readonly PriceWhen[];
  /** Service-tier rates, on table entries; a lookup naming a tier returns them resolved. */
  readonly serviceTiers?: Readonly<Record<string, ServiceTierRates>>;
  /** On a resolved price: the service tier whose rates these are. */
  readonly serviceTier?: string;
}

/** Cost of one call in USD. `totalUsd` is the sum of the four parts. */
export interface CostBreakdown {
  readonly inputUsd: number;
  readonly outputUsd: number;
  readonly cacheReadUsd: number;
  readonly cacheWriteUsd: number;
  readonly totalUsd: number;
}

/** Where a price came from; `provider` when the response reported its own cost. */
export type PriceSource = 'table' | 'override' | 'provider' | 'fallback';

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
  /**
   * Resolves a model name as seen on a request or span (dated snapshots, provider prefixes, Bedrock / Vertex
   * ids are normalised) to the price in force at `at`, the call's START (epoch milliseconds; default: now),
   * on `serviceTier` when the model has rates for it (else the standard rates).
   */
  lookup(model: string, provider?: string, at?: number, serviceTier?: string): PriceLookup;
  /** As {@link PriceTable.lookup}, without falling back; undefined for an unknown model. */
  find(model: string, provider?: string, at?: number, serviceTier?: string): PriceLookup | undefined;
  /**
   * The highest price in force at any moment of `[fromMs, toMs]`: each rate is the maximum over the prices
   * a call running then could be billed at (a time-of-day window opening mid-call). For reservations.
   */
  lookupDuring(model: string, provider: string | undefined, fromMs: number, toMs: number, serviceTier?: string): PriceLookup;
  /** Build date (YYYY-MM-DD, UTC) of the table's data: the built-in table's, or a genai-prices data file's modification date. */
  readonly asOf: string;
  /** Every price in the table (overrides first), for `tollgate prices` and the collector config generator. */
  entries(): readonly PriceLookup[];
}
