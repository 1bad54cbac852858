/**
 * Which provider an `openai` SDK client talks to, from the host of its `baseURL`. Many providers
 * speak OpenAI's format and are reached with this SDK; naming them all `openai` would price a model
 * name OpenAI also uses at OpenAI's rates (`openai/gpt-oss-120b` on Groq), and put every
 * host's spend under one provider on the dashboards.
 *
 * The table (README: "OpenAI-compatible hosts") maps a host, or any subdomain of it, to the
 * `gen_ai.provider.name` the semantic conventions use where they have one (`groq`, `deepseek`,
 * `x_ai`, `mistral_ai`, `perplexity`, `gcp.gemini`), else a stable name of tollgate's own (`together_ai`,
 * `fireworks`, `cerebras`, `openrouter`, `moonshot`); src/pricing/normalise.ts maps these to the
 * price data's provider ids. Prices are then looked up for that provider first.
 *
 * Hosts not in the table: loopback addresses (a local proxy or stand-in in front of OpenAI) stay
 * `openai`. Any other host keeps the OpenAI format but is named by its host name and priced only
 * from the user's override prices, else at the fallback rates, flagged: never at OpenAI's rates.
 */
import { providerIds } from '../../pricing/normalise.ts';

/** How a host is named and priced. */
export interface HostProvider {
  /** `gen_ai.provider.name`. */
  readonly provider: string;
  /** The provider name prices are looked up under. */
  readonly pricingProvider: string;
  /** `overrides-only` for hosts tollgate does not know. */
  readonly pricing: 'table' | 'overrides-only';
}

/** Host (exact or parent domain) -> `gen_ai.provider.name`. */
export const OPENAI_COMPATIBLE_HOSTS: Readonly<Record<string, string>> = Object.freeze({
  'api.openai.com': 'openai',
  'openai.azure.com': 'azure.ai.openai',
  'cognitiveservices.azure.com': 'azure.ai.openai',
  'services.ai.azure.com': 'azure.ai.openai',
  'api.groq.com': 'groq',
  'api.deepseek.com': 'deepseek',
  'api.x.ai': 'x_ai',
  'api.mistral.ai': 'mistral_ai',
  'openrouter.ai': 'openrouter',
  'api.together.xyz': 'together_ai',
  'api.together.ai': 'together_ai',
  'api.fireworks.ai': 'fireworks',
  'api.cerebras.ai': 'cerebras',
  'api.perplexity.ai': 'perplexity',
  'generativelanguage.googleapis.com': 'gcp.gemini',
  'api.moonshot.ai': 'moonshot',
  'api.moonshot.cn': 'moonshot',
});

const OPENAI: HostProvider = Object.freeze({ provider: 'openai', pricingProvider: 'openai', pricing: 'table' });
const AZURE: HostProvider = Object.freeze({ provider: 'azure.ai.openai', pricingProvider: 'openai', pricing: 'table' });

const LOOPBACK: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '::1', '[::1]', '0.0.0.0']);

/**
 * The provider of an `openai` client: `azure` when the client is an `AzureOpenAI`, else from the
 * host (see the file comment). `host` is the lower-case host name without port; undefined when the
 * client has no parsable base URL (the SDK's default is OpenAI).
 */
export function providerOfHost(host: string | undefined, azureClient: boolean): HostProvider {
  if (azureClient) return AZURE;
  if (host === undefined || host === '' || LOOPBACK.has(host) || host.endsWith('.localhost')) return OPENAI;
  for (let h = host; ; ) {
    const named = OPENAI_COMPATIBLE_HOSTS[h];
    if (named !== undefined) {
      if (named === 'openai') return OPENAI;
      if (named === 'azure.ai.openai') return AZURE;
      // A host whose provider the price data does not know (perplexity) is priced like an unknown host.
      return { provider: named, pricingProvider: named, pricing: providerIds(named).length > 0 ? 'table' : 'overrides-only' };
    }
    const dot = h.indexOf('.');
    if (dot < 0) break;
    h = h.slice(dot + 1);
  }
  return { provider: host, pricingProvider: host, pricing: 'overrides-only' };
}
