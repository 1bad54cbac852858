/**
 * tollgate's public API. A hand-written list: named exports only, `export type`
 * for types. test/exports.test.ts pins it.
 */
export { TollgateError, BudgetExceededError, ConfigError, LedgerUnavailableError } from './errors.ts';
export type { BudgetExceededDetails } from './errors.ts';
export { withAgent, withTask } from './context.ts';
export type { TaskInfo } from './context.ts';
export type { Usage, Rates, PriceTier, ModelPrice, CostBreakdown, PriceSource, PriceLookup, PriceTable } from './pricing/types.ts';
export type { Ledger, BudgetScope, Reservation, ReserveRequest, ReserveResult, ScopeSpend } from './ledger/types.ts';
export type { CallGate, CallDescription, GateDecision, CallOutcome } from './gate.ts';
