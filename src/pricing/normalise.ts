/**
 * Model-name normalisation: the names a model goes by on requests and spans
 * (provider prefixes, Bedrock and Vertex ids, dated snapshots) reduced to the
 * names the price data knows. Runs once per distinct name (the table memoises).
 */

/** Provider names on spans and requests -> the compiled data's provider ids, in preference order. */
const PROVIDER_ALIASES: Readonly<Record<string, readonly string[]>> = {
  openai: ['openai'],
  'azure.ai.openai': ['azure', 'openai'],
  'az.ai.openai': ['azure', 'openai'],
  'azure.ai.inference': ['azure', 'openai'],
  azure: ['azure', 'openai'],
  azure_openai: ['azure', 'openai'],
  azure_ai: ['azure', 'openai'],
  anthropic: ['anthropic'],
  'aws.bedrock': ['aws'],
  bedrock: ['aws'],
  bedrock_converse: ['aws'],
  aws: ['aws'],
  'gcp.gemini': ['google'],
  'gcp.vertex_ai': ['google'],
  'gcp.gen_ai': ['google'],
  google: ['google'],
  gemini: ['google'],
  vertex_ai: ['google'],
  vertex: ['google'],
  mistral: ['mistral'],
  mistral_ai: ['mistral'],
  deepseek: ['deepseek'],
  'x-ai': ['x-ai'],
  x_ai: ['x-ai'],
  xai: ['x-ai'],
  groq: ['groq'],
  together: ['together'],
  together_ai: ['together'],
  fireworks: ['fireworks'],
  fireworks_ai: ['fireworks'],
  cerebras: ['cerebras'],
  cohere: ['cohere'],
  moonshot: ['moonshotai'],
  moonshotai: ['moonshotai'],
  openrouter: ['openrouter'],
};

/** The data providers a provider name stands for (empty when unknown). */
export function providerIds(provider: string | undefined): readonly string[] {
  if (provider === undefined || provider === '') return [];
  return PROVIDER_ALIASES[provider.toLowerCase()] ?? [];
}

// Bedrock ids: optional region / inference-profile prefix, vendor, model, optional -vN[:M] version.
const BEDROCK =
  /^(?:(?:us|eu|apac|ap|au|jp|ca|us-gov|global|regional)\.)?(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|openai|qwen|writer|moonshot|moonshotai|minimax|google|nvidia)\.(.+)$/;
const BEDROCK_VERSION = /-v\d+(?::\d+)?$|:\d+$/;
// Dated snapshots and aliases: -2024-08-06, -20250929, -latest, -0613-style MMDD is left alone (ambiguous with sizes).
const SNAPSHOT = /-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$/;
const VERTEX_VERSION = /@[^@]*$/;
const VERTEX_V = /-v\d+$/;

/**
 * Names to try for a lowercased model name, most specific first: the name as given,
 * then without a gateway prefix (`openai/`, `azure/`, `models/`), without the
 * Bedrock region / vendor / version, without a Vertex `@version`, without a dated
 * snapshot or `-latest` suffix. Exact names come first so a snapshot priced
 * differently from its alias (gpt-4o-2024-05-13) keeps its own price.
 */
export function nameCandidates(lower: string): string[] {
  const out = [lower];
  const add = (s: string): void => {
    if (s !== '' && !out.includes(s)) out.push(s);
  };
  const slash = lower.indexOf('/');
  if (slash >= 0) {
    add(lower.slice(slash + 1));
    add(lower.slice(lower.lastIndexOf('/') + 1));
  }
  for (let i = 0; i < out.length && out.length < 16; i++) {
    const s = out[i] as string;
    const b = BEDROCK.exec(s);
    if (b?.[1] !== undefined) {
      add(b[1]);
      add(b[1].replace(BEDROCK_VERSION, ''));
    }
    add(s.replace(BEDROCK_VERSION, ''));
    add(s.replace(VERTEX_VERSION, ''));
    add(s.replace(SNAPSHOT, ''));
    add(s.replace(VERTEX_V, ''));
  }
  return out;
}

/** The provider a name's own prefix points at (`anthropic/claude-…`, `us.anthropic.claude-…` on Bedrock). */
export function providerFromName(lower: string): readonly string[] {
  const slash = lower.indexOf('/');
  if (slash > 0) {
    const ids = providerIds(lower.slice(0, slash));
    if (ids.length > 0) return ids;
  }
  if (BEDROCK.test(lower) && BEDROCK_VERSION.test(lower)) return ['aws'];
  return [];
}
