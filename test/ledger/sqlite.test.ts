import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { SqliteLedger } from '../../src/ledger/sqlite.ts';
import { createLedger } from '../../src/ledger/index.ts';
import { NANOS_PER_USD, type BudgetScope } from '../../src/ledger/types.ts';
import { runLedgerContract, fakeClock } from './contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// One file for the whole contract suite: each test uses fresh agents, as a shared store would.
runLedgerContract('sqlite', ({ now }) => new SqliteLedger(join(dir, 'contract.db'), { now }));

const ledgerUrl = new URL('../../src/ledger/sqlite.ts', import.meta.url).href;

/** Runs a child Node process with `code` (an ES module) and returns its stdout. */
function child(code: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (status) => (status === 0 ? resolve(out) : reject(new Error(`child exited ${status}: ${err}`))));
  });
}

void describe('SqliteLedger across processes', () => {
  const file = join(dir, 'shared.db');
  const day: BudgetScope = { scope: 'agent.daily', agent: 'fleet', key: 'day:2026-11-25', limitNanos: 3 * NANOS_PER_USD, resetAt: null };
  before(async () => {
    // Create the schema once before the children race to open the file.
    await new SqliteLedger(file).close();
  });

  void it('never lets concurrent processes reserve past a cap', async () => {
    // 4 processes x 60 calls of $0.02 against a $3 cap: exactly 150 fit.
    const code = `
      import { SqliteLedger } from ${JSON.stringify(ledgerUrl)};
      const ledger = new SqliteLedger(${JSON.stringify(file)});
      const scope = ${JSON.stringify(day)};
      let ok = 0, refused = 0;
      for (let i = 0; i < 60; i++) {
        const r = await ledger.reserve({ scopes: [scope], amountNanos: 20_000_000, ttlMillis: 600_000 });
        if (r.ok) { ok++; if (i % 2 === 0) await ledger.settle(r.reservation, 20_000_000); }
        else refused++;
        await new Promise((res) => setImmediate(res));
      }
      await ledger.close();
      process.stdout.write(JSON.stringify({ ok, refused }));
    `;
    const results = (await Promise.all([child(code), child(code), child(code), child(code)])).map(
      (s) => JSON.parse(s) as { ok: number; refused: number },
    );
    const ok = results.reduce((n, r) => n + r.ok, 0);
    const refused = results.reduce((n, r) => n + r.refused, 0);
    assert.equal(ok, 150);
    assert.equal(refused, 90);
    const ledger = new SqliteLedger(file);
    const [s] = await ledger.spent([day]);
    assert.ok(s !== undefined);
    assert.equal(s.spentNanos + s.reservedNanos, 3 * NANOS_PER_USD);
    await ledger.close();
  });

  void it('keeps spend across a restart and frees the hold of a crashed process once it expires', async () => {
    const f = join(dir, 'restart.db');
    const scope: BudgetScope = { scope: 'agent.daily', agent: 'r', key: 'day:2026-11-25', limitNanos: 1 * NANOS_PER_USD, resetAt: null };
    // A process records spend, holds budget, then dies without settling or closing.
    await child(`
      import { SqliteLedger } from ${JSON.stringify(ledgerUrl)};
      const ledger = new SqliteLedger(${JSON.stringify(f)});
      const scope = ${JSON.stringify(scope)};
      await ledger.record([scope], 400_000_000);
      const r = await ledger.reserve({ scopes: [scope], amountNanos: 600_000_000, ttlMillis: 30_000 });
      if (!r.ok) process.exit(3);
      process.kill(process.pid, 'SIGKILL');
    `).then(
      () => assert.fail('the child should have been killed'),
      (err: Error) => assert.match(err.message, /child exited null/),
    );
    const clock = fakeClock(Date.now());
    const ledger = new SqliteLedger(f, { now: clock.now });
    assert.deepEqual(await ledger.spent([scope]), [{ spentNanos: 400_000_000, reservedNanos: 600_000_000 }]);
    assert.equal((await ledger.reserve({ scopes: [scope], amountNanos: 1, ttlMillis: 1000 })).ok, false);
    clock.advance(31_000);
    assert.deepEqual(await ledger.spent([scope]), [{ spentNanos: 400_000_000, reservedNanos: 0 }]);
    const r = await ledger.reserve({ scopes: [scope], amountNanos: 600_000_000, ttlMillis: 1000 });
    assert.equal(r.ok, true);
    await ledger.close();
  });

  void it('forgets a window counter once its window is over', async () => {
    const clock = fakeClock(Date.UTC(2026, 10, 25, 23, 0));
    const ledger = new SqliteLedger(join(dir, 'window.db'), { now: clock.now });
    const scope: BudgetScope = { scope: 'agent.daily', agent: 'w', key: 'day:2026-11-25', limitNanos: 10, resetAt: Date.UTC(2026, 10, 26) };
    await ledger.record([scope], 7);
    assert.deepEqual(await ledger.spent([scope]), [{ spentNanos: 7, reservedNanos: 0 }]);
    clock.set(Date.UTC(2026, 10, 26, 0, 0));
    assert.deepEqual(await ledger.spent([scope]), [{ spentNanos: 0, reservedNanos: 0 }]);
    await ledger.close();
  });

  void it('is what createLedger opens for `sqlite:<path>`', async () => {
    const f = join(dir, 'factory.db');
    const ledger = await createLedger(`sqlite:${f}`);
    assert.ok(ledger instanceof SqliteLedger);
    assert.equal(ledger.description, `sqlite:${f}`);
    await ledger.close();
  });

  void it('rejects (does not throw) once closed', async () => {
    const ledger = new SqliteLedger(join(dir, 'closed.db'));
    await ledger.close();
    await assert.rejects(ledger.spent([{ scope: 'task', agent: 'x', key: 'task:1', limitNanos: null, resetAt: null }]));
  });
});
