/**
 * The `TOLLGATE_CONFIG` file: JSON, `version: 1`, strict keys (a typo is an error,
 * not a silently ignored cap). Validated with zod; the first problem becomes a
 * ConfigError naming the file and the JSON path (`$.agents.research.dailyUsd`).
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { ConfigError } from '../errors.ts';
import type { AgentLimits, CustomScope, RouteRule, TaskAutoConfig, UnknownModelPolicy } from './types.ts';

const E_USD = 'a number of USD >= 0';
const E_POS_USD = 'a number of USD > 0';
const E_TASK_USD = 'a number of USD >= 0, or "auto"';
const E_POS_INT = 'a whole number >= 1';
const E_NONNEG_INT = 'a whole number >= 0';
const E_ON_EXCEED = '"block" or "downgrade"';
const E_NAME = 'a non-empty string';
const E_NAMES = 'a non-empty string or a list of non-empty strings';
const E_BOOL = 'true or false';

const usd = z.number({ error: E_USD }).min(0, { error: E_USD });
const positiveUsd = z.number({ error: E_POS_USD }).positive({ error: E_POS_USD });
const posInt = z.number({ error: E_POS_INT }).int({ error: E_POS_INT }).min(1, { error: E_POS_INT });
const nonNegInt = z.number({ error: E_NONNEG_INT }).int({ error: E_NONNEG_INT }).min(0, { error: E_NONNEG_INT });
const name = z.string({ error: E_NAME }).min(1, { error: E_NAME });
const names = z.union([name, z.array(name, { error: E_NAMES }).min(1, { error: E_NAMES })], { error: E_NAMES });
const bool = z.boolean({ error: E_BOOL });
const E_WAIT_MS = 'a whole number of milliseconds 0-600000 (0 = never wait)';
const waitMs = z.number({ error: E_WAIT_MS }).int({ error: E_WAIT_MS }).min(0, { error: E_WAIT_MS }).max(600_000, { error: E_WAIT_MS });

const agentLimits = z.strictObject({
  dailyUsd: usd.optional(),
  monthlyUsd: usd.optional(),
  taskUsd: z.union([usd, z.literal('auto')], { error: E_TASK_USD }).optional(),
  maxTokens: posInt.optional(),
  onExceed: z.enum(['block', 'downgrade'], { error: E_ON_EXCEED }).optional(),
  rateUsdPerMinute: positiveUsd.optional(),
  maxAttemptsPerTask: posInt.optional(),
  waitMs: waitMs.optional(),
});

const routeMatch = z.strictObject({
  provider: names.optional(),
  model: names.optional(),
  agent: names.optional(),
  taskType: names.optional(),
  inputTokensAbove: nonNegInt.optional(),
  inputTokensBelow: posInt.optional(),
  hasTools: bool.optional(),
  hasImages: bool.optional(),
});

const E_SCOPE_NAME = 'a name of letters, digits, `.`, `_` or `-` that is not a built-in scope (task, agent.daily, agent.monthly, agent.rate, task.attempts)';
const BUILTIN_SCOPES = new Set(['task', 'agent.daily', 'agent.monthly', 'agent.rate', 'task.attempts']);

const fileSchema = z.strictObject({
  $schema: z.string().optional(),
  version: z.literal(1, { error: 'version 1 (the only format this tollgate reads)' }),
  defaults: agentLimits.optional(),
  agents: z.record(name, agentLimits, { error: 'an object of agent name -> limits' }).optional(),
  ladders: z
    .record(name, z.array(name, { error: 'a list of model names, most capable first' }).min(1, { error: 'a non-empty list of model names' }), {
      error: 'an object of provider -> list of model names',
    })
    .optional(),
  routes: z
    .array(z.strictObject({ name: name.optional(), match: routeMatch, model: name }), { error: 'a list of { match, model } rules' })
    .optional(),
  builtinRoutes: bool.optional(),
  unknownModel: z.enum(['fallback', 'block'], { error: '"fallback" or "block"' }).optional(),
  maxTokensFloor: posInt.optional(),
  scopes: z
    .array(
      z.strictObject({
        name: z
          .string({ error: E_SCOPE_NAME })
          .regex(/^[A-Za-z0-9_.-]+$/, { error: E_SCOPE_NAME })
          .refine((s) => !BUILTIN_SCOPES.has(s), { error: E_SCOPE_NAME }),
        agents: names.optional(),
        period: z.enum(['day', 'month', 'total'], { error: '"day", "month" or "total"' }),
        limitUsd: usd,
      }),
      { error: 'a list of { name, period, limitUsd, agents? } scopes' },
    )
    .optional(),
  taskAuto: z
    .strictObject({ minTasks: posInt.optional(), multiplier: positiveUsd.optional(), windowTasks: posInt.optional() })
    .optional(),
});

/** What a config file contributes, validated and normalised. */
export interface ConfigFile {
  readonly defaults: AgentLimits;
  readonly agents: Readonly<Record<string, AgentLimits>>;
  readonly ladders: Readonly<Record<string, readonly string[]>>;
  readonly routes: readonly RouteRule[];
  readonly builtinRoutes: boolean | undefined;
  readonly unknownModel: UnknownModelPolicy | undefined;
  readonly maxTokensFloor: number | undefined;
  readonly scopes: readonly CustomScope[];
  readonly taskAuto: Partial<TaskAutoConfig>;
}

/** Reads and validates a config file. `label` prefixes every ConfigError source (e.g. `TOLLGATE_CONFIG /etc/tollgate.json`). */
export function readConfigFile(path: string, label = `TOLLGATE_CONFIG ${path}`): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(label, path, 'the path of a readable JSON config file', { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(label, text.length > 80 ? `${text.slice(0, 80)}…` : text, `a JSON document (${(err as Error).message})`, { cause: err });
  }
  return parseConfigObject(raw, label);
}

/** Validates an already-parsed config document (also used for a config passed as an option). */
export function parseConfigObject(raw: unknown, label: string): ConfigFile {
  const r = fileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    let path: readonly PropertyKey[] = issue.path;
    let expected = issue.message;
    if (issue.code === 'unrecognized_keys') {
      path = [...issue.path, issue.keys[0]!];
      expected = `no key "${issue.keys[0]}" here; allowed keys: ${allowedKeys(issue.path)}`;
    }
    if (issue.code === 'invalid_type' && issue.path.length === 0) expected = 'a JSON object with "version": 1';
    throw new ConfigError(`${label} ${jsonPath(path)}`, valueAt(raw, path), expected);
  }
  const f = r.data;
  const fail = (path: readonly PropertyKey[], expected: string): never => {
    throw new ConfigError(`${label} ${jsonPath(path)}`, valueAt(raw, path), expected);
  };

  const ladders: Record<string, readonly string[]> = {};
  for (const [provider, models] of Object.entries(f.ladders ?? {})) {
    const seen = new Set<string>();
    models.forEach((m, i) => {
      if (seen.has(m)) fail(['ladders', provider, i], 'a model that is not already on the ladder');
      seen.add(m);
    });
    ladders[provider] = Object.freeze([...models]);
  }

  const routes: RouteRule[] = (f.routes ?? []).map((rule, i) => {
    const m = rule.match;
    if (m.inputTokensAbove !== undefined && m.inputTokensBelow !== undefined && m.inputTokensAbove + 1 >= m.inputTokensBelow) {
      fail(['routes', i, 'match', 'inputTokensBelow'], `a whole number above inputTokensAbove + 1 (${m.inputTokensAbove + 1}), or no rule can match`);
    }
    const match = {
      ...(m.provider !== undefined ? { provider: list(m.provider) } : {}),
      ...(m.model !== undefined ? { model: list(m.model) } : {}),
      ...(m.agent !== undefined ? { agent: list(m.agent) } : {}),
      ...(m.taskType !== undefined ? { taskType: list(m.taskType) } : {}),
      ...(m.inputTokensAbove !== undefined ? { inputTokensAbove: m.inputTokensAbove } : {}),
      ...(m.inputTokensBelow !== undefined ? { inputTokensBelow: m.inputTokensBelow } : {}),
      ...(m.hasTools !== undefined ? { hasTools: m.hasTools } : {}),
      ...(m.hasImages !== undefined ? { hasImages: m.hasImages } : {}),
    };
    return Object.freeze({ name: rule.name ?? `routes[${i}]`, match: Object.freeze(match), model: rule.model });
  });

  const scopeNames = new Set<string>();
  const scopes: CustomScope[] = (f.scopes ?? []).map((s, i) => {
    if (scopeNames.has(s.name)) fail(['scopes', i, 'name'], 'a scope name not used by another scope');
    scopeNames.add(s.name);
    return Object.freeze({ name: s.name, agents: s.agents === undefined ? null : list(s.agents), period: s.period, limitUsd: s.limitUsd });
  });

  const ta = f.taskAuto ?? {};
  if (ta.minTasks !== undefined && ta.windowTasks !== undefined && ta.windowTasks < ta.minTasks) {
    fail(['taskAuto', 'windowTasks'], `a whole number >= minTasks (${ta.minTasks})`);
  }

  const agents: Record<string, AgentLimits> = {};
  for (const [agent, limits] of Object.entries(f.agents ?? {})) agents[agent] = cleanLimits(limits);

  return {
    defaults: cleanLimits(f.defaults ?? {}),
    agents,
    ladders,
    routes,
    builtinRoutes: f.builtinRoutes,
    unknownModel: f.unknownModel,
    maxTokensFloor: f.maxTokensFloor,
    scopes,
    taskAuto: {
      ...(ta.minTasks !== undefined ? { minTasks: ta.minTasks } : {}),
      ...(ta.multiplier !== undefined ? { multiplier: ta.multiplier } : {}),
      ...(ta.windowTasks !== undefined ? { windowTasks: ta.windowTasks } : {}),
    },
  };
}

/** Drops keys whose value is undefined (exactOptionalPropertyTypes) and freezes. */
function cleanLimits(l: Record<string, unknown>): AgentLimits {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(l)) if (v !== undefined) out[k] = v;
  return Object.freeze(out) as AgentLimits;
}

function list(v: string | readonly string[]): readonly string[] {
  return Object.freeze(typeof v === 'string' ? [v] : [...v]);
}

const KEYS: Record<string, readonly string[]> = {
  '': Object.keys(fileSchema.shape),
  limits: Object.keys(agentLimits.shape),
  match: Object.keys(routeMatch.shape),
  route: ['name', 'match', 'model'],
  scope: ['name', 'agents', 'period', 'limitUsd'],
  taskAuto: ['minTasks', 'multiplier', 'windowTasks'],
};

function allowedKeys(path: readonly PropertyKey[]): string {
  const head = path[0];
  let kind = '';
  if (head === 'defaults' || head === 'agents') kind = 'limits';
  else if (head === 'routes') kind = path.length >= 3 ? 'match' : 'route';
  else if (head === 'scopes') kind = 'scope';
  else if (head === 'taskAuto') kind = 'taskAuto';
  return (KEYS[kind] ?? []).join(', ');
}

/** `$.agents.research.dailyUsd`, `$.routes[0].model`; odd keys bracketed and quoted. */
export function jsonPath(path: readonly PropertyKey[]): string {
  let s = '$';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_$][\w$]*$/.test(p)) s += `.${p}`;
    else s += `[${JSON.stringify(String(p))}]`;
  }
  return s;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}
