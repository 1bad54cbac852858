/**
 * Attribute and metric names. The GenAI names are kept here as local constants, as
 * the upstream JS constants are deprecated while the conventions move
 * (semantic-conventions v1.42 moved gen_ai.* to semantic-conventions-genai).
 * tollgate emits the v1.41 names.
 */

// GenAI semantic conventions (v1.41)
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
/** Deprecated predecessor of gen_ai.provider.name, still emitted by older instrumentations. */
export const ATTR_GEN_AI_SYSTEM = 'gen_ai.system';
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const ATTR_GEN_AI_REQUEST_MAX_TOKENS = 'gen_ai.request.max_tokens';
export const ATTR_GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream';
export const ATTR_GEN_AI_RESPONSE_ID = 'gen_ai.response.id';
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
export const ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = 'gen_ai.usage.cache_creation.input_tokens';
/** The unreleased main-branch name of cache_creation, emitted under OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental. */
export const ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = 'gen_ai.usage.cache_write.input_tokens';
export const ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.usage.reasoning.output_tokens';
/** Older names, still emitted by some instrumentations. */
export const ATTR_GEN_AI_USAGE_PROMPT_TOKENS = 'gen_ai.usage.prompt_tokens';
export const ATTR_GEN_AI_USAGE_COMPLETION_TOKENS = 'gen_ai.usage.completion_tokens';
/** Read by Langfuse; OpenLIT emits it. tollgate sets it to the same value as tollgate.cost.usd. */
export const ATTR_GEN_AI_USAGE_COST = 'gen_ai.usage.cost';
export const ATTR_GEN_AI_AGENT_NAME = 'gen_ai.agent.name';
export const ATTR_GEN_AI_TOKEN_TYPE = 'gen_ai.token.type';
export const ATTR_GEN_AI_INPUT_MESSAGES = 'gen_ai.input.messages';
export const ATTR_GEN_AI_OUTPUT_MESSAGES = 'gen_ai.output.messages';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_SERVICE_NAME = 'service.name';

/** OpenAI's service tier as requested (`auto`, `default`, `flex`, `priority`): semconv OpenAI registry (development). */
export const ATTR_OPENAI_REQUEST_SERVICE_TIER = 'openai.request.service_tier';
/** OpenAI's service tier that served the call, as the response reports it: semconv OpenAI registry (development). */
export const ATTR_OPENAI_RESPONSE_SERVICE_TIER = 'openai.response.service_tier';
/** The pre-registry names some instrumentations still emit. */
export const ATTR_GEN_AI_OPENAI_REQUEST_SERVICE_TIER = 'gen_ai.openai.request.service_tier';
export const ATTR_GEN_AI_OPENAI_RESPONSE_SERVICE_TIER = 'gen_ai.openai.response.service_tier';

/** Operation names that are inference calls (the ones whose usage is summed). */
export const INFERENCE_OPERATIONS: ReadonlySet<string> = new Set(['chat', 'text_completion', 'embeddings', 'generate_content']);

// tollgate's own span attributes
export const ATTR_COST_USD = 'tollgate.cost.usd';
export const ATTR_COST_INPUT_USD = 'tollgate.cost.input_usd';
export const ATTR_COST_OUTPUT_USD = 'tollgate.cost.output_usd';
export const ATTR_COST_CACHE_READ_USD = 'tollgate.cost.cache_read_usd';
export const ATTR_COST_CACHE_WRITE_USD = 'tollgate.cost.cache_write_usd';
/** `table`, `override`, `provider` (the response reported its cost) or `fallback`. */
export const ATTR_COST_SOURCE = 'tollgate.cost.source';
export const ATTR_USAGE_ESTIMATED = 'tollgate.usage.estimated';
export const ATTR_TASK_ID = 'tollgate.task.id';
export const ATTR_TASK_TYPE = 'tollgate.task.type';
export const ATTR_TASK_COST_USD = 'tollgate.task.cost_usd';
export const ATTR_TASK_CALLS = 'tollgate.task.calls';
export const ATTR_TASK_ATTEMPTS = 'tollgate.task.attempts';
export const ATTR_POLICY_ACTION = 'tollgate.policy.action';
export const ATTR_POLICY_ORIGINAL_MODEL = 'tollgate.policy.original_model';
export const ATTR_POLICY_ORIGINAL_MAX_TOKENS = 'tollgate.policy.original_max_tokens';
export const ATTR_POLICY_REASON = 'tollgate.policy.reason';
export const ATTR_BUDGET_REMAINING_USD = 'tollgate.budget.remaining_usd';
export const ATTR_BUDGET_SCOPE = 'tollgate.budget.scope';
export const ATTR_SAVING_KIND = 'tollgate.saving.kind';
/** Set on a call retried by the SDK: the attempt count (1 = no retry). */
export const ATTR_ATTEMPTS = 'tollgate.attempts';

/** error.type of a span whose call was refused by a budget. */
export const ERROR_TYPE_BUDGET_EXCEEDED = 'tollgate.budget_exceeded';

// Resource attributes that configure the policy
export const RES_BUDGET_DAILY_USD = 'tollgate.budget.daily_usd';
export const RES_BUDGET_MONTHLY_USD = 'tollgate.budget.monthly_usd';
export const RES_BUDGET_TASK_USD = 'tollgate.budget.task_usd';
export const RES_POLICY_MAX_TOKENS = 'tollgate.policy.max_tokens';
export const RES_POLICY_ON_EXCEED = 'tollgate.policy.on_exceed';
/** Milliseconds a call refused only by other calls' in-flight holds may wait for them to settle; 0 = never. */
export const RES_POLICY_WAIT_MS = 'tollgate.policy.wait_ms';

// Metrics
export const METRIC_COST_USD = 'tollgate.cost.usd';
export const METRIC_CALLS_BLOCKED = 'tollgate.calls.blocked';
export const METRIC_COST_SAVED_USD = 'tollgate.cost.saved.usd';
export const METRIC_BUDGET_UTILIZATION = 'tollgate.budget.utilization';
export const METRIC_UNPRICED_CALLS = 'tollgate.calls.fallback_priced';
export const METRIC_GEN_AI_TOKEN_USAGE = 'gen_ai.client.token.usage';
export const METRIC_GEN_AI_OPERATION_DURATION = 'gen_ai.client.operation.duration';

/** Instrumentation scope names of tollgate's own tracers. */
export const TOLLGATE_SCOPE_PREFIX = 'tollgate';

// Span events (appended by the instrumentation)
/** Span event on a call the budget gate refused; carries the scope, limit and reason. */
export const EVENT_CALL_BLOCKED = 'tollgate.call.blocked';
/** GenAI event carrying message content when capture is EVENT_ONLY / SPAN_AND_EVENT. */
export const EVENT_GEN_AI_OPERATION_DETAILS = 'gen_ai.client.inference.operation.details';

// Set by the gateway collector's generated pricing config (collector-config/pricing.yaml)
/** `collector` on a span the gateway collector priced (it arrived without `tollgate.cost.usd`); also a metric attribute there, so its series never collide with the SDK's. */
export const ATTR_COST_PRICED_BY = 'tollgate.cost.priced_by';
/** The price-table row the gateway collector used: `<provider>/<model>`, `override:<provider>/<model>` or `fallback/<provider>`. */
export const ATTR_COST_PRICE_ID = 'tollgate.cost.price_id';
