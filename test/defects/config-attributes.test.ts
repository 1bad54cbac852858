/**
 * Defect 5 of issue #17: a misspelt cap attribute was ignored without a word. In the
 * configuration namespaces (`tollgate.budget.*`, `tollgate.policy.*`) an unknown key is a bad
 * value: it fails at start-up with a ConfigError naming the source, like an unknown key in the
 * config file. Other unknown `tollgate.*` attributes are reported through the diag logger.
 * Also: `tollgate.policy.wait_ms` and the file's `waitMs` are read and validated.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { resolveConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors.ts';

function warnings(): { list: string[]; logger: DiagLogger } {
  const list: string[] = [];
  const noop = (): void => {};
  return { list, logger: { error: noop, warn: (m: string) => list.push(m), info: noop, debug: noop, verbose: noop } };
}

afterEach(() => diag.disable());

void describe('unknown tollgate.* resource attributes', () => {
  it('a misspelt cap in OTEL_RESOURCE_ATTRIBUTES fails at start-up, naming it and the likely intended key', () => {
    assert.throws(
      () => resolveConfig({ env: { OTEL_RESOURCE_ATTRIBUTES: 'service.name=svc,tollgate.budget.daly_usd=5' } }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.source === 'OTEL_RESOURCE_ATTRIBUTES tollgate.budget.daly_usd' &&
        e.value === '5' &&
        /did you mean tollgate\.budget\.daily_usd\?/.test(e.message),
    );
  });

  it('a misspelt policy key given as a resource attribute in code fails too', () => {
    assert.throws(
      () => resolveConfig({ env: {}, resourceAttributes: { 'tollgate.policy.on_exceeded': 'block' } }),
      (e: unknown) => e instanceof ConfigError && e.source === 'resource attribute tollgate.policy.on_exceeded' && /tollgate\.policy\.on_exceed\?/.test(e.message),
    );
  });

  it('another unknown tollgate.* attribute is reported through diag, the known ones are not', () => {
    const w = warnings();
    diag.setLogger(w.logger, DiagLogLevel.WARN);
    const config = resolveConfig({
      env: { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.budget.daily_usd=5,tollgate.owner=team-a,tollgate.demo.phase=before' },
    });
    assert.equal(config.limits.dailyUsd, 5);
    assert.equal(w.list.length, 1);
    assert.match(w.list[0]!, /unknown resource attribute tollgate\.owner \(OTEL_RESOURCE_ATTRIBUTES tollgate\.owner\)/);
  });
});

void describe('wait option', () => {
  it('tollgate.policy.wait_ms sets the process agent waitMs', () => {
    assert.equal(resolveConfig({ env: { OTEL_RESOURCE_ATTRIBUTES: 'tollgate.policy.wait_ms=2500' } }).limits.waitMs, 2500);
  });

  it('a bad wait_ms fails at start-up', () => {
    for (const bad of ['-1', '1.5', 'soon', '600001']) {
      assert.throws(
        () => resolveConfig({ env: { OTEL_RESOURCE_ATTRIBUTES: `tollgate.policy.wait_ms=${bad}` } }),
        (e: unknown) => e instanceof ConfigError && e.source === 'OTEL_RESOURCE_ATTRIBUTES tollgate.policy.wait_ms' && e.value === bad,
      );
    }
  });

  it('the config file key waitMs is validated per agent', () => {
    const c = resolveConfig({ env: {}, overrides: { configFile: { version: 1, defaults: { waitMs: 100 }, agents: { a: { waitMs: 0 } } } } });
    assert.equal(c.defaults.waitMs, 100);
    assert.equal(c.agents['a']?.waitMs, 0);
    assert.throws(
      () => resolveConfig({ env: {}, overrides: { configFile: { version: 1, defaults: { waitMs: -5 } } } }),
      (e: unknown) => e instanceof ConfigError && /\$\.defaults\.waitMs/.test(e.source),
    );
  });
});
