/**
 * The budget policy (a CallGate): routing, worst-case estimation, reservations,
 * downgrade, runaway guards and escalation. See budget-policy.ts for the order of checks.
 */
import { createLedger } from '../ledger/index.ts';
import type { Ledger } from '../ledger/types.ts';
import { createPriceTable } from '../pricing/index.ts';
import type { PriceTable } from '../pricing/types.ts';
import { createInputEstimator } from '../tokens/index.ts';
import { BudgetPolicy, type BudgetPolicyOptions, type InputEstimator } from './budget-policy.ts';

export {
  BudgetPolicy,
  DEFAULT_MAX_TOKENS,
  ANTHROPIC_COUNT_MARGIN,
  type BudgetPolicyOptions,
  type BudgetExceededEvent,
  type AgentStatus,
  type AgentBudget,
  type InputEstimator,
} from './budget-policy.ts';
export { BUILTIN_SMALL_PROMPT, type RouteFunction, type RouteInput } from './routing.ts';

/** Options of {@link createBudgetPolicy}: those of BudgetPolicy, with the parts built from the config when absent. */
export type CreateBudgetPolicyOptions = Omit<BudgetPolicyOptions, 'ledger' | 'prices' | 'estimator'> & {
  /** @default the ledger `config.ledger` names (TOLLGATE_LEDGER) */
  readonly ledger?: Ledger;
  /** @default built-in prices plus `config.pricesPath` (TOLLGATE_PRICES) */
  readonly prices?: PriceTable;
  /** @default createInputEstimator() */
  readonly estimator?: InputEstimator;
};

/**
 * Builds the policy from a resolved config: opens the configured ledger, loads prices,
 * creates the token estimator. Call once at start-up.
 * @throws ConfigError when the ledger spec or price file is invalid.
 */
export async function createBudgetPolicy(options: CreateBudgetPolicyOptions): Promise<BudgetPolicy> {
  const { config } = options;
  const ledger =
    options.ledger ??
    (await createLedger(config.ledger, {
      source: config.ledgerSource,
      failure: config.ledgerFailure,
      ...(options.now === undefined ? {} : { now: options.now }),
    }));
  const prices = options.prices ?? createPriceTable(config.pricesPath === undefined ? {} : { overridesPath: config.pricesPath });
  const estimator = options.estimator ?? createInputEstimator();
  return new BudgetPolicy({ ...options, ledger, prices, estimator });
}
