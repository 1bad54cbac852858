/**
 * Drift between the effective price table and another table in LiteLLM's JSON format
 * (`model_prices_and_context_window.json`), for `tollgate prices --compare`: a maintainer
 * sees which rates disagree by more than a threshold, and a hint why.
 */
import { LITELLM_PROVIDERS, liteLlmIndex, perMillion, type LiteLlmEntry } from './litellm.ts';
import { priceInForce } from './table.ts';
import type { PriceLookup, PriceTable, Rates } from './types.ts';

/** One model whose rates differ. Rates are USD per million tokens. */
export interface PriceDrift {
  readonly provider: string;
  readonly model: string;
  readonly ours: { readonly input: number; readonly output: number };
  readonly theirs: { readonly input: number; readonly output: number };
  /** Largest relative difference of input / output, in percent of the larger rate. */
  readonly diffPercent: number;
  /**
   * Why, as far as the data tells: `dated` when the other table's rates are one of this model's
   * other prices (a dated change or a time-of-day window the other table resolves differently),
   * else `differs` (one table is stale or wrong).
   */
  readonly reason: 'dated' | 'differs';
  /** For `dated`: which of our prices the other table has (`base`, `from 2026-07-30`, `00:30:00-16:30:00 UTC`). */
  readonly matches?: string;
}

/** The result of a comparison. */
export interface PriceComparison {
  /** Models both tables name (same provider, same id). */
  readonly shared: number;
  readonly drifts: readonly PriceDrift[];
}

function relDiff(a: number, b: number): number {
  const m = Math.max(Math.abs(a), Math.abs(b));
  return m === 0 ? 0 : (Math.abs(a - b) / m) * 100;
}

function sameRates(r: Rates, input: number, output: number): boolean {
  return relDiff(r.input, input) < 0.01 && relDiff(r.output, output) < 0.01;
}

/**
 * Compares the table's prices in force at `at` (standard tier) with a LiteLLM-format table.
 * Models are paired by provider and id (LiteLLM's key without its provider prefix); only token
 * models both tables price (input and output rates) count.
 * @param thresholdPercent list a model when its input or output rate differs by more than this, in percent.
 */
export function comparePrices(table: PriceTable, other: Readonly<Record<string, unknown>>, thresholdPercent: number, at: number): PriceComparison {
  const indexes = new Map<string, Map<string, LiteLlmEntry>>();
  let shared = 0;
  const drifts: PriceDrift[] = [];
  const seen = new Set<string>();
  for (const entry of table.entries()) {
    if (entry.source !== 'table') continue;
    const provider = entry.price.provider;
    const key = `${provider}\u0000${entry.price.model.toLowerCase()}`;
    if (seen.has(key)) continue;
    seen.add(key);
    let index = indexes.get(provider);
    if (index === undefined) {
      index = liteLlmIndex(other, LITELLM_PROVIDERS[provider] ?? []);
      indexes.set(provider, index);
    }
    const theirs = index.get(entry.price.model.toLowerCase());
    if (typeof theirs?.input_cost_per_token !== 'number' || typeof theirs.output_cost_per_token !== 'number') continue;
    shared++;
    const input = perMillion(theirs.input_cost_per_token);
    const output = perMillion(theirs.output_cost_per_token);
    const ours: PriceLookup = priceInForce(entry, at);
    const diffPercent = Math.max(relDiff(ours.price.input, input), relDiff(ours.price.output, output));
    if (!(diffPercent > thresholdPercent)) continue;
    const base = entry.price;
    const candidates: [string, Rates][] = [['base', base], ...(base.when ?? []).map((w): [string, Rates] => [w.startDate !== undefined ? `from ${w.startDate}` : `${w.startTime ?? ''}-${w.endTime ?? ''} UTC`, w])];
    const match = candidates.find(([, r]) => sameRates(r, input, output));
    drifts.push({
      provider,
      model: entry.price.model,
      ours: { input: ours.price.input, output: ours.price.output },
      theirs: { input, output },
      diffPercent: Math.round(diffPercent * 10) / 10,
      ...(match === undefined ? { reason: 'differs' as const } : { reason: 'dated' as const, matches: match[0] }),
    });
  }
  drifts.sort((a, b) => b.diffPercent - a.diffPercent || a.provider.localeCompare(b.provider) || a.model.localeCompare(b.model));
  return { shared, drifts };
}
