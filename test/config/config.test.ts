import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, limitsFor, parseResourceAttributesEnv, CONFIG_DEFAULTS } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(doc: unknown): string {
  const p = join(dir, `c${++n}.json`);
  writeFileSync(p, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return p;
}

/** Asserts fn throws a ConfigError with exactly this source and value, and an expected form matching `expected`. */
function assertConfigError(fn: () => unknown, source: string, value: unknown, expected: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.code, 'CONFIG_INVALID');
  assert.equal(caught.source, source);
  assert.deepEqual(caught.value, value);
  assert.match(caught.expected, expected);
  assert.ok(caught.message.includes(source), caught.message);
}

const FULL = {
  version: 1,
  defaults: { dailyUsd: 10, onExceed: 'block' },
  agents: {
    research: { dailyUsd: 5, monthlyUsd: 100, taskUsd: 'auto', maxTokens: 2048, onExceed: 'downgrade', rateUsdPerMinute: 1.5, maxAttemptsPerTask: 40 },
    writer: { taskUsd: 0.25 },
  },
  ladders: { anthropic: ['claude-opus-4-1', 'claude-sonnet-4-5', 'claude-haiku-4-5'], openai: ['gpt-4.1', 'gpt-4.1-mini', 'gpt-4.1-nano'] },
  routes: [
    { name: 'triage-small', match: { taskType: 'triage', inputTokensBelow: 2000, hasTools: false, hasImages: false }, model: 'gpt-4.1-nano' },
    { match: { provider: ['anthropic'], model: ['claude-opus-4-1'], agent: ['writer'], inputTokensAbove: 10 }, model: 'claude-sonnet-4-5' },
  ],
  builtinRoutes: true,
  unknownModel: 'block',
  maxTokensFloor: 128,
  scopes: [{ name: 'team.research', agents: ['research', 'writer'], period: 'day', limitUsd: 20 }, { name: 'org', period: 'total', limitUsd: 1000 }],
  taskAuto: { minTasks: 10, multiplier: 2.5, windowTasks: 50 },
};

void describe('resolveConfig', () => {
  void it('applies the defaults when nothing is set', () => {
    const c = resolveConfig({ env: {} });
    assert.equal(c.agent, 'unknown_service:node');
    assert.equal(c.ledger, 'memory');
    assert.equal(c.ledgerSource, 'default');
    assert.equal(c.ledgerFailure, 'closed');
    assert.equal(c.pricesPath, undefined);
    assert.equal(c.configPath, undefined);
    assert.deepEqual(c.limits, {});
    assert.deepEqual(c.ladders, {});
    assert.deepEqual(c.routes, []);
    assert.equal(c.builtinRoutes, false);
    assert.equal(c.unknownModel, 'fallback');
    assert.equal(c.maxTokensFloor, CONFIG_DEFAULTS.maxTokensFloor);
    assert.deepEqual(c.taskAuto, { minTasks: 20, multiplier: 3, windowTasks: 200 });
  });

  void it('reads env vars and resource attributes from OTEL_RESOURCE_ATTRIBUTES', () => {
    const c = resolveConfig({
      env: {
        TOLLGATE_LEDGER: 'sqlite:/var/lib/tollgate.db',
        TOLLGATE_LEDGER_FAILURE: 'open',
        TOLLGATE_PRICES: '/etc/prices.json',
        OTEL_SERVICE_NAME: 'svc',
        OTEL_RESOURCE_ATTRIBUTES:
          'gen_ai.agent.name=research%20bot,tollgate.budget.daily_usd=5,tollgate.budget.monthly_usd=120.5,tollgate.budget.task_usd=auto,tollgate.policy.max_tokens=4096,tollgate.policy.on_exceed=downgrade',
      },
    });
    assert.equal(c.agent, 'research bot');
    assert.equal(c.ledger, 'sqlite:/var/lib/tollgate.db');
    assert.equal(c.ledgerSource, 'TOLLGATE_LEDGER');
    assert.equal(c.ledgerFailure, 'open');
    assert.equal(c.pricesPath, '/etc/prices.json');
    assert.deepEqual(c.limits, { dailyUsd: 5, monthlyUsd: 120.5, taskUsd: 'auto', maxTokens: 4096, onExceed: 'downgrade' });
  });

  void it('takes the agent from gen_ai.agent.name, else service.name, else OTEL_SERVICE_NAME', () => {
    assert.equal(resolveConfig({ env: {}, resourceAttributes: { 'service.name': 'billing' } }).agent, 'billing');
    assert.equal(resolveConfig({ env: { OTEL_SERVICE_NAME: 'svc' } }).agent, 'svc');
    assert.equal(
      resolveConfig({ env: { OTEL_SERVICE_NAME: 'svc' }, resourceAttributes: { 'service.name': 'svc', 'gen_ai.agent.name': 'planner' } }).agent,
      'planner',
    );
  });

  void it('lets explicit options win over env vars and attributes', () => {
    const c = resolveConfig({
      env: { TOLLGATE_LEDGER: 'sqlite:/x.db', TOLLGATE_LEDGER_FAILURE: 'open', OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.daily_usd=5,gen_ai.agent.name=a' },
      overrides: { ledger: 'memory', ledgerFailure: 'closed', agent: 'b', limits: { dailyUsd: 7 } },
    });
    assert.equal(c.ledger, 'memory');
    assert.equal(c.ledgerSource, 'option ledger');
    assert.equal(c.ledgerFailure, 'closed');
    assert.equal(c.agent, 'b');
    assert.equal(c.limits.dailyUsd, 7);
  });

  void it('reads the config file and merges limits: defaults < agents entry < attributes < options', () => {
    const path = file(FULL);
    const c = resolveConfig({
      env: { TOLLGATE_CONFIG: path, OTEL_RESOURCE_ATTRIBUTES: 'gen_ai.agent.name=research,tollgate.budget.daily_usd=3' },
    });
    assert.equal(c.configPath, path);
    assert.deepEqual(limitsFor(c, 'research'), {
      dailyUsd: 3, monthlyUsd: 100, taskUsd: 'auto', maxTokens: 2048, onExceed: 'downgrade', rateUsdPerMinute: 1.5, maxAttemptsPerTask: 40,
    });
    assert.deepEqual(limitsFor(c, 'writer'), { dailyUsd: 10, onExceed: 'block', taskUsd: 0.25 });
    assert.deepEqual(limitsFor(c, 'someone-else'), { dailyUsd: 10, onExceed: 'block' });
    assert.deepEqual(c.ladders.anthropic, ['claude-opus-4-1', 'claude-sonnet-4-5', 'claude-haiku-4-5']);
    assert.deepEqual(c.routes[0], {
      name: 'triage-small', match: { taskType: ['triage'], inputTokensBelow: 2000, hasTools: false, hasImages: false }, model: 'gpt-4.1-nano',
    });
    assert.deepEqual(c.routes[1], {
      name: 'routes[1]',
      match: { provider: ['anthropic'], model: ['claude-opus-4-1'], agent: ['writer'], inputTokensAbove: 10 },
      model: 'claude-sonnet-4-5',
    });
    assert.equal(c.builtinRoutes, true);
    assert.equal(c.unknownModel, 'block');
    assert.equal(c.maxTokensFloor, 128);
    assert.deepEqual(c.scopes, [
      { name: 'team.research', agents: ['research', 'writer'], period: 'day', limitUsd: 20 },
      { name: 'org', agents: null, period: 'total', limitUsd: 1000 },
    ]);
    assert.deepEqual(c.taskAuto, { minTasks: 10, multiplier: 2.5, windowTasks: 50 });
  });

  void it('does not mutate the inputs it was given', () => {
    const limits = { dailyUsd: 2 };
    const env = { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.monthly_usd=9' };
    const c = resolveConfig({ env, overrides: { limits } });
    assert.deepEqual(limits, { dailyUsd: 2 });
    assert.deepEqual(env, { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.monthly_usd=9' });
    assert.ok(Object.isFrozen(c));
  });

  void it('parses OTEL_RESOURCE_ATTRIBUTES like the SDK', () => {
    assert.deepEqual([...parseResourceAttributesEnv(' a=1 , b=x%2Cy,bad,=z,c= 2 ')], [['a', '1'], ['b', 'x,y'], ['c', '2']]);
  });
});

void describe('resolveConfig: every env var and resource attribute wrong in turn', () => {
  const cases: [string, Record<string, string>, string, unknown, RegExp][] = [
    ['TOLLGATE_LEDGER', { TOLLGATE_LEDGER: 'postgres://x' }, 'TOLLGATE_LEDGER', 'postgres://x', /memory.*sqlite:.*redis/],
    ['TOLLGATE_LEDGER sqlite without path', { TOLLGATE_LEDGER: 'sqlite:' }, 'TOLLGATE_LEDGER', 'sqlite:', /file path/],
    ['TOLLGATE_LEDGER bad redis url', { TOLLGATE_LEDGER: 'redis://h:99999' }, 'TOLLGATE_LEDGER', 'redis://h:99999', /redis:\/\//],
    ['TOLLGATE_LEDGER_FAILURE', { TOLLGATE_LEDGER_FAILURE: 'sometimes' }, 'TOLLGATE_LEDGER_FAILURE', 'sometimes', /`closed` or `open`/],
    ['TOLLGATE_EXIT_TIMEOUT_MILLIS', { TOLLGATE_EXIT_TIMEOUT_MILLIS: '1.5s' }, 'TOLLGATE_EXIT_TIMEOUT_MILLIS', '1.5s', /whole number of milliseconds >= 1/],
    ['TOLLGATE_CONFIG missing file', { TOLLGATE_CONFIG: '/nonexistent/t.json' }, 'TOLLGATE_CONFIG /nonexistent/t.json', '/nonexistent/t.json', /readable JSON/],
    ['daily_usd', { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.daily_usd=ten' }, 'OTEL_RESOURCE_ATTRIBUTES tollgate.budget.daily_usd', 'ten', /USD >= 0/],
    ['daily_usd negative', { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.daily_usd=-1' }, 'OTEL_RESOURCE_ATTRIBUTES tollgate.budget.daily_usd', '-1', /USD >= 0/],
    ['monthly_usd', { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.monthly_usd=1e3' }, 'OTEL_RESOURCE_ATTRIBUTES tollgate.budget.monthly_usd', '1e3', /USD >= 0/],
    ['task_usd', { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.task_usd=automatic' }, 'OTEL_RESOURCE_ATTRIBUTES tollgate.budget.task_usd', 'automatic', /`auto`/],
    ['max_tokens fraction', { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.policy.max_tokens=10.5' }, 'OTEL_RESOURCE_ATTRIBUTES tollgate.policy.max_tokens', '10.5', /whole number >= 1/],
    ['max_tokens zero', { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.policy.max_tokens=0' }, 'OTEL_RESOURCE_ATTRIBUTES tollgate.policy.max_tokens', '0', /whole number >= 1/],
    ['on_exceed', { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.policy.on_exceed=warn' }, 'OTEL_RESOURCE_ATTRIBUTES tollgate.policy.on_exceed', 'warn', /`block` or `downgrade`/],
    ['gen_ai.agent.name', { OTEL_RESOURCE_ATTRIBUTES: 'gen_ai.agent.name=' }, 'OTEL_RESOURCE_ATTRIBUTES gen_ai.agent.name', '', /non-empty/],
  ];
  for (const [label, env, source, value, expected] of cases) {
    void it(label, () => assertConfigError(() => resolveConfig({ env }), source, value, expected));
  }

  void it('names a resource attribute set in code as such', () => {
    assertConfigError(
      () => resolveConfig({ env: {}, resourceAttributes: { 'tollgate.budget.daily_usd': Number.NaN } }),
      'resource attribute tollgate.budget.daily_usd', Number.NaN, /USD >= 0/,
    );
  });

  void it('validates explicit options too', () => {
    assertConfigError(() => resolveConfig({ env: {}, overrides: { limits: { dailyUsd: -2 } } }), 'option limits.dailyUsd', -2, /USD >= 0/);
    assertConfigError(
      () => resolveConfig({ env: {}, overrides: { limits: { onExceed: 'explode' as 'block' } } }),
      'option limits.onExceed', 'explode', /`block` or `downgrade`/,
    );
    assertConfigError(
      () => resolveConfig({ env: {}, overrides: { limits: { dailyUSD: 1 } as unknown as { dailyUsd: number } } }),
      'option limits.dailyUSD', 1, /one of dailyUsd/,
    );
    assertConfigError(() => resolveConfig({ env: {}, overrides: { ledger: 'mem' } }), 'option ledger', 'mem', /memory/);
  });
});

void describe('TOLLGATE_CONFIG: every field wrong in turn', () => {
  const set = (path: (string | number)[], value: unknown): unknown => {
    const doc = structuredClone(FULL) as Record<string, unknown>;
    let o: Record<string | number, unknown> = doc;
    for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    if (value === undefined) delete o[last];
    else o[last] = value;
    return doc;
  };
  const cases: [(string | number)[], unknown, string, RegExp][] = [
    [['version'], 2, '$.version', /version 1/],
    [['version'], undefined, '$.version', /version 1/],
    [['versoin'], 1, '$.versoin', /allowed keys: \$schema, version, defaults/],
    [['defaults', 'dailyUsd'], -5, '$.defaults.dailyUsd', /USD >= 0/],
    [['defaults', 'weeklyUsd'], 5, '$.defaults.weeklyUsd', /allowed keys: dailyUsd, monthlyUsd/],
    [['agents'], [], '$.agents', /agent name -> limits/],
    [['agents', 'research', 'dailyUsd'], '5', '$.agents.research.dailyUsd', /USD >= 0/],
    [['agents', 'research', 'monthlyUsd'], -1, '$.agents.research.monthlyUsd', /USD >= 0/],
    [['agents', 'research', 'taskUsd'], 'AUTO', '$.agents.research.taskUsd', /or "auto"/],
    [['agents', 'research', 'maxTokens'], 1.5, '$.agents.research.maxTokens', /whole number >= 1/],
    [['agents', 'research', 'maxTokens'], 0, '$.agents.research.maxTokens', /whole number >= 1/],
    [['agents', 'research', 'onExceed'], 'throw', '$.agents.research.onExceed', /"block" or "downgrade"/],
    [['agents', 'research', 'rateUsdPerMinute'], 0, '$.agents.research.rateUsdPerMinute', /USD > 0/],
    [['agents', 'research', 'maxAttemptsPerTask'], -3, '$.agents.research.maxAttemptsPerTask', /whole number >= 1/],
    [['agents', 'research', 'budget'], 1, '$.agents.research.budget', /allowed keys: dailyUsd/],
    [['ladders'], ['claude-opus-4-1'], '$.ladders', /provider -> list/],
    [['ladders', 'anthropic'], [], '$.ladders.anthropic', /non-empty list/],
    [['ladders', 'anthropic', 1], 7, '$.ladders.anthropic[1]', /non-empty string/],
    [['ladders', 'openai', 2], 'gpt-4.1', '$.ladders.openai[2]', /not already on the ladder/],
    [['routes'], {}, '$.routes', /list of \{ match, model \}/],
    [['routes', 0, 'model'], '', '$.routes[0].model', /non-empty string/],
    [['routes', 0, 'model'], undefined, '$.routes[0].model', /non-empty string/],
    [['routes', 0, 'name'], 3, '$.routes[0].name', /non-empty string/],
    [['routes', 0, 'when'], {}, '$.routes[0].when', /allowed keys: name, match, model/],
    [['routes', 0, 'match', 'taskType'], [], '$.routes[0].match.taskType', /list of non-empty strings/],
    [['routes', 0, 'match', 'provider'], 5, '$.routes[0].match.provider', /non-empty string/],
    [['routes', 1, 'match', 'model', 0], '', '$.routes[1].match.model[0]', /non-empty string/],
    [['routes', 0, 'match', 'agent'], null, '$.routes[0].match.agent', /non-empty string/],
    [['routes', 0, 'match', 'inputTokensBelow'], 0, '$.routes[0].match.inputTokensBelow', /whole number >= 1/],
    [['routes', 0, 'match', 'inputTokensAbove'], -1, '$.routes[0].match.inputTokensAbove', /whole number >= 0/],
    [['routes', 0, 'match', 'hasTools'], 'no', '$.routes[0].match.hasTools', /true or false/],
    [['routes', 0, 'match', 'hasImages'], 0, '$.routes[0].match.hasImages', /true or false/],
    [['routes', 0, 'match', 'inputTokens'], 5, '$.routes[0].match.inputTokens', /allowed keys: provider, model/],
    [['builtinRoutes'], 'yes', '$.builtinRoutes', /true or false/],
    [['unknownModel'], 'allow', '$.unknownModel', /"fallback" or "block"/],
    [['maxTokensFloor'], 0, '$.maxTokensFloor', /whole number >= 1/],
    [['scopes'], 'team', '$.scopes', /list of \{ name, period/],
    [['scopes', 0, 'name'], 'agent.daily', '$.scopes[0].name', /not a built-in scope/],
    [['scopes', 0, 'name'], 'team research', '$.scopes[0].name', /letters, digits/],
    [['scopes', 1, 'name'], 'team.research', '$.scopes[1].name', /not used by another scope/],
    [['scopes', 0, 'agents'], [], '$.scopes[0].agents', /list of non-empty strings/],
    [['scopes', 0, 'period'], 'week', '$.scopes[0].period', /"day", "month" or "total"/],
    [['scopes', 0, 'limitUsd'], undefined, '$.scopes[0].limitUsd', /USD >= 0/],
    [['scopes', 0, 'limit'], 3, '$.scopes[0].limit', /allowed keys: name, agents, period, limitUsd/],
    [['taskAuto', 'minTasks'], 0, '$.taskAuto.minTasks', /whole number >= 1/],
    [['taskAuto', 'multiplier'], -1, '$.taskAuto.multiplier', /> 0/],
    [['taskAuto', 'windowTasks'], 5, '$.taskAuto.windowTasks', />= minTasks \(10\)/],
    [['taskAuto', 'median'], 5, '$.taskAuto.median', /allowed keys: minTasks, multiplier, windowTasks/],
  ];
  for (const [path, value, at, expected] of cases) {
    void it(`${at} = ${JSON.stringify(value) ?? '(missing)'}`, () => {
      const p = file(set(path, value));
      assertConfigError(() => resolveConfig({ env: { TOLLGATE_CONFIG: p } }), `TOLLGATE_CONFIG ${p} ${at}`, value, expected);
    });
  }

  void it('a route whose input-token bounds leave nothing to match', () => {
    const doc = structuredClone(FULL);
    doc.routes[1]!.match = { ...doc.routes[1]!.match, inputTokensAbove: 5000, inputTokensBelow: 2000 } as (typeof doc.routes)[1]['match'];
    const p = file(doc);
    assertConfigError(
      () => resolveConfig({ env: { TOLLGATE_CONFIG: p } }),
      `TOLLGATE_CONFIG ${p} $.routes[1].match.inputTokensBelow`, 2000, /above inputTokensAbove \+ 1 \(5001\)/,
    );
  });

  void it('a file that is not JSON', () => {
    const p = file('{ version: 1 }');
    assertConfigError(() => resolveConfig({ env: { TOLLGATE_CONFIG: p } }), `TOLLGATE_CONFIG ${p}`, '{ version: 1 }', /a JSON document/);
  });

  void it('a JSON document that is not an object', () => {
    const p = file('[1]');
    assertConfigError(() => resolveConfig({ env: { TOLLGATE_CONFIG: p } }), `TOLLGATE_CONFIG ${p} $`, [1], /JSON object with "version": 1/);
  });

  void it('an inline config passed as an option is validated the same way', () => {
    assertConfigError(
      () => resolveConfig({ env: {}, overrides: { configFile: { version: 1, agents: { 'a b': { dailyUsd: 'x' } } } } }),
      'option configFile $.agents["a b"].dailyUsd', 'x', /USD >= 0/,
    );
  });
});
