/**
 * `onExceed: "downgrade"`: when the call's worst case does not fit, clamp its max_tokens on the
 * same model (not below the configured floor), then walk the provider's model ladder down from
 * it; the first candidate that reserves wins (docs/budgets.md).
 */
import type { TollgateConfig } from '../config/types.ts';
import type { BudgetScope, ReserveResult } from '../ledger/types.ts';
import type { PriceLookup } from '../pricing/types.ts';
import { affordableOutputTokens, worstCaseNanos, worstRatesNanos, type TokenRatesNanos } from './estimate.ts';
import type { LedgerGuard } from './ledger-guard.ts';

/** A model and output ceiling that fit, with the hold taken for it. */
export interface Downgraded {
  readonly model: string;
  readonly rates: TokenRatesNanos;
  readonly maxTokens: number;
  readonly nanos: number;
  readonly reserved: Extract<ReserveResult, { ok: true }>;
}

/** What is being downgraded. */
export interface DowngradeFrom {
  readonly scopes: readonly BudgetScope[];
  readonly provider: string;
  readonly model: string;
  readonly inputTokens: number;
  readonly maxTokens: number;
  readonly cacheKind: 'none' | '5m' | '1h';
  readonly priceOf: (model: string) => PriceLookup;
}

/** The first candidate that reserves, or undefined when none fits. Throws when the ledger fails. */
export async function downgrade(guard: LedgerGuard, config: TollgateConfig, from: DowngradeFrom): Promise<Downgraded | undefined> {
  const { scopes, model, inputTokens, maxTokens, cacheKind } = from;
  const spends = await guard.spent(scopes);
  let room = Infinity;
  scopes.forEach((s, i) => {
    if (s.limitNanos === null) return;
    const sp = spends[i]!;
    room = Math.min(room, s.limitNanos - sp.spentNanos - sp.reservedNanos);
  });
  const floor = Math.min(config.maxTokensFloor, maxTokens);
  const ladder = config.ladders[from.provider];
  const models = [model];
  if (ladder !== undefined) {
    const at = ladder.indexOf(model);
    if (at >= 0) models.push(...ladder.slice(at + 1));
  }
  for (const m of models) {
    const lookup = from.priceOf(m);
    if (lookup.source === 'fallback' && config.unknownModel === 'block') continue;
    const rates = worstRatesNanos(lookup.price, inputTokens, cacheKind);
    const tries: number[] = [];
    if (m !== model) tries.push(maxTokens);
    const afford = Math.min(affordableOutputTokens(rates, inputTokens, room), maxTokens);
    if (afford >= floor && afford < maxTokens) tries.push(afford);
    for (const tokens of tries) {
      const nanos = worstCaseNanos(rates, inputTokens, tokens);
      if (nanos > room) continue;
      const reserved = await guard.reserve(scopes, nanos);
      if (reserved.ok) return { model: m, rates, maxTokens: tokens, nanos, reserved };
    }
  }
  return undefined;
}
