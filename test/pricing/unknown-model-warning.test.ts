/**
 * A model priced at fallback rates is reported where a user looks by default: one Node
 * process warning (stderr) per model per process, code TOLLGATE_UNKNOWN_MODEL, and the
 * diag logger as well (docs/pricing.md, "Pricing semantics"). The black-box half (stderr of an app run
 * under tollgate/register) is in test/blackbox/lifecycle.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { createPriceTable } from '../../src/pricing/index.ts';

const diagWarnings: string[] = [];
const noop = (): void => {};
const logger: DiagLogger = { error: noop, warn: (msg: string) => diagWarnings.push(msg), info: noop, debug: noop, verbose: noop };
diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });

/** Process warnings emitted while `fn` runs (they are delivered on a later tick). */
async function processWarnings(fn: () => void): Promise<Error[]> {
  const seen: Error[] = [];
  const listener = (w: Error): void => {
    seen.push(w);
  };
  process.on('warning', listener);
  try {
    fn();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen.filter((w) => (w as Error & { code?: string }).code === 'TOLLGATE_UNKNOWN_MODEL');
}

void test('one process warning and one diag warning per unknown model, naming the model and the fallback rates', async () => {
  diagWarnings.length = 0;
  const table = createPriceTable();
  const seen = await processWarnings(() => {
    table.lookup('gpt-99-warn-test', 'openai');
    table.lookup('gpt-99-warn-test', 'openai');
    table.lookup('claude-warn-test-9');
    table.lookup('gpt-4o'); // known: no warning
  });
  assert.equal(seen.length, 2);
  assert.equal(seen[0]?.name, 'TollgateWarning');
  assert.match(seen[0]?.message ?? '', /^tollgate: no price for model "gpt-99-warn-test" \(provider openai\); pricing it at openai's most expensive known rates \(\$[\d.]+ input \/ \$[\d.]+ output per million tokens\)/);
  assert.match(seen[1]?.message ?? '', /^tollgate: no price for model "claude-warn-test-9"; pricing it at anthropic's most expensive known rates/);
  assert.deepEqual(diagWarnings, seen.map((w) => w.message));
});

void test('once per process: a second table warns through diag but not again on stderr', async () => {
  const table = createPriceTable();
  diagWarnings.length = 0;
  const seen = await processWarnings(() => table.lookup('gpt-99-warn-test', 'openai'));
  assert.equal(seen.length, 0);
  assert.equal(diagWarnings.length, 1);
});

void test('processWarnings: false (the CLI, which prints its own line) keeps stderr quiet; diag still hears it', async () => {
  const table = createPriceTable({ processWarnings: false });
  diagWarnings.length = 0;
  const seen = await processWarnings(() => table.lookup('gpt-99-quiet-test', 'openai'));
  assert.equal(seen.length, 0);
  assert.equal(diagWarnings.length, 1);
});
