/**
 * tollgate's public API. A hand-written list: named exports only, `export type`
 * for types. test/exports.test.ts pins it; anything not listed here is internal.
 */

// Start-up
export { startTollgate, tollgateInstrumentations } from './start.ts';
export type { TollgateOptions, Tollgate } from './start.ts';

// Attribution
export { withAgent, withTask } from './context.ts';
export type { TaskInfo, WithAgentOptions } from './context.ts';

// Errors
export { TollgateError, BudgetExceededError, ConfigError, LedgerUnavailableError } from './errors.ts';
export type { BudgetExceededDetails, TollgateErrorCode, Refusal, BudgetRefusal, LedgerRefusal, UnpricedRefusal } from './errors.ts';

// Span processor and rollups
export { CostSpanProcessor, tollgateSpanProcessors, getSpend } from './processor/index.ts';
export type {
  CostSpanProcessorOptions,
  TollgateSpanProcessorsOptions,
  ForeignSpend,
  TaskEnd,
  SpendReport,
  SpendTotals,
  SpendWindow,
  AgentSpend,
  TaskSpend,
} from './processor/index.ts';

// Instrumentations
export { OpenAIInstrumentation } from './instrumentation/openai/index.ts';
export type { OpenAIInstrumentationConfig } from './instrumentation/openai/index.ts';
export { AnthropicInstrumentation } from './instrumentation/anthropic/index.ts';
export type { AnthropicInstrumentationConfig } from './instrumentation/anthropic/index.ts';
export { AiSdkInstrumentation } from './instrumentation/ai-sdk/index.ts';
export type { AiSdkInstrumentationConfig } from './instrumentation/ai-sdk/index.ts';
export { BedrockInstrumentation } from './instrumentation/bedrock/index.ts';
export type { BedrockInstrumentationConfig } from './instrumentation/bedrock/index.ts';
export type { TollgateInstrumentationConfig, ContentCaptureMode } from './instrumentation/core/index.ts';
export { GoogleGenAIInstrumentation } from './instrumentation/google-genai/index.ts';
export type { GoogleGenAIInstrumentationConfig } from './instrumentation/google-genai/index.ts';
export { GoogleGenerativeAIInstrumentation } from './instrumentation/google-generative-ai/index.ts';
export type { GoogleGenerativeAIInstrumentationConfig } from './instrumentation/google-generative-ai/index.ts';
export { MistralInstrumentation } from './instrumentation/mistral/index.ts';
export type { MistralInstrumentationConfig } from './instrumentation/mistral/index.ts';

// Pricing
export { computeCost, createPriceTable, defaultPriceTable, loadPriceOverrides } from './pricing/index.ts';
export type { Usage, Rates, PriceTier, ModelPrice, CostBreakdown, PriceSource, PriceLookup, PriceTable, PriceTableOptions } from './pricing/index.ts';
export { countTokens } from './tokens/index.ts';

// Policy
export { BudgetPolicy, createBudgetPolicy } from './policy/index.ts';
export type { BudgetPolicyOptions, CreateBudgetPolicyOptions, BudgetExceededEvent, AgentStatus, AgentBudget, RouteFunction, RouteInput } from './policy/index.ts';
export { resolveConfig } from './config/index.ts';
export type { TollgateConfig, AgentLimits, OnExceed, RouteRule, RouteMatch, CustomScope } from './config/index.ts';
export type { CallGate, CallDescription, GateDecision, CallOutcome, CallSettlement, SpendSink } from './gate.ts';

// Ledgers (SQLite and Redis load lazily through createLedger: `node:sqlite` and ioredis cost nothing until used)
export { createLedger, MemoryLedger } from './ledger/index.ts';
export type { CreateLedgerOptions, MemoryLedgerOptions } from './ledger/index.ts';
export type { SqliteLedger, SqliteLedgerOptions } from './ledger/sqlite.ts';
export type { RedisLedger, RedisLedgerOptions } from './ledger/redis.ts';
export type { Ledger, BudgetScope, Reservation, ReserveRequest, ReserveResult, ScopeSpend } from './ledger/types.ts';
