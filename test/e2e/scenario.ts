/**
 * The end-to-end scenario: names shared by the workloads and the test, and what each
 * foreign (non-Node, "Python") call must cost, priced from the SDK's own table.
 */
import { computeCost, defaultPriceTable } from '../../src/pricing/index.ts';
import type { Usage } from '../../src/pricing/types.ts';

/** Service name of the instrumented Node workload. */
export const NODE_SERVICE = 'tollgate-e2e-node';
/** Service name of the foreign workload (spans without cost, as a Python service sends them). */
export const FOREIGN_SERVICE = 'e2e-python-support';
/** Agent of the foreign service, set as a resource attribute (the collector copies it onto spans). */
export const FOREIGN_AGENT = 'support-bot';

/** Daily cap of the `writer` agent (TOLLGATE_CONFIG): its last, larger draft does not fit and is refused. */
export const WRITER_DAILY_USD = 0.05;

/** One call of the foreign workload: GenAI attributes only, no cost. */
export interface ForeignCall {
  readonly spanName: string;
  readonly provider?: string;
  readonly model: string;
  readonly operation?: string;
  /** Token attributes exactly as sent (ints). */
  readonly tokens: Readonly<Record<string, number>>;
  readonly usage: Usage;
  readonly taskType?: string;
  /** Agent as a span attribute; otherwise the resource's gen_ai.agent.name applies. */
  readonly agent?: string;
  /** Expected `tollgate.cost.source`. */
  readonly source: 'table' | 'fallback';
}

function foreign(
  spanName: string,
  provider: string | undefined,
  model: string,
  usage: Usage,
  extra: { operation?: string; taskType?: string; agent?: string; source?: 'table' | 'fallback'; legacy?: boolean },
): ForeignCall {
  const tokens: Record<string, number> = extra.legacy === true
    ? { 'gen_ai.usage.prompt_tokens': usage.inputTokens, 'gen_ai.usage.completion_tokens': usage.outputTokens }
    : { 'gen_ai.usage.input_tokens': usage.inputTokens, 'gen_ai.usage.output_tokens': usage.outputTokens };
  if (usage.cacheReadTokens !== undefined) tokens['gen_ai.usage.cache_read.input_tokens'] = usage.cacheReadTokens;
  if (usage.cacheWriteTokens !== undefined) tokens['gen_ai.usage.cache_creation.input_tokens'] = usage.cacheWriteTokens;
  if (usage.reasoningTokens !== undefined) tokens['gen_ai.usage.reasoning.output_tokens'] = usage.reasoningTokens;
  return {
    spanName,
    ...(provider === undefined ? {} : { provider }),
    model,
    ...(extra.operation === undefined ? {} : { operation: extra.operation }),
    tokens,
    usage,
    ...(extra.taskType === undefined ? {} : { taskType: extra.taskType }),
    ...(extra.agent === undefined ? {} : { agent: extra.agent }),
    source: extra.source ?? 'table',
  };
}

/** Rounds of the foreign workload: every call is sent in each round (a second sample per series for rate() / increase()). */
export const FOREIGN_ROUNDS = 2;

/** Foreign calls: dated snapshots, gateway / Bedrock / Vertex names, a long-context tier, legacy token names, an unknown model. */
export const FOREIGN_CALLS: readonly ForeignCall[] = [
  foreign('chat gpt-4o-2024-08-06', 'openai', 'gpt-4o-2024-08-06', { inputTokens: 1234, outputTokens: 567, cacheReadTokens: 200 }, { operation: 'chat', taskType: 'triage' }),
  foreign('chat claude-sonnet-4-5-20250929', 'anthropic', 'claude-sonnet-4-5-20250929', { inputTokens: 8200, outputTokens: 950, cacheReadTokens: 4096, cacheWriteTokens: 1024 }, { operation: 'chat', taskType: 'answer' }),
  foreign('chat gemini-2.5-pro', 'gcp.gemini', 'gemini-2.5-pro', { inputTokens: 250_000, outputTokens: 2000, cacheReadTokens: 100_000 }, { operation: 'generate_content', taskType: 'summarise' }),
  foreign('chat openai/gpt-4.1-mini', undefined, 'openai/gpt-4.1-mini', { inputTokens: 3000, outputTokens: 700 }, { operation: 'chat', taskType: 'answer', agent: 'support-router', legacy: true }),
  foreign('chat claude-3-5-haiku@20241022', 'gcp.vertex_ai', 'claude-3-5-haiku@20241022', { inputTokens: 2200, outputTokens: 400 }, { operation: 'chat', taskType: 'triage' }),
  foreign('chat mystery-llm-9', 'openai', 'mystery-llm-9', { inputTokens: 100, outputTokens: 10 }, { operation: 'chat', taskType: 'answer', source: 'fallback' }),
  foreign('embeddings text-embedding-3-small', 'openai', 'text-embedding-3-small', { inputTokens: 5000, outputTokens: 0 }, { operation: 'embeddings' }),
];

/** What a foreign call must cost: computeCost with the price the SDK's table resolves for its name and provider. */
export function expectedForeignCost(call: ForeignCall): ReturnType<typeof computeCost> {
  return computeCost(call.usage, defaultPriceTable().lookup(call.model, call.provider).price);
}
