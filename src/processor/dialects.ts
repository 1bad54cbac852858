/**
 * Reading inference calls out of spans made by any instrumentation: which spans
 * are inference calls, which model and provider they used, and their token usage,
 * mapped from every known attribute dialect to the GenAI-convention `Usage` shape
 * (input INCLUDES cache reads/writes, output INCLUDES reasoning).
 */
import type { Attributes } from '@opentelemetry/api';
import { count as num, str } from '../internal/values.ts';
import type { Usage } from '../pricing/types.ts';
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_SYSTEM,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_COMPLETION_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_USAGE_PROMPT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  INFERENCE_OPERATIONS,
} from '../semconv.ts';

// Other instrumentations' attribute names. Kept local: they are facts about those
// libraries, not names tollgate emits.
/** Anthropic SDK (>= 0.134) own spans: the 1-hour part of the cache write. */
const ANTHROPIC_CACHE_WRITE_1H = 'anthropic.usage.cache_creation.ephemeral_1h_input_tokens';
/** OpenLLMetry's cache names (underscore forms, parts of its inclusive prompt count). */
const OPENLLMETRY_CACHE_READ = 'gen_ai.usage.cache_read_input_tokens';
const OPENLLMETRY_CACHE_CREATION = 'gen_ai.usage.cache_creation_input_tokens';
const OPENLLMETRY_REQUEST_TYPE = 'llm.request.type';
const OPENLLMETRY_INFERENCE_TYPES: ReadonlySet<string> = new Set(['chat', 'completion', 'embedding']);
/** OpenInference. */
const OI_SPAN_KIND = 'openinference.span.kind';
const OI_PROMPT = 'llm.token_count.prompt';
const OI_COMPLETION = 'llm.token_count.completion';
const OI_CACHE_READ = 'llm.token_count.prompt_details.cache_read';
const OI_CACHE_WRITE = 'llm.token_count.prompt_details.cache_write';
const OI_REASONING = 'llm.token_count.completion_details.reasoning';
const OI_MODEL = 'llm.model_name';
const OI_EMBEDDING_MODEL = 'embedding.model_name';
const OI_PROVIDER = 'llm.provider';
const OI_SYSTEM = 'llm.system';
/** Vercel AI SDK (legacy `ai.*` spans; v4 prompt/completion, v5+ input/output). */
const AI_OPERATION_ID = 'ai.operationId';
const AI_INPUT = 'ai.usage.inputTokens';
const AI_OUTPUT = 'ai.usage.outputTokens';
const AI_PROMPT = 'ai.usage.promptTokens';
const AI_COMPLETION = 'ai.usage.completionTokens';
const AI_EMBED_TOKENS = 'ai.usage.tokens';
const AI_CACHED_INPUT = 'ai.usage.cachedInputTokens';
const AI_CACHE_READ = 'ai.usage.inputTokenDetails.cacheReadTokens';
const AI_CACHE_WRITE = 'ai.usage.inputTokenDetails.cacheWriteTokens';
const AI_REASONING = 'ai.usage.reasoningTokens';
const AI_REASONING_DETAIL = 'ai.usage.outputTokenDetails.reasoningTokens';
const AI_MODEL_ID = 'ai.model.id';
const AI_MODEL_PROVIDER = 'ai.model.provider';
/**
 * The Vercel spans that are one provider call. Their parents (`ai.generateText`,
 * `ai.streamText`, ...) repeat the summed usage of every step and must not be priced.
 */
const AI_CALL_OPERATIONS: ReadonlySet<string> = new Set([
  'ai.generateText.doGenerate',
  'ai.streamText.doStream',
  'ai.generateObject.doGenerate',
  'ai.streamObject.doStream',
  'ai.embed.doEmbed',
  'ai.embedMany.doEmbed',
]);

/**
 * Whether a span is one inference call (chat, completion, embeddings, generate_content),
 * as opposed to an agent / workflow / tool span that may repeat its children's usage.
 * An explicit `gen_ai.operation.name` decides; otherwise the dialect's own marker does.
 */
export function isInferenceSpan(name: string, attrs: Attributes): boolean {
  const op = attrs[ATTR_GEN_AI_OPERATION_NAME];
  if (typeof op === 'string') return INFERENCE_OPERATIONS.has(op);
  const kind = attrs[OI_SPAN_KIND];
  if (typeof kind === 'string') return kind === 'LLM' || kind === 'EMBEDDING';
  const opId = attrs[AI_OPERATION_ID];
  if (typeof opId === 'string') return AI_CALL_OPERATIONS.has(opId);
  if (name.charCodeAt(0) === 97 /* a */ && name.startsWith('ai.')) return AI_CALL_OPERATIONS.has(name);
  const reqType = attrs[OPENLLMETRY_REQUEST_TYPE];
  if (typeof reqType === 'string') return OPENLLMETRY_INFERENCE_TYPES.has(reqType);
  return false;
}

/** The operation name for metrics: the span's own, else inferred from the dialect. */
export function operationOf(attrs: Attributes): string {
  const op = attrs[ATTR_GEN_AI_OPERATION_NAME];
  if (typeof op === 'string') return op;
  const kind = attrs[OI_SPAN_KIND];
  if (kind === 'EMBEDDING') return 'embeddings';
  const opId = attrs[AI_OPERATION_ID];
  if (typeof opId === 'string' && opId.startsWith('ai.embed')) return 'embeddings';
  const reqType = attrs[OPENLLMETRY_REQUEST_TYPE];
  if (reqType === 'embedding') return 'embeddings';
  if (reqType === 'completion') return 'text_completion';
  return 'chat';
}

/**
 * The model to price: the response model (the dated snapshot that was actually
 * served, which may be priced differently from its alias) when reported, else the
 * requested one.
 */
export function modelOf(attrs: Attributes): string | undefined {
  return (
    str(attrs[ATTR_GEN_AI_RESPONSE_MODEL]) ??
    str(attrs[ATTR_GEN_AI_REQUEST_MODEL]) ??
    str(attrs[OI_MODEL]) ??
    str(attrs[AI_MODEL_ID]) ??
    str(attrs[OI_EMBEDDING_MODEL])
  );
}

/**
 * Vercel provider ids (`openai.chat`, `google.generative-ai`, `amazon-bedrock`, ...) by prefix,
 * to the GenAI `gen_ai.provider.name` values. Facts from `@ai-sdk/otel`'s own mapping.
 */
const VERCEL_PROVIDERS: readonly (readonly [string, string])[] = [
  ['google.vertex', 'gcp.vertex_ai'],
  ['google.generative-ai', 'gcp.gemini'],
  ['google-vertex', 'gcp.vertex_ai'],
  ['amazon-bedrock', 'aws.bedrock'],
  ['azure-openai', 'azure.ai.openai'],
  ['azure', 'azure.ai.inference'],
  ['google', 'gcp.gemini'],
  ['mistral', 'mistral_ai'],
  ['bedrock', 'aws.bedrock'],
  ['xai', 'x_ai'],
];

/**
 * The provider, normalised to the GenAI `gen_ai.provider.name` values where the dialect differs.
 * The Vercel legacy spans copy their provider id (`openai.chat`) into `gen_ai.system` too, so
 * `ai.model.provider` decides before `gen_ai.system` does.
 */
export function providerOf(attrs: Attributes): string | undefined {
  const named = str(attrs[ATTR_GEN_AI_PROVIDER_NAME]);
  if (named !== undefined) return named;
  const vp = str(attrs[AI_MODEL_PROVIDER]);
  if (vp !== undefined) return vercelProvider(vp);
  return str(attrs[ATTR_GEN_AI_SYSTEM]) ?? str(attrs[OI_PROVIDER]) ?? str(attrs[OI_SYSTEM]);
}

const vercelProviderMemo = new Map<string, string>();

/**
 * `openai.chat` -> `openai`, `google.generative-ai` -> `gcp.gemini`; memoised (a handful of distinct ids).
 * Shared with the AI SDK instrumentation, which names its spans' provider from the same ids.
 */
export function vercelProvider(id: string): string {
  let out = vercelProviderMemo.get(id);
  if (out !== undefined) return out;
  const lower = id.toLowerCase();
  for (const [prefix, mapped] of VERCEL_PROVIDERS) {
    if (lower === prefix || lower.startsWith(`${prefix}.`) || lower.startsWith(`${prefix}-`)) {
      out = mapped;
      break;
    }
  }
  if (out === undefined) {
    const dot = id.indexOf('.');
    out = dot > 0 ? id.slice(0, dot) : id;
  }
  // Ids come from code, not requests, but cap anyway.
  if (vercelProviderMemo.size < 256) vercelProviderMemo.set(id, out);
  return out;
}

/**
 * The usage of a call in the GenAI-convention shape, from whichever dialect the
 * span carries, or undefined when it carries no token counts.
 *
 * Totals, first dialect found wins: `gen_ai.usage.input/output_tokens` (current
 * conventions, also set by the Anthropic SDK, which sums input + cache read + cache
 * creation), `gen_ai.usage.prompt/completion_tokens` (older), OpenInference
 * `llm.token_count.*`, Vercel `ai.usage.inputTokens/outputTokens` (v5+) and
 * `promptTokens/completionTokens` (v4), `ai.usage.tokens` (embeddings). Every one
 * of them counts cache tokens inside input and reasoning inside output; the
 * sub-counts are read from whichever dialect has them.
 *
 * Guard for an exclusive count (Anthropic's raw `input_tokens` leaking through an
 * instrumentation that copies it verbatim): a part cannot exceed its whole, so
 * when cache read + write exceed input, input is taken as exclusive and the cache
 * counts are added to it; likewise reasoning above output.
 */
export function readUsage(attrs: Attributes): Usage | undefined {
  let input = num(attrs[ATTR_GEN_AI_USAGE_INPUT_TOKENS]);
  let output = num(attrs[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]);
  if (input === undefined && output === undefined) {
    input = num(attrs[ATTR_GEN_AI_USAGE_PROMPT_TOKENS]);
    output = num(attrs[ATTR_GEN_AI_USAGE_COMPLETION_TOKENS]);
  }
  if (input === undefined && output === undefined) {
    input = num(attrs[OI_PROMPT]);
    output = num(attrs[OI_COMPLETION]);
  }
  if (input === undefined && output === undefined) {
    input = num(attrs[AI_INPUT]) ?? num(attrs[AI_PROMPT]) ?? num(attrs[AI_EMBED_TOKENS]);
    output = num(attrs[AI_OUTPUT]) ?? num(attrs[AI_COMPLETION]);
  }
  if (input === undefined && output === undefined) return undefined;
  let inputTokens = input ?? 0;
  let outputTokens = output ?? 0;

  const cacheRead =
    num(attrs[ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]) ??
    num(attrs[OPENLLMETRY_CACHE_READ]) ??
    num(attrs[OI_CACHE_READ]) ??
    num(attrs[AI_CACHE_READ]) ??
    num(attrs[AI_CACHED_INPUT]) ??
    0;
  const cacheWriteAny =
    num(attrs[ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS]) ??
    num(attrs[ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS]) ??
    num(attrs[OPENLLMETRY_CACHE_CREATION]) ??
    num(attrs[OI_CACHE_WRITE]) ??
    num(attrs[AI_CACHE_WRITE]) ??
    0;
  const cacheWrite1h = num(attrs[ANTHROPIC_CACHE_WRITE_1H]) ?? 0;
  // The 1-hour count is a part of the cache write; never let it exceed its whole.
  const cacheWrite = cacheWriteAny > cacheWrite1h ? cacheWriteAny : cacheWrite1h;
  const reasoning =
    num(attrs[ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS]) ??
    num(attrs[OI_REASONING]) ??
    num(attrs[AI_REASONING_DETAIL]) ??
    num(attrs[AI_REASONING]) ??
    0;

  if (cacheRead + cacheWrite > inputTokens) inputTokens += cacheRead + cacheWrite;
  if (reasoning > outputTokens) outputTokens += reasoning;

  // Plain assignments, not conditional spreads: this runs for every counted span.
  const usage: { -readonly [K in keyof Usage]: Usage[K] } = { inputTokens, outputTokens };
  if (cacheRead > 0) usage.cacheReadTokens = cacheRead;
  if (cacheWrite > 0) usage.cacheWriteTokens = cacheWrite;
  if (cacheWrite1h > 0) usage.cacheWrite1hTokens = cacheWrite1h;
  if (reasoning > 0) usage.reasoningTokens = reasoning;
  return usage;
}
