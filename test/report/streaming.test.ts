/**
 * Proves the report streams: a ~50 MB file is reported by a process whose heap
 * is capped at 32 MB, while the same cap kills a process that reads the file
 * whole (the control shows the cap is tight enough to catch a reader that does).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { CostReport } from '../../src/report/report.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const REPORT_MODULE = new URL('../../src/report/report.ts', import.meta.url).href;
const HEAP_MB = 32;
const LINES = 1000;
const SPANS_PER_LINE = 5;

const tmp = mkdtempSync(join(tmpdir(), 'tollgate-report-big-'));
const file = join(tmp, 'big.jsonl');
const manyFile = join(tmp, 'many.jsonl');
const MANY_LINES = 2000;
const MANY_PER_LINE = 50;
after(() => rmSync(tmp, { recursive: true, force: true }));

/** One batch of small spans, each the child of an (unexported) agent span, so each waits in the dedupe window. */
function smallLine(n: number): string {
  const spans = Array.from({ length: MANY_PER_LINE }, (_, i) => ({
    traceId: `${n.toString(16).padStart(16, '0')}${i.toString(16).padStart(16, '0')}`,
    spanId: 'b7ad6b7169203331',
    parentSpanId: '00f067aa0ba902b7',
    name: 'chat claude-haiku-4-5',
    kind: 3,
    startTimeUnixNano: String(1795600000000000000n + BigInt(n) * 60_000_000_000n),
    endTimeUnixNano: String(1795600001000000000n + BigInt(n) * 60_000_000_000n),
    attributes: [
      { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
      { key: 'gen_ai.provider.name', value: { stringValue: 'anthropic' } },
      { key: 'gen_ai.request.model', value: { stringValue: 'claude-haiku-4-5' } },
      { key: 'gen_ai.usage.input_tokens', value: { intValue: '300' } },
      { key: 'gen_ai.usage.output_tokens', value: { intValue: '40' } },
      { key: 'tollgate.cost.usd', value: { doubleValue: 0.0005 } },
      { key: 'tollgate.task.id', value: { stringValue: `task-${n}-${i}` } },
      { key: 'tollgate.task.type', value: { stringValue: 'triage' } },
    ],
    status: {},
  }));
  return `${JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'triage-svc' } }] }, scopeSpans: [{ scope: { name: 'tollgate' }, spans }] }] })}\n`;
}

/** One batch of spans with captured message content (~10 KB each), as a service with content capture on exports. */
function line(n: number): string {
  const content = JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: `lorem ipsum ${n} `.repeat(600) }] }]);
  const spans = Array.from({ length: SPANS_PER_LINE }, (_, i) => ({
    traceId: n.toString(16).padStart(32, '0'),
    spanId: (i + 1).toString(16).padStart(16, '0'),
    parentSpanId: '',
    name: 'chat gpt-4o-mini',
    kind: 3,
    startTimeUnixNano: '1795600000000000000',
    endTimeUnixNano: '1795600001000000000',
    attributes: [
      { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
      { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o-mini' } },
      { key: 'gen_ai.usage.input_tokens', value: { intValue: '1000' } },
      { key: 'gen_ai.usage.output_tokens', value: { intValue: '100' } },
      { key: 'tollgate.cost.usd', value: { doubleValue: 0.00021 } },
      { key: 'tollgate.task.type', value: { stringValue: `type-${i}` } },
      { key: 'gen_ai.input.messages', value: { stringValue: content } },
    ],
    status: {},
  }));
  return `${JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: `agent-${n % 3}` } }] }, scopeSpans: [{ scope: { name: 'tollgate' }, spans }] }] })}\n`;
}

describe('tollgate report: large files stream', () => {
  before(() => {
    const fd = openSync(file, 'w');
    try {
      for (let n = 0; n < LINES; n++) writeSync(fd, line(n));
    } finally {
      closeSync(fd);
    }
    const many = openSync(manyFile, 'w');
    try {
      for (let n = 0; n < MANY_LINES; n++) writeSync(many, smallLine(n));
    } finally {
      closeSync(many);
    }
  });

  it(`reports ${MANY_LINES * MANY_PER_LINE} small spans in a ${HEAP_MB} MB heap: memory is bounded by the dedupe window, not the span count`, () => {
    const size = statSync(manyFile).size;
    assert.ok(size > 45 * 1024 * 1024, `fixture is ${size} bytes`);
    // A small window keeps GC cheap under the tight heap; with a window as large
    // as the file (every span remembered) the same run dies out of memory
    // (checked by hand: SIGABRT after 6 s), which is what this test guards.
    const script = `import { buildReport } from ${JSON.stringify(REPORT_MODULE)};
      const r = await buildReport(${JSON.stringify(manyFile)}, { dedupeWindowSpans: 1000 });
      process.stdout.write(JSON.stringify(r));`;
    const r = spawnSync(process.execPath, [`--max-old-space-size=${HEAP_MB}`, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    const report = JSON.parse(r.stdout) as CostReport;
    assert.equal(report.totals.calls, MANY_LINES * MANY_PER_LINE);
    assert.equal(report.totals.costUsd, 50); // 100,000 x $0.0005
    assert.equal(report.byDay.length, 2); // one line a minute from 2026-11-25T09:46Z: 2000 minutes end on the 26th
  });

  it(`reports a file larger than the process's ${HEAP_MB} MB heap`, () => {
    const size = statSync(file).size;
    assert.ok(size > 45 * 1024 * 1024, `fixture is ${size} bytes`);
    const r = spawnSync(process.execPath, [`--max-old-space-size=${HEAP_MB}`, MAIN, 'report', file, '--json'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    const report = JSON.parse(r.stdout) as CostReport;
    assert.equal(report.totals.calls, LINES * SPANS_PER_LINE);
    assert.equal(report.totals.inputTokens, LINES * SPANS_PER_LINE * 1000);
    assert.equal(report.totals.costUsd, 1.05); // 5000 x $0.00021, summed exactly
    assert.deepEqual(report.byAgent.map((a) => [a.agent, a.calls]), [['agent-0', 1670], ['agent-1', 1665], ['agent-2', 1665]]);
  });

  it(`control: reading the same file whole does not fit in ${HEAP_MB} MB`, () => {
    const slurp = `const t = require('node:fs').readFileSync(${JSON.stringify(file)}, 'utf8'); const all = t.split('\\n').filter(Boolean).map((l) => JSON.parse(l)); console.log(all.length);`;
    const r = spawnSync(process.execPath, [`--max-old-space-size=${HEAP_MB}`, '-e', slurp], { encoding: 'utf8', timeout: 120_000 });
    assert.notEqual(r.status, 0, `the whole-file reader fitted in the heap: ${r.stdout}`);
    assert.match(r.stderr, /heap out of memory/);
  });
});
