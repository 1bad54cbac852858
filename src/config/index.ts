/**
 * Configuration, resolved once at start-up in the order: explicit option, then env
 * var / resource attribute, then the config file, then the default. Every bad value
 * fails here with a ConfigError naming its source, the value and the allowed form,
 * so nothing can fail later inside a user's call.
 */
import { ConfigError } from '../errors.ts';
import { parseLedgerSpec } from '../ledger/index.ts';
import { parseRedisUrl } from '../ledger/redis-url.ts';
import {
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_SERVICE_NAME,
  RES_BUDGET_DAILY_USD,
  RES_BUDGET_MONTHLY_USD,
  RES_BUDGET_TASK_USD,
  RES_POLICY_MAX_TOKENS,
  RES_POLICY_ON_EXCEED,
  RES_POLICY_WAIT_MS,
} from '../semconv.ts';
import { diag } from '@opentelemetry/api';
import { parseConfigObject, readConfigFile, type ConfigFile } from './file.ts';
import type { AgentLimits, OnExceed, TaskAutoConfig, TollgateConfig } from './types.ts';

export type { AgentLimits, OnExceed, UnknownModelPolicy, RouteMatch, RouteRule, CustomScope, TaskAutoConfig, TollgateConfig } from './types.ts';
export { readConfigFile, parseConfigObject, type ConfigFile } from './file.ts';

/** Defaults that apply when no source sets a value. */
export const CONFIG_DEFAULTS = Object.freeze({
  ledger: 'memory',
  ledgerFailure: 'closed' as const,
  unknownModel: 'fallback' as const,
  /** `downgrade` never clamps max_tokens below this. */
  maxTokensFloor: 256,
  taskAuto: Object.freeze({ minTasks: 20, multiplier: 3, windowTasks: 200 }) as TaskAutoConfig,
  /** OTel's own default service name. */
  agent: 'unknown_service:node',
});

/** Values set in code; each wins over every env var, attribute and file. */
export interface ConfigOverrides {
  readonly agent?: string;
  readonly ledger?: string;
  readonly ledgerFailure?: 'closed' | 'open';
  readonly pricesPath?: string;
  /** Path of a config file (instead of TOLLGATE_CONFIG). */
  readonly configPath?: string;
  /** A config document given inline (same format as the file); wins over any file. */
  readonly configFile?: unknown;
  /** The process agent's limits. */
  readonly limits?: AgentLimits;
}

/** Inputs of {@link resolveConfig}. */
export interface ResolveConfigInput {
  /** The environment to read (`process.env` at start-up). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * The OTel resource's attributes (e.g. `resource.attributes` after detection). When it
   * lacks a key, `OTEL_RESOURCE_ATTRIBUTES` / `OTEL_SERVICE_NAME` in `env` are read directly.
   */
  readonly resourceAttributes?: Readonly<Record<string, unknown>>;
  readonly overrides?: ConfigOverrides;
}

/**
 * Resolves the whole configuration once.
 * @throws ConfigError for the first invalid value, naming where it came from.
 */
export function resolveConfig(input: ResolveConfigInput): TollgateConfig {
  const env = input.env;
  const o = input.overrides ?? {};
  const envAttrs = parseResourceAttributesEnv(env.OTEL_RESOURCE_ATTRIBUTES);
  const attr = (key: string): { value: unknown; source: string } | undefined => {
    const fromResource = input.resourceAttributes?.[key];
    const fromEnv = envAttrs.get(key);
    if (fromResource !== undefined) {
      // Name the env var when that is where the value came from, so the user knows what to edit.
      const source = fromEnv !== undefined && String(fromResource) === fromEnv ? 'OTEL_RESOURCE_ATTRIBUTES' : 'resource attribute';
      return { value: fromResource, source: `${source} ${key}` };
    }
    if (fromEnv !== undefined) return { value: fromEnv, source: `OTEL_RESOURCE_ATTRIBUTES ${key}` };
    return undefined;
  };

  // Agent name: gen_ai.agent.name, else service.name.
  let agent: string = CONFIG_DEFAULTS.agent;
  if (o.agent !== undefined) agent = nonEmpty(o.agent, 'option agent');
  else {
    const a = attr(ATTR_GEN_AI_AGENT_NAME) ?? attr(ATTR_SERVICE_NAME);
    if (a !== undefined) agent = nonEmpty(a.value, a.source);
    else if (env.OTEL_SERVICE_NAME !== undefined && env.OTEL_SERVICE_NAME.trim() !== '') agent = env.OTEL_SERVICE_NAME.trim();
  }

  let ledger: string = CONFIG_DEFAULTS.ledger;
  let ledgerSource = 'default';
  if (o.ledger !== undefined) [ledger, ledgerSource] = [o.ledger, 'option ledger'];
  else if (isSet(env.TOLLGATE_LEDGER)) [ledger, ledgerSource] = [env.TOLLGATE_LEDGER.trim(), 'TOLLGATE_LEDGER'];
  const spec = parseLedgerSpec(ledger, ledgerSource);
  if (spec.kind === 'redis') parseRedisUrl(spec.url, ledgerSource);

  let ledgerFailure: 'closed' | 'open' = CONFIG_DEFAULTS.ledgerFailure;
  if (o.ledgerFailure !== undefined) ledgerFailure = oneOf(o.ledgerFailure, ['closed', 'open'], 'option ledgerFailure');
  else if (isSet(env.TOLLGATE_LEDGER_FAILURE)) ledgerFailure = oneOf(env.TOLLGATE_LEDGER_FAILURE.trim(), ['closed', 'open'], 'TOLLGATE_LEDGER_FAILURE');

  let pricesPath: string | undefined;
  if (o.pricesPath !== undefined) pricesPath = nonEmpty(o.pricesPath, 'option pricesPath');
  else if (env.TOLLGATE_PRICES !== undefined) pricesPath = nonEmpty(env.TOLLGATE_PRICES, 'TOLLGATE_PRICES', 'the path of a price override file');

  let configPath: string | undefined;
  let file: ConfigFile | undefined;
  if (o.configFile !== undefined) file = parseConfigObject(o.configFile, 'option configFile');
  else {
    if (o.configPath !== undefined) configPath = nonEmpty(o.configPath, 'option configPath');
    else if (env.TOLLGATE_CONFIG !== undefined) configPath = nonEmpty(env.TOLLGATE_CONFIG, 'TOLLGATE_CONFIG', 'the path of a JSON config file');
    if (configPath !== undefined) file = readConfigFile(configPath, `${o.configPath !== undefined ? 'option configPath' : 'TOLLGATE_CONFIG'} ${configPath}`);
  }

  // The process agent's own limits: resource attributes, then explicit options on top.
  const fromAttrs: Record<string, unknown> = {};
  const daily = attr(RES_BUDGET_DAILY_USD);
  if (daily !== undefined) fromAttrs.dailyUsd = usdValue(daily.value, daily.source);
  const monthly = attr(RES_BUDGET_MONTHLY_USD);
  if (monthly !== undefined) fromAttrs.monthlyUsd = usdValue(monthly.value, monthly.source);
  const task = attr(RES_BUDGET_TASK_USD);
  if (task !== undefined) fromAttrs.taskUsd = taskUsdValue(task.value, task.source);
  const maxTokens = attr(RES_POLICY_MAX_TOKENS);
  if (maxTokens !== undefined) fromAttrs.maxTokens = positiveInt(maxTokens.value, maxTokens.source);
  const onExceed = attr(RES_POLICY_ON_EXCEED);
  if (onExceed !== undefined) fromAttrs.onExceed = oneOf(trimmed(onExceed.value), ['block', 'downgrade'], onExceed.source) satisfies OnExceed;
  const waitMs = attr(RES_POLICY_WAIT_MS);
  if (waitMs !== undefined) fromAttrs.waitMs = waitMillis(waitMs.value, waitMs.source);
  checkUnknownAttributes([...Object.keys(input.resourceAttributes ?? {}), ...envAttrs.keys()], attr);
  const limits = Object.freeze({ ...fromAttrs, ...validateLimits(o.limits ?? {}, 'option limits') }) as AgentLimits;

  return Object.freeze({
    agent,
    ledger,
    ledgerSource,
    ledgerFailure,
    pricesPath,
    configPath,
    limits,
    defaults: file?.defaults ?? Object.freeze({}),
    agents: Object.freeze({ ...(file?.agents ?? {}) }),
    ladders: Object.freeze({ ...(file?.ladders ?? {}) }),
    routes: Object.freeze([...(file?.routes ?? [])]),
    builtinRoutes: file?.builtinRoutes ?? false,
    unknownModel: file?.unknownModel ?? CONFIG_DEFAULTS.unknownModel,
    maxTokensFloor: file?.maxTokensFloor ?? CONFIG_DEFAULTS.maxTokensFloor,
    scopes: Object.freeze([...(file?.scopes ?? [])]),
    taskAuto: Object.freeze({ ...CONFIG_DEFAULTS.taskAuto, ...(file?.taskAuto ?? {}) }),
  });
}

/**
 * The limits that apply to `agent`: the file's `defaults`, then its `agents[agent]`, then
 * (for the process's own agent) resource attributes and options. Later sources win per field.
 */
export function limitsFor(config: TollgateConfig, agent: string): AgentLimits {
  const own = config.agents[agent];
  if (agent === config.agent) return { ...config.defaults, ...own, ...config.limits };
  return own === undefined ? config.defaults : { ...config.defaults, ...own };
}

/**
 * Parses `OTEL_RESOURCE_ATTRIBUTES` (`k1=v1,k2=v2`, values percent-encoded) the way the
 * OTel SDK does. Malformed pairs are skipped (the SDK warns about them itself).
 */
export function parseResourceAttributesEnv(raw: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (raw === undefined || raw.trim() === '') return out;
  for (const pair of raw.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // keep the raw text; validation below reports it if it matters
    }
    if (key.length > 0) out.set(key, value);
  }
  return out;
}

/** The resource attributes tollgate reads as configuration (`tollgate.budget.*`, `tollgate.policy.*`). */
export const CONFIG_ATTRIBUTES: readonly string[] = [
  RES_BUDGET_DAILY_USD,
  RES_BUDGET_MONTHLY_USD,
  RES_BUDGET_TASK_USD,
  RES_POLICY_MAX_TOKENS,
  RES_POLICY_ON_EXCEED,
  RES_POLICY_WAIT_MS,
];

/** `tollgate.*` resource attributes tollgate knows but does not read as configuration. */
const OTHER_ATTRIBUTES: ReadonlySet<string> = new Set(['tollgate.demo.phase']);

/**
 * A misspelt cap (`tollgate.budget.daly_usd`) would otherwise leave the agent uncapped without a
 * word. In the configuration namespaces (`tollgate.budget.*`, `tollgate.policy.*`) an unknown
 * key is a bad value and fails at start-up, like an unknown key in the config file; any other
 * unknown `tollgate.*` attribute is reported through the OTel diag logger (it may be the user's).
 */
function checkUnknownAttributes(keys: readonly string[], attr: (key: string) => { source: string; value: unknown } | undefined): void {
  for (const key of keys) {
    if (!key.startsWith('tollgate.') || CONFIG_ATTRIBUTES.includes(key) || OTHER_ATTRIBUTES.has(key)) continue;
    const a = attr(key);
    const source = a?.source ?? `resource attribute ${key}`;
    if (key.startsWith('tollgate.budget.') || key.startsWith('tollgate.policy.')) {
      const near = nearest(key, CONFIG_ATTRIBUTES);
      throw new ConfigError(source, a?.value, `a known attribute name: ${CONFIG_ATTRIBUTES.join(', ')}${near === undefined ? '' : ` (did you mean ${near}?)`}`);
    }
    diag.warn(`tollgate: unknown resource attribute ${key} (${source}) is not read by tollgate; known: ${CONFIG_ATTRIBUTES.join(', ')}`);
  }
}

/** The candidate within edit distance 3 of `key`, if any. */
function nearest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 4;
  for (const c of candidates) {
    const d = editDistance(key, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

// --- value validators: each throws ConfigError(source, value, expected) ---

/** Upper bound of `waitMs`: a wait longer than this would hold a caller longer than any sane request timeout. */
export const MAX_WAIT_MS = 600_000;

function waitMillis(v: unknown, source: string): number {
  const s = trimmed(v);
  const n = typeof s === 'number' ? s : typeof s === 'string' && /^\d+$/.test(s) ? Number(s) : NaN;
  if (Number.isSafeInteger(n) && n >= 0 && n <= MAX_WAIT_MS) return n;
  throw new ConfigError(source, v, `a whole number of milliseconds 0-${MAX_WAIT_MS}, e.g. 2000 (0 = never wait)`);
}

const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

function isSet(v: string | undefined): v is string {
  return v !== undefined && v.trim() !== '';
}

function trimmed(v: unknown): unknown {
  return typeof v === 'string' ? v.trim() : v;
}

function nonEmpty(v: unknown, source: string, expected = 'a non-empty string'): string {
  if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(source, v, expected);
  return v.trim();
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], source: string): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new ConfigError(source, v, allowed.map((a) => `\`${a}\``).join(' or '));
}

function usdValue(v: unknown, source: string): number {
  const expected = 'a number of USD >= 0, e.g. 25 or 2.5';
  if (typeof v === 'number') {
    if (Number.isFinite(v) && v >= 0) return v;
    throw new ConfigError(source, v, expected);
  }
  const s = trimmed(v);
  if (typeof s === 'string' && DECIMAL.test(s)) return Number(s);
  throw new ConfigError(source, v, expected);
}

function taskUsdValue(v: unknown, source: string): number | 'auto' {
  if (trimmed(v) === 'auto') return 'auto';
  try {
    return usdValue(v, source);
  } catch {
    throw new ConfigError(source, v, 'a number of USD >= 0, or `auto`');
  }
}

function positiveInt(v: unknown, source: string): number {
  const expected = 'a whole number >= 1, e.g. 4096';
  const s = trimmed(v);
  const n = typeof s === 'number' ? s : typeof s === 'string' && /^\d+$/.test(s) ? Number(s) : NaN;
  if (Number.isSafeInteger(n) && n >= 1) return n;
  throw new ConfigError(source, v, expected);
}

function positiveUsd(v: unknown, source: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  throw new ConfigError(source, v, 'a number of USD > 0');
}

/** Validates limits passed as an option (typed, but a JS caller may pass anything). */
function validateLimits(l: AgentLimits, source: string): AgentLimits {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(l)) {
    if (v === undefined) continue;
    const s = `${source}.${k}`;
    switch (k) {
      case 'dailyUsd':
      case 'monthlyUsd':
        if (typeof v !== 'number') throw new ConfigError(s, v, 'a number of USD >= 0');
        out[k] = usdValue(v, s);
        break;
      case 'taskUsd':
        if (v !== 'auto' && typeof v !== 'number') throw new ConfigError(s, v, 'a number of USD >= 0, or `auto`');
        out[k] = taskUsdValue(v, s);
        break;
      case 'maxTokens':
      case 'maxAttemptsPerTask':
        if (typeof v !== 'number') throw new ConfigError(s, v, 'a whole number >= 1');
        out[k] = positiveInt(v, s);
        break;
      case 'onExceed':
        out[k] = oneOf(v, ['block', 'downgrade'], s);
        break;
      case 'rateUsdPerMinute':
        out[k] = positiveUsd(v, s);
        break;
      case 'waitMs':
        out[k] = waitMillis(v, s);
        break;
      default:
        throw new ConfigError(s, v, 'one of dailyUsd, monthlyUsd, taskUsd, maxTokens, onExceed, rateUsdPerMinute, maxAttemptsPerTask, waitMs');
    }
  }
  return out as AgentLimits;
}
